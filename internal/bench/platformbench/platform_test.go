package platformbench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/bench"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

func TestMain(m *testing.M) { bench.Main(m) }

// BenchmarkPlatformDeploy deploys the staging platform on a fresh local
// control plane, once with plate and once with the helm CLI, alternating,
// and reports both and their ratio (goal: plate ≤ 0.15× helm).
//
//   - plate: `plate run plans/deploy_all.star -p mirror=… -p
//     placeholder_secrets=true -o json`, the plate binary as a subprocess,
//     from its start to its exit (preflight, lock, run pass: everything
//     Ready, then the plan's health check and status table). The preflight
//     and the run pass alone are taken from the trace's timestamps.
//   - helm: what the old scripts did (HelmPlatform.Deploy): `helm upgrade
//     --install --wait` per release in order, the libraries from the same
//     mirror with the same values as --set and the same versions, their
//     config objects applied in between with client-go, the apps' namespace
//     and Secrets created first, the apps with -f the same values files.
//
// Each iteration starts two control planes (their start is not counted).
// The testing package's probe call (b.N = 1 before -benchtime Nx) only
// warms the chart caches and the page cache.
//
//	go test -run '^$' -bench PlatformDeploy -benchtime 5x ./internal/bench/platformbench/
func BenchmarkPlatformDeploy(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	env := s.Staging
	plateArgs := func(kubeconfig string, extra ...string) []string {
		return append([]string{"run", "plans/deploy_all.star", "--kubeconfig", kubeconfig,
			"-p", "mirror=" + s.Mirror.URL, "-p", "placeholder_secrets=true"}, extra...)
	}
	if bench.Probe(b) {
		p := s.RunPlate(ctx, "run", "--dry-run", "--offline", "plans/deploy_all.star", "-p", "mirror="+s.Mirror.URL, "-p", "placeholder_secrets=true")
		bench.Mustf(b, p.Failed(), "warm-up")
		hp := &bench.HelmPlatform{Helm: s.Helm, Home: s.HelmHome, Env: env, Mirror: s.Mirror.URL}
		_, err := hp.Template(ctx, true)
		bench.Mustf(b, err, "warm-up")
		b.Log("probe call: warmed the chart and page caches, measured nothing")
		return
	}
	machine := bench.Machine()
	load := bench.SampleLoad(5 * time.Second)

	type plateRun struct {
		wall, startup, preflight, gap, run, tail time.Duration
		rss                                      int64
		events                                   []bench.Event
	}
	var plates []plateRun
	var helms []time.Duration
	var helmPhases [][]bench.Phase
	var starts []time.Duration

	var plateFailures []string
	runPlate := func() {
		var start time.Time
		p, failures, st := bench.OnFreshCluster(b, func(c *localcluster.Cluster) bench.Proc {
			start = time.Now()
			return s.RunPlate(ctx, plateArgs(c.KubeconfigPath(), "-o", "json")...)
		})
		plateFailures = append(plateFailures, failures...)
		starts = append(starts, st...)
		evs, err := bench.ParseTrace(p.Stdout)
		bench.Mustf(b, err, "plate trace")
		pre, run := bench.PassSpan(evs, "preflight"), bench.PassSpan(evs, "run")
		end := start.Add(p.Wall)
		plates = append(plates, plateRun{
			wall: p.Wall, startup: pre.Start.Sub(start), preflight: pre.Duration(), gap: run.Start.Sub(pre.End),
			run: run.Duration(), tail: end.Sub(run.End), rss: p.MaxRSS, events: evs,
		})
	}
	runHelm := func() {
		t0 := time.Now()
		c, stop := bench.FreshCluster(b)
		starts = append(starts, time.Since(t0))
		defer stop()
		hp := &bench.HelmPlatform{Helm: s.Helm, Home: s.HelmHome, Env: env, Mirror: s.Mirror.URL, Kubeconfig: c.KubeconfigPath(), REST: c.RESTConfig()}
		start := time.Now()
		phases, err := hp.Deploy(ctx)
		bench.Mustf(b, err, "helm (%s)", bench.PhasesString(phases))
		helms = append(helms, time.Since(start))
		helmPhases = append(helmPhases, phases)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate which side goes first, so that drift in the machine's
		// load does not favour one.
		if i%2 == 0 {
			runPlate()
			runHelm()
		} else {
			runHelm()
			runPlate()
		}
	}
	b.StopTimer()

	pick := func(f func(plateRun) time.Duration) bench.Summary {
		var ds []time.Duration
		for _, r := range plates {
			ds = append(ds, f(r))
		}
		return bench.Summarize(ds)
	}
	pw := pick(func(r plateRun) time.Duration { return r.wall })
	pr := pick(func(r plateRun) time.Duration { return r.run })
	hw := bench.Summarize(helms)
	var rss []int64
	for _, r := range plates {
		rss = append(rss, r.rss)
	}
	b.ReportMetric(pw.Median.Seconds(), "plate-s")
	b.ReportMetric(pr.Median.Seconds(), "plate-runpass-s")
	b.ReportMetric(hw.Median.Seconds(), "helm-s")
	b.ReportMetric(bench.Ratio(pw, hw), "plate/helm")
	b.ReportMetric(bench.Ratio(pr, hw), "runpass/helm")

	var w strings.Builder
	fmt.Fprintf(&w, "plate run (whole process):  %s\n", pw)
	fmt.Fprintf(&w, "  process start → preflight: %s\n", pick(func(r plateRun) time.Duration { return r.startup }))
	fmt.Fprintf(&w, "  preflight pass:            %s\n", pick(func(r plateRun) time.Duration { return r.preflight }))
	fmt.Fprintf(&w, "  preflight → run (lock):    %s\n", pick(func(r plateRun) time.Duration { return r.gap }))
	fmt.Fprintf(&w, "  run pass:                  %s\n", pr)
	fmt.Fprintf(&w, "  run pass → exit:           %s\n", pick(func(r plateRun) time.Duration { return r.tail }))
	ri := bench.SummarizeInts(rss)
	fmt.Fprintf(&w, "  peak RSS:                  %.0f MiB (min %.0f, max %.0f)\n", bench.MiB(ri.Median), bench.MiB(ri.Min), bench.MiB(ri.Max))
	fmt.Fprintf(&w, "helm CLI, sequential --wait: %s\n", hw)
	for j := range helmPhases[0] {
		var ds []time.Duration
		for _, ph := range helmPhases {
			ds = append(ds, ph[j].Took)
		}
		fmt.Fprintf(&w, "  %-26s %s\n", helmPhases[0][j].Name+":", bench.Summarize(ds))
	}
	fmt.Fprintf(&w, "ratio of medians plate/helm: %.3f (goal ≤ 0.15); run pass alone/helm: %.3f\n", bench.Ratio(pw, hw), bench.Ratio(pr, hw))
	fmt.Fprintf(&w, "control plane start (not counted): %s\n", bench.Summarize(starts))
	if len(plateFailures) > 0 {
		fmt.Fprintf(&w, "plate runs that failed and were run again on a fresh control plane: %d of %d\n", len(plateFailures), len(plateFailures)+len(plates))
		for _, f := range plateFailures {
			fmt.Fprintf(&w, "  %s\n", f)
		}
	}
	fmt.Fprintf(&w, "%s\n", load.Stop())
	// Where plate's time goes: the run pass of the median run, step by step.
	med := slices.IndexFunc(plates, func(r plateRun) bool { return r.wall == pw.Median })
	if med < 0 {
		med = 0
	}
	fmt.Fprintf(&w, "run pass of a median plate run (ms from the pass' first event):\n")
	bench.WriteTimeline(&w, bench.Steps(plates[med].events, "run"))
	bench.Report(b, fmt.Sprintf("full platform deploy (%s: %d libraries, %d apps), %d runs each, alternating", env.Name, len(env.Libraries), len(env.Apps), b.N), machine, w.String())
}

