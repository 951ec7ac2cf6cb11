// Package bench is the harness of plate's end-to-end benchmarks: the
// shared setup (Setup: plate built from this tree, the helm CLI of
// internal/helmcli, the stand-in chart mirror on 127.0.0.1), fresh local
// control planes (internal/localcluster), subprocesses with their wall
// time and peak RSS, the JSON trace's timestamps, the helm CLI driven as
// the old deploy scripts drove it (HelmPlatform), the generated scale plans
// (WriteScalePlan) and the statistics.
//
// The benchmarks live in two packages, so that each test binary has a
// `go test` timeout of its own:
//
//   - platformbench: the full platform deploy (plate vs helm --wait) and
//     the production dry run (plate vs helm template);
//   - scalebench: generated plans of 10, 50 and 200 releases (dry run and
//     deploy: wall time, peak RSS, growth).
//
// plate runs as a subprocess, as a user runs it; the in-process benchmarks
// (DeployInProcess, DryRunInProcess) only run when a profile is asked for.
// The benchmarks only run with -bench, are skipped under -short, and never
// fail on a figure: they print medians, minima and maxima as metrics and in
// "--- REPORT" blocks on stdout. BENCHMARKS.md has the figures and the
// commands that reproduce them.
package bench
