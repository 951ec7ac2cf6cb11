package helm

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/localcluster"
)

func TestValueSecrets(t *testing.T) {
	got := valueSecrets(map[string]any{
		"password": "p1",
		"db":       map[string]any{"apiKey": "k1", "host": "h"},
		"tokens":   []any{"t1", map[string]any{"x": "t2"}},
		"message":  "visible",
	})
	if strings.Join(got, ",") != "k1,p1,t1,t2" {
		t.Errorf("valueSecrets: %v", got)
	}
}

func TestDecodeStorageErrors(t *testing.T) {
	for _, data := range []map[string][]byte{{}, {"release": []byte("%%%")}, {"release": []byte("bm90IGpzb24=")}} {
		if _, err := DecodeStorage(&corev1.Secret{Data: data}); err == nil {
			t.Errorf("decoded %q", data)
		}
	}
}

// setStatus rewrites the stored status of a revision, as a killed process
// leaves it.
func setStatus(t *testing.T, c *Client, name, ns string, rev int, st release.Status) {
	t.Helper()
	cfg, _, done, err := c.config(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	r, err := cfg.Releases.Get(name, rev)
	if err != nil {
		t.Fatal(err)
	}
	r.Info.Status = st
	if err := cfg.Releases.Update(r); err != nil {
		t.Fatal(err)
	}
}

func statusLine(t *testing.T, c *Client, name, ns string) string {
	t.Helper()
	info, err := c.Get(context.Background(), name, ns)
	if err != nil || info == nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []string
	for _, h := range info.History {
		out = append(out, h.Status)
	}
	return strings.Join(out, " ")
}

// A first install left pending (no earlier deployed revision) is marked
// failed, and the next install upgrades it; a dry recovery writes
// nothing; a release that is not pending is left alone.
func TestRecoverPendingInstall(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	live := pass(t, kcfg, true)
	req := InstallRequest{Release: "first", Namespace: ns, Chart: webChart(t)}
	if _, err := live.Install(ctx, req); err != nil {
		t.Fatal(err)
	}
	setStatus(t, live, "first", ns, 1, release.StatusPendingInstall)
	if _, err := live.Install(ctx, req); err == nil || !strings.Contains(err.Error(), "is pending-install at rev") {
		t.Fatalf("install over a pending release: %v", err)
	}

	w := lc.BeginAudit()
	res, err := pass(t, kcfg, false).Recover(ctx, RecoverRequest{Release: "first", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	noWrites(t, lc, w)
	if !res.Planned || !res.Stuck || res.Rollback != nil || !strings.Contains(res.Summary(), "would mark rev 1 (pending-install) failed; no earlier deployed revision") {
		t.Errorf("dry recover: %+v %s", res, res.Summary())
	}

	res, err = live.Recover(ctx, RecoverRequest{Release: "first", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if res.Planned || !res.MarkedFailed || res.Rollback != nil {
		t.Errorf("recover: %+v", res)
	}
	if got := statusLine(t, live, "first", ns); got != "failed" {
		t.Errorf("after recover: %s", got)
	}
	up, err := live.Install(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if up.Action != Upgrade || up.Release.Revision != 2 {
		t.Errorf("install after recover: %s", up.Summary())
	}
	res, err = live.Recover(ctx, RecoverRequest{Release: "first", Namespace: ns})
	if err != nil || res.Stuck || res.Summary() != "nothing to recover: rev 2 is deployed" {
		t.Errorf("recover of a deployed release: %+v %v", res, err)
	}
	if _, err := live.Recover(ctx, RecoverRequest{Release: "absent", Namespace: ns}); err == nil {
		t.Error("recover of a missing release succeeded")
	}
}

// A pending rollback is recovered like an upgrade: marked failed, then
// rolled back to the last deployed or superseded revision.
func TestRecoverPendingRollback(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	live := pass(t, lc.KubeconfigPath(), true)
	for _, msg := range []string{"a", "b"} {
		if _, err := live.Install(ctx, InstallRequest{Release: "rb", Namespace: ns, Chart: webChart(t), Values: Values{Set: map[string]any{"message": msg}}}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(t, live, "rb", ns, 2, release.StatusPendingRollback)
	res, err := live.Recover(ctx, RecoverRequest{Release: "rb", Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rollback == nil || res.Rollback.Restores != 1 || res.Rollback.Release.Revision != 3 {
		t.Fatalf("recover: %s", res.Summary())
	}
	if got := statusLine(t, live, "rb", ns); got != "superseded failed deployed" {
		t.Errorf("after recover: %s", got)
	}
}

// Snapshot keeps every revision's storage, the target's values and the
// objects annotated keep; Restore onto a history that was replaced since
// (uninstall, install again) stores the backed-up revision on top and
// rolls back to it.
func TestSnapshotAndDivergedRestore(t *testing.T) {
	lc := localcluster.ForTest(t)
	ns := lc.TestNamespace(t)
	ctx := context.Background()
	kcfg := lc.KubeconfigPath()
	live := pass(t, kcfg, true)
	chart := ChartSource{Chart: "kept", Path: writeChart(t, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: kept\nversion: 0.1.0\n",
		"values.yaml": "msg: a\nkeep: true\npassword: hidden-pw\n",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: kept-cm}
data: {msg: {{ .Values.msg | quote }}, pw: {{ .Values.password | quote }}}
`,
		"templates/keep.yaml": `{{- if .Values.keep }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: kept-data
  annotations: {"helm.sh/resource-policy": keep}
{{- end }}
`,
	})}
	install := func(vals map[string]any) {
		t.Helper()
		if _, err := live.Install(ctx, InstallRequest{Release: "kept", Namespace: ns, Chart: chart, Values: Values{Set: vals}}); err != nil {
			t.Fatal(err)
		}
	}
	install(map[string]any{"msg": "a", "password": "S3CRET-pw"})
	install(map[string]any{"msg": "b", "keep": false, "password": "S3CRET-pw"})

	w := lc.BeginAudit()
	snap, err := pass(t, kcfg, false).Snapshot(ctx, "kept", ns)
	if err != nil {
		t.Fatal(err)
	}
	noWrites(t, lc, w)
	if len(snap.Storage) != 2 || snap.Target.Revision != 2 || snap.Values["msg"] != "b" || snap.Computed["password"] != "S3CRET-pw" || snap.Chart.Name != "kept" {
		t.Errorf("snapshot: %d storage, target %d, values %v", len(snap.Storage), snap.Target.Revision, snap.Values)
	}
	if len(snap.Kept) != 1 || snap.Kept[0].Name != "kept-data" || snap.Kept[0].Revision != 1 {
		t.Errorf("kept: %+v", snap.Kept)
	}

	// Uninstall (history deleted) and install anew: rev 1 is another release now.
	if _, err := live.Uninstall(ctx, UninstallRequest{Release: "kept", Namespace: ns}); err != nil {
		t.Fatal(err)
	}
	install(map[string]any{"msg": "new", "keep": false})
	w = lc.BeginAudit()
	plan, err := pass(t, kcfg, false).Restore(ctx, RestoreRequest{Release: "kept", Namespace: ns, Storage: snap.Storage, Target: 2, Backup: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	noWrites(t, lc, w)
	if !plan.Planned || !plan.Diverged || plan.StoredAs != 2 || plan.Release.Revision != 3 {
		t.Errorf("planned restore: %+v", plan)
	}
	if d := plan.Text(); strings.Contains(d, "S3CRET") || !strings.Contains(d, "<redacted>") {
		t.Errorf("restore diff shows a secret value or hides nothing:\n%s", d)
	}
	res, err := live.Restore(ctx, RestoreRequest{Release: "kept", Namespace: ns, Storage: snap.Storage, Target: 2, Backup: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Summary(); got != "restore rev 1→3 (backed-up rev 2; history replaced since the backup: stored as rev 2, then rolled back to; 1 changed, 0 added, 0 removed)" {
		t.Errorf("summary: %s", got)
	}
	info, err := live.Get(ctx, "kept", ns)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != 3 || info.Manifest != snap.Target.Manifest || len(info.History) != 3 || info.History[1].Description != "Restored from backup b1 (rev 2 there)" {
		t.Errorf("after restore: rev %d, history %+v", info.Revision, info.History)
	}
	cm, err := lc.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, "kept-cm", metav1.GetOptions{})
	if err != nil || cm.Data["msg"] != "b" {
		t.Errorf("configmap after restore: %v %v", cm.Data, err)
	}

	// A pending release is refused.
	setStatus(t, live, "kept", ns, 3, release.StatusPendingUpgrade)
	if _, err := live.Restore(ctx, RestoreRequest{Release: "kept", Namespace: ns, Storage: snap.Storage, Target: 2}); err == nil || !strings.Contains(err.Error(), "is pending-upgrade at rev 3") {
		t.Errorf("restore of a pending release: %v", err)
	}
	if _, err := live.Restore(ctx, RestoreRequest{Release: "kept", Namespace: ns, Storage: snap.Storage, Target: 7}); err == nil || !strings.Contains(err.Error(), "holds no revision 7") {
		t.Errorf("restore of a missing revision: %v", err)
	}
}
