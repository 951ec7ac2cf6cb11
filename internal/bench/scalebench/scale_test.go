package scalebench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/bench"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

func TestMain(m *testing.M) { bench.Main(m) }

// The sizes of the generated scale plans (WriteScalePlan).
var (
	dryRunSizes = []int{10, 50, 200}
	deploySizes = []int{10, 50}
)

type scaleResult struct {
	n         int
	wall      bench.Summary
	pass      bench.Summary // the pass(es) alone, from the trace
	preflight bench.Summary // deploys only
	rss       bench.IntSummary
	failures  []string // failed attempts, run again
}

// scalePlan writes the plan of n releases into a directory of its own.
func scalePlan(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), fmt.Sprintf("scale-%d", n))
	p, err := bench.WriteScalePlan(dir, n)
	bench.Mustf(b, err, "scale plan")
	return p
}

// BenchmarkScaleDryRun measures `plate run --dry-run` of generated plans of
// 10, 50 and 200 releases (WriteScalePlan: a small chart of a ConfigMap, a
// Deployment and a Service per release, four namespaces, needs= chains with
// fan-out 3) against one local control plane: the wall time and peak RSS of
// the plate process and the dry-run pass alone (trace timestamps). It then
// reports how both grow with the number of releases (goal: linear, 200
// releases in ≤ 5 s and ≤ 500 MiB).
//
//	go test -run '^$' -bench ScaleDryRun -benchtime 5x ./internal/bench/scalebench/
func BenchmarkScaleDryRun(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	c, stop := bench.FreshCluster(b)
	b.Cleanup(stop)
	machine, load := bench.Machine(), bench.SampleLoad(2*time.Second)
	var results []scaleResult
	for _, n := range dryRunSizes {
		plan := scalePlan(b, n)
		b.Run(fmt.Sprintf("releases=%d", n), func(b *testing.B) {
			once := func() (bench.Proc, bench.Span) {
				p := bench.Run(ctx, filepath.Dir(plan), bench.PlateEnv(s.Cache), s.Plate, "run", "--dry-run", plan, "--kubeconfig", c.KubeconfigPath(), "-o", "json")
				bench.Mustf(b, p.Failed(), "plate")
				evs, err := bench.ParseTrace(p.Stdout)
				bench.Mustf(b, err, "trace")
				return p, bench.PassSpan(evs, "dry-run")
			}
			once() // warm-up
			if bench.Probe(b) {
				return
			}
			var walls, passes []time.Duration
			var rss []int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, span := once()
				walls = append(walls, p.Wall)
				passes = append(passes, span.Duration())
				rss = append(rss, p.MaxRSS)
			}
			b.StopTimer()
			r := scaleResult{n: n, wall: bench.Summarize(walls), pass: bench.Summarize(passes), rss: bench.SummarizeInts(rss)}
			results = append(results, r)
			b.ReportMetric(r.wall.Median.Seconds(), "wall-s")
			b.ReportMetric(r.pass.Median.Seconds(), "pass-s")
			b.ReportMetric(bench.MiB(r.rss.Median), "peak-MiB")
			b.ReportMetric(bench.Ms(r.wall.Median)/float64(n), "ms/release")
		})
	}
	loadLine := load.Stop()
	if len(results) > 0 {
		bench.Report(b, "dry run of generated plans (one control plane)", machine, growth(results, false)+loadLine)
	}
}

// BenchmarkScaleDeploy measures a real `plate run` (preflight, then the run
// pass; --concurrency 4, the default) of the generated plans of 10 and 50
// releases, each run on a fresh local control plane (its start not
// counted), until every release is Ready.
//
//	go test -run '^$' -bench ScaleDeploy -benchtime 5x ./internal/bench/scalebench/
func BenchmarkScaleDeploy(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	machine, load := bench.Machine(), bench.SampleLoad(5*time.Second)
	var results []scaleResult
	for _, n := range deploySizes {
		plan := scalePlan(b, n)
		b.Run(fmt.Sprintf("releases=%d", n), func(b *testing.B) {
			if bench.Probe(b) {
				p := bench.Run(ctx, filepath.Dir(plan), bench.PlateEnv(s.Cache), s.Plate, "run", "--dry-run", "--offline", plan)
				bench.Mustf(b, p.Failed(), "warm-up")
				return
			}
			var walls, runs, pres []time.Duration
			var rss []int64
			var failures []string
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, failed, _ := bench.OnFreshCluster(b, func(c *localcluster.Cluster) bench.Proc {
					return bench.Run(ctx, filepath.Dir(plan), bench.PlateEnv(s.Cache), s.Plate, "run", plan, "--kubeconfig", c.KubeconfigPath(), "-o", "json")
				})
				failures = append(failures, failed...)
				evs, err := bench.ParseTrace(p.Stdout)
				bench.Mustf(b, err, "trace")
				walls = append(walls, p.Wall)
				runs = append(runs, bench.PassSpan(evs, "run").Duration())
				pres = append(pres, bench.PassSpan(evs, "preflight").Duration())
				rss = append(rss, p.MaxRSS)
			}
			b.StopTimer()
			r := scaleResult{n: n, wall: bench.Summarize(walls), pass: bench.Summarize(runs), preflight: bench.Summarize(pres), rss: bench.SummarizeInts(rss), failures: failures}
			results = append(results, r)
			b.ReportMetric(r.wall.Median.Seconds(), "wall-s")
			b.ReportMetric(r.pass.Median.Seconds(), "runpass-s")
			b.ReportMetric(r.preflight.Median.Seconds(), "preflight-s")
			b.ReportMetric(bench.MiB(r.rss.Median), "peak-MiB")
		})
	}
	loadLine := load.Stop()
	if len(results) > 0 {
		bench.Report(b, "deploy of generated plans (fresh control plane per run)", machine, growth(results, true)+loadLine)
	}
}

