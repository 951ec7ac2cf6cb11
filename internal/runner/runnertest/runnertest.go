// Package runnertest is the test fixture of the tests that run plans: a
// plate project in a temporary directory (the test charts of
// testdata/charts under charts/, a .plateroot and the test's files), one of
// its plans run through the real runner (internal/runner) for a chosen
// pass, with --yes, against the package's local control plane
// (internal/localcluster) or offline, and what the run produced: its
// events, the verbose text trace, the JSON lines and what plate run
// printed.
//
// A test package that uses the control plane starts it from TestMain:
//
//	func TestMain(m *testing.M) { runnertest.Main(m) }
package runnertest

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/trace"
)

// Main runs a test package with Helm reading no user configuration and one
// shared local control plane (localcluster.Main).
func Main(m *testing.M) {
	os.Setenv("HELM_CONFIG_HOME", filepath.Join(os.TempDir(), "plate-helm-test-no-config"))
	os.Unsetenv("HELM_REPOSITORY_CACHE")
	os.Unsetenv("HELM_REPOSITORY_CONFIG")
	os.Unsetenv("HELM_REGISTRY_CONFIG")
	localcluster.Main(m)
}

// Project is a plate project in a temporary directory.
type Project struct {
	T    testing.TB
	Root string
}

// NewProject makes a project with the test charts under charts/, a
// .plateroot and files (slash-separated names relative to the root).
func NewProject(t testing.TB, files map[string]string) *Project {
	t.Helper()
	p := &Project{T: t, Root: t.TempDir()}
	src := filepath.Join(moduleRoot(t), "testdata", "charts")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		p.Write(filepath.ToSlash(filepath.Join("charts", rel)), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Write(".plateroot", "")
	for name, data := range files {
		p.Write(name, data)
	}
	return p
}

// moduleRoot is the directory of plate's go.mod, above the test's working
// directory (its package directory).
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("runnertest: no go.mod above the working directory")
		}
		dir = up
	}
}

// Write writes a file of the project (name is slash-separated, relative to
// the root), making its directories.
func (p *Project) Write(name, data string) {
	p.T.Helper()
	path := filepath.Join(p.Root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.T.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		p.T.Fatal(err)
	}
}

// Mode says which passes a run makes.
type Mode int

const (
	// DryRun is plate run --dry-run.
	DryRun Mode = iota
	// Run is plate run: the preflight, then the run pass.
	Run
	// Offline is plate run --dry-run --offline.
	Offline
	// RunPass is the run pass alone, without a preflight (benchmarks).
	RunPass
)

// Options configure a run. Runs take no run lock: tests count the writes
// of a run and run in parallel (cmd/plate's tests cover the lock).
type Options struct {
	Mode Mode
	// Kubeconfig, Context and Namespace are --kubeconfig, --context and
	// -n.
	Kubeconfig, Context, Namespace string
	// Params are -p name=value arguments.
	Params []string
	// Verbose is the -v level of Result.Text (0: 1).
	Verbose int
	// Now is the clock of the trace (default time.Now).
	Now func() time.Time
	// Script makes the dry passes scripted, as plate test's are.
	Script *engine.Script
	// Predeclared adds names to the builtins and starlarktest's assert,
	// whose failures fail the test.
	Predeclared starlark.StringDict
}

// Result is what a run produced.
type Result struct {
	// Events are the events of every pass, in order.
	Events []trace.Event
	// Err is the run's error (nil: it succeeded).
	Err error
	// Text is the verbose text trace of every pass; JSONL its JSON lines.
	Text, JSONL string
	// Out is what plate run printed on its standard output (the trace,
	// headers and footers); ErrOut what it printed on standard error
	// besides the error (the stop report).
	Out, ErrOut string
}

// Run runs plan, a file of the project, through the runner.
func (p *Project) Run(plan string, o Options) Result {
	p.T.Helper()
	am, err := starlarktest.LoadAssertModule()
	if err != nil {
		p.T.Fatal(err)
	}
	pre := starlark.StringDict{"assert": am["assert"]}
	for name, v := range o.Predeclared {
		pre[name] = v
	}
	verbose := o.Verbose
	if verbose == 0 {
		verbose = 1
	}
	var res Result
	var text, jsonl, out, errOut bytes.Buffer
	ro := runner.Options{
		Plan:        filepath.Join(p.Root, filepath.FromSlash(plan)),
		Root:        p.Root,
		Params:      o.Params,
		Predeclared: pre,
		DryRun:      o.Mode == DryRun || o.Mode == Offline,
		Offline:     o.Mode == Offline,
		Script:      o.Script,
		Kube:        kube.Settings{Kubeconfig: o.Kubeconfig, Context: o.Context, Namespace: o.Namespace},
		Yes:         true,
		NoLock:      true,
		Out:         &out,
		ErrOut:      &errOut,
		Now:         o.Now,
		Sinks: []trace.Sink{
			trace.SinkFunc(func(e trace.Event) { res.Events = append(res.Events, e) }),
			trace.NewText(&text, trace.TextOptions{Verbose: verbose}),
			trace.NewJSON(&jsonl),
		},
		ThreadInit: func(th *starlark.Thread) { starlarktest.SetReporter(th, p.T) },
	}
	pl, err := runner.Prepare(ro)
	if err == nil {
		r := runner.New(pl, ro)
		if o.Mode == RunPass {
			err = r.Pass(context.Background(), trace.Run)
		} else {
			err = r.Run(context.Background())
		}
	}
	res.Err = err
	res.Text, res.JSONL = text.String(), jsonl.String()
	res.Out, res.ErrOut = out.String(), errOut.String()
	return res
}

// Code is the exit code of the run.
func (r Result) Code() int { return exit.Code(r.Err) }

// Closing returns the closing events (done, planned, failed) of builtin,
// in order; with passes, only those of these passes.
func (r Result) Closing(builtin string, passes ...trace.Pass) []trace.Event {
	var out []trace.Event
	for _, e := range r.Events {
		if e.Builtin == builtin && closing(e) && (len(passes) == 0 || slices.Contains(passes, e.Pass)) {
			out = append(out, e)
		}
	}
	return out
}

// Summaries returns "pass builtin: summary" for every closing event.
func (r Result) Summaries() []string {
	var out []string
	for _, e := range r.Events {
		if closing(e) {
			out = append(out, string(e.Pass)+" "+e.Builtin+": "+e.Summary)
		}
	}
	return out
}

// Progress returns the progress events of builtin.
func (r Result) Progress(builtin string) []trace.Event {
	var out []trace.Event
	for _, e := range r.Events {
		if e.Builtin == builtin && e.Phase == trace.Progress {
			out = append(out, e)
		}
	}
	return out
}

func closing(e trace.Event) bool {
	return e.Phase == trace.Done || e.Phase == trace.Planned || e.Phase == trace.Failed
}

// Contains fails the test for each of wants that s (what) lacks.
func Contains(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// Clock returns a clock that ticks one second per reading from 2026-01-02
// 03:04:05 UTC: Options.Now for traces with stable times.
func Clock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}
