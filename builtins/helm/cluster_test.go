package helm_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	hrepo "helm.sh/helm/v3/pkg/repo"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
)

// mutations runs fn and returns the mutating requests the admin user made
// meanwhile (server-side dry runs excluded).
func mutations(t testing.TB, lc *localcluster.Cluster, fn func()) []localcluster.AuditEvent {
	t.Helper()
	w := lc.BeginAudit()
	fn()
	muts, err := w.Mutations(context.Background(), localcluster.AuditFilter{Users: []string{localcluster.AdminUser}})
	if err != nil {
		t.Fatal(err)
	}
	return muts
}

func expectNoWrites(t testing.TB, muts []localcluster.AuditEvent) {
	t.Helper()
	for _, m := range muts {
		t.Errorf("mutating request: %s", m)
	}
}

// A plan's releases through dry run, run, no-op run, upgrade, rollback and
// uninstall, with the trace each pass prints.
func TestPlanLifecycle(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	o := runOpts{kubeconfig: lc.KubeconfigPath()}
	deploy := func(msg string) string {
		return strings.NewReplacer("NS", ns, "MSG", msg).Replace(`
rel = helm_install("shop", "../charts/web", namespace = "NS", values = ["//values/base.yaml"],
                   set = {"message": "MSG", "password": secret("pw-canary-123")})
assert.eq(rel.name, "shop")
assert.eq(rel.namespace, "NS")
assert.eq(len(rel.objects), 4)
`)
	}
	p := newProject(t, map[string]string{
		"values/base.yaml":  "replicaCount: 2\n",
		"plans/deploy.star": deploy("hello"),
		"plans/ops.star": strings.ReplaceAll(`
r = helm_release("shop", namespace = "NS")
assert.eq(r.revision, 2)
assert.eq(r.status, "deployed")
assert.eq([h["status"] for h in r.history], ["superseded", "deployed"])
back = helm_rollback(r)
assert.eq(back.revision, 3)
assert.eq(helm_uninstall(back), True)
`, "NS", ns),
		"plans/gone.star": strings.ReplaceAll(`
assert.eq(helm_release("shop", namespace = "NS"), None)
assert.eq(helm_uninstall("shop", namespace = "NS"), False)
`, "NS", ns),
	})

	var r result
	expectNoWrites(t, mutations(t, lc, func() { r = p.run("plans/deploy.star", dryRun, o) }))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := cmp.Diff([]string{"dry-run helm_install: would install rev 1 (4 objects)"}, r.summaries()); d != "" {
		t.Errorf("dry run (-want +got):\n%s", d)
	}
	if ev := r.closing("helm_install")[0]; ev.Phase != trace.Planned {
		t.Errorf("dry run phase %s", ev.Phase)
	}

	r = p.run("plans/deploy.star", realRun, o)
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []string{"preflight helm_install: would install rev 1 (4 objects)", "run helm_install: install rev 1 (4 objects)"}
	if d := cmp.Diff(want, r.summaries()); d != "" {
		t.Errorf("run (-want +got):\n%s", d)
	}
	dep, err := lc.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "shop-web", metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 {
		t.Fatalf("deployment: %v", err)
	}

	expectNoWrites(t, mutations(t, lc, func() { r = p.run("plans/deploy.star", realRun, o) }))
	want = []string{"preflight helm_install: unchanged rev 1", "run helm_install: unchanged rev 1"}
	if d := cmp.Diff(want, r.summaries()); d != "" || r.err != nil {
		t.Errorf("no-op run (-want +got):\n%s%v", d, r.err)
	}

	// A changed message: the dry run shows the diff and writes nothing.
	p.Write("plans/deploy.star", deploy("bonjour"))
	expectNoWrites(t, mutations(t, lc, func() { r = p.run("plans/deploy.star", dryRun, o) }))
	if r.err != nil {
		t.Fatal(r.err)
	}
	want = []string{"dry-run helm_install: would upgrade rev 1→2 (2 changed, 0 added, 0 removed; values changed)"}
	if d := cmp.Diff(want, r.summaries()); d != "" {
		t.Errorf("dry upgrade (-want +got):\n%s", d)
	}
	contains(t, "verbose trace", r.text,
		"~ ConfigMap/"+ns+"/shop-web changed", "-  MESSAGE: hello", "+  MESSAGE: bonjour",
		"~ Deployment/"+ns+"/shop-web changed", "= 2 unchanged")
	t.Logf("dry upgrade trace:\n%s", r.text)
	d := detail(t, r.closing("helm_install")[0])
	if d["action"] != "upgrade" || d["from_revision"] != float64(1) {
		t.Errorf("detail: %v", d)
	}
	contains(t, "JSON lines", r.jsonl, `"change":"changed"`, `"diff":"--- live ConfigMap/`+ns+`/shop-web`)
	for _, out := range []string{r.text, r.jsonl} {
		if strings.Contains(out, "pw-canary") || strings.Contains(out, "cHctY2FuYXJ5") {
			t.Errorf("secret in the trace:\n%s", out)
		}
	}

	r = p.run("plans/deploy.star", realRun, o)
	want = []string{
		"preflight helm_install: would upgrade rev 1→2 (2 changed, 0 added, 0 removed; values changed)",
		"run helm_install: upgrade rev 1→2 (2 changed, 0 added, 0 removed; values changed)",
	}
	if d := cmp.Diff(want, r.summaries()); d != "" || r.err != nil {
		t.Errorf("upgrade (-want +got):\n%s%v", d, r.err)
	}

	r = p.run("plans/ops.star", realRun, o)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.text)
	}
	want = []string{
		"preflight helm_release: shop rev 2 deployed (web 0.1.0)",
		"preflight helm_rollback: would roll back rev 2→3 (restores rev 1; 2 changed, 0 added, 0 removed)",
		"preflight helm_uninstall: would uninstall rev 2 (4 objects)",
		"run helm_release: shop rev 2 deployed (web 0.1.0)",
		"run helm_rollback: rollback rev 2→3 (restores rev 1; 2 changed, 0 added, 0 removed)",
		"run helm_uninstall: uninstall rev 3 (4 objects)",
	}
	if d := cmp.Diff(want, r.summaries()); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	r = p.run("plans/gone.star", realRun, o)
	want = []string{
		"preflight helm_release: shop not found in namespace " + ns,
		"preflight helm_uninstall: absent",
		"run helm_release: shop not found in namespace " + ns,
		"run helm_uninstall: absent",
	}
	if d := cmp.Diff(want, r.summaries()); d != "" || r.err != nil {
		t.Errorf("after uninstall (-want +got):\n%s%v", d, r.err)
	}
}

