package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// slowRollbackPlan is a plan of a chart whose pre-rollback hook Job takes
// about 3 seconds (its pod turns Ready, then completes, after
// plate.dev/ready-delay on the local cluster), so that a test can
// interrupt a rollback in the middle of its write.
func slowRollbackPlan(t *testing.T, e *e2e) string {
	t.Helper()
	chart := hookChart(t, "slowrb", "pre-rollback", "", ` {"plate.dev/ready-delay": "3s"}`)
	return e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
msg = param("msg", "a")
helm_install("slowrb", %q, namespace = ns, set = {"msg": msg})
`, chart))
}

// plate rollback and an interrupt. Before the write (here: before the
// plan) it stops with exit code 130, "nothing was changed", and no
// mutating request. During the write (inside the pre-rollback hook) the
// rollback is let finish: Helm's SDK Rollback takes no context, and a
// process that exited under it would leave the release pending-rollback.
// The command reports the rollback, says it was let finish, exits 130,
// and the release is deployed at the restored revision.
func TestE2EInterruptDuringRollback(t *testing.T) {
	e := newE2E(t)
	plan := slowRollbackPlan(t, e)
	base := []string{"run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns=" + e.ns}
	mustRun(t, runPlateNow(t, "", false, append(base, plan)...), "install")
	mustRun(t, runPlateNow(t, "", false, append(base, "-p", "msg=b", plan)...), "upgrade")
	rollback := []string{"rollback", "slowrb", "-n", e.ns, "--kubeconfig", e.kubeconfig, "--yes"}

	// Interrupted before the write.
	before := make(chan struct{})
	close(before)
	io, out, errOut := iostreamsTest()
	f := &Factory{IO: io, Now: time.Now, Plugins: withTestPlugin,
		Interrupts: func() (<-chan struct{}, func()) { return before, func() {} }}
	var code int
	muts := e.mutations(t, func() { code = Main(rollback, f) })
	if code != exit.Interrupted || errOut.String() != "plate: interrupted: nothing was changed\n" || len(muts) != 0 {
		t.Fatalf("interrupt before the write: exit %d, %d mutations\n%s%s", code, len(muts), out, errOut)
	}
	if got := statuses(e.history(t, "slowrb")); got != "1:superseded 2:deployed" {
		t.Fatalf("history after the interrupt before the write: %s", got)
	}

	// Interrupted during the write.
	io, out, errOut = iostreamsTest()
	intr := make(chan struct{})
	f = &Factory{IO: io, Now: time.Now, Plugins: withTestPlugin,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int)
	go func() { done <- Main(rollback, f) }()
	waitStatus(t, e, "slowrb", "pending-rollback", 60*time.Second)
	close(intr)
	select {
	case code = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the interrupted rollback did not end")
	}
	if code != exit.Interrupted {
		t.Errorf("exit %d, want 130\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out.String(), "slowrb in "+e.ns+": rollback rev 2→3 (restores rev 1;") {
		t.Errorf("the rollback that was let finish is not reported:\n%s", out)
	}
	if want := "plate: interrupted while changing the cluster: the change under way was let finish, so that no release is left pending\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if got := statuses(e.history(t, "slowrb")); got != "1:superseded 2:superseded 3:deployed" {
		t.Errorf("history after the interrupt during the write: %s", got)
	}
	cm, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(context.Background(), "slowrb", metav1.GetOptions{})
	if err != nil || cm.Data["msg"] != "a" {
		t.Errorf("the rollback's objects: %v %v", cm.Data, err)
	}
}
