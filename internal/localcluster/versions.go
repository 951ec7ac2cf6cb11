package localcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Pinned versions of the control-plane binaries.
const (
	// KubernetesVersion is the k8s.io/kubernetes module version that
	// kube-apiserver, kube-controller-manager and kube-scheduler are built from.
	KubernetesVersion = "v1.37.2"
	// StagingVersion is the version of the k8s.io/* staging modules that
	// belong to KubernetesVersion.
	StagingVersion = "v0.37.2"
	// EtcdVersion is the go.etcd.io/etcd/server/v3 module version.
	EtcdVersion = "v3.7.3"
	// KwokVersion is the sigs.k8s.io/kwok module version.
	KwokVersion = "v0.8.0"

	// recipeRevision changes whenever the way the binaries are built
	// changes, so that a changed recipe gets a fresh cache directory.
	recipeRevision = "1"
)

// Binary names, as found in the bin directory.
const (
	BinEtcd       = "etcd"
	BinAPIServer  = "kube-apiserver"
	BinController = "kube-controller-manager"
	BinScheduler  = "kube-scheduler"
	BinKwok       = "kwok"
)

var allBinaries = []string{BinEtcd, BinAPIServer, BinController, BinScheduler, BinKwok}

// Environment variables understood by this package.
const (
	// EnvKubeconfig points tests at an already running cluster (from
	// `make cluster-up`) instead of starting one per test package.
	EnvKubeconfig = "PLATE_LOCALCLUSTER_KUBECONFIG"
	// EnvCacheDir overrides the cache root (default
	// $XDG_CACHE_HOME/plate/localcluster, or ~/.cache/plate/localcluster).
	EnvCacheDir = "PLATE_LOCALCLUSTER_CACHE"
	// EnvBinDir makes the harness use binaries from this directory instead
	// of building them.
	EnvBinDir = "PLATE_LOCALCLUSTER_BIN"
	// EnvVerbose, when set to 1, copies the control-plane logs to stderr
	// and reports build progress.
	EnvVerbose = "PLATE_LOCALCLUSTER_VERBOSE"
	// EnvKeep, when set to 1, keeps the run directory (logs, audit log,
	// etcd data) of a test cluster after it stopped.
	EnvKeep = "PLATE_LOCALCLUSTER_KEEP"
)

// CacheKey identifies one set of pinned binaries built for this platform.
func CacheKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s/%s|%s", KubernetesVersion, StagingVersion, EtcdVersion,
		KwokVersion, recipeRevision, runtime.GOOS, runtime.GOARCH, k8sLdflags())
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	return fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_%s-%s_%s", KubernetesVersion, EtcdVersion, KwokVersion,
		runtime.GOOS, runtime.GOARCH, sum)
}

// CacheRoot returns the root directory of the harness' cache:
// $PLATE_LOCALCLUSTER_CACHE, else $XDG_CACHE_HOME/plate/localcluster, else
// ~/.cache/plate/localcluster.
func CacheRoot() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "plate", "localcluster"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("localcluster: no cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "plate", "localcluster"), nil
}

// BinDir returns the directory the pinned binaries are (or will be) cached
// in: <CacheRoot>/<CacheKey>/bin, or $PLATE_LOCALCLUSTER_BIN if set.
func BinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return filepath.Abs(d)
	}
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, CacheKey(), "bin"), nil
}

// runRoot is where run directories (pid files, logs, etcd data) live.
func runRoot() (string, error) {
	root, err := CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "run"), nil
}

func k8sLdflags() string {
	minor := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), ".")
	return strings.Join([]string{
		"-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
		"-X k8s.io/component-base/version.gitMajor=" + minor[0],
		"-X k8s.io/component-base/version.gitMinor=" + minor[1],
		"-X k8s.io/component-base/version.gitTreeState=clean",
	}, " ")
}
