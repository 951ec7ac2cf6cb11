package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
)

// plateUser is the identity plate's requests carry in these tests, so the
// audit log tells them apart from the harness's own.
const plateUser = "plate-e2e"

type e2e struct {
	c          *localcluster.Cluster
	kubeconfig string
	ns         string
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	c := localcluster.ForTest(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := c.WriteKubeconfigAs(kc, plateUser, "system:masters"); err != nil {
		t.Fatal(err)
	}
	return &e2e{c: c, kubeconfig: kc, ns: c.TestNamespace(t)}
}

// mutations runs fn and returns plate's mutating requests during it.
func (e *e2e) mutations(t *testing.T, fn func()) []localcluster.AuditEvent {
	t.Helper()
	w := e.c.BeginAudit()
	fn()
	muts, err := w.Mutations(context.Background(), localcluster.AuditFilter{Users: []string{plateUser}})
	if err != nil {
		t.Fatal(err)
	}
	return muts
}

func (e *e2e) plan(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plan.star")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const settingsPlan = `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns + "-app"}})
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "blue"}}, namespace = ns + "-app")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "blue"}}, namespace = ns)
`

// The dry run of a plan that creates a namespace and objects in it is
// validated by the API server and makes no write, according to the audit log.
func TestE2EDryRunWritesNothing(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, settingsPlan)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("dry run made %d mutating requests: %+v", len(muts), muts)
	}
	for _, want := range []string{
		"Namespace/" + e.ns + "-app would be created",
		"ConfigMap/" + e.ns + "-app/settings would be created (namespace " + e.ns + "-app is created earlier in the plan)",
		"ConfigMap/" + e.ns + "/settings would be created",
		// Subject first, the plan's line last.
		"planned  Namespace/" + e.ns + "-app  kube_apply  Namespace/" + e.ns + "-app would be created  plan.star:3\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("trace lacks %q:\n%s", want, r.out)
		}
	}
	cs := e.c.Clientset()
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), e.ns+"-app", metav1.GetOptions{}); err == nil {
		t.Error("the dry run created the namespace")
	}
}

// A real run creates what the dry run promised; a second run changes nothing.
func TestE2ERunAppliesThenUnchanged(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, settingsPlan)
	t.Cleanup(func() {
		_ = e.c.Clientset().CoreV1().Namespaces().Delete(context.Background(), e.ns+"-app", metav1.DeleteOptions{})
	})
	r := runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	cm, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns+"-app").Get(context.Background(), "settings", metav1.GetOptions{})
	if err != nil || cm.Data["mode"] != "blue" {
		t.Fatalf("configmap after run: %v %v", cm, err)
	}
	var r2 result
	muts := e.mutations(t, func() {
		r2 = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r2.code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", r2.code, r2.out, r2.errOut)
	}
	if got := strings.Count(r2.out, " unchanged"); got != 6 {
		t.Errorf("want 3 unchanged objects in preflight and run (6 lines), got %d:\n%s", got, r2.out)
	}
	// Server-side apply of unchanged objects is a no-op PATCH; besides
	// those, only the run lock's Lease is created and deleted.
	for _, m := range muts {
		if m.ObjectRef != nil && m.ObjectRef.Resource == "leases" {
			continue
		}
		if m.Verb != "patch" {
			t.Errorf("unexpected %s on an unchanged plan: %+v", m.Verb, m)
		}
	}
}

// A confirm that cannot be asked stops the run in its preflight: exit 4 and
// no mutating request, although a write precedes the confirm in the plan.
func TestE2EConfirmWithoutTTYWritesNothing(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before"}}, namespace = ns)
confirm("Really?")
`)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code != exit.Aborted {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exit.Aborted, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("%d mutating requests, want 0: %+v", len(muts), muts)
	}
}

