package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
)

// The run lock is a lock per release, not per parameter set: while a run
// changes release shop, a second run of the same plan with other -p
// values, and a run of another plan that would change shop too, are
// refused before their first write (the audit log shows none of their
// requests writing), naming the holder; a run of a plan that changes
// another release is not held back. The Lease lives in the release's
// namespace, records parameter names without their values, and is gone
// after the run.
func TestE2ELockPerRelease(t *testing.T) {
	e := newE2E(t)
	const second = "plate-e2e-second"
	kc2 := filepath.Join(t.TempDir(), "kubeconfig")
	if err := e.c.WriteKubeconfigAs(kc2, second, "system:masters"); err != nil {
		t.Fatal(err)
	}
	shop := e.plan(t, `
ns = param("ns", "default")
msg = param("msg", "a")
helm_install("shop", "`+webChartPath(t)+`", namespace = ns, set = {"message": msg})
block()
`)
	other := e.plan(t, `
ns = param("ns", "default")
tag = param("tag", "1")
helm_install("shop", "`+webChartPath(t)+`", namespace = ns, set = {"message": "from another plan"})
`)
	elsewhere := e.plan(t, `
ns = param("ns", "default")
helm_install("cafe", "`+webChartPath(t)+`", namespace = ns)
`)
	stop := blockedRun(t, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "msg=S3CRET-first", shop)

	lease, err := e.c.Clientset().CoordinationV1().Leases(e.ns).Get(context.Background(), "plate-release-shop", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the release's lease: %v", err)
	}
	if h := lease.Annotations["plate.dev/holder"]; strings.Contains(h, "S3CRET") || !strings.Contains(h, "msg=#") {
		t.Errorf("the lease records a parameter's value, or not its name: %s", h)
	}

	for _, tc := range []struct{ name, plan, param string }{
		{"same plan, other parameters", shop, "msg=b"},
		{"another plan, same release", other, "tag=2"},
	} {
		var r result
		w := e.c.BeginAudit()
		r = runPlateWith(t, withTestPlugin, "run", "--yes", "--kubeconfig", kc2, "-p", "ns="+e.ns, "-p", tc.param, tc.plan)
		muts, err := w.Mutations(context.Background(), localcluster.AuditFilter{Users: []string{second}})
		if err != nil {
			t.Fatal(err)
		}
		if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "another plate run holds the lock "+e.ns+"/plate-release-shop") ||
			!strings.Contains(r.errOut, "nothing was written") {
			t.Errorf("%s: exit %d\n%s%s", tc.name, r.code, r.out, r.errOut)
		}
		if len(muts) != 0 {
			t.Errorf("%s: the refused run wrote %d times: %+v", tc.name, len(muts), muts)
		}
	}
	// Another release is not held back.
	if r := runPlateWith(t, withTestPlugin, "run", "--yes", "--kubeconfig", kc2, "-p", "ns="+e.ns, elsewhere); r.code != 0 {
		t.Errorf("a run of another release: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if r1 := stop(); r1.code != exit.Interrupted {
		t.Errorf("first run: exit %d\n%s%s", r1.code, r1.out, r1.errOut)
	}
	leases, err := e.c.Clientset().CoordinationV1().Leases(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(leases.Items) != 0 {
		t.Errorf("leases left after the runs: %v %v", leases, err)
	}
}