// BenchmarkPlatformDryRun compares plate's dry run of a production plan
// against a context named like production with `helm template` of the same
// charts and values, one process per release, in order (goal: plate ≤ 0.3×
// helm). plate's dry run reads the cluster (the guard, release histories,
// whether each object exists, the server's version) and validates the
// manifests against the server's OpenAPI schemas; helm template renders
// client-only. One control plane serves every run (a dry run writes
// nothing).
//
//   - deploy_prod: `plate run --dry-run plans/deploy_prod.star --yes` (the
//     five apps) vs `helm template` of the five apps with -f
//     values-prod.yaml;
//
//   - deploy_all-production: `plate run --dry-run plans/deploy_all.star -p
//     env=production -p mirror=… --yes` (libraries and apps) vs `helm
//     template` of the three libraries (from the mirror, --set values) and
//     the five apps;
//
//   - deploy_prod-offline: the first with --offline (no cluster: client-only
//     renders, as helm template does), to tell the cluster's share.
//
//     go test -run '^$' -bench PlatformDryRun -benchtime 5x ./internal/bench/platformbench/
func BenchmarkPlatformDryRun(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	c, stop := bench.FreshCluster(b)
	b.Cleanup(stop)
	dir := b.TempDir()
	prod := bench.ProdKubeconfig(b, c.KubeconfigPath(), dir)
	// The Secrets production apps read exist, as they would in
	// production (deploy_prod does not create them).
	cfg, err := clientcmd.BuildConfigFromFlags("", prod)
	bench.Mustf(b, err, "kubeconfig")
	hp := &bench.HelmPlatform{Helm: s.Helm, Home: s.HelmHome, Env: s.Production, Mirror: s.Mirror.URL, Kubeconfig: prod, REST: cfg}
	bench.Mustf(b, hp.Secrets(ctx), "production Secrets")

	for _, tc := range []struct {
		name      string
		args      []string
		libraries bool
	}{
		{"deploy_prod", []string{"run", "--dry-run", "plans/deploy_prod.star", "--kubeconfig", prod, "--yes"}, false},
		{"deploy_all-production", []string{"run", "--dry-run", "plans/deploy_all.star", "-p", "env=production", "-p", "mirror=" + s.Mirror.URL, "--kubeconfig", prod, "--yes"}, true},
		{"deploy_prod-offline", []string{"run", "--dry-run", "--offline", "plans/deploy_prod.star", "--yes"}, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			args := append(append([]string(nil), tc.args...), "-o", "json")
			var plateStart time.Time
			runPlate := func() bench.Proc {
				plateStart = time.Now()
				return s.RunPlate(ctx, args...)
			}
			once := func(helmFirst bool) (bench.Proc, time.Duration, int) {
				var p bench.Proc
				if !helmFirst {
					p = runPlate()
				}
				start := time.Now()
				n, err := hp.Template(ctx, tc.libraries)
				bench.Mustf(b, err, "helm template")
				h := time.Since(start)
				if helmFirst {
					p = runPlate()
				}
				bench.Mustf(b, p.Failed(), "plate")
				return p, h, n
			}
			once(false) // warm-up
			if bench.Probe(b) {
				return
			}
			machine := bench.Machine()
			load := bench.SampleLoad(2 * time.Second)
			var plates, helms, starts, passes, helmStarts []time.Duration
			var rss []int64
			var traces [][]bench.Event
			releases := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, h, n := once(i%2 == 1)
				evs, err := bench.ParseTrace(p.Stdout)
				bench.Mustf(b, err, "trace")
				span := bench.PassSpan(evs, "dry-run")
				plates = append(plates, p.Wall)
				starts = append(starts, span.Start.Sub(plateStart))
				passes = append(passes, span.Duration())
				traces = append(traces, evs)
				rss = append(rss, p.MaxRSS)
				helms = append(helms, h)
				releases = n
				// What one helm process costs before it does anything.
				v := bench.Run(ctx, s.Root, helmcli.Env(s.HelmHome), s.Helm, "version", "--short")
				bench.Mustf(b, v.Failed(), "helm version")
				helmStarts = append(helmStarts, v.Wall)
			}
			b.StopTimer()
			ps, hs, ri := bench.Summarize(plates), bench.Summarize(helms), bench.SummarizeInts(rss)
			b.ReportMetric(bench.Ms(ps.Median), "plate-ms")
			b.ReportMetric(bench.Ms(hs.Median), "helm-ms")
			b.ReportMetric(bench.Ratio(ps, hs), "plate/helm")
			b.ReportMetric(bench.MiB(ri.Median), "plate-MiB")
			var w strings.Builder
			fmt.Fprintf(&w, "plate run --dry-run (whole process): %s, peak RSS %.0f MiB (min %.0f, max %.0f)\n", ps, bench.MiB(ri.Median), bench.MiB(ri.Min), bench.MiB(ri.Max))
			fmt.Fprintf(&w, "  process start → first event:       %s\n", bench.Summarize(starts))
			fmt.Fprintf(&w, "  dry-run pass:                       %s\n", bench.Summarize(passes))
			fmt.Fprintf(&w, "helm template, %d processes:          %s\n", releases, hs)
			fmt.Fprintf(&w, "  one helm process doing nothing (helm version): %s\n", bench.Summarize(helmStarts))
			fmt.Fprintf(&w, "ratio of medians plate/helm: %.3f (goal ≤ 0.3)\n%s\n", bench.Ratio(ps, hs), load.Stop())
			med := slices.IndexFunc(plates, func(d time.Duration) bool { return d == ps.Median })
			if med < 0 {
				med = 0
			}
			fmt.Fprintf(&w, "dry-run pass of a median plate run (ms from the pass' first event):\n")
			bench.WriteTimeline(&w, bench.Steps(traces[med], "dry-run"))
			bench.Report(b, fmt.Sprintf("dry run of %s, %d runs each, alternating", tc.name, b.N), machine, w.String())
		})
	}
}

