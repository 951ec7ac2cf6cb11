package helm_test

import (
	"encoding/json"
	"testing"

	"github.com/plate-dev/plate/internal/runner/runnertest"
	"github.com/plate-dev/plate/internal/trace"
)

func TestMain(m *testing.M) { runnertest.Main(m) }

// project is a runnertest project: the test charts under charts/, a
// .plateroot and the test's files.
type project struct{ *runnertest.Project }

func newProject(t testing.TB, files map[string]string) *project {
	return &project{runnertest.NewProject(t, files)}
}

// result is what one `plate run` of a plan produced: its events, its error
// and, as text, the verbose human trace and the JSON lines.
type result struct {
	runnertest.Result
	events      []trace.Event
	err         error
	text, jsonl string
}

// closing returns the closing events of builtin, in order.
func (r result) closing(builtin string) []trace.Event { return r.Closing(builtin) }

// summaries returns "pass builtin: summary" for every closing event.
func (r result) summaries() []string { return r.Summaries() }

const (
	dryRun  = runnertest.DryRun  // plate run --dry-run
	realRun = runnertest.Run     // plate run: preflight, then run
	offline = runnertest.Offline // plate run --dry-run --offline
)

type runOpts struct {
	kubeconfig string
	context    string
	namespace  string
}

// run runs plan (a file of the project) the way `plate run` does.
func (p *project) run(plan string, m runnertest.Mode, o runOpts) result {
	p.T.Helper()
	r := p.Run(plan, runnertest.Options{Mode: m, Kubeconfig: o.kubeconfig, Context: o.context, Namespace: o.namespace})
	return result{Result: r, events: r.Events, err: r.Err, text: r.Text, jsonl: r.JSONL}
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

var contains = runnertest.Contains
