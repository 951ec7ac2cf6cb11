package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/localcluster"
)

func TestMain(m *testing.M) { localcluster.Main(m) }

func TestKeys(t *testing.T) {
	a := PlanKey("plans/deploy_prod.star", "plate-prod")
	b := PlanKey("plans/deploy_prod.star", "plate-stg")
	if a == b {
		t.Errorf("different namespaces share a key %s", a)
	}
	if !strings.HasPrefix(a, "plate-run-plans-deploy-prod-") || len(a) > 63 {
		t.Errorf("key %q is not a readable DNS label", a)
	}
	if got := ReleaseKey("plate-api"); got != "plate-release-plate-api" {
		t.Errorf("release key %q", got)
	}
	// The holder's environment names the parameters, never their values.
	env := Env("plate-prod", []string{"password=S3CRET", "action=deploy"})
	if strings.Contains(env, "S3CRET") || strings.Contains(env, "deploy") ||
		!strings.HasPrefix(env, " -n plate-prod -p action=#") || !strings.Contains(env, " -p password=#") {
		t.Errorf("env %q", env)
	}
	if Env("n", []string{"a=1"}) == Env("n", []string{"a=2"}) {
		t.Error("different values give the same digest")
	}
}

func TestSecondRunRefusedWithHolder(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	first := Holder{User: "alice", Host: "ci-1", PID: 101, Plan: "plans/deploy_prod.star", Since: time.Now()}
	l1, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-x", Holder: first})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-x", Holder: Holder{User: "bob", Host: "ci-2", PID: 202, Since: time.Now()}})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second acquire: %v, want *HeldError", err)
	}
	for _, want := range []string{"alice@ci-1", "pid 101", "plans/deploy_prod.star", "since"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset().CoordinationV1().Leases(ns).Get(ctx, "plate-run-x", metav1.GetOptions{}); err == nil {
		t.Error("the lease is still there after Release")
	}
	l2, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-x", Holder: Holder{User: "bob"}})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if l2.TookOver != nil {
		t.Errorf("a released lock reported a takeover of %v", l2.TookOver)
	}
	l2.Release(ctx)
}

func TestExpiredLeaseTakenOver(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	// A run that was killed: it took the lock an hour ago and never renewed.
	past := time.Now().Add(-time.Hour)
	dead, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-y", TTL: 30 * time.Second,
		Holder: Holder{User: "killed", Host: "h", PID: 9, Since: past}, Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	close(dead.stop) // the process died: no more renewals, no release
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-y", Holder: Holder{User: "next"}})
	if err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	if l.TookOver == nil || l.TookOver.User != "killed" {
		t.Errorf("takeover not reported: %+v", l.TookOver)
	}
	l.Release(ctx)
}

// The lease is renewed while the run goes on, so a long run keeps it.
func TestLeaseRenewed(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-z", TTL: 3 * time.Second, Holder: Holder{User: "long"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	time.Sleep(4 * time.Second)
	_, err = Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-run-z", Holder: Holder{User: "other"}})
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("after a TTL the live holder lost the lock: %v", err)
	}
}

// A lease whose holder is a process of this host that no longer runs (a
// run killed with SIGKILL) is taken over at once, not after its TTL; one
// held by a live process of this host, or by another host, is not.
func TestDeadLocalHolderTakenOverAtOnce(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	host, _ := os.Hostname()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := gone.Process.Pid
	now := time.Now()
	dead, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-a", Holder: Holder{User: "killed", Host: host, PID: deadPID, Since: now}})
	if err != nil {
		t.Fatal(err)
	}
	close(dead.stop)
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-a", Holder: Holder{User: "next", Host: host, PID: os.Getpid(), Since: now}})
	if err != nil {
		t.Fatalf("a dead local holder's lease was not taken over: %v", err)
	}
	if l.TookOver == nil || l.TookOver.PID != deadPID {
		t.Errorf("takeover not reported: %+v", l.TookOver)
	}
	l.Release(ctx)

	for _, h := range []Holder{
		{User: "alive-here", Host: host, PID: os.Getppid(), Since: now},
		{User: "elsewhere", Host: "another-host", PID: deadPID, Since: now},
	} {
		live, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-b", Holder: h})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-b", Holder: Holder{User: "next", Host: host, PID: os.Getpid(), Since: now}})
		var held *HeldError
		if !errors.As(err, &held) || held.Holder.User != h.User {
			t.Errorf("holder %s: %v, want HeldError", h.User, err)
		}
		live.Release(ctx)
	}
}

// AcquireAll takes a set of leases in a fixed order; when one is held it
// gives back the ones it took and names the holder.
func TestAcquireAll(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	first, err := AcquireAll(ctx, c.Clientset(), []Target{{Namespace: ns, Name: "plate-release-web"}, {Namespace: ns, Name: "plate-release-api"}, {Namespace: ns, Name: "plate-release-api"}},
		Holder{User: "first", Since: time.Now()}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Locks) != 2 || first.Locks[0].Name() != ns+"/plate-release-api" {
		t.Fatalf("locks %v, want api then web, once each", first.Locks)
	}
	_, err = AcquireAll(ctx, c.Clientset(), []Target{{Namespace: ns, Name: "plate-release-cache"}, {Namespace: ns, Name: "plate-release-web"}}, Holder{User: "second", Since: time.Now()}, 0, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.User != "first" || held.Lease != ns+"/plate-release-web" {
		t.Fatalf("overlapping set: %v", err)
	}
	if _, err := c.Clientset().CoordinationV1().Leases(ns).Get(ctx, "plate-release-cache", metav1.GetOptions{}); err == nil {
		t.Error("the refused set kept the lease it had taken")
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	leases, _ := c.Clientset().CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	if len(leases.Items) != 0 {
		t.Errorf("leases left: %d", len(leases.Items))
	}
}

// A release whose namespace does not exist yet is locked in the fallback
// namespace; a run that finds the namespace takes the lease there and is
// still refused while the fallback one is held.
func TestReleaseTargetsGuard(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	absent := ReleaseTargets("not-yet", "web", false, ns)
	if absent.Namespace != ns || absent.Name != "plate-release-not-yet.web" || absent.Guard != nil {
		t.Fatalf("target of a missing namespace: %+v", absent)
	}
	first, err := AcquireAll(ctx, c.Clientset(), []Target{absent}, Holder{User: "creator", Since: time.Now()}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release(ctx)
	present := ReleaseTargets("not-yet", "web", true, ns)
	if present.Namespace != "not-yet" || present.Guard == nil || *present.Guard != absent {
		t.Fatalf("target of an existing namespace: %+v", present)
	}
	_, err = AcquireAll(ctx, c.Clientset(), []Target{present}, Holder{User: "second", Since: time.Now()}, 0, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.User != "creator" {
		t.Errorf("the fallback lease did not guard: %v", err)
	}
}
