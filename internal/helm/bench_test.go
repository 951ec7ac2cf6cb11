package helm_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// BenchmarkRender renders a set of charts (a `helm create` chart and the
// test charts, 3 releases of each) through plate's dry-run path — a plan of
// helm_install calls evaluated in one offline dry-run pass, as
// `plate run --dry-run --offline` does — and through `helm template`, one
// process per release, with the helm CLI built from the helm module version
// plate's go.mod pins. It reports the median, min and max of each side per
// set and the ratio of the medians.
//
//	go test -run XXX -bench Render -benchtime 7x ./internal/helm/
func BenchmarkRender(b *testing.B) {
	helmBin := helmCLI(b)
	root := b.TempDir()
	charts := benchCharts(b, root)
	const copies = 3
	var plan strings.Builder
	var releases [][2]string // release, chart dir
	for i := 0; i < copies; i++ {
		for _, ch := range charts {
			rel := fmt.Sprintf("%s-%d", filepath.Base(ch), i)
			releases = append(releases, [2]string{rel, ch})
			fmt.Fprintf(&plan, "helm_install(%q, %q, namespace = \"bench\")\n", rel, ch)
		}
	}
	planPath := filepath.Join(root, "render.star")
	if err := os.WriteFile(planPath, []byte(plan.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".plateroot"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	helmEnv := append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(root, "helm-config"),
		"HELM_CACHE_HOME="+filepath.Join(root, "helm-cache"),
		"HELM_DATA_HOME="+filepath.Join(root, "helm-data"),
	)

	plateOnce := func() time.Duration {
		start := time.Now()
		pre, err := registry.Predeclared(registry.Plugins())
		if err != nil {
			b.Fatal(err)
		}
		p, err := interp.Open(planPath, root, pre)
		if err != nil {
			b.Fatal(err)
		}
		params, err := p.Bind(nil)
		if err != nil {
			b.Fatal(err)
		}
		var planned int
		rec := trace.NewRecorder(nil, trace.SinkFunc(func(e trace.Event) {
			if e.Phase == trace.Planned {
				planned++
			}
		}))
		eng := engine.New(engine.Options{Pass: trace.DryRun, Offline: true, Recorder: rec})
		if err := p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params}); err != nil {
			b.Fatal(err)
		}
		if planned != len(releases) {
			b.Fatalf("%d releases planned, want %d", planned, len(releases))
		}
		return time.Since(start)
	}
	helmOnce := func() time.Duration {
		start := time.Now()
		for _, r := range releases {
			cmd := exec.Command(helmBin, "template", r[0], r[1], "--namespace", "bench")
			cmd.Env = helmEnv
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				b.Fatalf("helm template %s: %v\n%s", r[1], err, errOut.String())
			}
		}
		return time.Since(start)
	}
	// Warm up both (page cache, plate's lazily built parts).
	plateOnce()
	helmOnce()

	var plateRuns, helmRuns []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plateRuns = append(plateRuns, plateOnce())
		helmRuns = append(helmRuns, helmOnce())
	}
	b.StopTimer()
	pm, hm := stats(plateRuns), stats(helmRuns)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pm.median), "plate-ms/set")
	b.ReportMetric(ms(hm.median), "helm-ms/set")
	b.ReportMetric(float64(hm.median)/float64(pm.median), "helm/plate")
	b.Logf("%d releases of %d charts (%s), %d runs, %s, %d CPUs", len(releases), len(charts), chartNames(charts), b.N, runtime.Version(), runtime.NumCPU())
	b.Logf("plate, one dry-run pass:  median %.1f ms (min %.1f, max %.1f) = %.1f ms per release", ms(pm.median), ms(pm.min), ms(pm.max), ms(pm.median)/float64(len(releases)))
	b.Logf("helm template, %d procs: median %.1f ms (min %.1f, max %.1f) = %.1f ms per release", len(releases), ms(hm.median), ms(hm.min), ms(hm.max), ms(hm.median)/float64(len(releases)))
	b.Logf("ratio of medians helm/plate: %.1fx", float64(hm.median)/float64(pm.median))
}

type runStats struct{ median, min, max time.Duration }

func stats(ds []time.Duration) runStats {
	s := slices.Clone(ds)
	slices.Sort(s)
	return runStats{median: s[len(s)/2], min: s[0], max: s[len(s)-1]}
}

func chartNames(dirs []string) string {
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.Base(d))
	}
	return strings.Join(names, ", ")
}

// benchCharts returns the charts of the benchmark: a fresh `helm create`
// chart (made with the SDK's chartutil.Create, as `helm create` does) and
// the test charts that render.
func benchCharts(b *testing.B, root string) []string {
	created, err := chartutil.Create("starter", root)
	if err != nil {
		b.Fatal(err)
	}
	out := []string{created}
	for _, name := range []string{"web", "schema", "crd"} {
		d, err := filepath.Abs(filepath.Join("../../testdata/charts", name))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// helmCLI returns the helm CLI built from the helm module version this
// binary is linked with (internal/helmcli: built once into plate's Helm
// cache; $PLATE_BENCH_HELM names a prebuilt binary instead).
func helmCLI(b *testing.B) string {
	b.Helper()
	bin, err := helmcli.Binary(context.Background(), testLog{b})
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

type testLog struct{ b *testing.B }

func (l testLog) Write(p []byte) (int, error) {
	l.b.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
