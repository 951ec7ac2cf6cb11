package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/iostreams"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localfs"
)

// runPlateNow runs plate with the real clock, so that the backups of
// successive runs get distinct IDs.
func runPlateNow(t *testing.T, stdin string, tty bool, args ...string) result {
	t.Helper()
	io, out, errOut := iostreams.Test(stdin)
	io.SetTTY(tty, tty)
	f := &Factory{IO: io, Now: time.Now, Plugins: registry.Plugins}
	code := Main(args, f)
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

func webChartPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../testdata/charts/web")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// shopPlan installs the web chart as release shop, backing it up first
// when -p backup=true.
func shopPlan(t *testing.T, e *e2e) (plan, root string) {
	t.Helper()
	plan = e.plan(t, `
ns = param("ns", "default")
msg = param("msg", "good")
replicas = param("replicas", 1)
take = param("backup", False)
if take:
    backup("shop", namespace = ns)
helm_install("shop", "`+webChartPath(t)+`", namespace = ns, values = ["values.yaml"],
             set = {"message": msg, "replicaCount": replicas, "token": secret("S3CRET-set-token")})
`)
	root = filepath.Dir(plan)
	if err := os.WriteFile(filepath.Join(root, "values.yaml"), []byte("password: S3CRET-values-password\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return plan, root
}

func (e *e2e) helmClient(t *testing.T) *helm.Client {
	t.Helper()
	kc, err := kube.Connect(kube.Settings{Kubeconfig: e.kubeconfig}, true)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := helm.New(helm.Options{Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func mustRun(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", what, r.code, r.out, r.errOut)
	}
}

// onlyBackup returns the ID of the one backup under dir made by plan runs
// after skip backups.
func latestBackup(t *testing.T, dir string) *backup.Manifest {
	t.Helper()
	list, err := backup.List(dir)
	if err != nil || len(list) == 0 {
		t.Fatalf("backups in %s: %+v %v", dir, list, err)
	}
	m, err := backup.Load(dir, list[len(list)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sameAsBackup compares the release as it is now with what the backup
// holds: manifest, user-supplied values, and the fields its manifest sets
// on the live objects.
func sameAsBackup(t *testing.T, e *e2e, dir string, m *backup.Manifest, wantRevision int) {
	t.Helper()
	ctx := context.Background()
	r := m.Releases[0]
	snap, err := e.helmClient(t).Snapshot(ctx, r.Name, r.Namespace)
	if err != nil || snap == nil {
		t.Fatalf("snapshot after restore: %v", err)
	}
	if snap.Latest.Revision != wantRevision || snap.Latest.Status != helm.StatusDeployed {
		t.Errorf("after the restore: rev %d %s, want rev %d deployed", snap.Latest.Revision, snap.Latest.Status, wantRevision)
	}
	for _, h := range snap.History {
		if helm.IsPending(h.Status) {
			t.Errorf("pending revision in the history: %+v", h)
		}
	}
	manifest := readBackupFile(t, dir, m, r.Manifest)
	if snap.Target.Manifest != manifest {
		t.Errorf("manifest after the restore differs from the backup's:\n%s\n---\n%s", snap.Target.Manifest, manifest)
	}
	var vals map[string]any
	if err := yaml.Unmarshal([]byte(readBackupFile(t, dir, m, r.Values)), &vals); err != nil {
		t.Fatal(err)
	}
	got, _ := yaml.Marshal(snap.Values)
	want, _ := yaml.Marshal(vals)
	if string(got) != string(want) {
		t.Errorf("values after the restore:\n%s\nwant\n%s", got, want)
	}
	kc, err := kube.Connect(kube.Settings{Kubeconfig: e.kubeconfig}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Objects {
		saved, err := backup.ReadObject(dir, m, o.File)
		if err != nil {
			t.Fatal(err)
		}
		live, err := kc.Get(ctx, schema.FromAPIVersionAndKind(o.APIVersion, o.Kind), o.Namespace, o.Name)
		if err != nil || live == nil {
			t.Errorf("%s after the restore: %v %v", o.Ref(), live, err)
			continue
		}
		for _, f := range [][]string{{"data"}, {"spec", "replicas"}, {"spec", "template"}, {"spec", "ports"}, {"spec", "selector"}, {"metadata", "labels"}} {
			a, _, _ := unstructured.NestedFieldNoCopy(saved.Object, f...)
			b, _, _ := unstructured.NestedFieldNoCopy(live.Object, f...)
			if !reflect.DeepEqual(viaJSON(a), viaJSON(b)) {
				t.Errorf("%s %s: live %v, backed up %v", o.Ref(), strings.Join(f, "."), b, a)
			}
		}
	}
}

// viaJSON normalises numbers (YAML and the API decode them differently).
func viaJSON(v any) any {
	data, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(data, &out)
	return out
}

func readBackupFile(t *testing.T, dir string, m *backup.Manifest, f string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, m.ID, filepath.FromSlash(f)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Back up, break the release (an upgrade to bad values; then an uninstall
// that deletes its history), restore, and compare manifest, values and
// live objects with the backup. A restore that cannot be confirmed is
// refused with exit 4 and writes nothing.
func TestE2EBackupRestore(t *testing.T) {
	e := newE2E(t)
	plan, root := shopPlan(t, e)
	dir := filepath.Join(root, "backups")
	kc := []string{"--kubeconfig", e.kubeconfig}
	mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, plan}, kc...)...), "install")
	// The deploy that goes wrong: backup first, then bad values.
	r := runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, "-p", "backup=true", "-p", "msg=bad", "-p", "replicas=3", plan}, kc...)...)
	mustRun(t, r, "bad upgrade")
	if !strings.Contains(r.out, "saved shop rev 1 (4 objects, 1 revision) to backups/") || !strings.Contains(r.out, "volume data not copied") {
		t.Errorf("backup summary:\n%s", r.out)
	}
	m := latestBackup(t, dir)

	// list and show: time, cluster, releases, size; never a secret.
	r = runPlateNow(t, "", false, "backup", "list", "--dir", dir)
	mustRun(t, r, "backup list")
	for _, want := range []string{"ID", "CREATED", "CLUSTER", "RELEASES", "SIZE", m.ID, "plate-local (uid " + m.Cluster.UID[:8] + ")", e.ns + "/shop", "KiB"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("backup list lacks %q:\n%s", want, r.out)
		}
	}
	r = runPlateNow(t, "", false, "backup", "show", m.ID, "--dir", dir)
	mustRun(t, r, "backup show")
	for _, want := range []string{"backup " + m.ID, "cluster   context \"plate-local\"", "checksums ok, owner-only", "data not copied",
		"release shop in " + e.ns, "revision  1 deployed; a restore brings back rev 1", "chart     web 0.1.0 (app 1.0.0), sha256:",
		"object    Deployment/" + e.ns + "/shop-web (live copy)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("backup show lacks %q:\n%s", want, r.out)
		}
	}
	rj := runPlateNow(t, "", false, "backup", "show", m.ID, "--dir", dir, "-o", "json")
	mustRun(t, rj, "backup show -o json")
	var shown map[string]any
	if err := json.Unmarshal([]byte(rj.out), &shown); err != nil || shown["id"] != m.ID {
		t.Errorf("backup show -o json: %v\n%s", err, rj.out)
	}
	rl := runPlateNow(t, "", false, "backup", "list", "--dir", dir, "-o", "json")
	var listed []backup.Entry
	if err := json.Unmarshal([]byte(rl.out), &listed); err != nil || len(listed) != 1 || listed[0].ID != m.ID {
		t.Errorf("backup list -o json: %v\n%s", err, rl.out)
	}
	for _, out := range []string{r.out, rj.out, rl.out} {
		if strings.Contains(out, "S3CRET") {
			t.Errorf("a secret in the output:\n%s", out)
		}
	}

	// Without a terminal and without --yes: exit 4, nothing written.
	var rr result
	muts := e.mutations(t, func() {
		rr = runPlateNow(t, "", false, append([]string{"backup", "restore", m.ID, "--dir", dir}, kc...)...)
	})
	if rr.code != exit.Aborted || !strings.Contains(rr.errOut, "pass --yes") || len(muts) != 0 {
		t.Fatalf("unconfirmed restore: exit %d, %d mutations\n%s%s", rr.code, len(muts), rr.out, rr.errOut)
	}
	if !strings.Contains(rr.out, "would restore rev 2→3 (backed-up rev 1; 2 changed, 0 added, 0 removed)") {
		t.Errorf("restore preview:\n%s", rr.out)
	}
	// Answering no: exit 4, nothing written.
	muts = e.mutations(t, func() {
		rr = runPlateNow(t, "n\n", true, append([]string{"backup", "restore", m.ID, "--dir", dir}, kc...)...)
	})
	if rr.code != exit.Aborted || !strings.Contains(rr.errOut, "aborted by user") || len(muts) != 0 {
		t.Fatalf("declined restore: exit %d, %d mutations\n%s%s", rr.code, len(muts), rr.out, rr.errOut)
	}

	t.Run("after a bad upgrade", func(t *testing.T) {
		r := runPlateNow(t, "", false, append([]string{"backup", "restore", m.ID, "--dir", dir, "--yes", "--release", "shop"}, kc...)...)
		mustRun(t, r, "restore")
		if !strings.Contains(r.out, "restore rev 2→3 (backed-up rev 1; 2 changed, 0 added, 0 removed)") {
			t.Errorf("restore output:\n%s", r.out)
		}
		sameAsBackup(t, e, dir, m, 3)
	})

	t.Run("after an uninstall", func(t *testing.T) {
		hc := e.liveHelm(t)
		if _, err := hc.Uninstall(context.Background(), helm.UninstallRequest{Release: "shop", Namespace: e.ns}); err != nil {
			t.Fatal(err)
		}
		waitGone(t, e, "shop-web")
		r := runPlateNow(t, "", false, append([]string{"backup", "restore", m.ID, "--dir", dir, "--yes"}, kc...)...)
		mustRun(t, r, "restore")
		if !strings.Contains(r.out, "restore backed-up rev 1 as rev 2 (1 revision written back; 0 changed, 4 added, 0 removed)") {
			t.Errorf("restore output:\n%s", r.out)
		}
		sameAsBackup(t, e, dir, m, 2)
		// The next deploy goes on from the restored history.
		mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, "-p", "msg=next", plan}, kc...)...), "deploy after restore")
	})
}

