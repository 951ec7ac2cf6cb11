package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/platform"
	"github.com/plate-dev/plate/internal/platform/standin"
)

// The platform plans, end to end. Plans live at the repository root; these
// tests run them as a user would, from there.
const repoRoot = "../.."

func planPath(name string) string { return filepath.Join(repoRoot, "plans", name) }

// The offline dry-run traces of the four plans are golden files: the plan a
// reader checks before running it, with file:line on every step. The
// libraries come from the stand-in charts: a test never reaches an upstream
// chart repository (nor anything but 127.0.0.1).
func TestPlanDryRunGoldens(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"deploy_all_staging.txt", []string{"deploy_all.star", "-p", "standins=true", "-p", "placeholder_secrets=true"}},
		{"deploy_all_production.txt", []string{"deploy_all.star", "-p", "env=production", "-p", "standins=true", "--yes"}},
		{"deploy_libraries.txt", []string{"deploy_libraries.star", "-p", "standins=true"}},
		{"deploy_stg.txt", []string{"deploy_stg.star"}},
		{"deploy_stg_delete.txt", []string{"deploy_stg.star", "-p", "action=delete"}},
		{"deploy_prod.txt", []string{"deploy_prod.star", "-p", "version=1.4.2"}},
		{"deploy_prod_rollback.txt", []string{"deploy_prod.star", "-p", "action=rollback"}},
		// Selectors: only plate-api's steps run; the other releases'
		// installs and waits are skipped, each with its reason.
		{"deploy_stg_selected.txt", []string{"deploy_stg.star", "-l", "name=plate-api"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			args := append([]string{"run", "--dry-run", "--offline", planPath(tc.args[0])}, tc.args[1:]...)
			r := runPlate(t, "", false, args...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
			}
			golden(t, "plans/"+tc.golden, r.out)
		})
	}
}

// platformCluster is the local control plane with plate's own identity and
// the stand-in library charts served as a mirror on 127.0.0.1.
type platformCluster struct {
	*e2e
	mirror string
	// prodKubeconfig names the same cluster through a context called
	// "plate-prod-local", which the production guard accepts.
	prodKubeconfig string
}

