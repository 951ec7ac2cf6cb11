package wait_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

func TestMain(m *testing.M) { localcluster.Main(m) }

// fakeRelease stands for a release value: a set of objects.
type fakeRelease struct {
	name string
	objs []builtins.ObjectRef
}

var _ builtins.ObjectSet = (*fakeRelease)(nil)

func (r *fakeRelease) Objects() []builtins.ObjectRef { return r.objs }
func (r *fakeRelease) Describe() string              { return "release " + r.name }
func (r *fakeRelease) Release() string               { return r.name }
func (r *fakeRelease) String() string                { return "<release " + r.name + ">" }
func (r *fakeRelease) Type() string                  { return "fake_release" }
func (r *fakeRelease) Freeze()                       {}
func (r *fakeRelease) Truth() starlark.Bool          { return starlark.True }
func (r *fakeRelease) Hash() (uint32, error)         { return starlark.String(r.name).Hash() }

// fakeReleaseFn is a Starlark function fake_release(name, [(apiVersion,
// kind, namespace, name), ...]) that makes a fakeRelease.
var fakeReleaseFn = starlark.NewBuiltin("fake_release", func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var objs *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "objects", &objs); err != nil {
		return nil, err
	}
	r := &fakeRelease{name: name}
	for i := 0; i < objs.Len(); i++ {
		t, ok := objs.Index(i).(starlark.Tuple)
		if !ok || len(t) != 4 {
			return nil, fmt.Errorf("objects[%d]: want (apiVersion, kind, namespace, name)", i)
		}
		var f [4]string
		for j := range f {
			f[j], _ = starlark.AsString(t[j])
		}
		r.objs = append(r.objs, builtins.ObjectRef{APIVersion: f[0], Kind: f[1], Namespace: f[2], Name: f[3]})
	}
	return r, nil
})

type mode int

const (
	dryRun   mode = iota // plate run --dry-run
	realRun              // plate run: preflight, then the run
	offline              // plate run --dry-run --offline
	liveOnly             // the run pass alone (benchmarks)
)

// outcome is what running a plan produced.
type outcome struct {
	events []trace.Event
	err    error
	text   string // the -v text trace
	jsonl  string
}

func (o outcome) code() int { return exit.Code(o.err) }

// closing returns the closing events of builtin in the given pass.
func (o outcome) closing(builtin string, pass trace.Pass) []trace.Event {
	var out []trace.Event
	for _, e := range o.events {
		if e.Builtin == builtin && e.Pass == pass && (e.Phase == trace.Done || e.Phase == trace.Planned || e.Phase == trace.Failed) {
			out = append(out, e)
		}
	}
	return out
}

func (o outcome) progress(builtin string) []trace.Event {
	var out []trace.Event
	for _, e := range o.events {
		if e.Builtin == builtin && e.Phase == trace.Progress {
			out = append(out, e)
		}
	}
	return out
}

// runPlan writes src as a plan and runs it the way `plate run` does, with
// namespace as -n.
func runPlan(t testing.TB, src string, m mode, kubeconfig, namespace string) outcome {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, ".plateroot"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "plan.star")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	pre, err := registry.Predeclared(registry.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	am, err := starlarktest.LoadAssertModule()
	if err != nil {
		t.Fatal(err)
	}
	pre["assert"] = am["assert"]
	pre["fake_release"] = fakeReleaseFn
	pl, err := interp.Open(path, root, pre)
	if err == nil {
		err = pl.Check(pre)
	}
	if err != nil {
		return outcome{err: err}
	}
	params, err := pl.Bind(nil)
	if err != nil {
		return outcome{err: err}
	}
	var mu sync.Mutex
	var o outcome
	var text, jsonl bytes.Buffer
	sinks := []trace.Sink{
		trace.SinkFunc(func(e trace.Event) { mu.Lock(); o.events = append(o.events, e); mu.Unlock() }),
		trace.NewText(&text, trace.TextOptions{Verbose: 1}),
		trace.NewJSON(&jsonl),
	}
	passes := []trace.Pass{trace.DryRun}
	switch m {
	case realRun:
		passes = []trace.Pass{trace.Preflight, trace.Run}
	case liveOnly:
		passes = []trace.Pass{trace.Run}
	}
	for _, ps := range passes {
		eng := engine.New(engine.Options{
			Pass:     ps,
			Recorder: trace.NewRecorder(nil, sinks...),
			Yes:      true,
			Kube:     kube.Settings{Kubeconfig: kubeconfig, Namespace: namespace},
			Offline:  m == offline,
		})
		o.err = pl.Exec(context.Background(), interp.RunOptions{
			Engine: eng, Predeclared: pre, Params: params,
			ThreadInit: func(th *starlark.Thread) { starlarktest.SetReporter(th, t) },
		})
		if o.err != nil {
			break
		}
	}
	o.text, o.jsonl = text.String(), jsonl.String()
	return o
}

// wantErr checks the exit code and that the message holds every want.
func wantErr(t *testing.T, o outcome, code int, wants ...string) {
	t.Helper()
	if o.err == nil {
		t.Fatalf("plan succeeded; want exit code %d\n%s", code, o.text)
	}
	if got := exit.Code(o.err); got != code {
		t.Errorf("exit code %d; want %d: %v", got, code, o.err)
	}
	msg := o.err.Error()
	var xe *exit.Error
	if errors.As(o.err, &xe) && xe.Hint != "" {
		msg += "\n" + xe.Hint
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
}
