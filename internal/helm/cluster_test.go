package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
)

// pass returns a Helm client for one pass over the cluster of kubeconfig:
// a dry one (writes refused by the transport) or a live one.
func pass(t testing.TB, kubeconfig string, live bool) *Client {
	t.Helper()
	kc, err := kube.Connect(kube.Settings{Kubeconfig: kubeconfig}, !live)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Kube: kc, CacheDir: t.TempDir(), RepositoryConfig: filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func webChart(t testing.TB) ChartSource {
	return ChartSource{Chart: "web", Path: filepath.Join(chartsDir(t), "web")}
}

// noWrites fails the test if the audit window saw a mutating request by
// the admin user (dry runs excluded).
func noWrites(t testing.TB, c *localcluster.Cluster, w *localcluster.AuditWindow) {
	t.Helper()
	muts, err := w.Mutations(context.Background(), localcluster.AuditFilter{Users: []string{localcluster.AdminUser}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range muts {
		t.Errorf("mutating request: %s", m)
	}
}

func TestLifecycle(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	req := InstallRequest{Release: "shop", Namespace: ns, Chart: webChart(t), Values: Values{Set: map[string]any{"replicaCount": int64(2)}}}

	// Dry-run install: planned, nothing written.
	w := lc.BeginAudit()
	res, err := pass(t, kcfg, false).Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would install rev 1 (4 objects)"; got != want {
		t.Errorf("dry install summary %q, want %q", got, want)
	}
	if res.Diff.Count(Created) != 4 || !res.Release.Objects[0].equal("v1", "Secret", ns, "shop-web") {
		t.Errorf("dry install: diff %+v objects %+v", res.Diff, res.Release.Objects)
	}
	noWrites(t, lc, w)

	// Install.
	res, err = pass(t, kcfg, true).Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "install rev 1 (4 objects)"; got != want {
		t.Errorf("install summary %q, want %q", got, want)
	}
	if res.Release.Status != StatusDeployed || res.Release.Revision != 1 {
		t.Errorf("install: %+v", res.Release)
	}
	dep, err := lc.Clientset().AppsV1().Deployments(ns).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("deployment not created: %v", err)
	}
	if *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *dep.Spec.Replicas)
	}

	// The same request again changes nothing and makes no revision.
	w = lc.BeginAudit()
	res, err = pass(t, kcfg, true).Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "unchanged rev 1"; got != want {
		t.Errorf("no-op upgrade summary %q, want %q", got, want)
	}
	noWrites(t, lc, w)

	// Dry-run upgrade with a new message: the diff shows it, the Secret's
	// value never.
	up := req
	up.Values.Set = map[string]any{"replicaCount": int64(2), "message": "bonjour", "password": "s3cr3t-pw"}
	up.Values.Secrets = []string{"s3cr3t-pw"}
	w = lc.BeginAudit()
	res, err = pass(t, kcfg, false).Install(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would upgrade rev 1→2 (3 changed, 0 added, 0 removed; values changed)"; got != want {
		t.Errorf("dry upgrade summary %q, want %q", got, want)
	}
	text := res.Diff.Text()
	for _, want := range []string{
		"~ ConfigMap/" + ns + "/shop-web changed",
		"-  MESSAGE: hello",
		"+  MESSAGE: bonjour",
		"~ Secret/" + ns + "/shop-web changed",
		"+  PASSWORD: <redacted, changed>",
		"~ Deployment/" + ns + "/shop-web changed",
		"= 1 unchanged",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("dry upgrade diff lacks %q:\n%s", want, text)
		}
	}
	tdiff, _ := json.Marshal(res.TraceDiff())
	for _, leak := range []string{"s3cr3t", "Y2hhbmdlbWU", "czNjcjN0"} {
		if strings.Contains(text, leak) || strings.Contains(string(tdiff), leak) {
			t.Errorf("diff shows a secret (%q):\n%s\n%s", leak, text, tdiff)
		}
	}
	noWrites(t, lc, w)

	// Upgrade.
	res, err = pass(t, kcfg, true).Install(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "upgrade rev 1→2 (3 changed, 0 added, 0 removed; values changed)"; got != want {
		t.Errorf("upgrade summary %q, want %q", got, want)
	}
	cm, err := lc.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, "shop-web", metav1.GetOptions{})
	if err != nil || cm.Data["MESSAGE"] != "bonjour" {
		t.Errorf("configmap after upgrade: %v %v", cm.Data, err)
	}

	// Roll back to the last good revision: rev 3 restores rev 1.
	w = lc.BeginAudit()
	rb, err := pass(t, kcfg, false).Rollback(ctx, RollbackRequest{Release: "shop", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rb.Summary(), "would roll back rev 2→3 (restores rev 1; 3 changed, 0 added, 0 removed)"; got != want {
		t.Errorf("dry rollback summary %q, want %q", got, want)
	}
	noWrites(t, lc, w)
	rb, err = pass(t, kcfg, true).Rollback(ctx, RollbackRequest{Release: "shop", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Release.Revision != 3 || rb.Release.Status != StatusDeployed || rb.Restores != 1 {
		t.Errorf("rollback: %+v", rb)
	}
	cm, _ = lc.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, "shop-web", metav1.GetOptions{})
	if cm.Data["MESSAGE"] != "hello" {
		t.Errorf("configmap after rollback: %v", cm.Data)
	}
	info, err := pass(t, kcfg, false).Get(ctx, "shop", ns)
	if err != nil || info == nil {
		t.Fatalf("get: %v %v", info, err)
	}
	var statuses []string
	for _, h := range info.History {
		statuses = append(statuses, fmt.Sprintf("%d:%s", h.Revision, h.Status))
	}
	if got, want := strings.Join(statuses, " "), "1:superseded 2:superseded 3:deployed"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}

	// Uninstall: objects and release gone.
	w = lc.BeginAudit()
	un, err := pass(t, kcfg, false).Uninstall(ctx, UninstallRequest{Release: "shop", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := un.Summary(), "would uninstall rev 3 (4 objects)"; got != want {
		t.Errorf("dry uninstall summary %q, want %q", got, want)
	}
	noWrites(t, lc, w)
	un, err = pass(t, kcfg, true).Uninstall(ctx, UninstallRequest{Release: "shop", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := un.Summary(), "uninstall rev 3 (4 objects)"; got != want {
		t.Errorf("uninstall summary %q, want %q", got, want)
	}
	if _, err := lc.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, "shop-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap still there after uninstall: %v", err)
	}
	if info, err := pass(t, kcfg, true).Get(ctx, "shop", ns); err != nil || info != nil {
		t.Errorf("get after uninstall: %v %v", info, err)
	}
	un, err = pass(t, kcfg, true).Uninstall(ctx, UninstallRequest{Release: "shop", Namespace: ns})
	if err != nil || un.Summary() != "absent" || un.Found {
		t.Errorf("second uninstall: %+v %v", un, err)
	}
}

func (r ObjectRef) equal(apiVersion, kind, ns, name string) bool {
	return r == ObjectRef{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name}
}

// The release goes where the request says, not to the kubeconfig's
// namespace nor to $HELM_NAMESPACE: objects and release storage alike.
func TestNamespaces(t *testing.T) {
	lc := localcluster.ForTest(t)
	ctx := context.Background()
	home := lc.TestNamespace(t)
	cfg, err := clientcmd.LoadFromFile(lc.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = home
	kcfg := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kcfg); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HELM_NAMESPACE", home)
	t.Setenv("HELM_KUBECONTEXT", "nope")

	target := fmt.Sprintf("plate-helm-ns-%d", rand.IntN(1_000_000))
	t.Cleanup(func() {
		_ = lc.Clientset().CoreV1().Namespaces().Delete(context.Background(), target, metav1.DeleteOptions{})
	})
	req := InstallRequest{Release: "away", Namespace: target, Chart: webChart(t)}

	// Without create_namespace a missing namespace is a usage error.
	w := lc.BeginAudit()
	_, err = pass(t, kcfg, false).Install(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "namespace "+target+" does not exist") || exit.Code(err) != exit.Usage {
		t.Fatalf("missing namespace: %v", err)
	}
	noWrites(t, lc, w)

	req.CreateNamespace = true
	dry := pass(t, kcfg, false)
	res, err := dry.Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would install rev 1 (4 objects; would create namespace "+target+")"; got != want {
		t.Errorf("dry summary %q, want %q", got, want)
	}
	// A later release in the same dry pass finds the namespace planned.
	res, err = dry.Install(ctx, InstallRequest{Release: "next", Namespace: target, Chart: webChart(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would install rev 1 (4 objects)"; got != want {
		t.Errorf("second dry summary %q, want %q", got, want)
	}
	res, err = pass(t, kcfg, true).Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "install rev 1 (4 objects; namespace "+target+" created)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	cs := lc.Clientset()
	if _, err := cs.AppsV1().Deployments(target).Get(ctx, "away-web", metav1.GetOptions{}); err != nil {
		t.Errorf("deployment not in %s: %v", target, err)
	}
	secrets, err := cs.CoreV1().Secrets(target).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=away"})
	if err != nil || len(secrets.Items) != 1 {
		t.Errorf("release storage in %s: %d secrets, %v", target, len(secrets.Items), err)
	}
	for _, kind := range []string{"deployments", "secrets", "configmaps"} {
		var n int
		switch kind {
		case "deployments":
			l, _ := cs.AppsV1().Deployments(home).List(ctx, metav1.ListOptions{})
			n = len(l.Items)
		case "secrets":
			l, _ := cs.CoreV1().Secrets(home).List(ctx, metav1.ListOptions{})
			n = len(l.Items)
		case "configmaps":
			l, _ := cs.CoreV1().ConfigMaps(home).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=away"})
			n = len(l.Items)
		}
		if n != 0 {
			t.Errorf("%d %s in the kubeconfig's namespace %s", n, kind, home)
		}
	}
}

func TestPendingRelease(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	req := InstallRequest{Release: "stuck", Namespace: ns, Chart: webChart(t)}
	live := pass(t, kcfg, true)
	if _, err := live.Install(ctx, req); err != nil {
		t.Fatal(err)
	}
	// What a killed helm upgrade leaves behind.
	cfg, _, done, err := live.config(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	rel, err := cfg.Releases.Last("stuck")
	if err != nil {
		t.Fatal(err)
	}
	rel.Info.Status = release.StatusPendingUpgrade
	if err := cfg.Releases.Update(rel); err != nil {
		t.Fatal(err)
	}
	up := req
	up.Values.Set = map[string]any{"message": "again"}
	for _, live := range []bool{false, true} {
		w := lc.BeginAudit()
		_, err := pass(t, kcfg, live).Install(ctx, up)
		want := "release stuck in namespace " + ns + " is pending-upgrade at rev 1: an install, upgrade or rollback is in progress or was interrupted, started "
		if err == nil || !strings.Contains(err.Error(), want) || exit.Code(err) != exit.PlanFailed {
			t.Fatalf("live=%v: error %v, want %q (exit 1)", live, err, want)
		}
		var xe *exit.Error
		if !asExit(err, &xe) || !strings.HasPrefix(xe.Hint, "once no plate or helm process works on it any more: plate recover stuck -n "+ns+" (it refuses") {
			t.Errorf("hint: %+v", xe)
		}
		noWrites(t, lc, w)
	}
	if _, err := pass(t, kcfg, true).Rollback(ctx, RollbackRequest{Release: "stuck", Namespace: ns}); err == nil || !strings.Contains(err.Error(), "pending-upgrade") {
		t.Errorf("rollback of a pending release: %v", err)
	}
}

// writeChart writes a chart into a new directory and returns it.
func writeChart(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rejectedChart makes a ConfigMap and a Service whose clusterIP passes the
// OpenAPI schema but that the API server refuses (when bad is true).
func rejectedChart(t testing.TB) string {
	return writeChart(t, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: rejected\nversion: 0.1.0\n",
		"values.yaml": "bad: false\n",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-cm}
data: {bad: {{ .Values.bad | quote }}}
`,
		"templates/svc.yaml": `apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}-svc}
spec:
  {{- if .Values.bad }}
  clusterIP: not-an-ip
  {{- end }}
  ports: [{port: 80}]
  selector: {app: x}
`,
	})
}

func TestAtomic(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	chart := ChartSource{Chart: "rejected", Path: rejectedChart(t)}
	cs := lc.Clientset()

	// A failed atomic install is uninstalled again.
	_, err := pass(t, kcfg, true).Install(ctx, InstallRequest{Release: "fresh", Namespace: ns, Chart: chart, Atomic: true,
		Values: Values{Set: map[string]any{"bad": true}}})
	if err == nil || !strings.Contains(err.Error(), "install of fresh in namespace "+ns+" failed") && !strings.Contains(err.Error(), "uninstalled it again (atomic=True)") {
		t.Fatalf("atomic install: %v", err)
	}
	if !strings.Contains(err.Error(), "uninstalled it again (atomic=True)") || exit.Code(err) != exit.PlanFailed {
		t.Errorf("atomic install: %v (exit %d)", err, exit.Code(err))
	}
	if info, err := pass(t, kcfg, true).Get(ctx, "fresh", ns); err != nil || info != nil {
		t.Errorf("release after atomic install: %+v %v", info, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "fresh-cm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap left after atomic install: %v", err)
	}

	// A failed atomic upgrade is rolled back to the last good revision.
	req := InstallRequest{Release: "keep", Namespace: ns, Chart: chart, Atomic: true}
	if _, err := pass(t, kcfg, true).Install(ctx, req); err != nil {
		t.Fatal(err)
	}
	req.Values.Set = map[string]any{"bad": true}
	_, err = pass(t, kcfg, true).Install(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "upgrade of keep in namespace "+ns+" to rev 2") || !strings.Contains(err.Error(), "rolled back to rev 1 (atomic=True)") {
		t.Fatalf("atomic upgrade: %v", err)
	}
	info, err := pass(t, kcfg, true).Get(ctx, "keep", ns)
	if err != nil || info == nil {
		t.Fatal(info, err)
	}
	if info.Revision != 3 || info.Status != StatusDeployed {
		t.Errorf("after atomic upgrade: rev %d %s", info.Revision, info.Status)
	}
	cm, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "keep-cm", metav1.GetOptions{})
	if cm == nil || cm.Data["bad"] != "false" {
		t.Errorf("configmap after rollback: %+v", cm)
	}

	// Without atomic the failure stays: the next rollback skips the failed
	// revision.
	req.Atomic = false
	if _, err := pass(t, kcfg, true).Install(ctx, req); err == nil {
		t.Fatal("bad upgrade succeeded")
	}
	rb, err := pass(t, kcfg, false).Rollback(ctx, RollbackRequest{Release: "keep", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if rb.FromRevision != 4 || rb.Restores != 3 {
		t.Errorf("rollback after a failed upgrade: from %d restores %d, want 4 and 3", rb.FromRevision, rb.Restores)
	}
}

// crdCharts returns a chart with a CRD (crds/) and a custom resource, and
// a chart with only a custom resource of that kind, in a group unique to
// the test run (CRDs are cluster-wide and outlive test namespaces).
func crdCharts(t testing.TB, cl *localcluster.Cluster) (withCRD, crOnly string, group string) {
	group = fmt.Sprintf("t%d.plate.dev", rand.IntN(1_000_000_000))
	crd := strings.ReplaceAll(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.GROUP}
spec:
  group: GROUP
  names: {kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`, "GROUP", group)
	cr := strings.ReplaceAll(`apiVersion: GROUP/v1
kind: Gadget
metadata: {name: {{ .Release.Name }}}
spec: {size: 3}
`, "GROUP", group)
	withCRD = writeChart(t, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: gadgets\nversion: 0.1.0\n", "crds/gadget.yaml": crd, "templates/gadget.yaml": cr,
	})
	crOnly = writeChart(t, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: gadget\nversion: 0.1.0\n", "templates/gadget.yaml": cr,
	})
	t.Cleanup(func() {
		dyn, err := dynamic.NewForConfig(cl.RESTConfig())
		if err == nil {
			crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
			_ = dyn.Resource(crds).Delete(context.Background(), "gadgets."+group, metav1.DeleteOptions{})
		}
	})
	return withCRD, crOnly, group
}

func TestCRDs(t *testing.T) {
	cl := localcluster.ForTest(t)
	ns := cl.TestNamespace(t)
	ctx := context.Background()
	kcfg := cl.KubeconfigPath()
	withCRD, crOnly, _ := crdCharts(t, cl)
	a := InstallRequest{Release: "gadgets", Namespace: ns, Chart: ChartSource{Chart: "gadgets", Path: withCRD}}
	b := InstallRequest{Release: "gadget", Namespace: ns, Chart: ChartSource{Chart: "gadget", Path: crOnly}}

	// Dry pass: the CRD is not in the cluster; the chart's own CRD, and
	// then the CRD planned by the earlier step, let the render go on.
	w := cl.BeginAudit()
	dry := pass(t, kcfg, false)
	res, err := dry.Install(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "Gadget not in the cluster yet") {
		t.Errorf("notes: %q", res.Notes)
	}
	if got := res.Release.Objects; len(got) != 1 || got[0].Kind != "Gadget" || got[0].Namespace != ns {
		t.Errorf("objects: %+v", got)
	}
	if _, err := dry.Install(ctx, b); err != nil {
		t.Errorf("dry install of a chart using a planned CRD: %v", err)
	}
	noWrites(t, cl, w)
	// A fresh pass knows nothing of the planned CRD.
	if _, err := pass(t, kcfg, false).Install(ctx, b); err == nil || !strings.Contains(err.Error(), "Gadget") {
		t.Errorf("dry install without the CRD: %v", err)
	}

	// Live: the CRD is installed, and the next release in the same pass
	// sees the new kind (fresh configuration after CRDs).
	live := pass(t, kcfg, true)
	if _, err := live.Install(ctx, a); err != nil {
		t.Fatal(err)
	}
	res, err = live.Install(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Release.Status != StatusDeployed || len(res.Release.Objects) != 1 {
		t.Errorf("second release: %+v", res.Release)
	}
}

// Charts from a chart repository and from an OCI registry deploy like
// local ones.
func TestRemoteCharts(t *testing.T) {
	cl := localcluster.ForTest(t)
	ns := cl.TestNamespace(t)
	ctx := context.Background()
	kcfg := cl.KubeconfigPath()
	r := newChartRepo(t)
	host := ociRegistry(t)
	res, err := pass(t, kcfg, true).Install(ctx, InstallRequest{Release: "fromrepo", Namespace: ns, Chart: ChartSource{Chart: "web", Repo: r.srv.URL, Version: "0.1.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Release.ChartVersion != "0.1.0" || res.Release.Revision != 1 {
		t.Errorf("repo install: %+v", res.Release)
	}
	res, err = pass(t, kcfg, true).Install(ctx, InstallRequest{Release: "fromrepo", Namespace: ns, Chart: ChartSource{Chart: "oci://" + host + "/charts/web", Version: "0.2.0"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "upgrade rev 1→2 (4 changed, 0 added, 0 removed; chart 0.2.0)"; got != want {
		t.Errorf("oci upgrade summary %q, want %q", got, want)
	}
}

func TestUnreachableCluster(t *testing.T) {
	kcfg := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcfg, []byte(`apiVersion: v1
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
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pass(t, kcfg, false).Install(ctx, InstallRequest{Release: "x", Namespace: "default", Chart: webChart(t)})
	want := `cannot reach the cluster of context "gone" (https://127.0.0.1:1)`
	if err == nil || !strings.Contains(err.Error(), want) || exit.Code(err) != exit.Usage {
		t.Errorf("error %v, want %q (exit 2)", err, want)
	}
	kc, kerr := kube.Connect(kube.Settings{Kubeconfig: kcfg, Context: "nope"}, true)
	c, err := New(Options{Kube: kc, KubeErr: kerr, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Install(ctx, InstallRequest{Release: "x", Namespace: "default", Chart: webChart(t)})
	want = `cluster: kube context "nope" not found in kubeconfig`
	if err == nil || !strings.Contains(err.Error(), want) || exit.Code(err) != exit.Usage {
		t.Errorf("error %v, want %q (exit 2)", err, want)
	}
}

// An object of the chart that exists outside any release stops the
// install in the dry pass already.
func TestOwnershipConflict(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "own-web", "namespace": ns}}
	kc, err := kube.Connect(kube.Settings{Kubeconfig: lc.KubeconfigPath()}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Apply(ctx, toUnstructured(cm), ns); err != nil {
		t.Fatal(err)
	}
	w := lc.BeginAudit()
	_, err = pass(t, lc.KubeconfigPath(), false).Install(ctx, InstallRequest{Release: "own", Namespace: ns, Chart: webChart(t)})
	want := `ConfigMap "own-web" in namespace "` + ns + `" exists and cannot be imported into the current release`
	if err == nil || !strings.Contains(err.Error(), want) || exit.Code(err) != exit.PlanFailed {
		t.Errorf("error %v, want %q (exit 1)", err, want)
	}
	noWrites(t, lc, w)
}

// Steps running concurrently share a client: each operation gets its own
// action configuration.
func TestConcurrentInstalls(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	live := pass(t, lc.KubeconfigPath(), true)
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			res, err := live.Install(ctx, InstallRequest{Release: fmt.Sprintf("par%d", i), Namespace: ns, Chart: webChart(t)})
			if err == nil && res.Release.Revision != 1 {
				err = fmt.Errorf("par%d: rev %d", i, res.Release.Revision)
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func toUnstructured(m map[string]any) []*unstructured.Unstructured {
	return []*unstructured.Unstructured{{Object: m}}
}

// Like the helm CLI, plate keeps the last 10 revisions of a release.
func TestMaxHistory(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	live := pass(t, lc.KubeconfigPath(), true)
	chart := ChartSource{Chart: "schema", Path: filepath.Join(chartsDir(t), "schema")}
	for i := 1; i <= MaxHistory+2; i++ {
		if _, err := live.Install(ctx, InstallRequest{Release: "hist", Namespace: ns, Chart: chart,
			Values: Values{Set: map[string]any{"image.tag": fmt.Sprint(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := live.Get(ctx, "hist", ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.History) != MaxHistory || info.History[0].Revision != 3 || info.Revision != MaxHistory+2 {
		t.Errorf("history: %d revisions from %d, latest %d; want %d from 3, latest %d", len(info.History), info.History[0].Revision, info.Revision, MaxHistory, MaxHistory+2)
	}
}

// timeout bounds the whole operation, hooks included: a hook that never
// completes stops the install with a timeout (exit 3); atomic=True then
// uninstalls the release.
func TestTimeout(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	chart := ChartSource{Chart: "hooked", Path: writeChart(t, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: hooked\nversion: 0.1.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hooked}\n",
		// The hook's pod runs and never finishes (a local cluster
		// simulation): the Job never completes.
		"templates/job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {"helm.sh/hook": post-install, "helm.sh/hook-delete-policy": before-hook-creation}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {"plate.dev/simulate": never-ready}
    spec:
      restartPolicy: Never
      containers: [{name: m, image: registry.example/migrate:1}]
`,
	})}
	start := time.Now()
	_, err := pass(t, lc.KubeconfigPath(), true).Install(ctx, InstallRequest{Release: "slow", Namespace: ns, Chart: chart, Timeout: 2 * time.Second, Atomic: true})
	if err == nil || exit.Code(err) != exit.Timeout || !strings.Contains(err.Error(), "install of slow in namespace "+ns+": timed out after 2s") {
		t.Fatalf("error %v (exit %d), want a timeout (exit 3)", err, exit.Code(err))
	}
	if !strings.Contains(err.Error(), "uninstalled it again (atomic=True)") {
		t.Errorf("error %v does not say the release was uninstalled", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("took %s for a 2s timeout", d)
	}
	if info, err := pass(t, lc.KubeconfigPath(), true).Get(ctx, "slow", ns); err != nil || info != nil {
		t.Errorf("release after the atomic timeout: %+v %v", info, err)
	}
}

// A chart whose ConfigMap ends with a block scalar installs it with its
// final newline (what plate rendered is what the API server has), an
// upgrade that changes nothing is unchanged, and one that drops only that
// newline changes the ConfigMap.
func TestBlockScalarUpgrade(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	big := int64(9007199254740993)
	req := InstallRequest{Release: "scripts", Namespace: ns, Chart: testChart("blockscalar"), Values: Values{Set: map[string]any{"big": big}}}
	if _, err := pass(t, kcfg, true).Install(ctx, req); err != nil {
		t.Fatal(err)
	}
	cm, err := lc.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, "scripts-scripts", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cm.Data["start.sh"], "#!/bin/sh\necho hello\n"; got != want {
		t.Errorf("installed start.sh %q, want %q", got, want)
	}
	for _, live := range []bool{false, true} {
		w := lc.BeginAudit()
		res, err := pass(t, kcfg, live).Install(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Summary(), "unchanged rev 1"; got != want {
			t.Errorf("live=%v: the same request again: %q, want %q", live, got, want)
		}
		noWrites(t, lc, w)
	}
	strip := req
	strip.Values.Set = map[string]any{"big": big, "chomp": "-"}
	res, err := pass(t, kcfg, false).Install(ctx, strip)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would upgrade rev 1→2 (1 changed, 0 added, 0 removed; values changed)"; got != want {
		t.Errorf("final newline dropped: %q, want %q\n%s", got, want, res.Text())
	}
}
