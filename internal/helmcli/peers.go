package helmcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	ih "github.com/plate-dev/plate/internal/helm"
)

// Peer is a CLI that plate's benchmarks compare against and that plate does
// not link: a pinned version of a module from the Go module proxy, built once
// with go install PKG@VERSION (the module's own go.mod) and cached next to the
// Helm 3 CLI. $Env names a prebuilt binary instead.
type Peer struct {
	Name    string // the cached binary's name prefix and the name in reports
	Module  string // the Go module that holds the command
	Version string // pinned module version
	Package string // the command's package path
	Env     string // environment variable naming a prebuilt binary
}

// The peers beside Helm 3 (Binary): Helm 4, whose --wait=watcher waits with
// a kstatus watcher, and helmfile, which drives a helm binary from a
// helmfile.yaml with needs:.
var (
	Helm4    = Peer{Name: "helm4", Module: "helm.sh/helm/v4", Version: "v4.3.2", Package: "helm.sh/helm/v4/cmd/helm", Env: "PLATE_BENCH_HELM4"}
	Helmfile = Peer{Name: "helmfile", Module: "github.com/helmfile/helmfile", Version: "v1.8.0", Package: "github.com/helmfile/helmfile", Env: "PLATE_BENCH_HELMFILE"}
)

// String is the peer as a report names it: name and version.
func (p Peer) String() string { return p.Name + " " + p.Version }

// Binary returns the path of the peer's CLI, building it on first use (a
// cold build takes minutes and needs the module proxy). log receives a line
// when a build starts (nil discards it).
func (p Peer) Binary(ctx context.Context, log io.Writer) (string, error) {
	if v := os.Getenv(p.Env); v != "" {
		return v, nil
	}
	if log == nil {
		log = io.Discard
	}
	cache, err := ih.DefaultCacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "bin", fmt.Sprintf("%s-%s-%s", p.Name, p.Version, runtime.Version()))
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	// The build directory sits beside the cached binary, so the final
	// rename never crosses file systems.
	dir, err := os.MkdirTemp(filepath.Dir(bin), ".build-"+p.Name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "helmcli: building %s into %s (once; minutes)\n", p, bin)
	// The peer builds as its own module builds it: with its go.mod's module
	// replacements (which go install PKG@VERSION refuses), in a throwaway
	// module that requires it.
	gobin := filepath.Join(dir, "bin")
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	goCmd := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				out = append(out, ee.Stderr...)
			}
			return nil, fmt.Errorf("building %s: go %s: %v\n%s", p, strings.Join(args, " "), err, out)
		}
		return out, nil
	}
	if _, err := goCmd("mod", "init", "plate.local/"+p.Name); err != nil {
		return "", err
	}
	replaces, err := p.replacements(goCmd)
	if err != nil {
		return "", err
	}
	for _, r := range replaces {
		if _, err := goCmd("mod", "edit", "-replace", r); err != nil {
			return "", err
		}
	}
	if _, err := goCmd("get", p.Module+"@"+p.Version); err != nil {
		return "", err
	}
	if _, err := goCmd("build", "-trimpath", "-o", filepath.Join(gobin, filepath.Base(p.Package)), p.Package); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(gobin, filepath.Base(p.Package)), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// replacements returns the module replacements of the peer's own go.mod as
// go mod edit -replace arguments (replacements by a local directory, which
// only work in the peer's repository, are left out).
func (p Peer) replacements(goCmd func(...string) ([]byte, error)) ([]string, error) {
	out, err := goCmd("mod", "download", "-json", p.Module+"@"+p.Version)
	if err != nil {
		return nil, err
	}
	var dl struct{ GoMod string }
	if err := json.Unmarshal(out, &dl); err != nil || dl.GoMod == "" {
		return nil, fmt.Errorf("building %s: no go.mod from go mod download: %v", p, err)
	}
	out, err = goCmd("mod", "edit", "-json", dl.GoMod)
	if err != nil {
		return nil, err
	}
	type modVer struct{ Path, Version string }
	var mf struct{ Replace []struct{ Old, New modVer } }
	if err := json.Unmarshal(out, &mf); err != nil {
		return nil, fmt.Errorf("building %s: reading its go.mod: %v", p, err)
	}
	var args []string
	for _, r := range mf.Replace {
		if r.New.Version == "" {
			continue
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += "@" + r.Old.Version
		}
		args = append(args, old+"="+r.New.Path+"@"+r.New.Version)
	}
	return args, nil
}
