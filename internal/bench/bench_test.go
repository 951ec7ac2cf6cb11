package bench

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	got := Summarize([]time.Duration{5 * ms, 1 * ms, 3 * ms, 9 * ms})
	if got != (Summary{N: 4, Median: 4 * ms, Min: 1 * ms, Max: 9 * ms}) {
		t.Errorf("even: %+v", got)
	}
	got = Summarize([]time.Duration{5 * ms, 1 * ms, 3 * ms})
	if got.Median != 3*ms {
		t.Errorf("odd: %+v", got)
	}
	if k := Fit([]float64{10, 50, 200}, []float64{1, 5, 20}); math.Abs(k-1) > 1e-9 {
		t.Errorf("linear data fits k=%v", k)
	}
	if a, b := Linear([]float64{1, 2, 3}, []float64{3, 5, 7}); math.Abs(a-1) > 1e-9 || math.Abs(b-2) > 1e-9 {
		t.Errorf("linear fit %v + %v x", a, b)
	}
}

func TestSteps(t *testing.T) {
	trace := `{"v":1,"seq":1,"step":"s1","pass":"dry-run","phase":"planned","builtin":"helm_install","pos":{"file":"p.star","line":3},"time":"2026-01-01T00:00:00.100Z"}
{"v":1,"seq":2,"step":"s2","pass":"dry-run","phase":"planned","builtin":"wait_ready","pos":{"file":"p.star","line":4},"time":"2026-01-01T00:00:00.300Z"}
{"v":1,"seq":1,"step":"s1","pass":"run","phase":"started","builtin":"helm_install","pos":{"file":"p.star","line":3},"time":"2026-01-01T00:00:01.000Z"}
{"v":1,"seq":2,"step":"s2","pass":"run","phase":"started","builtin":"helm_install","pos":{"file":"p.star","line":3},"time":"2026-01-01T00:00:01.010Z"}
{"v":1,"seq":3,"step":"s2","pass":"run","phase":"done","builtin":"helm_install","pos":{"file":"p.star","line":3},"summary":"ok","time":"2026-01-01T00:00:01.200Z"}
{"v":1,"seq":4,"step":"s1","pass":"run","phase":"done","builtin":"helm_install","pos":{"file":"p.star","line":3},"summary":"ok","time":"2026-01-01T00:00:01.500Z"}
`
	evs, err := ParseTrace([]byte(trace))
	if err != nil {
		t.Fatal(err)
	}
	if d := PassSpan(evs, "run").Duration(); d != 500*time.Millisecond {
		t.Errorf("run span %s", d)
	}
	// Dry pass: a step starts at the previous event.
	dry := Steps(evs, "dry-run")
	if len(dry) != 2 || dry[1].Start != 0 || dry[1].End != 200*time.Millisecond {
		t.Errorf("dry steps %+v", dry)
	}
	// Run pass: started and done events; overlapping steps.
	run := Steps(evs, "run")
	if len(run) != 2 || run[0].Step != "s1" || run[0].End != 500*time.Millisecond || run[1].Start != 10*time.Millisecond || run[1].End != 200*time.Millisecond {
		t.Errorf("run steps %+v", run)
	}
	var w strings.Builder
	WriteTimeline(&w, run)
	if !strings.Contains(w.String(), "helm_install") {
		t.Errorf("timeline:\n%s", w.String())
	}
}

func TestSetArgs(t *testing.T) {
	got := SetArgs("", map[string]any{
		"crds":       map[string]any{"enabled": true, "keep": true},
		"controller": map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "1"}}},
		"replicas":   2,
	})
	want := []string{"--set-string", "controller.resources.limits.cpu=1", "--set", "crds.enabled=true", "--set", "crds.keep=true", "--set", "replicas=2"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestWriteScalePlan(t *testing.T) {
	dir := t.TempDir()
	plan, err := WriteScalePlan(dir, 7)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"N = 7", `"tiny-" + str(1000 + i)[1:]`, "needs = [rel]"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("plan lacks %q:\n%s", want, data)
		}
	}
	for _, f := range []string{".plateroot", "tiny/Chart.yaml", "tiny/templates/deployment.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