// The preflight renders every chart before the run writes anything: a
// template error after a kube_apply stops the run with no write at all.
func TestPreflightStopsBeforeAnyWrite(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	p := newProject(t, map[string]string{"plans/broken.star": strings.ReplaceAll(`
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first"}}, namespace = "NS")
helm_install("app", "../charts/broken", namespace = "NS")
`, "NS", ns)})
	var r result
	expectNoWrites(t, mutations(t, lc, func() { r = p.run("plans/broken.star", realRun, runOpts{kubeconfig: lc.KubeconfigPath()}) }))
	if exit.Code(r.err) != exit.Usage {
		t.Fatalf("exit code %d (%v), want %d", exit.Code(r.err), r.err, exit.Usage)
	}
	contains(t, "error", r.err.Error(), "plans/broken.star:3:13: helm_install: chart ../charts/broken: template broken/templates/configmap.yaml:7:19")
	for _, e := range r.events {
		if e.Pass == trace.Run {
			t.Errorf("the run pass started: %+v", e)
		}
	}
	if _, err := lc.Clientset().CoreV1().ConfigMaps(ns).Get(context.Background(), "first", metav1.GetOptions{}); err == nil {
		t.Error("the ConfigMap before the broken release was written")
	}
}

// markPending rewrites the latest stored revision of a release as
// pending-upgrade, the state a killed helm process leaves.
func markPending(t testing.TB, lc *localcluster.Cluster, ns, name string) {
	t.Helper()
	ctx := context.Background()
	secrets := lc.Clientset().CoreV1().Secrets(ns)
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("release storage: %v", err)
	}
	s := list.Items[len(list.Items)-1]
	raw, err := base64.StdEncoding.DecodeString(string(s.Data["release"]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var rel map[string]any
	if err := json.Unmarshal(plain, &rel); err != nil {
		t.Fatal(err)
	}
	rel["info"].(map[string]any)["status"] = "pending-upgrade"
	plain, _ = json.Marshal(rel)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(plain)
	zw.Close()
	s.Data["release"] = []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
	s.Labels["status"] = "pending-upgrade"
	if _, err := secrets.Update(ctx, &s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Each error a user will hit: its message, its exit code, and no write.
func TestPlanErrors(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	kcfg := lc.KubeconfigPath()

	// A chart repository with web 0.1.0 and 0.2.0, and a closed port.
	repoDir := t.TempDir()
	pk := newProject(t, nil)
	packageWeb(t, pk.Root, repoDir, "0.1.0", "0.2.0")
	repo := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	defer repo.Close()
	writeIndex(t, repoDir, repo.URL)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	// A release stuck in pending-upgrade.
	setup := newProject(t, map[string]string{"plans/p.star": `helm_install("stuck", "../charts/web", namespace = "` + ns + `")`})
	if r := setup.run("plans/p.star", realRun, runOpts{kubeconfig: kcfg}); r.err != nil {
		t.Fatal(r.err)
	}
	markPending(t, lc, ns, "stuck")

	otherCtx := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(otherCtx, []byte(`apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: gone
  context: {cluster: gone, user: u}
current-context: gone
users:
- name: u
  user: {token: t}
`), 0o600)

	tests := []struct {
		name string
		plan string
		opts runOpts
		code int
		want []string
	}{
		{"chart path missing", `helm_install("a", "../charts/nope", namespace = "NS")`, runOpts{}, exit.Usage,
			[]string{"plans/p.star:1:13: helm_install: chart ../charts/nope: no such chart directory or .tgz"}},
		{"repo unreachable", `helm_install("a", "web", repo = "` + closed.URL + `", version = "0.1.0", namespace = "NS")`, runOpts{}, exit.Usage,
			[]string{"helm_install: chart repository " + closed.URL + " is unreachable"}},
		{"version not in index", `helm_install("a", "web", repo = "` + repo.URL + `", version = "1.0.0", namespace = "NS")`, runOpts{}, exit.Usage,
			[]string{`helm_install: chart "web" has no version 1.0.0 in the chart repository ` + repo.URL + ` (versions: 0.2.0, 0.1.0)`}},
		{"chart not in index", `helm_install("a", "api", repo = "` + repo.URL + `", namespace = "NS")`, runOpts{}, exit.Usage,
			[]string{`helm_install: chart "api" is not in the chart repository ` + repo.URL + ` (it has: web)`}},
		{"template error", `helm_install("a", "../charts/broken", namespace = "NS")`, runOpts{}, exit.Usage,
			[]string{"helm_install: chart ../charts/broken: template broken/templates/configmap.yaml:7:19: at <.Values.settings.logging.level>: nil pointer"}},
		{"schema violation", `helm_install("a", "../charts/schema", namespace = "NS", set = {"replicaCount": 0})`, runOpts{}, exit.Usage,
			[]string{"helm_install: chart ../charts/schema: values do not match values.schema.json: replicaCount: minimum: got 0, want 1 (from set=)"}},
		{"values file missing", `
helm_install("a", "../charts/web", namespace = "NS",
    values = ["../values/nope.yaml"])`, runOpts{}, exit.Usage,
			[]string{"plans/p.star:2:13: helm_install: values file values/nope.yaml: no such file"}},
		{"values YAML error", `helm_install("a", "../charts/web", namespace = "NS", values = ["//values/bad.yaml"])`, runOpts{}, exit.Usage,
			[]string{"plans/p.star:1:13: helm_install: values file values/bad.yaml:4: mapping values are not allowed in this context"}},
		{"pending release", `helm_install("stuck", "../charts/web", namespace = "NS", set = {"message": "x"})`, runOpts{}, exit.PlanFailed,
			[]string{"helm_install: release stuck in namespace NS is pending-upgrade at rev 1: an install, upgrade or rollback is in progress or was interrupted"}},
		{"wrong context", `helm_install("a", "../charts/web", namespace = "NS")`, runOpts{context: "nope"}, exit.Usage,
			[]string{`helm_install: cluster: kube context "nope" not found in kubeconfig`}},
		{"unreachable cluster", `helm_install("a", "../charts/web", namespace = "NS")`, runOpts{kubeconfig: otherCtx}, exit.Usage,
			[]string{`helm_install: cannot reach the cluster of context "gone" (https://127.0.0.1:1)`}},
		{"missing namespace", `helm_install("a", "../charts/web", namespace = "plate-no-such-ns", create_namespace = False)`, runOpts{}, exit.Usage,
			[]string{"helm_install: namespace plate-no-such-ns does not exist on context \"plate-local\""}},
		{"rollback without history", `helm_rollback("ghost", namespace = "NS")`, runOpts{}, exit.PlanFailed,
			[]string{"helm_rollback: no release ghost in namespace NS to roll back"}},
		{"needs from nowhere", `helm_install("a", "../charts/web", namespace = "NS", needs = [{"name": "x"}])`, runOpts{}, exit.Usage,
			[]string{"helm_install: needs[0]: got dict, want a release value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProject(t, map[string]string{
				"plans/p.star":    strings.ReplaceAll(tt.plan, "NS", ns),
				"values/bad.yaml": "a: 1\nb:\n  c: 2\n   d: 3\n",
			})
			o := tt.opts
			if o.kubeconfig == "" {
				o.kubeconfig = kcfg
			}
			var r result
			expectNoWrites(t, mutations(t, lc, func() { r = p.run("plans/p.star", realRun, o) }))
			if r.err == nil {
				t.Fatalf("no error:\n%s", r.text)
			}
			if got := exit.Code(r.err); got != tt.code {
				t.Errorf("exit code %d, want %d (%v)", got, tt.code, r.err)
			}
			for _, w := range tt.want {
				contains(t, "error", r.err.Error(), strings.ReplaceAll(w, "NS", ns))
			}
			for _, e := range r.events {
				if e.Pass == trace.Run {
					t.Errorf("the run pass started")
					break
				}
			}
		})
	}
}

// packageWeb packages the project's web chart at each version into dir.
func packageWeb(t testing.TB, root, dir string, versions ...string) {
	t.Helper()
	for _, v := range versions {
		ch, err := loader.Load(filepath.Join(root, "charts", "web"))
		if err != nil {
			t.Fatal(err)
		}
		ch.Metadata.Version = v
		if _, err := chartutil.Save(ch, dir); err != nil {
			t.Fatal(err)
		}
	}
}

// writeIndex writes the index.yaml of the charts in dir, served at url.
func writeIndex(t testing.TB, dir, url string) {
	t.Helper()
	idx, err := hrepo.IndexDirectory(dir, url)
	if err != nil {
		t.Fatal(err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A release whose custom resources need another release's CRD: with
// needs= the preflight renders it against the CRD the earlier step plans,
// and the run installs it once the CRD is in.
func TestReleaseNeedsCRDs(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	group := fmt.Sprintf("n%d.plate.dev", time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() {
		dyn, err := dynamic.NewForConfig(lc.RESTConfig())
		if err == nil {
			crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
			_ = dyn.Resource(crds).Delete(context.Background(), "gizmos."+group, metav1.DeleteOptions{})
		}
	})
	r := strings.NewReplacer("GROUP", group, "NS", ns)
	p := newProject(t, map[string]string{
		"charts/operator/Chart.yaml": "apiVersion: v2\nname: operator\nversion: 1.0.0\n",
		"charts/operator/crds/gizmo.yaml": r.Replace(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.GROUP}
spec:
  group: GROUP
  names: {kind: Gizmo, listKind: GizmoList, plural: gizmos, singular: gizmo}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`),
		"charts/operator/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: operator}\n",
		"charts/gizmo/Chart.yaml":           "apiVersion: v2\nname: gizmo\nversion: 1.0.0\n",
		"charts/gizmo/templates/gizmo.yaml": r.Replace("apiVersion: GROUP/v1\nkind: Gizmo\nmetadata: {name: one}\nspec: {size: 1}\n"),
		"plans/p.star": r.Replace(`
op = helm_install("operator", "../charts/operator", namespace = "NS")
g = helm_install("gizmo", "../charts/gizmo", namespace = "NS", needs = [op])
print(g.revision, g.objects[0]["kind"])
`),
	})
	res := p.run("plans/p.star", realRun, runOpts{kubeconfig: lc.KubeconfigPath()})
	if res.err != nil {
		t.Fatalf("%v\n%s", res.err, res.text)
	}
	want := []string{
		"preflight helm_install: would install rev 1 (1 object)",
		"preflight helm_install: would install rev 1 (1 object)",
		"preflight print: 1 Gizmo",
		"run helm_install: install rev 1 (1 object)",
		"run helm_install: install rev 1 (1 object)",
		"run print: 1 Gizmo",
	}
	if d := cmp.Diff(want, res.summaries()); d != "" {
		t.Errorf("trace (-want +got):\n%s\n%s", d, res.text)
	}
	contains(t, "verbose trace", res.text, "note: Gizmo not in the cluster yet")
	gizmo := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gizmos"}
	dyn, err := dynamic.NewForConfig(lc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(gizmo).Namespace(ns).Get(context.Background(), "one", metav1.GetOptions{}); err != nil {
		t.Errorf("the Gizmo was not created: %v", err)
	}
}