// BenchmarkDeployInProcess runs deploy_all.star (staging, libraries from
// the mirror) as `plate run` does, preflight then run pass, in this
// process, each iteration on a fresh local control plane (its start not
// measured), for -cpuprofile:
//
//	go test -run '^$' -bench DeployInProcess -benchtime 5x -cpuprofile cpu.out ./internal/bench/platformbench/
func BenchmarkDeployInProcess(b *testing.B) {
	bench.ProfilingOnly(b)
	s := bench.Setup(b)
	plan := filepath.Join(s.Root, "plans", "deploy_all.star")
	pass := func(kubeconfig string, ps trace.Pass) error {
		pre, err := registry.Predeclared(registry.Plugins())
		bench.Mustf(b, err, "builtins")
		p, err := interp.Open(plan, s.Root, pre)
		bench.Mustf(b, err, "open")
		var kvs []interp.KV
		for _, raw := range []string{"mirror=" + s.Mirror.URL, "placeholder_secrets=true"} {
			kv, err := interp.ParseKV(raw)
			bench.Mustf(b, err, "param")
			kvs = append(kvs, kv)
		}
		params, err := p.Bind(kvs)
		bench.Mustf(b, err, "bind")
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
			c, stop := bench.FreshCluster(b)
			err := pass(c.KubeconfigPath(), trace.Preflight)
			if err == nil {
				err = pass(c.KubeconfigPath(), trace.Run)
			}
			stop()
			if err == nil {
				break
			}
			if attempt == bench.MaxAttempts {
				b.Fatal(err)
			}
			b.Logf("attempt %d: %v", attempt, bench.FirstLines(err.Error(), 2))
		}
	}
}
