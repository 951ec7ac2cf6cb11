package platformbench

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
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// BenchmarkRefCheckDryRun measures what the reference check
// (internal/refcheck) adds to the platform's dry run: the dry-run pass of
// plans/deploy_all.star (staging: the stand-in libraries, then the apps;
// 8 releases and their config objects) against one local control plane,
// in this process, alternately with the check and without it
// (engine.Options.NoRefCheck), b.N passes of each after one warm-up pair.
// "fresh": on an empty cluster (every namespace is new: the check lists
// only cluster-wide kinds); "deployed": after the platform was deployed
// (every release an upgrade, checked for immutable fields, and every
// namespace read). Goal: the check adds at most 20 % to the pass.
//
//	go test -run '^$' -bench RefCheckDryRun -benchtime 9x ./internal/bench/platformbench/
func BenchmarkRefCheckDryRun(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: needs the local control plane")
	}
	root, err := bench.RepoRoot()
	bench.Mustf(b, err, "repository root")
	c, stop := bench.FreshCluster(b)
	b.Cleanup(stop)
	plan := filepath.Join(root, "plans", "deploy_all.star")
	pre, err := registry.Predeclared(registry.Plugins())
	bench.Mustf(b, err, "builtins")
	p, err := interp.Open(plan, root, pre)
	bench.Mustf(b, err, "open")
	var kvs []interp.KV
	for _, raw := range []string{"standins=true", "placeholder_secrets=true"} {
		kv, err := interp.ParseKV(raw)
		bench.Mustf(b, err, "param")
		kvs = append(kvs, kv)
	}
	params, err := p.Bind(kvs)
	bench.Mustf(b, err, "bind")
	lists := 0
	run := func(ps trace.Pass, check bool) (time.Duration, int, error) {
		findings := 0
		rec := trace.NewRecorder(nil, trace.SinkFunc(func(e trace.Event) { findings += len(e.Findings) }))
		eng := engine.New(engine.Options{Pass: ps, Recorder: rec, Yes: true,
			Kube: kube.Settings{Kubeconfig: c.KubeconfigPath()}, NoRefCheck: !check})
		start := time.Now()
		err := p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params})
		d := time.Since(start)
		if check {
			lists = eng.RefCheckLists()
		}
		return d, findings, err
	}
	pass := func(check bool) (time.Duration, int) {
		d, n, err := run(trace.DryRun, check)
		bench.Mustf(b, err, "dry-run pass")
		return d, n
	}
	reads := func() int { return lists }
	b.Run("fresh", func(b *testing.B) { measureRefCheck(b, "fresh cluster", pass, reads) })
	b.Run("deployed", func(b *testing.B) {
		if !bench.Probe(b) {
			// The deploy (an upgrade --install: run again when a wait
			// fails on a loaded machine).
			for attempt := 1; ; attempt++ {
				_, _, err := run(trace.Run, false)
				if err == nil {
					break
				}
				if attempt == bench.MaxAttempts {
					b.Fatal(err)
				}
				b.Logf("deploy attempt %d: %v", attempt, bench.FirstLines(err.Error(), 2))
			}
		}
		measureRefCheck(b, "after the platform's deploy", pass, reads)
	})
}

func measureRefCheck(b *testing.B, what string, pass func(check bool) (time.Duration, int), reads func() int) {
	pass(true) // warm-up: chart and discovery caches, page cache
	pass(false)
	if bench.Probe(b) {
		return
	}
	machine := bench.Machine()
	var with, without []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, check := range order {
			d, n := pass(check)
			if check {
				with = append(with, d)
				if n != 0 {
					b.Fatalf("the platform's dry run raised %d findings", n)
				}
			} else {
				without = append(without, d)
			}
		}
	}
	b.StopTimer()
	ws, wos := bench.Summarize(with), bench.Summarize(without)
	overhead := 100 * (float64(ws.Median) - float64(wos.Median)) / float64(wos.Median)
	overheadMin := 100 * (float64(ws.Min) - float64(wos.Min)) / float64(wos.Min)
	b.ReportMetric(bench.Ms(ws.Median), "checked-ms")
	b.ReportMetric(bench.Ms(wos.Median), "unchecked-ms")
	b.ReportMetric(overhead, "overhead-%")
	b.ReportMetric(overheadMin, "overhead-min-%")
	b.ReportMetric(float64(reads()), "check-requests")
	var w strings.Builder
	fmt.Fprintf(&w, "dry-run pass with the reference check:    %s\n", ws)
	fmt.Fprintf(&w, "dry-run pass without it (NoRefCheck):     %s\n", wos)
	fmt.Fprintf(&w, "the check adds %.1f %% median against median, %.1f %% fastest against fastest (goal ≤ 20 %%)\n", overhead, overheadMin)
	fmt.Fprintf(&w, "requests the check sends per pass: %d (lists, one per kind and namespace, and namespace reads)\n", reads())
	bench.Report(b, fmt.Sprintf("reference check in the dry run of deploy_all.star (staging, stand-ins), %s, %d passes each, alternating", what, b.N), machine, w.String())
}
