package platformbench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/bench"
	"github.com/plate-dev/plate/internal/localcluster"
)

// platformDelays are the readiness delays of the apps' pods in
// BenchmarkPlatformReadiness (plate-cache has no pods: a claim).
var platformDelays = map[string]time.Duration{
	"plate-api": 4 * time.Second,
	"plate-llm": 5 * time.Second,
	"plate-web": 2 * time.Second,
}

// BenchmarkPlatformReadiness deploys the staging platform (deploy_all.star,
// libraries from the mirror) on a fresh local control plane per run, twice
// per iteration: with pods Ready at once, and with the apps' pods Ready some
// seconds after they start (plate-api 4 s, plate-llm 5 s, plate-web 2 s:
// the local control plane's plate.dev/ready-delay, set by an extra values
// file in a copy of the project), so that the order of the work matters.
//
// The critical-path limit of the delayed deploy is its slowest chain of
// delays (plate-llm → plate-web: 7 s; plate-api runs beside plate-llm)
// plus the same plan's run pass without delays (every install round trip
// and pod start the plan needs anyway). Goal: the run pass with delays ≤
// 1.15× that limit.
//
//	go test -run '^$' -bench PlatformReadiness -benchtime 5x ./internal/bench/platformbench/
func BenchmarkPlatformReadiness(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	delayed, err := bench.WriteDelayedProject(s.Root, filepath.Join(b.TempDir(), "delayed"), "staging", platformDelays)
	bench.Mustf(b, err, "delayed project")
	args := func(kubeconfig string) []string {
		return []string{"run", "plans/deploy_all.star", "--kubeconfig", kubeconfig, "-p", "mirror=" + s.Mirror.URL, "-p", "placeholder_secrets=true", "-o", "json"}
	}
	if bench.Probe(b) {
		for _, dir := range []string{s.Root, delayed} {
			p := s.RunPlateIn(ctx, dir, "run", "--dry-run", "--offline", "plans/deploy_all.star", "-p", "mirror="+s.Mirror.URL, "-p", "placeholder_secrets=true")
			bench.Mustf(b, p.Failed(), "warm-up")
		}
		b.Log("probe call: warmed the chart and page caches, measured nothing")
		return
	}
	machine, load := bench.Machine(), bench.SampleLoad(5*time.Second)
	type run struct {
		wall, pass time.Duration
		events     []bench.Event
	}
	var plain, slow []run
	var failures []string
	deploy := func(dir string) run {
		p, failed, _ := bench.OnFreshCluster(b, func(c *localcluster.Cluster) bench.Proc {
			return s.RunPlateIn(ctx, dir, args(c.KubeconfigPath())...)
		})
		failures = append(failures, failed...)
		evs, err := bench.ParseTrace(p.Stdout)
		bench.Mustf(b, err, "trace")
		return run{wall: p.Wall, pass: bench.PassSpan(evs, "run").Duration(), events: evs}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			plain = append(plain, deploy(s.Root))
			slow = append(slow, deploy(delayed))
		} else {
			slow = append(slow, deploy(delayed))
			plain = append(plain, deploy(s.Root))
		}
	}
	b.StopTimer()
	sum := func(rs []run, f func(run) time.Duration) bench.Summary {
		var ds []time.Duration
		for _, r := range rs {
			ds = append(ds, f(r))
		}
		return bench.Summarize(ds)
	}
	wall := func(r run) time.Duration { return r.wall }
	pass := func(r run) time.Duration { return r.pass }
	pp, sp := sum(plain, pass), sum(slow, pass)
	chain := platformDelays["plate-llm"] + platformDelays["plate-web"]
	limit := chain + pp.Median
	ratio := sp.Median.Seconds() / limit.Seconds()
	b.ReportMetric(sp.Median.Seconds(), "delayed-runpass-s")
	b.ReportMetric(limit.Seconds(), "limit-s")
	b.ReportMetric(ratio, "delayed/limit")

	var w strings.Builder
	fmt.Fprintf(&w, "delays: plate-api 4 s, plate-llm 5 s, plate-web 2 s; slowest chain plate-llm → plate-web: %s\n", bench.Dur(chain))
	fmt.Fprintf(&w, "without delays: plate run %s; run pass %s\n", sum(plain, wall), pp)
	fmt.Fprintf(&w, "with delays:    plate run %s; run pass %s\n", sum(slow, wall), sp)
	fmt.Fprintf(&w, "critical-path limit of the run pass: %s (chain %s + run pass without delays %s)\n", bench.Dur(limit), bench.Dur(chain), bench.Dur(pp.Median))
	fmt.Fprintf(&w, "run pass with delays / limit: %.3f (goal ≤ 1.15)\n", ratio)
	for _, f := range failures {
		fmt.Fprintf(&w, "a failed attempt, run again on a fresh control plane: %s\n", f)
	}
	fmt.Fprintf(&w, "%s\n", load.Stop())
	med := slices.IndexFunc(slow, func(r run) bool { return r.pass == sp.Median })
	if med < 0 {
		med = 0
	}
	fmt.Fprintf(&w, "run pass of a median delayed run (ms from the pass' first event):\n")
	bench.WriteTimeline(&w, bench.Steps(slow[med].events, "run"))
	bench.Report(b, fmt.Sprintf("staging platform with readiness delays, %d runs each, alternating", b.N), machine, w.String())
}
