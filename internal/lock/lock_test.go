package lock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

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

// fakeClock is a clock a test moves forward.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// takeLease makes the lease ns/name another run's, as a run that took it
// over would (identity and holder record).
func takeLease(t *testing.T, c *localcluster.Cluster, ns, name string, h Holder) {
	t.Helper()
	ctx := context.Background()
	cur, err := c.Clientset().CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := "other/1/1"
	cur.Spec.HolderIdentity = &id
	cur.Annotations[HolderAnnotation] = `{"user":"` + h.User + `","host":"` + h.Host + `","pid":` + "4242" + `}`
	if _, err := c.Clientset().CoordinationV1().Leases(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Check, the fence before a write, finds the lock lost once another run
// holds the lease, names that run, and keeps it lost; Release then leaves
// the other run's lease alone.
func TestCheckFindsAnotherHolder(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-f", Holder: Holder{User: "first", Since: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	set := &Set{Locks: []*Lock{l}}
	if err := set.Check(ctx); err != nil {
		t.Fatalf("a held lock: %v", err)
	}
	var notified *LostError
	set.OnLost(func(e *LostError) { notified = e }, nil)
	takeLease(t, c, ns, "plate-release-f", Holder{User: "thief", Host: "elsewhere"})
	err = set.Check(ctx)
	var lost *LostError
	if !errors.As(err, &lost) || lost.Holder == nil || lost.Holder.User != "thief" || lost.Lease != ns+"/plate-release-f" {
		t.Fatalf("after a takeover: %v", err)
	}
	if !strings.Contains(err.Error(), "this run lost its lock "+ns+"/plate-release-f: another run took it: thief@elsewhere (pid 4242)") {
		t.Errorf("message: %v", err)
	}
	if notified != lost {
		t.Errorf("OnLost was told %v", notified)
	}
	if set.Lost() == nil {
		t.Error("Lost() forgot the loss")
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clientset().CoordinationV1().Leases(ns).Get(ctx, "plate-release-f", metav1.GetOptions{}); err != nil {
		t.Errorf("Release deleted the other run's lease: %v", err)
	}
}

// A deleted lease is a lost lock too (a run that took it over and ended
// deleted it).
func TestCheckFindsLeaseDeleted(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-g", Holder: Holder{User: "first"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if err := c.Clientset().CoordinationV1().Leases(ns).Delete(ctx, "plate-release-g", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(ctx); err == nil || !strings.Contains(err.Error(), "its Lease was deleted") {
		t.Errorf("after a delete: %v", err)
	}
}

// A lock that went longer than its TTL without a renewal (a paused process:
// the clock jumps) is lost even though nobody took it: another run could
// have taken it and written in between.
func TestCheckFindsUnrenewedLockLost(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-h", Holder: Holder{User: "sleeper"}, TTL: 30 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	clock.Add(29 * time.Second)
	if err := l.Check(ctx); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	clock.Add(2 * time.Second)
	err = l.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "it was not renewed for 31s, longer than its TTL of 30s") {
		t.Errorf("past the TTL: %v", err)
	}
}

// Renewal errors are not ignored: the first is warned about, they are
// retried, and once they have lasted longer than the TTL the lock is lost
// with the last error named.
func TestRenewalErrorsLoseTheLockAfterTTL(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	l, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-i", Holder: Holder{User: "cut-off"}, TTL: 30 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	close(l.stop) // renewals are driven by the test
	l.wg.Wait()
	l.once.Do(func() {})
	var warnings []error
	var notified *LostError
	(&Set{Locks: []*Lock{l}}).OnLost(func(e *LostError) { notified = e }, func(err error) { warnings = append(warnings, err) })
	live := l.cs
	unreachable, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	l.cs = unreachable
	clock.Add(10 * time.Second)
	if lost := l.renew(); lost != nil {
		t.Fatalf("one failed renewal lost the lock: %v", lost)
	}
	clock.Add(10 * time.Second)
	if lost := l.renew(); lost != nil {
		t.Fatalf("two failed renewals within the TTL lost the lock: %v", lost)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "renewing the run lock "+ns+"/plate-release-i failed (retrying)") {
		t.Errorf("warnings: %v", warnings)
	}
	// Within the TTL, a write may go on: the lease is still this run's.
	if err := l.Check(ctx); err != nil {
		t.Errorf("check within the TTL: %v", err)
	}
	clock.Add(11 * time.Second)
	lost := l.renew()
	if lost == nil || !strings.Contains(lost.Error(), "its renewals failed for 31s, longer than its TTL of 30s") || !strings.Contains(lost.Error(), "127.0.0.1:1") {
		t.Fatalf("renewals failing past the TTL: %v", lost)
	}
	if notified != lost {
		t.Errorf("OnLost was told %v", notified)
	}
	// The cluster answers again: the lock stays lost.
	l.cs = live
	if err := l.Check(ctx); err != lost {
		t.Errorf("a lost lock came back: %v", err)
	}
}

// Force takes a lease from a live holder (plate recover --force); the
// holder's next check finds its lock lost.
func TestForceTakesOverALiveHolder(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := context.Background()
	first, err := Acquire(ctx, c.Clientset(), Options{Namespace: ns, Name: "plate-release-j", Holder: Holder{User: "running", Host: "ci-1", PID: 7, Since: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release(ctx)
	st, err := Inspect(ctx, c.Clientset(), Target{Namespace: ns, Name: "plate-release-j"}, time.Now())
	if err != nil || st == nil || !st.Live || st.Holder.User != "running" || !strings.HasPrefix(st.String(), "running@ci-1 (pid 7)") || !strings.HasSuffix(st.String(), "(a live plate run: its lock "+ns+"/plate-release-j is renewed)") {
		t.Fatalf("inspect: %+v %v", st, err)
	}
	set, err := AcquireAll(ctx, c.Clientset(), []Target{{Namespace: ns, Name: "plate-release-j", Force: true}}, Holder{User: "recover", Host: "ci-2", PID: 8, Since: time.Now()}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Release(ctx)
	if l := set.Locks[0]; l.TookOver == nil || l.TookOver.User != "running" || !l.TookOverLive {
		t.Errorf("takeover: %+v live=%v", l.TookOver, l.TookOverLive)
	}
	var lost *LostError
	if err := first.Check(ctx); !errors.As(err, &lost) || lost.Holder == nil || lost.Holder.User != "recover" {
		t.Errorf("the holder's check after a forced takeover: %v", err)
	}
	if st, err := Inspect(ctx, c.Clientset(), Target{Namespace: ns, Name: "plate-release-none"}, time.Now()); st != nil || err != nil {
		t.Errorf("inspect of no lease: %+v %v", st, err)
	}
}
