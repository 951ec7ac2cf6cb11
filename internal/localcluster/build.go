package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries is a directory holding the pinned control-plane binaries.
type Binaries struct {
	Dir string
}

// Path returns the path of the named binary (one of the Bin* constants).
func (b Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

// complete reports whether every binary is present.
func (b Binaries) complete() error {
	for _, n := range allBinaries {
		st, err := os.Stat(b.Path(n))
		if err != nil {
			return err
		}
		if st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", b.Path(n))
		}
	}
	return nil
}

// BuildOptions tunes EnsureBinaries.
type BuildOptions struct {
	// Log receives progress and the go command's output; nil discards it.
	Log io.Writer
	// Force rebuilds even if the cache already holds the binaries.
	Force bool
}

const completeMarker = ".complete"

// EnsureBinaries returns the cached pinned binaries, building them first if
// the cache does not hold them yet. A cold build takes several minutes; it
// is serialised between processes by a lock file, so concurrent test
// packages wait for one build instead of racing.
//
// With $PLATE_LOCALCLUSTER_BIN set, the binaries are taken from there and
// nothing is built.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (Binaries, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	if d := os.Getenv(EnvBinDir); d != "" {
		b := Binaries{Dir: d}
		if err := b.complete(); err != nil {
			return b, fmt.Errorf("localcluster: $%s=%s: %w", EnvBinDir, d, err)
		}
		return b, nil
	}
	dir, err := BinDir()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Dir: dir}
	marker := filepath.Join(dir, completeMarker)
	if !opts.Force {
		if _, err := os.Stat(marker); err == nil && b.complete() == nil {
			return b, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b, err
	}
	unlock, err := lockFile(ctx, filepath.Join(filepath.Dir(dir), ".lock"), logw)
	if err != nil {
		return b, err
	}
	defer unlock()
	// Someone else may have built while we waited for the lock.
	if !opts.Force {
		if _, err := os.Stat(marker); err == nil && b.complete() == nil {
			return b, nil
		}
	}
	_ = os.Remove(marker)
	start := time.Now()
	fmt.Fprintf(logw, "localcluster: building kube-apiserver, kube-controller-manager, kube-scheduler %s, etcd %s, kwok %s into %s (a cold build takes several minutes)\n",
		KubernetesVersion, EtcdVersion, KwokVersion, dir)
	if err := build(ctx, dir, logw); err != nil {
		return b, fmt.Errorf("localcluster: building binaries: %w", err)
	}
	if err := b.complete(); err != nil {
		return b, fmt.Errorf("localcluster: build finished but: %w", err)
	}
	if err := checkVersion(ctx, b); err != nil {
		return b, err
	}
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return b, err
	}
	fmt.Fprintf(logw, "localcluster: binaries built in %s\n", time.Since(start).Round(time.Second))
	return b, nil
}

