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
	offlineSizes = []int{10, 100, 1000}
	dryRunSizes  = []int{10, 100}
	deploySizes  = []int{10, 100}
	// deployConcurrency are the --concurrency values each deploy size runs
	// with.
	deployConcurrency = []int{4, 16}
)

type scaleResult struct {
	n           int
	concurrency int // deploys only
	wall        bench.Summary
	pass        bench.Summary // the pass(es) alone, from the trace
	preflight   bench.Summary // deploys only
	rss         bench.IntSummary
	failures    []string // failed attempts, run again
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
// 10 and 100 releases (WriteScalePlan: a small chart of a ConfigMap, a
// Deployment and a Service per release, four namespaces, needs= chains with
// fan-out 3) against one local control plane, and `plate run --dry-run
// --offline` of 10, 100 and 1000 releases (no cluster): the wall time and
// peak RSS of the plate process and the dry-run pass alone (trace
// timestamps), and how both grow with the number of releases (goals:
// linear; the offline dry run of 1000 releases in ≤ 5 s and ≤ 500 MiB).
//
//	go test -run '^$' -bench ScaleDryRun -benchtime 5x ./internal/bench/scalebench/
func BenchmarkScaleDryRun(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	c, stop := bench.FreshCluster(b)
	b.Cleanup(stop)
	machine, load := bench.Machine(), bench.SampleLoad(2*time.Second)
	for _, mode := range []struct {
		name  string
		sizes []int
		args  []string
	}{
		{"offline", offlineSizes, []string{"--offline"}},
		{"online", dryRunSizes, []string{"--kubeconfig", c.KubeconfigPath()}},
	} {
		var results []scaleResult
		for _, n := range mode.sizes {
			plan := scalePlan(b, n)
			b.Run(fmt.Sprintf("%s/releases=%d", mode.name, n), func(b *testing.B) {
				once := func() (bench.Proc, bench.Span) {
					args := append([]string{"run", "--dry-run", plan, "-o", "json"}, mode.args...)
					p := bench.Run(ctx, filepath.Dir(plan), bench.PlateEnv(s.Cache), s.Plate, args...)
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
		if len(results) > 0 {
			title := "dry run of generated plans against one control plane"
			if mode.name == "offline" {
				title = "offline dry run of generated plans (no cluster)"
			}
			bench.Report(b, title, machine, growth(results, false))
		}
	}
	bench.Report(b, "dry runs of generated plans: the machine's load", machine, load.Stop())
}

// BenchmarkScaleDeploy measures a real `plate run` (preflight, then the run
// pass) of the generated plans of 10 and 100 releases with --concurrency 4
// (the default) and 16, each run on a fresh local control plane (its start
// not counted), until every release is Ready, and prints the marginal cost
// of a release.
//
//	go test -run '^$' -bench ScaleDeploy -benchtime 5x ./internal/bench/scalebench/
func BenchmarkScaleDeploy(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	machine, load := bench.Machine(), bench.SampleLoad(5*time.Second)
	for _, conc := range deployConcurrency {
		var results []scaleResult
		for _, n := range deploySizes {
			plan := scalePlan(b, n)
			b.Run(fmt.Sprintf("concurrency=%d/releases=%d", conc, n), func(b *testing.B) {
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
						return bench.Run(ctx, filepath.Dir(plan), bench.PlateEnv(s.Cache), s.Plate, "run", plan, "--kubeconfig", c.KubeconfigPath(), "-o", "json", "--concurrency", fmt.Sprint(conc))
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
				r := scaleResult{n: n, concurrency: conc, wall: bench.Summarize(walls), pass: bench.Summarize(runs), preflight: bench.Summarize(pres), rss: bench.SummarizeInts(rss), failures: failures}
				results = append(results, r)
				b.ReportMetric(r.wall.Median.Seconds(), "wall-s")
				b.ReportMetric(r.pass.Median.Seconds(), "runpass-s")
				b.ReportMetric(r.preflight.Median.Seconds(), "preflight-s")
				b.ReportMetric(bench.MiB(r.rss.Median), "peak-MiB")
			})
		}
		if len(results) > 0 {
			bench.Report(b, fmt.Sprintf("deploy of generated plans, --concurrency %d (fresh control plane per run)", conc), machine, growth(results, true))
		}
	}
	bench.Report(b, "deploy of generated plans: the machine's load", machine, load.Stop())
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
		fmt.Fprintf(&w, "%d → %d releases (×%.0f): wall ×%.2f, %s ×%.2f, peak RSS ×%.2f; marginal cost of a release: %s wall, %.2f MiB\n", a.n, z.n, float64(z.n)/float64(a.n),
			bench.Ratio(z.wall, a.wall), passName, bench.Ratio(z.pass, a.pass), float64(z.rss.Median)/float64(a.rss.Median),
			bench.Dur((z.wall.Median-a.wall.Median)/time.Duration(z.n-a.n)), bench.MiB(z.rss.Median-a.rss.Median)/float64(z.n-a.n))
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

// BenchmarkDryRunInProcess runs the dry-run pass of the 1000-release scale
// plan and of deploy_prod.star in this process (as `plate run --dry-run`
// does: interp.Open, Bind, one engine pass against the local control
// plane), so that -cpuprofile and -memprofile see plate's own code:
//
//	go test -run '^$' -bench DryRunInProcess/releases=1000 -benchtime 3x \
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
		{"releases=1000", scalePlan(b, 1000), "", c.KubeconfigPath()},
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