// A plan whose later step is invalid fails in the preflight: the valid
// earlier step is not applied either.
func TestE2EInvalidStepStopsBeforeAnyWrite(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"}}, namespace = ns)
kube_apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": {"replicas": "three"}}, namespace = ns)
`)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code == exit.OK {
		t.Fatalf("the invalid plan succeeded:\n%s", r.out)
	}
	if !strings.Contains(r.errOut, "plan.star:4:11") || !strings.Contains(r.out, "preflight failed: nothing was written") {
		t.Errorf("error does not name the plan position or the preflight:\n%s%s", r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("%d mutating requests, want 0: %+v", len(muts), muts)
	}
	if _, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(context.Background(), "good", metav1.GetOptions{}); err == nil {
		t.Error("the valid step before the invalid one was applied")
	}
}

// An unreachable cluster is named in the error.
func TestE2EUnreachableClusterNamed(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `kube_get("configmap", "x")`)
	r := runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "--context", "nope", plan)
	if r.code != exit.Usage || !strings.Contains(r.errOut, `kube context "nope" not found`) {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.errOut)
	}
}

// A run that writes holds a Lease for its plan and environment; a second
// run of the same plan for the same environment is refused and names the
// holder; a dry run takes no lock; the lease is gone after the run.
func TestE2ERunLock(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "locked"}}, namespace = ns)
block()
`)
	stop := blockedRun(t, "run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns="+e.ns, plan)
	io2, out2, err2 := iostreamsTest()
	f2 := &Factory{IO: io2, Now: fixedClock(), Plugins: withTestPlugin}
	code := Main([]string{"run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns=" + e.ns, plan}, f2)
	if code != exit.PlanFailed || !strings.Contains(err2.String(), "another plate run holds the lock") || !strings.Contains(err2.String(), "plan.star") {
		t.Errorf("second run: exit %d\n%s%s", code, out2, err2)
	}
	// A dry run is not refused: it takes no lock.
	if r := runPlateWith(t, withTestPlugin, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan); r.code != 0 {
		t.Errorf("dry run during a locked run: exit %d\n%s", r.code, r.errOut)
	}
	if r1 := stop(); r1.code != exit.Interrupted {
		t.Errorf("first run: exit %d\n%s%s", r1.code, r1.out, r1.errOut)
	}
	leases, err := e.c.Clientset().CoordinationV1().Leases(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(leases.Items) != 0 {
		t.Errorf("leases left after the run: %v %v", leases, err)
	}
}

// The production guard refuses a context without the production pattern,
// before any write: exit 2, both clusters named, 0 mutating requests.
func TestE2ERequireClusterRefusesWrongCluster(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
require_cluster(name = "prod|production")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "guarded"}}, namespace = ns)
`)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code != exit.Usage {
		t.Fatalf("exit %d, want 2\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{`expected a context or server matching "prod|production"`, `the context is "plate-local"`, "plan.star:3:16"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
	if len(muts) != 0 {
		t.Errorf("%d mutating requests, want 0: %+v", len(muts), muts)
	}
	// The cluster's own identity passes, and an override with --yes is
	// recorded as a warning.
	uid := kubeSystemUID(t, e)
	ok := e.plan(t, `require_cluster(uid = "`+uid+`")`+"\n"+`require_cluster(name = "prod", override = True)`+"\n")
	r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, ok)
	if r.code != 0 || !strings.Contains(r.out, "cluster ok") || !strings.Contains(r.out, "override confirmed by --yes") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// Without --yes and without a terminal the override cannot be confirmed.
	r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, ok)
	if r.code != exit.Aborted {
		t.Errorf("override without confirmation: exit %d\n%s", r.code, r.errOut)
	}
}

func kubeSystemUID(t *testing.T, e *e2e) string {
	ns, err := e.c.Clientset().CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(ns.UID)
}

// kube_delete in a dry run asks the API server for a dry-run delete (its
// options travel in the request body) and deletes nothing; the run deletes.
func TestE2EDeleteDryRunThenRun(t *testing.T) {
	e := newE2E(t)
	cs := e.c.Clientset()
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	plan := e.plan(t, "ns = param(\"ns\", \"default\")\nkube_delete(\"configmap\", \"doomed\", namespace = ns)\n")
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code != 0 || !strings.Contains(r.out, "ConfigMap/doomed would be deleted") || len(muts) != 0 {
		t.Fatalf("dry run: exit %d, %d mutations\n%s%s", r.code, len(muts), r.out, r.errOut)
	}
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "doomed", metav1.GetOptions{}); err != nil {
		t.Fatalf("the dry run deleted the object: %v", err)
	}
	r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	if r.code != 0 || !strings.Contains(r.out, "ConfigMap/doomed deleted") {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}

// A run that fails after installing a release says what the cluster holds
// of it, and, for a first install, that there is nothing to roll back to
// (no rollback line that could only fail).
func TestE2EFailureOffersRollback(t *testing.T) {
	e := newE2E(t)
	chart, _ := filepath.Abs("../../testdata/charts/web")
	plan := e.plan(t, `
ns = param("ns", "default")
helm_install("shop", "`+chart+`", namespace = ns)
kube_apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "smoke"},
  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "smoke"}},
    "template": {"metadata": {"labels": {"app": "smoke"}, "annotations": {"plate.dev/simulate": "crash-loop"}},
      "spec": {"containers": [{"name": "c", "image": "smoke"}]}}}}, namespace = ns)
wait_ready("deployment/smoke", namespace = ns, crash_loop_restarts = 1)
`)
	r := runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"plate: stopped: plan failed; what this run did before it stopped:", "CrashLoopBackOff",
		"shop in " + e.ns + ": install rev 1; now: rev 1 (deployed)\n",
		"shop in " + e.ns + ": first install: nothing to roll back to; helm_uninstall (or helm uninstall shop -n " + e.ns + ") removes it"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
	if strings.Contains(r.errOut, "plate rollback shop") {
		t.Errorf("a rollback line for a first install:\n%s", r.errOut)
	}
}
