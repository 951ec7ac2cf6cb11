package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/localfs"
)

func TestMain(m *testing.M) {
	os.Setenv("HELM_CONFIG_HOME", filepath.Join(os.TempDir(), "plate-helm-test-no-config"))
	localcluster.Main(m)
}

func clients(t *testing.T, kubeconfig string, live bool) (*kube.Client, *helm.Client) {
	t.Helper()
	kc, err := kube.Connect(kube.Settings{Kubeconfig: kubeconfig}, !live)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := helm.New(helm.Options{Kube: kc, CacheDir: t.TempDir(), RepositoryConfig: filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	return kc, hc
}

func chartDir(t *testing.T, files map[string]string) string {
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

// The objects outside a release's manifest that it needs are backed up:
// the claims of a StatefulSet's volumeClaimTemplates, the TLS Secret of its
// Ingress (made by an operator), a Secret its pods use, an object an
// earlier revision kept. The claims are listed as volumes whose data is
// not copied. A restore creates the missing ones and leaves the others.
func TestCollectAndRestoreObjectsOutsideTheManifest(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	cs := lc.Clientset()
	for _, name := range []string{"db-tls", "db-creds"} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: nil}, StringData: map[string]string{"k": "v-" + name}}
		if _, err := cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	chart := helm.ChartSource{Chart: "db", Path: chartDir(t, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: db\nversion: 0.2.0\n",
		"values.yaml": "keep: true\n",
		"templates/sts.yaml": `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          image: registry.example/db:1
          env:
            - name: PASSWORD
              valueFrom: {secretKeyRef: {name: db-creds, key: k}}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: standard
        resources: {requests: {storage: 1Gi}}
`,
		"templates/ingress.yaml": `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: db}
spec:
  tls: [{hosts: [db.example], secretName: db-tls}]
  rules:
    - host: db.example
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: db, port: {number: 5432}}}}]}
`,
		"templates/kept.yaml": `{{- if .Values.keep }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: db-schema
  annotations: {"helm.sh/resource-policy": keep}
data: {v: "1"}
{{- end }}
`,
	})}
	_, live := clients(t, kcfg, true)
	for _, keep := range []bool{true, false} {
		if _, err := live.Install(ctx, helm.InstallRequest{Release: "db", Namespace: ns, Chart: chart, Values: helm.Values{Set: map[string]any{"keep": keep}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The StatefulSet controller makes the claims.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claims: %v %v", l, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	kc, hc := clients(t, kcfg, false)
	p, err := Collect(ctx, kc, hc, "db", ns)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, o := range p.Release.Extra {
		extra = append(extra, o.Ref()+" ("+o.Reason+")")
	}
	want := []string{
		"PersistentVolumeClaim/" + ns + "/data-db-0 (volumeClaimTemplate data of StatefulSet db)",
		"PersistentVolumeClaim/" + ns + "/data-db-1 (volumeClaimTemplate data of StatefulSet db)",
		"Secret/" + ns + "/db-creds (used by StatefulSet/db)",
		"Secret/" + ns + "/db-tls (TLS secret of Ingress db)",
		"ConfigMap/" + ns + "/db-schema (helm.sh/resource-policy: keep (rev 1))",
	}
	if strings.Join(extra, "\n") != strings.Join(want, "\n") {
		t.Errorf("objects outside the manifest:\n%s\nwant\n%s", strings.Join(extra, "\n"), strings.Join(want, "\n"))
	}
	if len(p.Release.Volumes) != 2 || p.Release.Volumes[0].StorageClass != "standard" || p.Release.Volumes[0].Capacity != "1Gi" {
		t.Errorf("volumes: %+v", p.Release.Volumes)
	}
	if len(p.Release.Objects) != 2 || p.Release.RestoreRevision != 2 || len(p.Release.Revisions) != 2 {
		t.Errorf("release: %+v", p.Release)
	}

	dir := t.TempDir()
	w := NewWriter(localfs.Disk, dir, "b1", time.Now(), "plan.star", Cluster{UID: "u"})
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, "b1")
	if err != nil {
		t.Fatal(err)
	}

	// Lose the TLS secret and the kept object; the restore makes them
	// again and leaves the rest (claims in use cannot be deleted here:
	// clean is tested on its own).
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, "db-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "db-schema", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w0 := lc.BeginAudit()
	plan, err := Restore(ctx, kc, hc, dir, m, &m.Releases[0], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	muts, err := w0.Mutations(ctx, localcluster.AuditFilter{Users: []string{localcluster.AdminUser}})
	if err != nil || len(muts) != 0 {
		t.Errorf("the dry restore wrote: %v %v", muts, err)
	}
	if got := plan.Summary(); !strings.Contains(got, "outside the release: 2 would be created, 3 exists, left as it is") {
		t.Errorf("planned restore: %s", got)
	}
	lkc, lhc := clients(t, kcfg, true)
	res, err := Restore(ctx, lkc, lhc, dir, m, &m.Releases[0], time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Summary(); !strings.Contains(got, "restore rev 2→3 (backed-up rev 2; 0 changed, 0 added, 0 removed); outside the release: 2 created, 3 exists, left as it is") {
		t.Errorf("restore: %s", got)
	}
	tls, err := cs.CoreV1().Secrets(ns).Get(ctx, "db-tls", metav1.GetOptions{})
	if err != nil || string(tls.Data["k"]) != "v-db-tls" {
		t.Errorf("TLS secret after restore: %v %v", tls, err)
	}
	kept, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "db-schema", metav1.GetOptions{})
	if err != nil || kept.Data["v"] != "1" || len(kept.OwnerReferences) != 0 {
		t.Errorf("kept object after restore: %v %v", kept, err)
	}
}
