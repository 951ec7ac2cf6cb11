// Package bench holds plate's end-to-end benchmarks and the harness they
// share: the full platform deploy and the production dry run, each against
// the helm CLI built from the same Helm module (internal/helmcli), and plans
// of 10, 50 and 200 generated releases.
//
// Everything runs on this machine against the local control plane of
// internal/localcluster (127.0.0.1 only). plate runs as a subprocess built
// from this tree (`go build ./cmd/plate`), as a user runs it, which also
// gives its peak RSS; the profiling benchmark runs a plan in-process so that
// -cpuprofile and -memprofile see plate's code.
//
// The benchmarks only run with -bench (they are skipped under -short) and
// never fail on a figure: they report medians, minima and maxima as metrics
// and in their log. See BENCHMARKS.md for the figures and the commands that
// reproduce them.
package bench