func (e *e2e) liveHelm(t *testing.T) *helm.Client {
	t.Helper()
	kc, err := kube.Connect(kube.Settings{Kubeconfig: e.kubeconfig}, false)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := helm.New(helm.Options{Kube: kc})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// waitGone waits until the ConfigMap name is deleted.
func waitGone(t *testing.T, e *e2e, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ConfigMap %s still exists", name)
}

// A backup whose manifest.json names another cluster is refused with both
// identities named and no write; --force-cluster restores it.
func TestE2ERestoreRefusedOnOtherCluster(t *testing.T) {
	e := newE2E(t)
	plan, root := shopPlan(t, e)
	dir := filepath.Join(root, "backups")
	kc := []string{"--kubeconfig", e.kubeconfig}
	mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, plan}, kc...)...), "install")
	mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, "-p", "backup=true", "-p", "msg=bad", plan}, kc...)...), "bad upgrade")
	m := latestBackup(t, dir)
	realUID := m.Cluster.UID
	m.Cluster.UID = "00000000-other-cluster"
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, m.ID, backup.ManifestFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var r result
	muts := e.mutations(t, func() {
		r = runPlateNow(t, "", false, append([]string{"backup", "restore", m.ID, "--dir", dir, "--yes"}, kc...)...)
	})
	if r.code != exit.Usage {
		t.Fatalf("exit %d, want 2\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"refusing to restore backup " + m.ID, "kube-system uid 00000000-other-cluster", "kube-system uid " + realUID, "--force-cluster"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.errOut)
		}
	}
	if len(muts) != 0 {
		t.Errorf("%d mutating requests, want 0: %+v", len(muts), muts)
	}
	r = runPlateNow(t, "", false, append([]string{"backup", "restore", m.ID, "--dir", dir, "--yes", "--force-cluster"}, kc...)...)
	mustRun(t, r, "forced restore")
	if !strings.Contains(r.errOut, "restoring anyway (--force-cluster)") {
		t.Errorf("no warning:\n%s", r.errOut)
	}
	sameAsBackup(t, e, dir, m, 3)
}

