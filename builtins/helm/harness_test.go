package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

func TestMain(m *testing.M) {
	os.Setenv("HELM_CONFIG_HOME", filepath.Join(os.TempDir(), "plate-helm-test-no-config"))
	os.Unsetenv("HELM_REPOSITORY_CACHE")
	os.Unsetenv("HELM_REPOSITORY_CONFIG")
	os.Unsetenv("HELM_REGISTRY_CONFIG")
	localcluster.Main(m)
}

// project is a plate project in a temporary directory: the test charts
// under charts/, the files a test adds, and a .plateroot.
type project struct {
	t    testing.TB
	root string
}

func newProject(t testing.TB, files map[string]string) *project {
	t.Helper()
	root := t.TempDir()
	src, err := filepath.Abs("../../testdata/charts")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, "charts", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &project{t: t, root: root}
	p.write(".plateroot", "")
	for name, data := range files {
		p.write(name, data)
	}
	return p
}

func (p *project) write(name, data string) {
	p.t.Helper()
	path := filepath.Join(p.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// result is what one `plate run` of a plan produced.
type result struct {
	events []trace.Event
	err    error
	// text is the verbose human trace; jsonl the JSON lines.
	text, jsonl string
}

// closing returns the closing events of builtin, in order.
func (r result) closing(builtin string) []trace.Event {
	var out []trace.Event
	for _, e := range r.events {
		if e.Builtin == builtin && (e.Phase == trace.Done || e.Phase == trace.Planned || e.Phase == trace.Failed) {
			out = append(out, e)
		}
	}
	return out
}

// summaries returns "pass builtin: summary" for every closing event.
func (r result) summaries() []string {
	var out []string
	for _, e := range r.events {
		switch e.Phase {
		case trace.Done, trace.Planned, trace.Failed:
			out = append(out, string(e.Pass)+" "+e.Builtin+": "+e.Summary)
		}
	}
	return out
}

type mode int

const (
	dryRun  mode = iota // plate run --dry-run
	realRun             // plate run: preflight, then run
	offline             // plate run --dry-run --offline
)

type runOpts struct {
	kubeconfig string
	context    string
	namespace  string
}

// run runs plan (a file of the project) the way `plate run` does.
func (p *project) run(plan string, m mode, o runOpts) result {
	p.t.Helper()
	pre, err := registry.Predeclared(registry.Plugins())
	if err != nil {
		p.t.Fatal(err)
	}
	assert, err := starlarktest.LoadAssertModule()
	if err != nil {
		p.t.Fatal(err)
	}
	pre["assert"] = assert["assert"]
	pl, err := interp.Open(filepath.Join(p.root, filepath.FromSlash(plan)), p.root, pre)
	if err == nil {
		err = pl.Check(pre)
	}
	if err != nil {
		return result{err: err}
	}
	params, err := pl.Bind(nil)
	if err != nil {
		return result{err: err}
	}
	var mu sync.Mutex
	var res result
	var text, jsonl bytes.Buffer
	sinks := []trace.Sink{
		trace.SinkFunc(func(e trace.Event) {
			mu.Lock()
			res.events = append(res.events, e)
			mu.Unlock()
		}),
		trace.NewText(&text, trace.TextOptions{Verbose: 1}),
		trace.NewJSON(&jsonl),
	}
	passes := []trace.Pass{trace.DryRun}
	if m == realRun {
		passes = []trace.Pass{trace.Preflight, trace.Run}
	}
	for _, ps := range passes {
		eng := engine.New(engine.Options{
			Pass:     ps,
			Recorder: trace.NewRecorder(nil, sinks...),
			Yes:      true,
			Kube:     kube.Settings{Kubeconfig: o.kubeconfig, Context: o.context, Namespace: o.namespace},
			Offline:  m == offline,
		})
		res.err = pl.Exec(context.Background(), interp.RunOptions{
			Engine: eng, Predeclared: pre, Params: params,
			ThreadInit: func(th *starlark.Thread) { starlarktest.SetReporter(th, p.t) },
		})
		if res.err != nil {
			break
		}
	}
	res.text, res.jsonl = text.String(), jsonl.String()
	return res
}

// detail returns the JSON of an event's detail, as the JSON lines show it.
func detail(t testing.TB, e trace.Event) map[string]any {
	t.Helper()
	data, err := json.Marshal(e.Detail)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func contains(t testing.TB, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}
