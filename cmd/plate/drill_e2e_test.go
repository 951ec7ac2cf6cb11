package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// The failure drill of docs/local-cluster.md: an image from
// registry.invalid/ fails wait_ready fast on the local control plane (kwok
// runs no image, so a drill must ask for its failure), and rollback on
// failure removes the first install.
func TestE2EDocFailureDrill(t *testing.T) {
	e := newE2E(t)
	chart, err := filepath.Abs(filepath.Join(repoRoot, "charts/plate-api"))
	if err != nil {
		t.Fatal(err)
	}
	plan := e.plan(t, fmt.Sprintf(`
rollback_on_failure()
rel = helm_install("drill", %q, namespace = %q, set = {"image.repository": "registry.invalid/nginx"})
wait_ready(rel, timeout = "2m")
`, chart, e.ns))
	r := runPlateNow(t, "", false, "run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, plan)
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "registry.invalid/nginx") || !strings.Contains(r.errOut, "ImagePull") {
		t.Fatalf("drill: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if h := releaseHistory(t, e, "drill", e.ns); h != "" {
		t.Errorf("the failed first install was not removed: %s", h)
	}
}
