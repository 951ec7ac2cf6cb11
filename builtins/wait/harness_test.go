package wait_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/runner/runnertest"
	"github.com/plate-dev/plate/internal/trace"
)

func TestMain(m *testing.M) { runnertest.Main(m) }

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

const (
	dryRun   = runnertest.DryRun  // plate run --dry-run
	realRun  = runnertest.Run     // plate run: preflight, then the run
	offline  = runnertest.Offline // plate run --dry-run --offline
	liveOnly = runnertest.RunPass // the run pass alone (benchmarks)
)

// outcome is what running a plan produced (a runnertest.Result, its
// fields under the names these tests read).
type outcome struct {
	runnertest.Result
	events []trace.Event
	err    error
	text   string // the -v text trace
	jsonl  string
}

func (o outcome) code() int { return o.Code() }

// closing returns the closing events of builtin in the given pass.
func (o outcome) closing(builtin string, pass trace.Pass) []trace.Event {
	return o.Closing(builtin, pass)
}

func (o outcome) progress(builtin string) []trace.Event { return o.Progress(builtin) }

// runPlan writes src as a plan and runs it the way `plate run` does, with
// namespace as -n.
func runPlan(t testing.TB, src string, m runnertest.Mode, kubeconfig, namespace string) outcome {
	t.Helper()
	p := runnertest.NewProject(t, map[string]string{"plan.star": src})
	o := p.Run("plan.star", runnertest.Options{
		Mode: m, Kubeconfig: kubeconfig, Namespace: namespace,
		Predeclared: starlark.StringDict{"fake_release": fakeReleaseFn},
	})
	return outcome{Result: o, events: o.Events, err: o.Err, text: o.Text, jsonl: o.JSONL}
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
