package backup

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/localfs"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func part(name, ns string, files map[string]string) *Part {
	p := &Part{Release: Release{Name: name, Namespace: ns, Dir: "releases/" + ns + "/" + name}, Files: map[string][]byte{}}
	for f, d := range files {
		p.Files[f] = []byte(d)
	}
	return p
}

func TestNewID(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	for plan, want := range map[string]string{
		"plans/deploy_prod.star": "20260102T020405Z-deploy_prod",
		"deploy prod!.star":      "20260102T020405Z-deploy_prod",
		"":                       "20260102T020405Z",
	} {
		if got := NewID(at, plan); got != want {
			t.Errorf("NewID(%q) = %q, want %q", plan, got, want)
		}
	}
	for id, ok := range map[string]bool{"20260102T020405Z-x": true, "": false, "..": false, "a/b": false, ".hidden": false} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
}

// A backup is written owner-only, adds releases call by call, records a
// checksum per file, and nothing exists before the first Add.
func TestWriterOwnerOnlyAndChecksums(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cl := Cluster{Context: "prod", Server: "https://prod:6443", UID: "uid-1"}
	w := NewWriter(localfs.Disk, dir, NewID(at, "plans/deploy_prod.star"), at, "plans/deploy_prod.star", cl)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the writer made %s before any Add: %v", dir, err)
	}
	if err := w.Add(&Part{Release: Release{Name: "none"}, Skip: "does not exist"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a skipped part made %s", dir)
	}
	if err := w.Add(part("api", "prod", map[string]string{"releases/prod/api/values.yaml": "password: CANARY\n"})); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(part("web", "prod", map[string]string{"releases/prod/web/manifest.yaml": "kind: ConfigMap\n"})); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(part("web", "prod", nil)); err == nil {
		t.Error("a release was added twice")
	}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		want := FileMode
		if fi.IsDir() {
			want = DirMode
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err != nil || !strings.Contains(string(data), "*") {
		t.Errorf(".gitignore: %q %v", data, err)
	}
	m, err := Load(dir, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster != cl || len(m.Releases) != 2 || len(m.Files) != 2 || m.VolumeData != VolumeData || !m.Created.Equal(at) {
		t.Errorf("manifest: %+v", m)
	}
	if p := Verify(dir, m); len(p) != 0 {
		t.Errorf("verify: %v", p)
	}
	list, err := List(dir)
	if err != nil || len(list) != 1 || list[0].ID != w.ID() || strings.Join(list[0].Releases, ",") != "prod/api,prod/web" || list[0].Size != Size(len("password: CANARY\n")+len("kind: ConfigMap\n")) {
		t.Errorf("list: %+v %v", list, err)
	}

	// A changed file and a file others may read are reported.
	f := filepath.Join(dir, w.ID(), "releases", "prod", "api", "values.yaml")
	if err := os.WriteFile(f, []byte("password: other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	probs := Verify(dir, m)
	if len(probs) != 2 || !strings.Contains(probs[0].Problem, "checksum mismatch") || !strings.Contains(probs[1].Problem, "readable by others") {
		t.Errorf("verify after tampering: %+v", probs)
	}
	if _, err := readFile(dir, m, "releases/prod/api/values.yaml"); err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Errorf("reading a changed file: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "nope"); err == nil || !strings.Contains(err.Error(), "no backup nope") {
		t.Errorf("missing backup: %v", err)
	}
	if _, err := Load(dir, "../x"); err == nil || !strings.Contains(err.Error(), "not a backup ID") {
		t.Errorf("bad id: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, "half"); err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("incomplete backup: %v", err)
	}
	list, err := List(filepath.Join(dir, "absent"))
	if err != nil || len(list) != 0 {
		t.Errorf("list of a missing dir: %v %v", list, err)
	}
	list, err = List(dir)
	if err != nil || len(list) != 1 || list[0].Error == "" {
		t.Errorf("list with an incomplete backup: %+v %v", list, err)
	}
}

func TestCheckCluster(t *testing.T) {
	m := &Manifest{Cluster: Cluster{Context: "prod", Server: "https://a", UID: "u1"}}
	if err := CheckCluster(m, Cluster{Context: "renamed", Server: "https://b", UID: "u1"}); err != nil {
		t.Errorf("same uid refused: %v", err)
	}
	err := CheckCluster(m, Cluster{Context: "staging", Server: "https://s", UID: "u2"})
	if err == nil || !strings.Contains(err.Error(), "uid u1") || !strings.Contains(err.Error(), "uid u2") {
		t.Errorf("other cluster: %v", err)
	}
}

func TestPodRefs(t *testing.T) {
	spec := map[string]any{
		"volumes": []any{
			map[string]any{"name": "a", "secret": map[string]any{"secretName": "tls"}},
			map[string]any{"name": "b", "configMap": map[string]any{"name": "conf", "optional": true}},
			map[string]any{"name": "c", "persistentVolumeClaim": map[string]any{"claimName": "data"}},
			map[string]any{"name": "d", "projected": map[string]any{"sources": []any{
				map[string]any{"configMap": map[string]any{"name": "kube-root-ca.crt"}},
				map[string]any{"secret": map[string]any{"name": "proj"}},
			}}},
		},
		"imagePullSecrets": []any{map[string]any{"name": "pull"}},
		"containers": []any{map[string]any{
			"envFrom": []any{map[string]any{"secretRef": map[string]any{"name": "env-secret"}}},
			"env":     []any{map[string]any{"name": "DB_PASSWORD", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "db", "key": "p"}}}},
		}},
	}
	var got []string
	for _, r := range podRefs(spec) {
		got = append(got, r.kind+"/"+r.name)
	}
	want := "Secret/tls ConfigMap/conf PersistentVolumeClaim/data Secret/proj Secret/pull Secret/env-secret Secret/db"
	if strings.Join(got, " ") != want {
		t.Errorf("podRefs:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// A claim created by a restore loses its binding to the old volume and
// what the API server owns.
func TestCleanClaim(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": "data", "namespace": "prod", "uid": "u", "resourceVersion": "7",
			"ownerReferences": []any{map[string]any{"name": "db"}},
			"annotations":     map[string]any{"pv.kubernetes.io/bind-completed": "yes", "volume.kubernetes.io/selected-node": "n1", "team": "db"}},
		"spec":   map[string]any{"volumeName": "pv-1", "storageClassName": "standard"},
		"status": map[string]any{"phase": "Bound"},
	}}
	clean(obj)
	want := map[string]any{
		"apiVersion": "v1", "kind": "PersistentVolumeClaim",
		"metadata": map[string]any{"name": "data", "namespace": "prod", "annotations": map[string]any{"team": "db"}},
		"spec":     map[string]any{"storageClassName": "standard"},
	}
	if !reflect.DeepEqual(obj.Object, want) {
		t.Errorf("clean:\n got %v\nwant %v", obj.Object, want)
	}
}

// A second backup with the same ID (two runs in one second) gets a suffix.
func TestWriterIDTaken(t *testing.T) {
	dir := t.TempDir()
	at := time.Now()
	for i, want := range []string{"20260102T030405Z-p", "20260102T030405Z-p-2"} {
		w := NewWriter(localfs.Disk, dir, "20260102T030405Z-p", at, "p.star", Cluster{})
		if err := w.Add(part("r", "ns", map[string]string{"releases/ns/r/values.yaml": "a: 1\n"})); err != nil {
			t.Fatal(err)
		}
		if w.ID() != want || filepath.Base(w.Path()) != want {
			t.Errorf("backup %d: id %s, want %s", i, w.ID(), want)
		}
		if m, err := Load(dir, want); err != nil || m.ID != want {
			t.Errorf("backup %d: %v %v", i, m, err)
		}
	}
}
