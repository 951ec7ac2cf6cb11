package interp_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	sttime "go.starlark.net/lib/time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// time.now() in a plan and in the modules it loads reads the run's clock
// (the engine's trace recorder), not the wall clock.
func TestTimeNowFollowsTheRunClock(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".plateroot"), "")
	write(t, filepath.Join(dir, "lib.star"), "def started():\n    return time.now()\n\nloaded = time.now()\n")
	write(t, filepath.Join(dir, "plan.star"), `load("//lib.star", "loaded", "started")
now = time.now()
at_load = loaded
called = started()
print("deployed at", now.format("2006-01-02T15:04:05Z07:00"))
`)
	pre, err := registry.Predeclared(registry.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	p, err := interp.Open(filepath.Join(dir, "plan.star"), "", pre)
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	rec := trace.NewRecorder(func() time.Time { return fixed })
	eng := engine.New(engine.Options{Pass: trace.DryRun, Offline: true, Recorder: rec})
	globals, err := p.ExecModule(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"now", "at_load", "called"} {
		got, ok := globals[name].(sttime.Time)
		if !ok || !time.Time(got).Equal(fixed) {
			t.Errorf("%s = %v, want %s", name, globals[name], fixed)
		}
	}
	var printed string
	for _, e := range rec.Events() {
		if e.Builtin == "print" {
			printed = e.Summary
		}
	}
	if printed != "deployed at 2030-05-06T07:08:09Z" {
		t.Errorf("printed %q", printed)
	}
}
