package localcluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The shared control plane of a test package.
var shared struct {
	// ctx is cancelled by a signal, so that a start in progress gives up
	// (and stops what it started) instead of finishing first.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	main    bool // Main is in charge of teardown
	c       *Cluster
	err     error
	started bool
}

// Main runs a test package with one shared control plane: call it from
// TestMain.
//
//	func TestMain(m *testing.M) { localcluster.Main(m) }
//
// Under -short it just runs the tests (those calling ForTest skip).
// Otherwise it makes sure the binaries are built (a cold build takes
// minutes and happens here, before the test timeout starts), runs the
// tests, and stops the control plane if one was started (ForTest starts it
// on first use). SIGINT, SIGTERM and SIGHUP stop it too. With
// $PLATE_LOCALCLUSTER_KUBECONFIG set, tests use that cluster and nothing is
// built, started or stopped.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	if testing.Short() || os.Getenv(EnvKubeconfig) != "" {
		return m.Run()
	}
	if _, err := EnsureBinaries(context.Background(), BuildOptions{Log: os.Stderr}); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: cannot build the control-plane binaries: %v\n", err)
		return 1
	}
	shared.ctx, shared.cancel = context.WithCancel(context.Background())
	defer shared.cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "localcluster: %v: stopping the control plane\n", sig)
			shared.cancel()
			_ = stopShared()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	code := m.Run()
	close(done)
	signal.Stop(sigs)
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: stopping the control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func stopShared() error {
	shared.mu.Lock()
	c := shared.c
	shared.mu.Unlock()
	if c == nil {
		return nil
	}
	return c.Stop()
}

// ForTest returns the package's shared control plane, starting it on first
// use. Under -short it skips the test. If the control plane cannot be
// built or started the test fails: a test that needs the cluster never
// silently passes without one.
//
// Without Main in TestMain, each test that calls ForTest gets a control
// plane of its own, stopped when the test ends.
func ForTest(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local control plane (internal/localcluster); skipped under -short")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main && os.Getenv(EnvKubeconfig) == "" {
		c, err := Start(context.Background(), Options{Log: testLog{t}, Verbose: os.Getenv(EnvVerbose) == "1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("localcluster: stop: %v", err)
			}
		})
		return c
	}
	if !shared.started {
		shared.started = true
		if kc := os.Getenv(EnvKubeconfig); kc != "" {
			shared.c, shared.err = Attach(kc)
		} else {
			start := time.Now()
			ctx := shared.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			shared.c, shared.err = Start(ctx, Options{Log: os.Stderr, Verbose: os.Getenv(EnvVerbose) == "1"})
			if shared.err == nil {
				t.Logf("localcluster: control plane started in %s", time.Since(start).Round(time.Millisecond))
			}
		}
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// WaitServiceAccount waits until the namespace's "default" service account
// exists; until then the API server rejects pods in it.
func (c *Cluster) WaitServiceAccount(ctx context.Context, namespace string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := c.clientset.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("no default service account in namespace %s: %w", namespace, err)
	}
	return nil
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestNamespace creates a namespace with a name derived from the test's and
// deletes it when the test ends, so tests sharing a control plane do not
// see each other's objects.
func (c *Cluster) TestNamespace(t testing.TB) string {
	t.Helper()
	base := strings.ToLower(t.Name())
	base = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, base)
	if len(base) > 40 {
		base = base[:40]
	}
	base = strings.Trim(base, "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: base + "-"}}
	ctx := context.Background()
	created, err := c.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("localcluster: create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.clientset.CoreV1().Namespaces().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	// Pods are only admitted once the controller manager has made the
	// namespace's default service account.
	if err := c.WaitServiceAccount(ctx, created.Name, 60*time.Second); err != nil {
		t.Fatalf("localcluster: %v", err)
	}
	return created.Name
}
