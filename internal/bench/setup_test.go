package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
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

// suite is the shared state of the package's benchmarks, made on first
// use: plate built from this tree, the helm CLI, the stand-in mirror on
// 127.0.0.1.
type suite struct {
	once sync.Once
	err  error

	root   string // the repository
	tmp    string
	plate  string // the plate binary
	helm   string // the helm binary
	mirror *standin.Server
	// cache is plate's XDG_CACHE_HOME, helmHome helm's homes: both kept for
	// the whole run, so both sides have warm chart caches after the warm-up.
	cache, helmHome     string
	staging, production *platform.Environment
}

var shared suite

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.mirror != nil {
		shared.mirror.Close()
	}
	if shared.tmp != "" {
		os.RemoveAll(shared.tmp)
	}
	os.Exit(code)
}

type logWriter struct{ b testing.TB }

func (l logWriter) Write(p []byte) (int, error) {
	l.b.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// setup returns the shared state, or skips under -short.
func setup(b *testing.B) *suite {
	b.Helper()
	if testing.Short() {
		b.Skip("end-to-end benchmark: needs the local control plane; skipped under -short")
	}
	shared.once.Do(func() {
		shared.err = func() error {
			ctx := context.Background()
			root, err := RepoRoot()
			if err != nil {
				return err
			}
			shared.root = root
			if shared.tmp, err = os.MkdirTemp("", "plate-bench-"); err != nil {
				return err
			}
			if p := os.Getenv(EnvPlate); p != "" {
				shared.plate = p
				b.Logf("plate binary from $%s: %s", EnvPlate, p)
			} else {
				start := time.Now()
				if shared.plate, err = BuildPlate(ctx, shared.tmp); err != nil {
					return err
				}
				b.Logf("built plate in %s", Dur(time.Since(start)))
			}
			if shared.helm, err = helmcli.Binary(ctx, logWriter{b}); err != nil {
				return err
			}
			if _, err := localcluster.EnsureBinaries(ctx, localcluster.BuildOptions{Log: logWriter{b}}); err != nil {
				return err
			}
			if shared.staging, err = platform.Load(filepath.Join(root, "environments", "staging.yaml")); err != nil {
				return err
			}
			if shared.production, err = platform.Load(filepath.Join(root, "environments", "production.yaml")); err != nil {
				return err
			}
			mirrorDir := filepath.Join(shared.tmp, "mirror")
			if _, err := standin.Build(shared.staging, mirrorDir); err != nil {
				return err
			}
			if shared.mirror, err = standin.Serve(mirrorDir, "127.0.0.1:0"); err != nil {
				return err
			}
			shared.cache = filepath.Join(shared.tmp, "plate-cache")
			shared.helmHome = filepath.Join(shared.tmp, "helm-home")
			return nil
		}()
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return &shared
}

// probe reports whether this call of a benchmark is the testing package's
// first, single-iteration probe before a fixed count (-benchtime Nx, N > 1):
// the expensive benchmarks then only warm up (caches, page cache) instead
// of measuring one full iteration that the next call repeats N times.
func probe(b *testing.B) bool {
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

// freshCluster starts a new local control plane (its start is not
// measured) and stops it when the caller calls the returned function.
func freshCluster(b *testing.B) (*localcluster.Cluster, func()) {
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

// maxAttempts bounds how often a failed plate run is run again, each time
// on a fresh control plane: a benchmark reports failures, it does not
// stop at the first (see BENCHMARKS.md for the one seen).
const maxAttempts = 3

// onFreshCluster runs run on a fresh control plane, again on a new one
// when the plate process fails (up to maxAttempts), and returns the last
// process, why the failed attempts failed and how long each control plane
// took to start.
func onFreshCluster(b *testing.B, run func(*localcluster.Cluster) Proc) (p Proc, failures []string, starts []time.Duration) {
	b.Helper()
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		c, stop := freshCluster(b)
		starts = append(starts, time.Since(t0))
		p = run(c)
		stop()
		if p.Err == nil {
			return p, failures, starts
		}
		failures = append(failures, failureOf(p))
		if attempt == maxAttempts {
			mustf(b, p.Failed(), "plate, %d attempts", attempt)
		}
	}
}

// prodKubeconfig writes a copy of kubeconfig whose context is named
// "plate-prod-bench" (production plans require a context saying prod).
func prodKubeconfig(b *testing.B, kubeconfig, dir string) string {
	b.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.Contexts["plate-prod-bench"] = cur
	cfg.CurrentContext = "plate-prod-bench"
	p := filepath.Join(dir, "kubeconfig-prod")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// runPlate runs the plate binary from the repository root.
func (s *suite) runPlate(ctx context.Context, args ...string) Proc {
	return Run(ctx, s.root, PlateEnv(s.cache), s.plate, args...)
}

// report prints a benchmark's summary to stdout, under a "--- REPORT"
// line: the testing package keeps only the first lines of a benchmark's
// log, and drops the log of one that has sub-benchmarks. machine is
// Machine() as it was when the measurement started.
func report(b *testing.B, title, machine, body string) {
	fmt.Printf("--- REPORT %s: %s\n    machine: %s\n", b.Name(), title, machine)
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		fmt.Printf("    %s\n", line)
	}
}

func mustf(b *testing.B, err error, format string, args ...any) {
	b.Helper()
	if err != nil {
		b.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
