// Package renderbench holds the render benchmark of a big CRD-heavy chart:
// one plate offline dry-run process against one `helm template
// --include-crds` process. It needs no control plane.
package renderbench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/bench"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

func TestMain(m *testing.M) { bench.Main(m) }

// kubeVersion is plate's default --kube-version; helm template is given
// the same (without it, it assumes v1.20).
const kubeVersion = "v1.37.2"

// BenchmarkCRDChart renders the generated CRD-heavy chart
// (bench.WriteCRDChart: 10 CRDs of a few hundred KB in a subchart's crds/,
// 130 objects, about 5 MB of manifest with the CRDs) with one plate
// process, `plate run --dry-run --offline plan.star -o json` (plan: one
// helm_install of the chart), and one `helm template observatory CHART
// --include-crds` process, alternating which goes first, each started
// through internal/bench/cmd/peakrss so that its peak RSS is its own. It
// reports the wall time of each (median, min, max), the ratio of the
// medians plate/helm (goal ≤ 0.8) and the peak RSS of both.
//
//	go test -run '^$' -bench CRDChart -benchtime 3x ./internal/bench/renderbench/
func BenchmarkCRDChart(b *testing.B) {
	s := bench.SetupTools(b)
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "crd-chart")
	plan, chart, err := bench.WriteCRDChartProject(dir)
	bench.Mustf(b, err, "CRD chart")
	plateArgs := []string{"run", "--dry-run", "--offline", plan, "-o", "json"}
	helmArgs := []string{"template", "observatory", chart, "--include-crds", "--namespace", "monitoring", "--kube-version", kubeVersion}
	once := func(helmFirst bool) (p, h bench.Proc) {
		if helmFirst {
			h = bench.RunPeak(ctx, s.PeakRSS, dir, helmcli.Env(s.HelmHome), s.Helm, helmArgs...)
		}
		p = bench.RunPeak(ctx, s.PeakRSS, dir, bench.PlateEnv(s.Cache), s.Plate, plateArgs...)
		if !helmFirst {
			h = bench.RunPeak(ctx, s.PeakRSS, dir, helmcli.Env(s.HelmHome), s.Helm, helmArgs...)
		}
		bench.Mustf(b, p.Failed(), "plate")
		bench.Mustf(b, h.Failed(), "helm template")
		return p, h
	}
	p, h := once(false) // warm-up (page cache)
	if bench.Probe(b) {
		return
	}
	summary, objects := planSummary(b, p.Stdout)
	docs := bytes.Count(h.Stdout, []byte("\nkind: "))
	manifest := len(h.Stdout)

	machine, load := bench.Machine(), bench.SampleLoad(2*time.Second)
	var plates, helms []time.Duration
	var plateRSS, helmRSS []int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, h := once(i%2 == 1)
		plates = append(plates, p.Wall)
		helms = append(helms, h.Wall)
		plateRSS = append(plateRSS, p.MaxRSS)
		helmRSS = append(helmRSS, h.MaxRSS)
	}
	b.StopTimer()
	ps, hs := bench.Summarize(plates), bench.Summarize(helms)
	pr, hr := bench.SummarizeInts(plateRSS), bench.SummarizeInts(helmRSS)
	b.ReportMetric(bench.Ms(ps.Median), "plate-ms")
	b.ReportMetric(bench.Ms(hs.Median), "helm-ms")
	b.ReportMetric(bench.Ratio(ps, hs), "plate/helm")
	b.ReportMetric(bench.MiB(pr.Median), "plate-MiB")
	var w strings.Builder
	fmt.Fprintf(&w, "chart: %d CRDs, %s; helm template --include-crds: %d objects, %.1f MB\n", bench.CRDChartCRDs, objects, docs, float64(manifest)/1e6)
	fmt.Fprintf(&w, "plate's summary: %s\n", summary)
	fmt.Fprintf(&w, "plate run --dry-run --offline (one process): %s, peak RSS %.0f MiB (min %.0f, max %.0f)\n", ps, bench.MiB(pr.Median), bench.MiB(pr.Min), bench.MiB(pr.Max))
	fmt.Fprintf(&w, "helm template --include-crds (one process):  %s, peak RSS %.0f MiB (min %.0f, max %.0f)\n", hs, bench.MiB(hr.Median), bench.MiB(hr.Min), bench.MiB(hr.Max))
	fmt.Fprintf(&w, "ratio of medians plate/helm: %.2f (goal ≤ 0.8)\n%s\n", bench.Ratio(ps, hs), load.Stop())
	bench.Report(b, fmt.Sprintf("CRD-heavy chart, one process each, %d runs each, alternating", b.N), machine, w.String())
}

// planSummary returns the summary of the plan's helm_install event and
// the object count it names.
func planSummary(b *testing.B, stdout []byte) (summary, objects string) {
	evs, err := bench.ParseTrace(stdout)
	bench.Mustf(b, err, "trace")
	for _, e := range evs {
		if e.Builtin == "helm_install" && e.Phase == string(trace.Planned) {
			summary = e.Summary
		}
	}
	if summary == "" {
		b.Fatalf("no planned helm_install in plate's trace:\n%s", stdout)
	}
	objects = "? objects"
	if i := strings.Index(summary, "offline: "); i >= 0 {
		objects, _, _ = strings.Cut(summary[i+len("offline: "):], " rendered")
	}
	return summary, objects
}

// BenchmarkCRDChartInProcess runs the offline dry-run pass of the CRD-heavy
// chart's plan in this process, as `plate run --dry-run --offline` does,
// for -cpuprofile and -memprofile:
//
//	go test -run '^$' -bench CRDChartInProcess -benchtime 10x -cpuprofile cpu.out ./internal/bench/renderbench/
//	go tool pprof -top -cum internal/bench/renderbench/renderbench.test cpu.out
func BenchmarkCRDChartInProcess(b *testing.B) {
	bench.ProfilingOnly(b)
	dir := filepath.Join(b.TempDir(), "crd-chart")
	plan, _, err := bench.WriteCRDChartProject(dir)
	bench.Mustf(b, err, "CRD chart")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pre, err := registry.Predeclared(registry.Plugins())
		bench.Mustf(b, err, "builtins")
		p, err := interp.Open(plan, dir, pre)
		bench.Mustf(b, err, "open")
		params, err := p.Bind(nil)
		bench.Mustf(b, err, "bind")
		rec := trace.NewRecorder(nil, trace.SinkFunc(func(trace.Event) {}))
		eng := engine.New(engine.Options{Pass: trace.DryRun, Offline: true, Recorder: rec})
		bench.Mustf(b, p.Exec(context.Background(), interp.RunOptions{Engine: eng, Predeclared: pre, Params: params}), "dry-run pass")
	}
}
