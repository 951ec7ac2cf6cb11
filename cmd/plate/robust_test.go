package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
)

// blocked is closed when the block builtin waits in a run pass.
var blocked chan struct{}

// testPlugin adds builtins that misbehave on purpose.
type testPlugin struct{}

func (testPlugin) Name() string { return "test" }
func (testPlugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{Name: "explode", Effect: engine.Read, Fn: func(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var m map[string]int
			m["boom"]++ // a nil map write: a Go panic
			return starlark.None, nil
		}},
		{Name: "block", Effect: engine.Write, Fn: func(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if !c.Engine.Writes() {
				return starlark.None, nil
			}
			close(blocked)
			<-c.Ctx.Done()
			return nil, c.Ctx.Err()
		}},
	}
}

// blockedRun starts plate with args (and the test plugin) in the background
// and returns once the plan's block() waits, holding whatever the run holds;
// stop interrupts the run and returns its result.
func blockedRun(t *testing.T, args ...string) (stop func() result) {
	t.Helper()
	blocked = make(chan struct{})
	io, out, errOut := iostreamsTest()
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: fixedClock(), Plugins: withTestPlugin,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int)
	go func() { done <- Main(args, f) }()
	<-blocked
	return func() result {
		close(intr)
		code := <-done
		return result{code: code, out: out.String(), errOut: errOut.String()}
	}
}

func withTestPlugin() []builtins.Plugin { return append(registry.Plugins(), testPlugin{}) }

func planFile(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644)
	p := filepath.Join(dir, "plan.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPanicInBuiltinIsAPositionedError(t *testing.T) {
	io, out, errOut := iostreams.Test("")
	f := &Factory{IO: io, Now: fixedClock(), Plugins: withTestPlugin}
	code := Main([]string{"run", "--dry-run", planFile(t, "x = 1\nexplode()\n")}, f)
	if code != exit.PlanFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut.String(), "plate: plan.star:2:8: internal error in explode") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if strings.Contains(errOut.String(), "goroutine") {
		t.Errorf("a Go stack reached the user:\n%s", errOut)
	}
}

func TestInterruptExits130(t *testing.T) {
	io, out, errOut := iostreams.Test("")
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: fixedClock(), Plugins: withTestPlugin,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int)
	blocked = make(chan struct{})
	plan := planFile(t, "block()\nprint('not reached')\n")
	go func() { done <- Main([]string{"run", plan}, f) }()
	<-blocked
	close(intr)
	code := <-done
	if code != exit.Interrupted {
		t.Fatalf("exit %d, want 130\n%s%s", code, out, errOut)
	}
	_, run, _ := strings.Cut(out.String(), "== run of")
	if strings.Contains(run, "not reached") {
		t.Errorf("the plan went on after the interrupt:\n%s", out)
	}
}

func TestStepLimit(t *testing.T) {
	plan := planFile(t, "n = 0\nfor i in range(100000):\n    n += i\n")
	r := runPlate(t, "", false, "run", "--dry-run", "--max-steps", "1000", plan)
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "too many steps") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.errOut)
	}
	if r := runPlate(t, "", false, "run", "--dry-run", plan); r.code != 0 {
		t.Errorf("the default limit is too low: exit %d %s", r.code, r.errOut)
	}
}

func TestModuleEvaluatedOncePerPass(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644)
	files := map[string]string{
		"plan.star":   "load('a.star', 'a')\nload('b.star', 'b')\n",
		"a.star":      "load('common.star', 'c')\na = c\n",
		"b.star":      "load('common.star', 'c')\nb = c\n",
		"common.star": "print('common evaluated')\nc = 1\n",
	}
	for n, s := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644)
	}
	r := runPlate(t, "", false, "run", "--dry-run", filepath.Join(dir, "plan.star"))
	if n := strings.Count(r.out, "common evaluated"); r.code != 0 || n != 1 {
		t.Errorf("exit %d, module evaluated %d times:\n%s%s", r.code, n, r.out, r.errOut)
	}
}

func TestCompletionCommand(t *testing.T) {
	r := runPlate(t, "", false, "completion", "bash")
	if r.code != 0 || !strings.Contains(r.out, "__start_plate") {
		t.Errorf("exit %d; completion script missing:\n%.300s", r.code, r.out)
	}
}
