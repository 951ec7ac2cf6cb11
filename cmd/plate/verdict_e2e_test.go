package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/localcluster"
)

// verdictPlan installs the web chart as release shop with an image, and
// waits for it with a short image-pull grace.
func verdictPlan(t *testing.T, e *e2e) string {
	return e.plan(t, `
ns = param("ns", "default")
image = param("image", "registry.example/web")
rel = helm_install("shop", "`+webChartPath(t)+`", namespace = ns, set = {"image.repository": image})
wait_ready(rel, timeout = "60s", image_pull_grace = "1s")
`)
}

func historyOf(t *testing.T, e *e2e, ns string) string {
	t.Helper()
	h := releaseHistory(t, e, "shop", ns)
	if h == "" {
		t.Fatal("no release shop")
	}
	return h
}

// A rollout whose wait_ready fails is recorded in Helm's history as failed,
// with the reason, and the revision it superseded is deployed again, as
// `helm upgrade --wait` leaves it. After two bad deploys, the default
// rollback restores the last good revision, not the other broken one.
func TestE2EFailedRolloutIsRecordedFailed(t *testing.T) {
	e := newE2E(t)
	plan := verdictPlan(t, e)
	run := func(image string) result {
		return runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "image="+image, plan)
	}
	if r := run("registry.example/web"); r.code != 0 {
		t.Fatalf("good deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	bad := localcluster.FailingImageRegistry + "web"
	r := run(bad)
	if r.code != exit.PlanFailed {
		t.Fatalf("bad deploy: exit %d, want %d\n%s%s", r.code, exit.PlanFailed, r.out, r.errOut)
	}
	if !strings.Contains(r.errOut, "shop rev 2 marked failed in Helm's history (rev 1 deployed again)") {
		t.Errorf("the error does not say what was marked:\n%s", r.errOut)
	}
	if got := historyOf(t, e, e.ns); got != "1:deployed 2:failed" {
		t.Errorf("history after one bad deploy: %s", got)
	}
	info, _ := e.helmClient(t).Get(context.Background(), "shop", e.ns)
	if d := info.History[1].Description; !strings.Contains(d, "Not ready (plate wait_ready)") || !strings.Contains(d, "image") {
		t.Errorf("rev 2's description does not give the reason: %q", d)
	}
	if r := run(bad + "-again"); r.code != exit.PlanFailed {
		t.Fatalf("second bad deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := historyOf(t, e, e.ns); got != "1:deployed 2:failed 3:failed" {
		t.Errorf("history after two bad deploys: %s", got)
	}
	// The default rollback target is the last good revision.
	r = runPlate(t, "", false, "rollback", "shop", "-n", e.ns, "--yes", "--kubeconfig", e.kubeconfig)
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "restores rev 1") {
		t.Errorf("rollback output does not restore rev 1:\n%s", r.out)
	}
	if got := historyOf(t, e, e.ns); got != "1:superseded 2:failed 3:failed 4:deployed" {
		t.Errorf("history after the rollback: %s", got)
	}
	rel, err := e.helmClient(t).Get(context.Background(), "shop", e.ns)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Revision != 4 {
		t.Errorf("latest revision %d", rel.Revision)
	}
	_ = helm.StatusDeployed
}

// A failed first install is marked failed too, and a wait that fails in a
// plan test says what the run would mark.
func TestE2EFailedFirstInstallIsRecordedFailed(t *testing.T) {
	e := newE2E(t)
	plan := verdictPlan(t, e)
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "image="+localcluster.FailingImageRegistry+"web", plan)
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := historyOf(t, e, e.ns); got != "1:failed" {
		t.Errorf("history: %s", got)
	}
	if !strings.Contains(r.errOut, "shop rev 1 marked failed in Helm's history") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
}

