package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// A custom resource of a kind whose CRD has a status subresource, with no
// controller to write its status (like kube-prometheus-stack's Prometheus
// before its operator runs), is not Ready: the wait says it is waiting for
// its controller and times out.
func TestE2ECustomResourceWithoutStatusIsNotReady(t *testing.T) {
	e := newE2E(t)
	group := e.ns + ".plate.dev"
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
kube_apply({
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "monitors.%[1]s"},
    "spec": {
        "group": "%[1]s",
        "scope": "Namespaced",
        "names": {"kind": "Monitor", "plural": "monitors", "singular": "monitor", "listKind": "MonitorList"},
        "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
})
wait_ready("crd/monitors.%[1]s", timeout = "1m")
kube_apply({"apiVersion": "%[1]s/v1", "kind": "Monitor", "metadata": {"name": "main"}, "spec": {"replicas": 1}}, namespace = ns)
wait_ready("monitors.%[1]s/main", namespace = ns, timeout = "3s")
`, group))
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	if r.code != exit.Timeout {
		t.Fatalf("exit %d, want %d (timeout)\n%s%s", r.code, exit.Timeout, r.out, r.errOut)
	}
	if !strings.Contains(r.out+r.errOut, "waiting for its controller to report a status") {
		t.Errorf("the wait does not say it waits for a controller:\n%s%s", r.out, r.errOut)
	}
	if strings.Contains(r.out, "Resource is current") {
		t.Errorf("a resource without status was called current:\n%s", r.out)
	}
}
