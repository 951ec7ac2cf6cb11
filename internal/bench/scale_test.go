package bench

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// The sizes of the generated scale plans (WriteScalePlan).
var (
	dryRunSizes = []int{10, 50, 200}
	deploySizes = []int{10, 50}
)

type scaleResult struct {
	n         int
	wall      Summary
	pass      Summary // the pass(es) alone, from the trace
	preflight Summary // deploys only
	rss       IntSummary
	failures  []string // failed attempts, run again
}

// scalePlan writes the plan of n releases into a directory of its own.
func scalePlan(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), fmt.Sprintf("scale-%d", n))
	p, err := WriteScalePlan(dir, n)
	mustf(b, err, "scale plan")
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
//	go test -run '^$' -bench ScaleDryRun -benchtime 5x ./internal/bench/
func BenchmarkScaleDryRun(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	c, stop := freshCluster(b)
	b.Cleanup(stop)
	machine, load := Machine(), SampleLoad(2*time.Second)
	var results []scaleResult
	for _, n := range dryRunSizes {
		plan := scalePlan(b, n)
		b.Run(fmt.Sprintf("releases=%d", n), func(b *testing.B) {
			once := func() (Proc, Span) {
				p := Run(ctx, filepath.Dir(plan), PlateEnv(s.cache), s.plate, "run", "--dry-run", plan, "--kubeconfig", c.KubeconfigPath(), "-o", "json")
				mustf(b, p.Failed(), "plate")
				evs, err := ParseTrace(p.Stdout)
				mustf(b, err, "trace")
				return p, PassSpan(evs, "dry-run")
			}
			once() // warm-up
			if probe(b) {
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
			r := scaleResult{n: n, wall: Summarize(walls), pass: Summarize(passes), rss: SummarizeInts(rss)}
			results = append(results, r)
			b.ReportMetric(r.wall.Median.Seconds(), "wall-s")
			b.ReportMetric(r.pass.Median.Seconds(), "pass-s")
			b.ReportMetric(MiB(r.rss.Median), "peak-MiB")
			b.ReportMetric(Ms(r.wall.Median)/float64(n), "ms/release")
		})
	}
	loadLine := load.Stop()
	if len(results) > 0 {
		report(b, "dry run of generated plans (one control plane)", machine, growth(results, false)+loadLine)
	}
}

// BenchmarkScaleDeploy measures a real `plate run` (preflight, then the run
// pass; --concurrency 4, the default) of the generated plans of 10 and 50
// releases, each run on a fresh local control plane (its start not
// counted), until every release is Ready.
//
//	go test -run '^$' -bench ScaleDeploy -benchtime 5x ./internal/bench/
func BenchmarkScaleDeploy(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	machine, load := Machine(), SampleLoad(5*time.Second)
	var results []scaleResult
	for _, n := range deploySizes {
		plan := scalePlan(b, n)
		b.Run(fmt.Sprintf("releases=%d", n), func(b *testing.B) {
			if probe(b) {
				p := Run(ctx, filepath.Dir(plan), PlateEnv(s.cache), s.plate, "run", "--dry-run", "--offline", plan)
				mustf(b, p.Failed(), "warm-up")
				return
			}
			var walls, runs, pres []time.Duration
			var rss []int64
			var failures []string
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, failed, _ := onFreshCluster(b, func(c *localcluster.Cluster) Proc {
					return Run(ctx, filepath.Dir(plan), PlateEnv(s.cache), s.plate, "run", plan, "--kubeconfig", c.KubeconfigPath(), "-o", "json")
				})
				failures = append(failures, failed...)
				evs, err := ParseTrace(p.Stdout)
				mustf(b, err, "trace")
				walls = append(walls, p.Wall)
				runs = append(runs, PassSpan(evs, "run").Duration())
				pres = append(pres, PassSpan(evs, "preflight").Duration())
				rss = append(rss, p.MaxRSS)
			}
			b.StopTimer()
			r := scaleResult{n: n, wall: Summarize(walls), pass: Summarize(runs), preflight: Summarize(pres), rss: SummarizeInts(rss), failures: failures}
			results = append(results, r)
			b.ReportMetric(r.wall.Median.Seconds(), "wall-s")
			b.ReportMetric(r.pass.Median.Seconds(), "runpass-s")
			b.ReportMetric(r.preflight.Median.Seconds(), "preflight-s")
			b.ReportMetric(MiB(r.rss.Median), "peak-MiB")
		})
	}
	loadLine := load.Stop()
	if len(results) > 0 {
		report(b, "deploy of generated plans (fresh control plane per run)", machine, growth(results, true)+loadLine)
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
		fmt.Fprintf(&w, "; peak RSS %.0f MiB (min %.0f, max %.0f)\n", MiB(r.rss.Median), MiB(r.rss.Min), MiB(r.rss.Max))
		for _, f := range r.failures {
			fmt.Fprintf(&w, "      a failed attempt, run again on a fresh control plane: %s\n", f)
		}
	}
	for i := 1; i < len(results); i++ {
		a, z := results[i-1], results[i]
		fmt.Fprintf(&w, "%d → %d releases (×%.0f): wall ×%.2f, %s ×%.2f, peak RSS ×%.2f\n", a.n, z.n, float64(z.n)/float64(a.n),
			Ratio(z.wall, a.wall), passName, Ratio(z.pass, a.pass), float64(z.rss.Median)/float64(a.rss.Median))
	}
	var xs, wall, pass, mem []float64
	for _, r := range results {
		xs = append(xs, float64(r.n))
		wall = append(wall, r.wall.Median.Seconds())
		pass = append(pass, r.pass.Median.Seconds())
		mem = append(mem, MiB(r.rss.Median))
	}
	if len(results) >= 2 {
		a, b := Linear(xs, wall)
		ma, mb := Linear(xs, mem)
		fmt.Fprintf(&w, "power-law fit (∝ n^k): wall k=%.2f, %s k=%.2f, peak RSS k=%.2f\n", Fit(xs, wall), passName, Fit(xs, pass), Fit(xs, mem))
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
//	    -cpuprofile cpu.out -memprofile mem.out ./internal/bench/
//	go tool pprof -top -cum internal/bench.test cpu.out
func BenchmarkDryRunInProcess(b *testing.B) {
	profilingOnly(b)
	s := setup(b)
	c, stop := freshCluster(b)
	b.Cleanup(stop)
	prod := prodKubeconfig(b, c.KubeconfigPath(), b.TempDir())
	cfg := c.RESTConfig()
	hp := &HelmPlatform{Env: s.production, REST: cfg}
	mustf(b, hp.secrets(context.Background()), "production Secrets")
	for _, tc := range []struct {
		name, plan, root, kubeconfig string
	}{
		{"releases=200", scalePlan(b, 200), "", c.KubeconfigPath()},
		{"deploy_prod", filepath.Join(s.root, "plans", "deploy_prod.star"), s.root, prod},
	} {
		if tc.root == "" {
			tc.root = filepath.Dir(tc.plan)
		}
		b.Run(tc.name, func(b *testing.B) {
			once := func() {
				pre, err := registry.Predeclared(registry.Plugins())
				mustf(b, err, "builtins")
				p, err := interp.Open(tc.plan, tc.root, pre)
				mustf(b, err, "open")
				params, err := p.Bind(nil)
				mustf(b, err, "bind")
				planned := 0
				rec := trace.NewRecorder(nil, trace.SinkFunc(func(e trace.Event) {
					if e.Phase == trace.Planned {
						planned++
					}
				}))
				eng := engine.New(engine.Options{Pass: trace.DryRun, Recorder: rec, Yes: true, Kube: kube.Settings{Kubeconfig: tc.kubeconfig}})
				mustf(b, p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params}), "dry run")
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

// BenchmarkDeployInProcess runs deploy_all.star (staging, libraries from
// the mirror) as `plate run` does, preflight then run pass, in this
// process, each iteration on a fresh local control plane (its start not
// measured), for -cpuprofile:
//
//	go test -run '^$' -bench DeployInProcess -benchtime 5x -cpuprofile cpu.out ./internal/bench/
func BenchmarkDeployInProcess(b *testing.B) {
	profilingOnly(b)
	s := setup(b)
	plan := filepath.Join(s.root, "plans", "deploy_all.star")
	pass := func(kubeconfig string, ps trace.Pass) error {
		pre, err := registry.Predeclared(registry.Plugins())
		mustf(b, err, "builtins")
		p, err := interp.Open(plan, s.root, pre)
		mustf(b, err, "open")
		var kvs []interp.KV
		for _, raw := range []string{"mirror=" + s.mirror.URL, "placeholder_secrets=true"} {
			kv, err := interp.ParseKV(raw)
			mustf(b, err, "param")
			kvs = append(kvs, kv)
		}
		params, err := p.Bind(kvs)
		mustf(b, err, "bind")
		rec := trace.NewRecorder(nil, trace.SinkFunc(func(trace.Event) {}))
		eng := engine.New(engine.Options{Pass: ps, Recorder: rec, Yes: true, Kube: kube.Settings{Kubeconfig: kubeconfig}})
		if err := p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params}); err != nil {
			return fmt.Errorf("%s pass: %w", ps, err)
		}
		return nil
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A run that fails is run again on a fresh control plane (see
		// BenchmarkPlatformDeploy).
		for attempt := 1; ; attempt++ {
			c, stop := freshCluster(b)
			err := pass(c.KubeconfigPath(), trace.Preflight)
			if err == nil {
				err = pass(c.KubeconfigPath(), trace.Run)
			}
			stop()
			if err == nil {
				break
			}
			if attempt == 3 {
				b.Fatal(err)
			}
			b.Logf("attempt %d: %v", attempt, firstLines(err.Error(), 2))
		}
	}
}

// profilingOnly skips the in-process benchmarks unless a profile is asked
// for: they exist for pprof, and `make bench` reports the subprocess
// figures.
func profilingOnly(b *testing.B) {
	for _, name := range []string{"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile", "test.trace"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return
		}
	}
	b.Skip("profiling helper: runs only with -cpuprofile, -memprofile, -blockprofile, -mutexprofile or -trace")
}
