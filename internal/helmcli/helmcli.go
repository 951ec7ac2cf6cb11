// Package helmcli provides the helm CLI that plate's benchmarks compare
// against: built from the same helm.sh/helm/v3 module version plate links,
// so that both sides run the same Helm code.
//
// The CLI is built once, from a generated throwaway module whose go.mod and
// go.sum are copies of plate's (only the module path changes), so plate's own
// go.mod never gains the CLI's dependencies, and cached in plate's Helm cache
// directory (internal/helm.DefaultCacheDir()/bin/helm-<helm version>-<go
// version>). A cold build takes minutes. $PLATE_BENCH_HELM names a prebuilt
// binary instead.
//
// It is used by benchmarks only; plate itself never runs a helm binary.
package helmcli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	ih "github.com/plate-dev/plate/internal/helm"
)

// EnvBinary names a prebuilt helm binary that Binary returns as is.
const EnvBinary = "PLATE_BENCH_HELM"

const plateModule = "github.com/plate-dev/plate"

var buildMu sync.Mutex

// Binary returns the path of the helm CLI, building it on first use. log
// receives a line when a build starts (nil discards it).
func Binary(ctx context.Context, log io.Writer) (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if log == nil {
		log = io.Discard
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	version, err := HelmVersion(root)
	if err != nil {
		return "", err
	}
	cache, err := ih.DefaultCacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin", fmt.Sprintf("helm-%s-%s", version, runtime.Version()))
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "plate-helmcli-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	mainMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	sum, _ := os.ReadFile(filepath.Join(root, "go.sum"))
	mod := strings.Replace(string(mainMod), "module "+plateModule, "module plate.local/helmcli", 1)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	fmt.Fprintf(log, "helmcli: building helm %s into %s (once; minutes)\n", version, bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-mod=mod", "-trimpath", "-o", tmp, "helm.sh/helm/v3/cmd/helm")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("building helm %s: %v\n%s", version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Env returns the environment for running the CLI with its configuration,
// cache and data in home (so no user configuration is read) and without
// HELM_NAMESPACE or HELM_KUBECONTEXT from the caller's environment.
func Env(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HELM_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
}

// ModuleRoot returns the directory of plate's go.mod: the nearest ancestor
// of the working directory whose go.mod declares plate's module.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modulePath(data) == plateModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("helmcli: not inside plate's module (no go.mod of " + plateModule + " above the working directory)")
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// HelmVersion is the helm.sh/helm/v3 version the go.mod in root requires.
func HelmVersion(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "helm.sh/helm/v3" {
			return f[1], nil
		}
	}
	return "", errors.New("helmcli: go.mod does not require helm.sh/helm/v3")
}
