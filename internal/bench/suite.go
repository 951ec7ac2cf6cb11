package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/platform"
	"github.com/plate-dev/plate/internal/platform/standin"
)

// Suite is what a benchmark package's benchmarks share, made on first use
// (Setup): plate built from this tree, the helm CLI, the stand-in mirror on
// 127.0.0.1 and the environments.
type Suite struct {
	Root  string // the repository
	Tmp   string // removed by Main
	Plate string // the plate binary
	Helm  string // the helm binary (Helm 3, the module version plate links)
	// Helm4 and Helmfile are the other peers (helmcli.Helm4,
	// helmcli.Helmfile); HelmVersion is Helm 3's module version.
	Helm4, Helmfile, HelmVersion string
	// PeakRSS is internal/bench/cmd/peakrss, for RunPeak.
	PeakRSS string
	Mirror  *standin.Server
	// Cache is plate's XDG_CACHE_HOME and HelmHome helm's homes: both kept
	// for the whole run, so both sides have warm chart caches after the
	// warm-up.
	Cache, HelmHome     string
	Staging, Production *platform.Environment
	// Version says which plate ran: `git describe --always --dirty` of the
	// tree it was built from, or the binary's path ($PLATE_BENCH_PLATE).
	Version string
}

var shared struct {
	once sync.Once
	s    Suite
	err  error

	toolsOnce sync.Once
	toolsErr  error

	mu      sync.Mutex
	reports []string
}

// Main runs a benchmark package (call it from TestMain) and removes what
// Setup made.
func Main(m *testing.M) {
	flag.Parse()
	code := m.Run()
	shared.mu.Lock()
	for _, r := range shared.reports {
		fmt.Print(r)
	}
	shared.mu.Unlock()
	if shared.s.Mirror != nil {
		shared.s.Mirror.Close()
	}
	if shared.s.Tmp != "" {
		os.RemoveAll(shared.s.Tmp)
	}
	os.Exit(code)
}

type logWriter struct{ b testing.TB }

func (l logWriter) Write(p []byte) (int, error) {
	l.b.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Setup returns the suite, making it the first time, or skips the
// benchmark under -short.
func Setup(b *testing.B) *Suite {
	b.Helper()
	if testing.Short() {
		b.Skip("end-to-end benchmark: needs the local control plane; skipped under -short")
	}
	SetupTools(b)
	shared.once.Do(func() { shared.err = setup(b, &shared.s) })
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return &shared.s
}

// SetupTools returns the part of the suite that needs no control plane
// (Root, Tmp, Plate, Helm, PeakRSS, Cache, HelmHome, Version), making it
// the first time: for the benchmarks that render offline.
func SetupTools(b *testing.B) *Suite {
	b.Helper()
	shared.toolsOnce.Do(func() { shared.toolsErr = setupTools(b, &shared.s) })
	if shared.toolsErr != nil {
		b.Fatal(shared.toolsErr)
	}
	return &shared.s
}

func setupTools(b *testing.B, s *Suite) error {
	ctx := context.Background()
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	s.Root = root
	if s.Tmp, err = os.MkdirTemp("", "plate-bench-"); err != nil {
		return err
	}
	if p := os.Getenv(EnvPlate); p != "" {
		s.Plate = p
		s.Version = p
		b.Logf("plate binary from $%s: %s", EnvPlate, p)
	} else {
		s.Version = describe(ctx, root)
		start := time.Now()
		if s.Plate, err = BuildPlate(ctx, s.Tmp); err != nil {
			return err
		}
		b.Logf("built plate in %s", Dur(time.Since(start)))
	}
	if s.Helm, err = helmcli.Binary(ctx, logWriter{b}); err != nil {
		return err
	}
	if s.HelmVersion, err = helmcli.HelmVersion(root); err != nil {
		return err
	}
	if s.Helm4, err = helmcli.Helm4.Binary(ctx, logWriter{b}); err != nil {
		return err
	}
	if s.Helmfile, err = helmcli.Helmfile.Binary(ctx, logWriter{b}); err != nil {
		return err
	}
	if s.PeakRSS, err = BuildPeakRSS(ctx, s.Tmp); err != nil {
		return err
	}
	s.Cache = filepath.Join(s.Tmp, "plate-cache")
	s.HelmHome = filepath.Join(s.Tmp, "helm-home")
	return nil
}

func setup(b *testing.B, s *Suite) error {
	ctx := context.Background()
	root := s.Root
	var err error
	if _, err = localcluster.EnsureBinaries(ctx, localcluster.BuildOptions{Log: logWriter{b}}); err != nil {
		return err
	}
	if s.Staging, err = platform.Load(filepath.Join(root, "environments", "staging.yaml")); err != nil {
		return err
	}
	if s.Production, err = platform.Load(filepath.Join(root, "environments", "production.yaml")); err != nil {
		return err
	}
	mirrorDir := filepath.Join(s.Tmp, "mirror")
	if _, err := standin.Build(s.Staging, mirrorDir); err != nil {
		return err
	}
	if s.Mirror, err = standin.Serve(mirrorDir, "127.0.0.1:0"); err != nil {
		return err
	}
	return nil
}

// RunPlate runs the plate binary from the repository root.
func (s *Suite) RunPlate(ctx context.Context, args ...string) Proc {
	return Run(ctx, s.Root, PlateEnv(s.Cache), s.Plate, args...)
}

// RunPlateIn runs the plate binary from dir.
func (s *Suite) RunPlateIn(ctx context.Context, dir string, args ...string) Proc {
	return Run(ctx, dir, PlateEnv(s.Cache), s.Plate, args...)
}

// Probe reports whether this call of a benchmark is the testing package's
// first, single-iteration probe before a fixed count (-benchtime Nx, N > 1):
// the expensive benchmarks then only warm up (caches, page cache) instead
// of measuring one full iteration that the next call repeats N times.
func Probe(b *testing.B) bool {
	if b.N != 1 {
		return false
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	v := f.Value.String()
	if !strings.HasSuffix(v, "x") {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "x"))
	return err == nil && n > 1
}

// ProfilingOnly skips a benchmark unless a profile is asked for: the
// in-process benchmarks exist for pprof, and `make bench` reports the
// figures of plate as a subprocess.
func ProfilingOnly(b *testing.B) {
	for _, name := range []string{"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile", "test.trace"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return
		}
	}
	b.Skip("profiling helper: runs only with -cpuprofile, -memprofile, -blockprofile, -mutexprofile or -trace")
}

