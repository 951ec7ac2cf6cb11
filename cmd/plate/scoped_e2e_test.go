package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A ServiceAccount confined to its namespace (a Role there, nothing
// cluster-wide but what every authenticated user may read) deploys a plan
// into it: the
// release's run lock lives in its namespace, the install, the wait and the
// status read work. A plan that asks for the cluster's identity gets a
// message naming the missing permission.
func TestE2ENamespaceScopedUserDeploys(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	// The deployer is a ServiceAccount of the namespace, as a CI job
	// running in the cluster would be.
	sa := "deployer"
	user := "system:serviceaccount:" + e.ns + ":" + sa
	rbac := e.c.Clientset().RbacV1()
	if _, err := rbac.Roles(e.ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.RoleBindings(e.ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "deployer"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: e.ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := e.c.WriteKubeconfigAs(kc, user, "system:serviceaccounts", "system:serviceaccounts:"+e.ns, "system:authenticated"); err != nil {
		t.Fatal(err)
	}
	plan := e.plan(t, `
ns = param("ns", "default")
rel = helm_install("shop", "`+webChartPath(t)+`", namespace = ns, create_namespace = False)
wait_ready(rel, timeout = "60s")
status(namespace = ns)
`)
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", kc, "-n", e.ns, "-p", "ns="+e.ns, plan)
	if r.code != 0 {
		t.Fatalf("a namespace-scoped deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "install rev 1") || !strings.Contains(r.out, "ready") {
		t.Errorf("output:\n%s", r.out)
	}
	// A backup before an upgrade works too: the backup records the
	// context and server when the kube-system UID cannot be read.
	upgrade := e.plan(t, `
ns = param("ns", "default")
b = backup("shop", namespace = ns)
print("backup", b.id)
helm_install("shop", "`+webChartPath(t)+`", namespace = ns, create_namespace = False, set = {"message": "v2"})
`)
	r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", kc, "-p", "ns="+e.ns, upgrade)
	if r.code != 0 || !strings.Contains(r.out, "saved shop rev 1") || !strings.Contains(r.out, "upgrade rev 1→2") {
		t.Fatalf("a namespace-scoped backup and upgrade: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	guard := e.plan(t, `require_cluster(name = "plate-local")
require_cluster(uid = "0000")`+"\n")
	r = runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", kc, guard)
	// name= works from the context and server; uid= needs kube-system,
	// and the message says which permission and what to use instead.
	if r.code != 2 || !strings.Contains(r.out, "cluster ok") ||
		!strings.Contains(r.errOut, "plan.star:2:16: require_cluster: cannot check uid=: user "+user+" may not get the namespace kube-system") ||
		!strings.Contains(r.errOut, "grant get on namespaces/kube-system, or check the cluster by name=") {
		t.Errorf("cluster identity without the permission: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