// --rollback-on-failure: a deploy whose wait fails marks its revision
// failed, then rolls the release back to the revision deployed before the
// run, waits for it, and still exits with the failure's code. A plan can ask
// for it itself (rollback_on_failure()), and a failed first install is
// uninstalled. The preflight says what would be rolled back.
func TestE2ERollbackOnFailure(t *testing.T) {
	e := newE2E(t)
	plan := verdictPlan(t, e)
	bad := localcluster.FailingImageRegistry + "web"
	run := func(extra ...string) result {
		args := append([]string{"run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns}, extra...)
		return runPlate(t, "", false, append(args, plan)...)
	}
	if r := run("-p", "image=registry.example/web"); r.code != 0 {
		t.Fatalf("good deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r := run("--rollback-on-failure", "-p", "image="+bad)
	if r.code != exit.PlanFailed {
		t.Fatalf("bad deploy: exit %d, want %d\n%s%s", r.code, exit.PlanFailed, r.out, r.errOut)
	}
	for _, want := range []string{
		"on failure, the run would roll back, in this order: shop in " + e.ns + ": roll back to rev 1",
		"on failure: rollback rev 2→3 (restores rev 1;",
		"on failure: shop rev 3 ready",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.errOut, "plate: rolled back on failure: shop") {
		t.Errorf("stderr lacks the rollback report:\n%s", r.errOut)
	}
	if got := historyOf(t, e, e.ns); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history: %s", got)
	}

	// A plan that asks for it itself; a failed first install is uninstalled.
	self := e.plan(t, `
ns = param("ns", "default")
rollback_on_failure()
rel = helm_install("fresh", "`+webChartPath(t)+`", namespace = ns, set = {"image.repository": "`+bad+`"})
wait_ready(rel, timeout = "60s", image_pull_grace = "1s")
`)
	r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, self)
	if r.code != exit.PlanFailed || !strings.Contains(r.out, "fresh in "+e.ns+": uninstall (first install)") ||
		!strings.Contains(r.errOut, "plate: rolled back on failure: fresh") {
		t.Fatalf("self-asked rollback: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if info, err := e.helmClient(t).Get(context.Background(), "fresh", e.ns); err != nil || info != nil {
		t.Errorf("the failed first install is still there: %+v %v", info, err)
	}
}

// An interrupt during a wait follows the same rules as a failure: the
// revision the run made is marked failed, and with rollback on failure the
// release goes back to the revision before the run; the run exits 130.
func TestE2EInterruptedWaitRollsBack(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
delay = param("delay", "0s")
rollback_on_failure()
rel = helm_install("shop", "`+webChartPath(t)+`", namespace = ns, set = {"podAnnotations": {"plate.dev/ready-delay": delay}})
wait_ready(rel, timeout = "120s")
`)
	if r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan); r.code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	io, out, errOut := iostreamsTest()
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: time.Now, Plugins: registry.Plugins,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns, "-p", "delay=60s", plan}, f)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for historyOfNow(t, e) != "1:superseded 2:deployed" {
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade never landed: %s", historyOfNow(t, e))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // the run is in its wait now
	close(intr)
	if code := <-done; code != exit.Interrupted {
		t.Fatalf("exit %d, want %d\n%s%s", code, exit.Interrupted, out, errOut)
	}
	if got := historyOf(t, e, e.ns); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history after the interrupted wait: %s\n%s%s", got, out, errOut)
	}
	if !strings.Contains(errOut.String(), "plate: rolled back on failure: shop") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

func historyOfNow(t *testing.T, e *e2e) string { return releaseHistory(t, e, "shop", e.ns) }

// releaseHistory lists a release's revisions as "1:superseded 2:deployed";
// "" when there is none.
func releaseHistory(t *testing.T, e *e2e, name, ns string) string {
	t.Helper()
	info, err := e.helmClient(t).Get(context.Background(), name, ns)
	if err != nil || info == nil {
		return ""
	}
	var parts []string
	for _, r := range info.History {
		parts = append(parts, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(parts, " ")
}

// --detailed-exitcode on the local control plane: an unchanged release
// exits 0, a change pending exits 2.
func TestE2EDetailedExitcode(t *testing.T) {
	e := newE2E(t)
	plan := verdictPlan(t, e)
	args := func(image string, extra ...string) []string {
		return append(append([]string{"run", "--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns, "-p", "image=" + image}, extra...), plan)
	}
	if r := runPlate(t, "", false, args("registry.example/web", "--yes")...); r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if r := runPlate(t, "", false, args("registry.example/web", "--dry-run", "--detailed-exitcode")...); r.code != 0 || !strings.Contains(r.out, "unchanged rev 1") {
		t.Errorf("no change: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if r := runPlate(t, "", false, args("registry.example/web2", "--dry-run", "--detailed-exitcode")...); r.code != exit.ChangesPending || !strings.Contains(r.out, "would upgrade rev 1→2") {
		t.Errorf("a change: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
