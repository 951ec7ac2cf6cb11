package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plate-dev/plate/internal/localcluster"
)

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
//	go test -run '^$' -bench PlatformDeploy -benchtime 5x ./internal/bench/
func BenchmarkPlatformDeploy(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	env := s.staging
	plateArgs := func(kubeconfig string, extra ...string) []string {
		return append([]string{"run", "plans/deploy_all.star", "--kubeconfig", kubeconfig,
			"-p", "mirror=" + s.mirror.URL, "-p", "placeholder_secrets=true"}, extra...)
	}
	if probe(b) {
		p := s.runPlate(ctx, "run", "--dry-run", "--offline", "plans/deploy_all.star", "-p", "mirror="+s.mirror.URL, "-p", "placeholder_secrets=true")
		mustf(b, p.Failed(), "warm-up")
		hp := &HelmPlatform{Helm: s.helm, Home: s.helmHome, Env: env, Mirror: s.mirror.URL}
		_, err := hp.Template(ctx, true)
		mustf(b, err, "warm-up")
		b.Log("probe call: warmed the chart and page caches, measured nothing")
		return
	}
	machine := Machine()
	load := SampleLoad(5 * time.Second)

	type plateRun struct {
		wall, startup, preflight, gap, run, tail time.Duration
		rss                                      int64
		events                                   []Event
	}
	var plates []plateRun
	var helms []time.Duration
	var helmPhases [][]Phase
	var starts []time.Duration

	var plateFailures []string
	runPlate := func() {
		var start time.Time
		p, failures, st := onFreshCluster(b, func(c *localcluster.Cluster) Proc {
			start = time.Now()
			return s.runPlate(ctx, plateArgs(c.KubeconfigPath(), "-o", "json")...)
		})
		plateFailures = append(plateFailures, failures...)
		starts = append(starts, st...)
		evs, err := ParseTrace(p.Stdout)
		mustf(b, err, "plate trace")
		pre, run := PassSpan(evs, "preflight"), PassSpan(evs, "run")
		end := start.Add(p.Wall)
		plates = append(plates, plateRun{
			wall: p.Wall, startup: pre.Start.Sub(start), preflight: pre.Duration(), gap: run.Start.Sub(pre.End),
			run: run.Duration(), tail: end.Sub(run.End), rss: p.MaxRSS, events: evs,
		})
	}
	runHelm := func() {
		t0 := time.Now()
		c, stop := freshCluster(b)
		starts = append(starts, time.Since(t0))
		defer stop()
		hp := &HelmPlatform{Helm: s.helm, Home: s.helmHome, Env: env, Mirror: s.mirror.URL, Kubeconfig: c.KubeconfigPath(), REST: c.RESTConfig()}
		start := time.Now()
		phases, err := hp.Deploy(ctx)
		mustf(b, err, "helm (%s)", PhasesString(phases))
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

	pick := func(f func(plateRun) time.Duration) Summary {
		var ds []time.Duration
		for _, r := range plates {
			ds = append(ds, f(r))
		}
		return Summarize(ds)
	}
	pw := pick(func(r plateRun) time.Duration { return r.wall })
	pr := pick(func(r plateRun) time.Duration { return r.run })
	hw := Summarize(helms)
	var rss []int64
	for _, r := range plates {
		rss = append(rss, r.rss)
	}
	b.ReportMetric(pw.Median.Seconds(), "plate-s")
	b.ReportMetric(pr.Median.Seconds(), "plate-runpass-s")
	b.ReportMetric(hw.Median.Seconds(), "helm-s")
	b.ReportMetric(Ratio(pw, hw), "plate/helm")
	b.ReportMetric(Ratio(pr, hw), "runpass/helm")

	var w strings.Builder
	fmt.Fprintf(&w, "plate run (whole process):  %s\n", pw)
	fmt.Fprintf(&w, "  process start → preflight: %s\n", pick(func(r plateRun) time.Duration { return r.startup }))
	fmt.Fprintf(&w, "  preflight pass:            %s\n", pick(func(r plateRun) time.Duration { return r.preflight }))
	fmt.Fprintf(&w, "  preflight → run (lock):    %s\n", pick(func(r plateRun) time.Duration { return r.gap }))
	fmt.Fprintf(&w, "  run pass:                  %s\n", pr)
	fmt.Fprintf(&w, "  run pass → exit:           %s\n", pick(func(r plateRun) time.Duration { return r.tail }))
	ri := SummarizeInts(rss)
	fmt.Fprintf(&w, "  peak RSS:                  %.0f MiB (min %.0f, max %.0f)\n", MiB(ri.Median), MiB(ri.Min), MiB(ri.Max))
	fmt.Fprintf(&w, "helm CLI, sequential --wait: %s\n", hw)
	for j := range helmPhases[0] {
		var ds []time.Duration
		for _, ph := range helmPhases {
			ds = append(ds, ph[j].Took)
		}
		fmt.Fprintf(&w, "  %-26s %s\n", helmPhases[0][j].Name+":", Summarize(ds))
	}
	fmt.Fprintf(&w, "ratio of medians plate/helm: %.3f (goal ≤ 0.15); run pass alone/helm: %.3f\n", Ratio(pw, hw), Ratio(pr, hw))
	fmt.Fprintf(&w, "control plane start (not counted): %s\n", Summarize(starts))
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
	WriteTimeline(&w, Steps(plates[med].events, "run"))
	report(b, fmt.Sprintf("full platform deploy (%s: %d libraries, %d apps), %d runs each, alternating", env.Name, len(env.Libraries), len(env.Apps), b.N), machine, w.String())
}

// BenchmarkPlatformDryRun compares plate's dry run of a production plan
// against a context named like production with `helm template` of the same
// charts and values, one process per release, in order (goal: plate ≤ 0.3×
// helm). plate's dry run talks to the cluster (server-side dry-run
// renders, release history, ownership checks); helm template renders
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
//     the five apps.
//
//     go test -run '^$' -bench PlatformDryRun -benchtime 5x ./internal/bench/
func BenchmarkPlatformDryRun(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	c, stop := freshCluster(b)
	b.Cleanup(stop)
	dir := b.TempDir()
	prod := prodKubeconfig(b, c.KubeconfigPath(), dir)
	// The Secrets production apps read exist, as they would in
	// production (deploy_prod does not create them).
	cfg, err := clientcmd.BuildConfigFromFlags("", prod)
	mustf(b, err, "kubeconfig")
	hp := &HelmPlatform{Helm: s.helm, Home: s.helmHome, Env: s.production, Mirror: s.mirror.URL, Kubeconfig: prod, REST: cfg}
	mustf(b, hp.secrets(ctx), "production Secrets")

	for _, tc := range []struct {
		name      string
		args      []string
		libraries bool
	}{
		{"deploy_prod", []string{"run", "--dry-run", "plans/deploy_prod.star", "--kubeconfig", prod, "--yes"}, false},
		{"deploy_all-production", []string{"run", "--dry-run", "plans/deploy_all.star", "-p", "env=production", "-p", "mirror=" + s.mirror.URL, "--kubeconfig", prod, "--yes"}, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			once := func(helmFirst bool) (Proc, time.Duration, int) {
				var p Proc
				if !helmFirst {
					p = s.runPlate(ctx, tc.args...)
				}
				start := time.Now()
				n, err := hp.Template(ctx, tc.libraries)
				mustf(b, err, "helm template")
				h := time.Since(start)
				if helmFirst {
					p = s.runPlate(ctx, tc.args...)
				}
				mustf(b, p.Failed(), "plate")
				return p, h, n
			}
			once(false) // warm-up
			if probe(b) {
				return
			}
			machine := Machine()
			load := SampleLoad(2 * time.Second)
			var plates, helms []time.Duration
			var rss []int64
			releases := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, h, n := once(i%2 == 1)
				plates = append(plates, p.Wall)
				rss = append(rss, p.MaxRSS)
				helms = append(helms, h)
				releases = n
			}
			b.StopTimer()
			ps, hs, ri := Summarize(plates), Summarize(helms), SummarizeInts(rss)
			b.ReportMetric(Ms(ps.Median), "plate-ms")
			b.ReportMetric(Ms(hs.Median), "helm-ms")
			b.ReportMetric(Ratio(ps, hs), "plate/helm")
			b.ReportMetric(MiB(ri.Median), "plate-MiB")
			report(b, fmt.Sprintf("dry run of %s, %d runs each, alternating", tc.name, b.N), machine,
				fmt.Sprintf("plate run --dry-run (whole process): %s, peak RSS %.0f MiB (min %.0f, max %.0f)\nhelm template, %d processes:          %s\nratio of medians plate/helm: %.3f (goal ≤ 0.3)\n%s",
					ps, MiB(ri.Median), MiB(ri.Min), MiB(ri.Max), releases, hs, Ratio(ps, hs), load.Stop()))
		})
	}
}

// firstLines returns the first n lines of s, joined by " / ".
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " / ")
}

// failureOf describes why a plate run failed: its failed steps, each with
// the last progress line before it (the readiness reason), or the first
// lines of its stderr.
func failureOf(p Proc) string {
	evs, _ := ParseTrace(p.Stdout)
	last := map[string]string{}
	var out []string
	for _, e := range evs {
		switch e.Phase {
		case "progress":
			last[e.Step] = e.Summary
		case "failed":
			out = append(out, fmt.Sprintf("%s %s at %s:%d: %s (last progress: %s)", e.Pass, e.Builtin, e.Pos.File, e.Pos.Line, e.Summary, last[e.Step]))
		}
	}
	if len(out) == 0 {
		return firstLines(string(p.Stderr), 3)
	}
	return strings.Join(out, "; ")
}