// Without a cluster: list of an empty directory, show and restore of a
// missing or damaged backup, an unknown release.
func TestBackupCommandsOffline(t *testing.T) {
	dir := t.TempDir()
	r := runPlateNow(t, "", false, "backup", "list", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "no backups in "+dir) {
		t.Errorf("empty list: %d %s%s", r.code, r.out, r.errOut)
	}
	r = runPlateNow(t, "", false, "backup", "list", "--dir", dir, "-o", "json")
	if r.code != 0 || strings.TrimSpace(r.out) != "[]" {
		t.Errorf("empty list json: %d %q", r.code, r.out)
	}
	r = runPlateNow(t, "", false, "backup", "show", "nope", "--dir", dir)
	if r.code != exit.Usage || !strings.Contains(r.errOut, "no backup nope") {
		t.Errorf("show missing: %d %s", r.code, r.errOut)
	}
	// A backup with a changed file is refused before the cluster is asked.
	w := backup.NewWriter(localfs.Disk, dir, "20260102T030405Z-plan", time.Now(), "plan.star", backup.Cluster{Server: "https://x", UID: "u"})
	p := &backup.Part{Release: backup.Release{Name: "shop", Namespace: "prod"}, Files: map[string][]byte{"releases/prod/shop/values.yaml": []byte("a: 1\n")}}
	if err := w.Add(p); err != nil {
		t.Fatal(err)
	}
	r = runPlateNow(t, "", false, "backup", "restore", "20260102T030405Z-plan", "--dir", dir, "--release", "web", "--kubeconfig", "/nonexistent")
	if r.code != exit.Usage || !strings.Contains(r.errOut, "holds no release web (it holds prod/shop)") {
		t.Errorf("unknown release: %d %s", r.code, r.errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "20260102T030405Z-plan", "releases", "prod", "shop", "values.yaml"), []byte("a: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runPlateNow(t, "", false, "backup", "restore", "20260102T030405Z-plan", "--dir", dir, "--yes", "--kubeconfig", "/nonexistent")
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "is damaged: releases/prod/shop/values.yaml: checksum mismatch") {
		t.Errorf("damaged: %d %s", r.code, r.errOut)
	}
	r = runPlateNow(t, "", false, "backup", "show", "20260102T030405Z-plan", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.out, "PROBLEM   releases/prod/shop/values.yaml: checksum mismatch") {
		t.Errorf("show damaged: %d %s%s", r.code, r.out, r.errOut)
	}
	// The default directory: $PLATE_BACKUP_DIR.
	t.Setenv(backup.EnvDir, dir)
	r = runPlateNow(t, "", false, "backup", "list")
	if r.code != 0 || !strings.Contains(r.out, "20260102T030405Z-plan") {
		t.Errorf("list from $PLATE_BACKUP_DIR: %d %s%s", r.code, r.out, r.errOut)
	}
}