func newPlatformCluster(t *testing.T) *platformCluster {
	t.Helper()
	e := newE2E(t)
	env, err := platform.Load(filepath.Join(repoRoot, "environments", "staging.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := standin.Build(env, dir); err != nil {
		t.Fatal(err)
	}
	srv, err := standin.Serve(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, err := clientcmd.LoadFromFile(e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	delete(cfg.Contexts, cfg.CurrentContext)
	cfg.Contexts["plate-prod-local"] = cur
	cfg.CurrentContext = "plate-prod-local"
	prod := filepath.Join(t.TempDir(), "kubeconfig-prod")
	if err := clientcmd.WriteToFile(*cfg, prod); err != nil {
		t.Fatal(err)
	}
	return &platformCluster{e2e: e, mirror: srv.URL, prodKubeconfig: prod}
}

func (p *platformCluster) run(t *testing.T, kubeconfig string, plan string, args ...string) result {
	t.Helper()
	all := append([]string{"run", "--kubeconfig", kubeconfig, planPath(plan)}, args...)
	return runPlate(t, "", false, all...)
}

func (p *platformCluster) releases(t *testing.T, ns string) map[string]string {
	t.Helper()
	secrets, err := p.c.Clientset().CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range secrets.Items {
		if v := s.Labels["version"]; v > out[s.Labels["name"]] {
			out[s.Labels["name"]] = v
		}
	}
	return out
}

// ensureProductionSecrets creates the production namespace and the Secrets
// its apps read, as production has them before any plan runs (nobody creates
// placeholders there).
func (p *platformCluster) ensureProductionSecrets(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cs := p.c.Clientset()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plate-prod"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for name, keys := range map[string][]string{"plate-api-secrets": {"database-url", "session-key"}, "plate-llm-provider": {"api-key"}, "plate-web-secrets": {"analytics-token"}} {
		data := map[string]string{}
		for _, k := range keys {
			data[k] = "prod-" + k
		}
		_, err := cs.CoreV1().Secrets("plate-prod").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// Each plan's online dry run reads the cluster but makes no mutating request.
func TestPlansOnlineDryRunWritesNothing(t *testing.T) {
	p := newPlatformCluster(t)
	p.ensureProductionSecrets(t)
	for _, tc := range []struct {
		kubeconfig string
		args       []string
	}{
		{p.kubeconfig, []string{"deploy_all.star", "-p", "mirror=" + p.mirror, "-p", "placeholder_secrets=true"}},
		{p.kubeconfig, []string{"deploy_libraries.star", "-p", "mirror=" + p.mirror}},
		{p.kubeconfig, []string{"deploy_stg.star", "-p", "placeholder_secrets=true"}},
		{p.prodKubeconfig, []string{"deploy_prod.star", "--yes"}},
	} {
		t.Run(tc.args[0], func(t *testing.T) {
			var r result
			muts := p.mutations(t, func() {
				r = p.run(t, tc.kubeconfig, tc.args[0], append([]string{"--dry-run"}, tc.args[1:]...)...)
			})
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
			}
			if len(muts) != 0 {
				t.Errorf("%d mutating requests: %+v", len(muts), muts)
			}
			if !strings.Contains(r.out, "planned") {
				t.Errorf("no planned step:\n%s", r.out)
			}
		})
	}
}

// A production plan against a context without "prod" stops before any
// write, naming both clusters.
func TestProductionGuardStopsBeforeAnyWrite(t *testing.T) {
	p := newPlatformCluster(t)
	var r result
	muts := p.mutations(t, func() { r = p.run(t, p.kubeconfig, "deploy_prod.star", "--yes") })
	if r.code != exit.Usage || !strings.Contains(r.errOut, `expected a context or server matching "(prod|production)"`) || !strings.Contains(r.errOut, `the context is "plate-local"`) {
		t.Errorf("exit %d\n%s", r.code, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("%d mutating requests: %+v", len(muts), muts)
	}
	// deploy_all to production is guarded the same way.
	muts = p.mutations(t, func() { r = p.run(t, p.kubeconfig, "deploy_all.star", "-p", "env=production", "--yes") })
	if r.code != exit.Usage || len(muts) != 0 {
		t.Errorf("deploy_all production on plate-local: exit %d, %d mutations\n%s", r.code, len(muts), r.errOut)
	}
}

// deploy_all with each flag combination.
func TestDeployAllFlags(t *testing.T) {
	p := newPlatformCluster(t)
	base := []string{"-p", "mirror=" + p.mirror, "-p", "placeholder_secrets=true"}

	r := p.run(t, p.kubeconfig, "deploy_all.star", append(base, "-p", "skip_libraries=true", "-p", "libraries_only=true")...)
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "skip_libraries and libraries_only exclude each other") {
		t.Errorf("both flags: exit %d\n%s", r.code, r.errOut)
	}

	r = p.run(t, p.kubeconfig, "deploy_all.star", append(base, "-p", "libraries_only=true")...)
	if r.code != 0 {
		t.Fatalf("libraries_only: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, ns := range []string{"cert-manager", "jenkins", "metallb-system"} {
		if len(p.releases(t, ns)) != 1 {
			t.Errorf("libraries_only: no release in %s", ns)
		}
	}
	if len(p.releases(t, "plate-stg")) != 0 {
		t.Errorf("libraries_only deployed apps: %v", p.releases(t, "plate-stg"))
	}
	// The libraries' configuration went through their admission webhooks.
	recs, err := p.c.AdmissionReviews()
	if err != nil {
		t.Fatal(err)
	}
	through := map[string]bool{}
	for _, rec := range recs {
		if rec.Allowed && !rec.DryRun {
			through[rec.Kind+" via "+rec.Host] = true
		}
	}
	for _, want := range []string{"ClusterIssuer via cert-manager-webhook.cert-manager.svc", "IPAddressPool via metallb-webhook-service.metallb-system.svc", "L2Advertisement via metallb-webhook-service.metallb-system.svc"} {
		if !through[want] {
			t.Errorf("no admission review %s; the backend answered %v", want, through)
		}
	}

	var muts []localcluster.AuditEvent
	muts = p.mutations(t, func() {
		r = p.run(t, p.kubeconfig, "deploy_all.star", append(base, "-p", "skip_libraries=true")...)
	})
	if r.code != 0 {
		t.Fatalf("skip_libraries: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, m := range muts {
		if m.ObjectRef != nil && (m.ObjectRef.Namespace == "cert-manager" || m.ObjectRef.Namespace == "jenkins" || m.ObjectRef.Namespace == "metallb-system") {
			t.Errorf("skip_libraries wrote to a library namespace: %+v", m)
		}
	}
	got := p.releases(t, "plate-stg")
	for _, app := range []string{"plate-cache", "plate-api", "plate-llm", "plate-web", "plate-ingress"} {
		if got[app] != "1" {
			t.Errorf("skip_libraries: release %s at revision %q, want 1", app, got[app])
		}
	}
	if !strings.Contains(r.out, "health_check") || !strings.Contains(r.out, "4/4 pods ready in plate-stg") {
		t.Errorf("no health check or status at the end:\n%s", r.out)
	}
	// The status step prints its table in the run's output, without -v.
	if !strings.Contains(r.out, "\n  namespace plate-stg\n") || !strings.Contains(r.out, "\n  RELEASE        REVISION") || !strings.Contains(r.out, "\n  POD ") {
		t.Errorf("the status table is not in the run's output:\n%s", r.out)
	}

	// Both: everything, unchanged now.
	r = p.run(t, p.kubeconfig, "deploy_all.star", base...)
	if r.code != 0 {
		t.Fatalf("full: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if n := strings.Count(r.out, "unchanged rev 1"); n != 16 {
		t.Errorf("a rerun should leave all 8 releases unchanged in preflight and run (16 lines), got %d:\n%s", n, r.out)
	}
}

// Staging: deploy, then status, then delete (confirmed).
func TestStagingDeployStatusDelete(t *testing.T) {
	p := newPlatformCluster(t)
	r := p.run(t, p.kubeconfig, "deploy_stg.star", "-p", "placeholder_secrets=true")
	if r.code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = p.run(t, p.kubeconfig, "deploy_stg.star", "-p", "action=status", "-v")
	if r.code != 0 || !strings.Contains(r.out, "plate-api") || !strings.Contains(r.out, "deployed") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// delete asks first: without a terminal and --yes it stops, writing nothing.
	var muts []localcluster.AuditEvent
	muts = p.mutations(t, func() { r = p.run(t, p.kubeconfig, "deploy_stg.star", "-p", "action=delete") })
	if r.code != exit.Aborted || len(muts) != 0 {
		t.Fatalf("unconfirmed delete: exit %d, %d mutations\n%s", r.code, len(muts), r.errOut)
	}
	r = p.run(t, p.kubeconfig, "deploy_stg.star", "-p", "action=delete", "--yes")
	if r.code != 0 {
		t.Fatalf("delete: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := p.releases(t, "plate-stg"); len(got) != 0 {
		t.Errorf("releases left after delete: %v", got)
	}
}

func TestMain_plansAreChecked(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot, "plans"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".star") || strings.HasSuffix(e.Name(), "_test.star") {
			continue
		}
		n++
		if r := runPlate(t, "", false, "check", planPath(e.Name())); r.code != 0 {
			t.Errorf("plate check %s: exit %d\n%s", e.Name(), r.code, r.errOut)
		}
	}
	if n != 4 {
		t.Errorf("want the 4 platform plans, found %d", n)
	}
}

// Production on the local control plane (through a context named like
// production): deploy, upgrade with changed values (backed up first), then
// roll back to the last good revisions.
func TestProductionDeployUpgradeRollback(t *testing.T) {
	p := newPlatformCluster(t)
	ctx := context.Background()
	cs := p.c.Clientset()
	p.ensureProductionSecrets(t)
	backups := t.TempDir()
	deploy := func(version string) result {
		return p.run(t, p.prodKubeconfig, "deploy_prod.star", "--yes", "-p", "version="+version, "-p", "backup_dir="+backups)
	}
	r := deploy("1.0.0")
	if r.code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := p.releases(t, "plate-prod"); got["plate-api"] != "1" || got["plate-web"] != "1" {
		t.Fatalf("after the first deploy: %v", got)
	}
	apiImage := func() string {
		d, err := cs.AppsV1().Deployments("plate-prod").Get(ctx, "plate-api", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if strings.Contains(c.Image, "1.0.") {
				return c.Image
			}
		}
		return ""
	}
	if img := apiImage(); !strings.HasSuffix(img, ":1.0.0") {
		t.Fatalf("plate-api backend image %q, want tag 1.0.0", img)
	}

	r = deploy("1.0.1")
	if r.code != 0 {
		t.Fatalf("upgrade: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := p.releases(t, "plate-prod"); got["plate-api"] != "2" {
		t.Fatalf("after the upgrade: %v", got)
	}
	if !strings.Contains(r.out, "upgrade rev 1→2") || !strings.Contains(r.out, "backup") {
		t.Errorf("upgrade trace lacks the upgrade or the backup:\n%s", r.out)
	}
	entries, _ := os.ReadDir(backups)
	if len(entries) != 1 {
		t.Errorf("want one backup of the upgrade run in %s, found %d", backups, len(entries))
	}
	if img := apiImage(); !strings.HasSuffix(img, ":1.0.1") {
		t.Fatalf("after the upgrade plate-api runs %q", img)
	}

	r = p.run(t, p.prodKubeconfig, "deploy_prod.star", "--yes", "-p", "action=rollback")
	if r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if got := p.releases(t, "plate-prod"); got["plate-api"] != "3" {
		t.Errorf("after the rollback (a new revision): %v", got)
	}
	if img := apiImage(); !strings.HasSuffix(img, ":1.0.0") {
		t.Errorf("after the rollback plate-api runs %q, want the 1.0.0 of the last good revision", img)
	}
}