// checkVersion makes sure the version stamp made it into the binary: an
// unstamped API server reports v0.0.0-master, which breaks version parsing
// in clients such as Helm.
func checkVersion(ctx context.Context, b Binaries) error {
	out, err := exec.CommandContext(ctx, b.Path(BinAPIServer), "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("localcluster: %s --version: %v: %s", BinAPIServer, err, out)
	}
	if !strings.Contains(string(out), KubernetesVersion) {
		return fmt.Errorf("localcluster: %s reports %q, want %s", BinAPIServer, strings.TrimSpace(string(out)), KubernetesVersion)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting (and saying so) while
// another process holds it.
func lockFile(ctx context.Context, path string, logw io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !said {
			fmt.Fprintf(logw, "localcluster: waiting for another build (lock %s)\n", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// build generates throwaway modules in a temporary directory and builds all
// binaries into a staging directory next to dir, then moves them into dir.
func build(ctx context.Context, dir string, logw io.Writer) error {
	tmp, err := os.MkdirTemp("", "plate-localcluster-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	lw := &lockedWriter{w: logw}

	jobs := []struct {
		name string
		fn   func() error
	}{
		{"kubernetes", func() error { return buildKubernetes(ctx, filepath.Join(tmp, "kubernetes"), out, lw) }},
		{"etcd", func() error { return buildEtcd(ctx, filepath.Join(tmp, "etcd"), out, lw) }},
		{"kwok", func() error { return buildKwok(ctx, filepath.Join(tmp, "kwok"), out, lw) }},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if err := j.fn(); err != nil {
				errs[i] = fmt.Errorf("%s: %w", j.name, err)
				return
			}
			fmt.Fprintf(lw, "localcluster: %s built in %s\n", j.name, time.Since(t).Round(time.Second))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range allBinaries {
		src := filepath.Join(out, n)
		// Copy to a temporary name inside dir, then rename: a reader never
		// sees a half-written binary.
		tmpDst := filepath.Join(dir, "."+n+".new")
		if err := copyFile(src, tmpDst, 0o755); err != nil {
			return err
		}
		if err := os.Rename(tmpDst, filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// goEnv is the environment for the go commands of the build: the caller's
// environment without settings that would change what gets built (a test's
// GOFLAGS, a cross-compiling GOOS, a workspace), plus CGO_ENABLED=0.
func goEnv(extra ...string) []string {
	drop := map[string]bool{"GOFLAGS": true, "GOOS": true, "GOARCH": true, "GOWORK": true,
		"CGO_ENABLED": true, "GOBIN": true, "GO111MODULE": true, "GOEXPERIMENT": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "CGO_ENABLED=0", "GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "GO111MODULE=on")
	return append(env, extra...)
}

func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// runGo runs the go command in dir, sending its output to logw.
func runGo(ctx context.Context, dir string, logw io.Writer, extraEnv []string, args ...string) error {
	cmd := exec.CommandContext(ctx, goBinary(), args...)
	cmd.Dir = dir
	cmd.Env = goEnv(extraEnv...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(&buf, logw)
	cmd.Stderr = io.MultiWriter(&buf, logw)
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		tail := buf.String()
		if len(tail) > 4000 {
			tail = "…" + tail[len(tail)-4000:]
		}
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, tail)
	}
	return nil
}

// modFile downloads module@version and returns the path of its go.mod.
func modFile(ctx context.Context, dir, module, version string) (string, error) {
	cmd := exec.CommandContext(ctx, goBinary(), "mod", "download", "-json", module+"@"+version)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w: %s", module, version, err, stderr.String())
	}
	var info struct {
		GoMod string
		Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	if info.Error != "" || info.GoMod == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	return info.GoMod, nil
}

// replaceRE matches one replace directive (inside a block or on its own
// line) whose target is a directory inside the module's repository.
var replaceRE = regexp.MustCompile(`^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.\.?/\S*)\s*$`)

// localReplaces returns the module paths that the go.mod at path replaces
// with directories of its own repository. Those replaces do not apply to a
// module that depends on it, so the throwaway module must pin them to the
// published versions instead.
func localReplaces(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := replaceRE.FindStringSubmatch(sc.Text()); m != nil {
			mods = append(mods, m[1])
		}
	}
	sort.Strings(mods)
	return mods, sc.Err()
}

// writeThrowawayModule writes go.mod and tools.go for a module that
// requires main@version, pinning each module that main replaces by a local
// directory to pinVersion.
func writeThrowawayModule(ctx context.Context, dir, name, main, version, pinVersion string, imports []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// go mod download needs a module to run in.
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+name+"\n\ngo 1.26.0\n"), 0o644); err != nil {
		return err
	}
	gomod, err := modFile(ctx, dir, main, version)
	if err != nil {
		return err
	}
	mods, err := localReplaces(gomod)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// Generated by plate's internal/localcluster; throwaway build module, not committed.\nmodule %s\n\ngo 1.26.0\n\nrequire %s %s\n", name, main, version)
	if len(mods) > 0 {
		b.WriteString("\nreplace (\n")
		for _, m := range mods {
			fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, pinVersion)
		}
		b.WriteString(")\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	var t strings.Builder
	t.WriteString("//go:build tools\n\n// Package tools pins the commands this throwaway module builds.\npackage tools\n\nimport (\n")
	for _, imp := range imports {
		fmt.Fprintf(&t, "\t_ %q\n", imp)
	}
	t.WriteString(")\n")
	return os.WriteFile(filepath.Join(dir, "tools.go"), []byte(t.String()), 0o644)
}

func buildKubernetes(ctx context.Context, dir, out string, logw io.Writer) error {
	cmds := []string{
		"k8s.io/kubernetes/cmd/kube-apiserver",
		"k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler",
	}
	if err := writeThrowawayModule(ctx, dir, "plate.local/k8sbuild", "k8s.io/kubernetes", KubernetesVersion, StagingVersion, cmds); err != nil {
		return err
	}
	if err := runGo(ctx, dir, logw, nil, "mod", "tidy"); err != nil {
		return err
	}
	args := append([]string{"build", "-ldflags", k8sLdflags(), "-o", out + string(filepath.Separator)}, cmds...)
	return runGo(ctx, dir, logw, nil, args...)
}

func buildEtcd(ctx context.Context, dir, out string, logw io.Writer) error {
	const main = "go.etcd.io/etcd/server/v3"
	if err := writeThrowawayModule(ctx, dir, "plate.local/etcdbuild", main, EtcdVersion, EtcdVersion, []string{main}); err != nil {
		return err
	}
	if err := runGo(ctx, dir, logw, nil, "mod", "tidy"); err != nil {
		return err
	}
	return runGo(ctx, dir, logw, nil, "build", "-o", filepath.Join(out, BinEtcd), main)
}

func buildKwok(ctx context.Context, dir, out string, logw io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return runGo(ctx, dir, logw, []string{"GOBIN=" + out}, "install", "sigs.k8s.io/kwok/cmd/kwok@"+KwokVersion)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
