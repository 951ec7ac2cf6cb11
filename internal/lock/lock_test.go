package lock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/localcluster"
)

func TestMain(m *testing.M) { localcluster.Main(m) }

func TestKey(t *testing.T) {
	a, envA := Key("plans/deploy_prod.star", "plate-prod", []string{"env=production", "action=deploy"})
	b, _ := Key("plans/deploy_prod.star", "plate-prod", []string{"action=deploy", "env=production"})
	c, _ := Key("plans/deploy_prod.star", "plate-prod", []string{"env=staging", "action=deploy"})
	if a != b {
		t.Errorf("parameter order changes the key: %s vs %s", a, b)
	}
	if a == c {
		t.Errorf("different environments share a key %s", a)
	}
	if !strings.HasPrefix(a, "plate-run-plans-deploy-prod-") || len(a) > 63 {
		t.Errorf("key %q is not a readable DNS label", a)
	}
	if envA != " -n plate-prod -p action=deploy -p env=production" {
		t.Errorf("env %q", envA)
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