// FreshCluster starts a new local control plane (its start is not
// measured: the timer stops) and stops it when the caller calls the
// returned function.
func FreshCluster(b *testing.B) (*localcluster.Cluster, func()) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	c, err := localcluster.Start(context.Background(), localcluster.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return c, func() {
		b.StopTimer()
		defer b.StartTimer()
		if err := c.Stop(); err != nil {
			b.Logf("stopping the control plane: %v", err)
		}
	}
}

// MaxAttempts bounds how often a failed plate run is run again, each time
// on a fresh control plane: a benchmark reports failures, it does not stop
// at the first (BENCHMARKS.md names the one seen).
const MaxAttempts = 6

// OnFreshCluster runs run on a fresh control plane, again on a new one
// when the plate process fails (up to MaxAttempts), and returns the last
// process, why the failed attempts failed and how long each control plane
// took to start.
func OnFreshCluster(b *testing.B, run func(*localcluster.Cluster) Proc) (p Proc, failures []string, starts []time.Duration) {
	b.Helper()
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		c, stop := FreshCluster(b)
		starts = append(starts, time.Since(t0))
		p = run(c)
		stop()
		if p.Err == nil {
			return p, failures, starts
		}
		failures = append(failures, FailureOf(p))
		if attempt == MaxAttempts {
			Mustf(b, p.Failed(), "plate, %d attempts", attempt)
		}
	}
}

// ProdKubeconfig writes a copy of kubeconfig whose context is named
// "plate-prod-bench" (production plans require a context saying prod).
func ProdKubeconfig(b *testing.B, kubeconfig, dir string) string {
	b.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	Mustf(b, err, "kubeconfig")
	cur := cfg.Contexts[cfg.CurrentContext]
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.Contexts["plate-prod-bench"] = cur
	cfg.CurrentContext = "plate-prod-bench"
	p := filepath.Join(dir, "kubeconfig-prod")
	Mustf(b, clientcmd.WriteToFile(*cfg, p), "kubeconfig")
	return p
}

// Report adds a benchmark's summary to what Main prints on stdout once
// every benchmark of the package has run, each under a "--- REPORT" line:
// the testing package keeps only the first lines of a benchmark's log and
// drops the log of one that has sub-benchmarks, and printing at once would
// split the benchmarks' result lines. machine is Machine() as it was when
// the measurement started.
func Report(b *testing.B, title, machine, body string) {
	var w strings.Builder
	fmt.Fprintf(&w, "--- REPORT %s: %s\n    machine: %s\n    plate: %s\n", b.Name(), title, machine, shared.s.Version)
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		fmt.Fprintf(&w, "    %s\n", line)
	}
	shared.mu.Lock()
	shared.reports = append(shared.reports, w.String())
	shared.mu.Unlock()
}

// Mustf stops the benchmark when err is not nil.
func Mustf(b *testing.B, err error, format string, args ...any) {
	b.Helper()
	if err != nil {
		b.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// FailureOf describes why a plate run failed: its failed steps, each with
// the last progress line before it (the readiness reason), or the first
// lines of its stderr.
func FailureOf(p Proc) string {
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
		return FirstLines(string(p.Stderr), 3)
	}
	return strings.Join(out, "; ")
}

// FirstLines returns the first n lines of s, joined by " / ".
func FirstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " / ")
}

// describe is `git describe --always --dirty` of the repository, or
// "unknown".
func describe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out)) + " (built from the work tree)"
}
