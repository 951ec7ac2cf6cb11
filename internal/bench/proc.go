package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plate-dev/plate/internal/helmcli"
)

// Proc is one finished subprocess.
type Proc struct {
	Args   []string
	Wall   time.Duration
	MaxRSS int64 // bytes, the process' peak resident set
	Stdout []byte
	Stderr []byte
	Err    error
}

// Failed returns an error that shows the command and its output, or nil.
func (p Proc) Failed() error {
	if p.Err == nil {
		return nil
	}
	return fmt.Errorf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(p.Args, " "), p.Err, tail(p.Stdout, 4000), tail(p.Stderr, 4000))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("…"), b[len(b)-n:]...)
	}
	return b
}

// Run runs name with args in dir with env (nil: this process' environment)
// and measures its wall time from start to exit and its peak RSS.
func Run(ctx context.Context, dir string, env []string, name string, args ...string) Proc {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	p := Proc{Args: append([]string{filepath.Base(name)}, args...), Wall: time.Since(start), Stdout: out.Bytes(), Stderr: errOut.Bytes(), Err: err}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	return p
}

// RunPeak runs name like Run, but through the peakrss command (the binary
// at peakrss, see BuildPeakRSS), so that MaxRSS is the process' own peak:
// a process this large test binary starts directly reports at least the
// test binary's resident set (internal/bench/cmd/peakrss says why). Wall
// includes peakrss' own start, about a millisecond.
func RunPeak(ctx context.Context, peakrss, dir string, env []string, name string, args ...string) Proc {
	f, err := os.CreateTemp("", "plate-bench-rss-")
	if err != nil {
		return Proc{Args: append([]string{filepath.Base(name)}, args...), Err: err}
	}
	f.Close()
	defer os.Remove(f.Name())
	p := Run(ctx, dir, env, peakrss, append([]string{"-o", f.Name(), name}, args...)...)
	p.Args = append([]string{filepath.Base(name)}, args...)
	p.MaxRSS = 0
	if data, err := os.ReadFile(f.Name()); err == nil {
		p.MaxRSS, _ = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	}
	return p
}

// BuildPeakRSS builds internal/bench/cmd/peakrss into dir and returns its
// path.
func BuildPeakRSS(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "peakrss")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./internal/bench/cmd/peakrss")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./internal/bench/cmd/peakrss: %v\n%s", err, out)
	}
	return bin, nil
}

// RepoRoot is the root of plate's repository (the directory of its go.mod).
func RepoRoot() (string, error) { return helmcli.ModuleRoot() }

// EnvPlate names a plate binary the benchmarks run instead of building one
// from this tree (to compare two builds: before and after a change).
const EnvPlate = "PLATE_BENCH_PLATE"

// BuildPlate builds plate from this tree into dir and returns its path.
func BuildPlate(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "plate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/plate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/plate: %v\n%s", err, out)
	}
	return bin, nil
}

// PlateEnv is the environment plate subprocesses run with: this process'
// environment without KUBECONFIG and Helm variables, with its caches
// (plate's Helm cache among them) under cacheHome and colour off.
func PlateEnv(cacheHome string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "HELM_") || strings.HasPrefix(kv, "XDG_CACHE_HOME=") || strings.HasPrefix(kv, "PLATE_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_CACHE_HOME="+cacheHome, "NO_COLOR=1")
}
