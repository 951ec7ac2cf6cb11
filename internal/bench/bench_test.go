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
	for _, want := range []string{"N = 7", `"tiny-" + str(10000 + i)[1:]`, "needs = [rel]"} {
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

// The generated CRD-heavy chart has its size class: 10 CRDs of a few
// hundred KB, about 5 MB in all.
func TestWriteCRDChart(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 5 MB")
	}
	dir := t.TempDir()
	plan, chart, err := WriteCRDChartProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(plan); err != nil || !strings.Contains(string(data), `helm_install("observatory", "//observatory"`) {
		t.Fatalf("plan: %s %v", data, err)
	}
	crds, err := filepath.Glob(filepath.Join(chart, "charts", "observatory-crds", "crds", "*.yaml"))
	if err != nil || len(crds) != CRDChartCRDs {
		t.Fatalf("crds: %v %v", crds, err)
	}
	var crdBytes, total int64
	for _, f := range crds {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() < 150<<10 || info.Size() > 600<<10 {
			t.Errorf("%s: %d bytes", filepath.Base(f), info.Size())
		}
		crdBytes += info.Size()
	}
	err = filepath.Walk(chart, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total < 4<<20 || total > 6<<20 {
		t.Errorf("chart of %d bytes (CRDs %d), want about 5 MB", total, crdBytes)
	}
	// Generated deterministically.
	again, err := WriteCRDChart(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(crds[3])
	b, _ := os.ReadFile(filepath.Join(again, "charts", "observatory-crds", "crds", filepath.Base(crds[3])))
	if string(a) != string(b) {
		t.Error("two generated charts differ")
	}
}
