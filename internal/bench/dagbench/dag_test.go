// Package dagbench compares plate with its current peers on the shape of
// the platform's apps: four releases, cache → api, llm → web.
package dagbench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/bench"
	"github.com/plate-dev/plate/internal/helmcli"
)

func TestMain(m *testing.M) { bench.Main(m) }

// side is one way of deploying the DAG into a fresh namespace.
type side struct {
	name string
	run  func(ctx context.Context, kubeconfig, ns string) (bench.Proc, error)
}

type sideResult struct {
	wall bench.Summary
	pass bench.Summary // plate only: the run pass, from the trace
}

// BenchmarkAppDAG deploys four releases of //tiny (a ConfigMap, a
// Deployment of one pod, a Service), cache → api, llm → web, into a fresh
// namespace of one local control plane per variant, with each of:
//
//   - plate: `plate run plan.star` (concurrent helm_install and wait_ready
//     steps with needs=; preflight, lock and run pass all counted);
//   - Helm 4 (v4.3.x), sequential `helm upgrade --install --wait=watcher`,
//     as a deploy script runs it;
//   - Helm 3 (the version plate links), sequential `--wait` (it polls);
//   - helmfile, `helmfile sync` of the same releases with needs: and
//     wait: true, driving Helm 4.
//
// Two variants: pods Ready at once ("delays=none"), and pods Ready 3, 4, 5
// and 2 s after they start (cache, api, llm, web: the local control plane's
// plate.dev/ready-delay), where the order of the work matters. For the
// second, the critical-path limit is the slowest chain's delays (cache →
// llm → web: 10 s) plus plate's own run pass without delays (one install
// round trip and one pod start per level); goal: plate's run pass ≤ 1.15×
// that limit. Goal on the DAG: plate ≤ 0.4× Helm 4 sequential. Sides
// alternate their order each iteration.
//
//	go test -run '^$' -bench AppDAG -benchtime 5x ./internal/bench/dagbench/
func BenchmarkAppDAG(b *testing.B) {
	s := bench.Setup(b)
	ctx := context.Background()
	machine := bench.Machine()
	variants := []struct {
		name string
		rels []bench.DAGRelease
	}{
		{"delays=none", bench.DAG(0, 0, 0, 0)},
		{"delays=3s,4s,5s,2s", bench.DAG(3*time.Second, 4*time.Second, 5*time.Second, 2*time.Second)},
	}
	results := map[string]map[string]sideResult{}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "dag")
			plan, err := bench.WriteDAGProject(dir, v.rels)
			bench.Mustf(b, err, "DAG project")
			c, stop := bench.FreshCluster(b)
			defer stop()
			sides := []side{
				{"plate", func(ctx context.Context, kubeconfig, ns string) (bench.Proc, error) {
					p := s.RunPlateIn(ctx, dir, "run", plan, "-p", "ns="+ns, "--kubeconfig", kubeconfig, "-o", "json")
					return p, p.Failed()
				}},
				{"helm4-watcher", func(ctx context.Context, kubeconfig, ns string) (bench.Proc, error) {
					t0 := time.Now()
					err := bench.HelmSequential(ctx, s.Helm4, s.HelmHome, dir, kubeconfig, ns, "--wait=watcher", v.rels)
					return bench.Proc{Wall: time.Since(t0)}, err
				}},
				{"helm3-wait", func(ctx context.Context, kubeconfig, ns string) (bench.Proc, error) {
					t0 := time.Now()
					err := bench.HelmSequential(ctx, s.Helm, s.HelmHome, dir, kubeconfig, ns, "--wait", v.rels)
					return bench.Proc{Wall: time.Since(t0)}, err
				}},
				{"helmfile", func(ctx context.Context, kubeconfig, ns string) (bench.Proc, error) {
					t0 := time.Now()
					err := bench.Helmfile(ctx, s.Helmfile, s.Helm4, s.HelmHome, dir, kubeconfig, ns)
					return bench.Proc{Wall: time.Since(t0)}, err
				}},
			}
			seq := 0
			once := func(sd side) (bench.Proc, time.Duration) {
				seq++
				ns := fmt.Sprintf("dag-%s-%d", strings.SplitN(sd.name, "-", 2)[0], seq)
				p, err := sd.run(ctx, c.KubeconfigPath(), ns)
				bench.Mustf(b, err, "%s", sd.name)
				var pass time.Duration
				if sd.name == "plate" {
					evs, err := bench.ParseTrace(p.Stdout)
					bench.Mustf(b, err, "plate trace")
					pass = bench.PassSpan(evs, "run").Duration()
				}
				return p, pass
			}
			if bench.Probe(b) {
				for _, sd := range sides {
					once(sd)
				}
				b.Log("probe call: one deploy per side (caches, page cache), measured nothing")
				return
			}
			load := bench.SampleLoad(2 * time.Second)
			walls := map[string][]time.Duration{}
			var passes []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range sides {
					sd := sides[(i+j)%len(sides)]
					p, pass := once(sd)
					walls[sd.name] = append(walls[sd.name], p.Wall)
					if sd.name == "plate" {
						passes = append(passes, pass)
					}
				}
			}
			b.StopTimer()
			res := map[string]sideResult{}
			for _, sd := range sides {
				res[sd.name] = sideResult{wall: bench.Summarize(walls[sd.name])}
			}
			pr := res["plate"]
			pr.pass = bench.Summarize(passes)
			res["plate"] = pr
			results[v.name] = res
			for _, sd := range sides {
				b.ReportMetric(res[sd.name].wall.Median.Seconds(), sd.name+"-s")
			}
			b.ReportMetric(bench.Ratio(pr.wall, res["helm4-watcher"].wall), "plate/helm4")

			var w strings.Builder
			levels, delay := bench.CriticalPath(v.rels)
			fmt.Fprintf(&w, "releases: cache → api, llm → web (%d levels); readiness delays on the slowest chain: %s\n", levels, bench.Dur(delay))
			fmt.Fprintf(&w, "plate run (whole process):            %s\n", pr.wall)
			fmt.Fprintf(&w, "  run pass:                           %s\n", pr.pass)
			fmt.Fprintf(&w, "%s sequential --wait=watcher:  %s\n", helmcli.Helm4, res["helm4-watcher"].wall)
			fmt.Fprintf(&w, "helm %s sequential --wait:      %s\n", s.HelmVersion, res["helm3-wait"].wall)
			fmt.Fprintf(&w, "%s sync (needs:, %s):     %s\n", helmcli.Helmfile, helmcli.Helm4, res["helmfile"].wall)
			fmt.Fprintf(&w, "plate/helm4: %.3f (goal ≤ 0.4); plate/helm3: %.3f; plate/helmfile: %.3f\n",
				bench.Ratio(pr.wall, res["helm4-watcher"].wall), bench.Ratio(pr.wall, res["helm3-wait"].wall), bench.Ratio(pr.wall, res["helmfile"].wall))
			if delay > 0 {
				if base, ok := results["delays=none"]; ok {
					limit := delay + base["plate"].pass.Median
					wlimit := delay + base["plate"].wall.Median
					fmt.Fprintf(&w, "critical-path limit of the run pass: %s (delays %s + run pass without delays %s); plate run pass / limit: %.3f (goal ≤ 1.15)\n",
						bench.Dur(limit), bench.Dur(delay), bench.Dur(base["plate"].pass.Median), pr.pass.Median.Seconds()/limit.Seconds())
					fmt.Fprintf(&w, "same for the whole process: limit %s; plate / limit: %.3f\n", bench.Dur(wlimit), pr.wall.Median.Seconds()/wlimit.Seconds())
				}
			}
			fmt.Fprintf(&w, "%s\n", load.Stop())
			bench.Report(b, fmt.Sprintf("four-release DAG, %s, %d runs per side, rotating order", v.name, b.N), machine, w.String())
		})
	}
}