// growth tabulates results and how they grow between sizes: the ratio of
// medians between consecutive sizes against the ratio of sizes, the
// exponent k of a power-law fit (time ∝ n^k; 1 is linear), and a linear
// fit a + b·n.
func growth(results []scaleResult, deploy bool) string {
	var w strings.Builder
	passName := "dry-run pass"
	if deploy {
		passName = "run pass"
	}
	for _, r := range results {
		fmt.Fprintf(&w, "%4d releases: plate %s; %s %s", r.n, r.wall, passName, r.pass)
		if deploy {
			fmt.Fprintf(&w, "; preflight %s", r.preflight)
		}
		fmt.Fprintf(&w, "; peak RSS %.0f MiB (min %.0f, max %.0f)\n", bench.MiB(r.rss.Median), bench.MiB(r.rss.Min), bench.MiB(r.rss.Max))
		for _, f := range r.failures {
			fmt.Fprintf(&w, "      a failed attempt, run again on a fresh control plane: %s\n", f)
		}
	}
	for i := 1; i < len(results); i++ {
		a, z := results[i-1], results[i]
		fmt.Fprintf(&w, "%d → %d releases (×%.0f): wall ×%.2f, %s ×%.2f, peak RSS ×%.2f\n", a.n, z.n, float64(z.n)/float64(a.n),
			bench.Ratio(z.wall, a.wall), passName, bench.Ratio(z.pass, a.pass), float64(z.rss.Median)/float64(a.rss.Median))
	}
	var xs, wall, pass, mem []float64
	for _, r := range results {
		xs = append(xs, float64(r.n))
		wall = append(wall, r.wall.Median.Seconds())
		pass = append(pass, r.pass.Median.Seconds())
		mem = append(mem, bench.MiB(r.rss.Median))
	}
	if len(results) >= 2 {
		a, b := bench.Linear(xs, wall)
		ma, mb := bench.Linear(xs, mem)
		fmt.Fprintf(&w, "power-law fit (∝ n^k): wall k=%.2f, %s k=%.2f, peak RSS k=%.2f\n", bench.Fit(xs, wall), passName, bench.Fit(xs, pass), bench.Fit(xs, mem))
		fmt.Fprintf(&w, "linear fit: wall ≈ %.2f s + %.1f ms × n; peak RSS ≈ %.0f MiB + %.2f MiB × n\n", a, b*1000, ma, mb)
	}
	return w.String()
}

// BenchmarkDryRunInProcess runs the dry-run pass of the 200-release scale
// plan and of deploy_prod.star in this process (as `plate run --dry-run`
// does: interp.Open, Bind, one engine pass against the local control
// plane), so that -cpuprofile and -memprofile see plate's own code:
//
//	go test -run '^$' -bench DryRunInProcess/releases=200 -benchtime 3x \
//	    -cpuprofile cpu.out -memprofile mem.out ./internal/bench/scalebench/
//	go tool pprof -top -cum scalebench.test cpu.out
func BenchmarkDryRunInProcess(b *testing.B) {
	bench.ProfilingOnly(b)
	s := bench.Setup(b)
	c, stop := bench.FreshCluster(b)
	b.Cleanup(stop)
	prod := bench.ProdKubeconfig(b, c.KubeconfigPath(), b.TempDir())
	cfg := c.RESTConfig()
	hp := &bench.HelmPlatform{Env: s.Production, REST: cfg}
	bench.Mustf(b, hp.Secrets(context.Background()), "production Secrets")
	for _, tc := range []struct {
		name, plan, root, kubeconfig string
	}{
		{"releases=200", scalePlan(b, 200), "", c.KubeconfigPath()},
		{"deploy_prod", filepath.Join(s.Root, "plans", "deploy_prod.star"), s.Root, prod},
	} {
		if tc.root == "" {
			tc.root = filepath.Dir(tc.plan)
		}
		b.Run(tc.name, func(b *testing.B) {
			once := func() {
				pre, err := registry.Predeclared(registry.Plugins())
				bench.Mustf(b, err, "builtins")
				p, err := interp.Open(tc.plan, tc.root, pre)
				bench.Mustf(b, err, "open")
				params, err := p.Bind(nil)
				bench.Mustf(b, err, "bind")
				planned := 0
				rec := trace.NewRecorder(nil, trace.SinkFunc(func(e trace.Event) {
					if e.Phase == trace.Planned {
						planned++
					}
				}))
				eng := engine.New(engine.Options{Pass: trace.DryRun, Recorder: rec, Yes: true, Kube: kube.Settings{Kubeconfig: tc.kubeconfig}})
				bench.Mustf(b, p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params}), "dry run")
				if planned == 0 {
					b.Fatal("nothing planned")
				}
			}
			once() // warm-up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				once()
			}
		})
	}
}
