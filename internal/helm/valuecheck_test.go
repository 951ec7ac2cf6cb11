package helm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart/loader"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// A values key the chart does not have is named with its source and the
// nearest key the chart has; keys the chart leaves free (podAnnotations:
// {}), subchart values and global are not.
func TestUnknownValues(t *testing.T) {
	ch, err := loader.Load(filepath.Join(chartsDir(t), "web"))
	if err != nil {
		t.Fatal(err)
	}
	srcs := []valuesSource{
		{Name: "values file values/prod.yaml", Values: map[string]any{
			"replicaCont":    3,
			"image":          map[string]any{"tga": "1.2", "tag": "1.2"},
			"podAnnotations": map[string]any{"anything": "goes"},
			"global":         map[string]any{"x": 1},
			"message":        "hi",
		}},
		{Name: "set=", Values: map[string]any{"servce": map[string]any{"port": 81}, "zzzunrelated": true}},
	}
	var got []string
	for _, u := range unknownValues(ch, srcs) {
		got = append(got, u.String())
	}
	want := []string{
		"values file values/prod.yaml: image.tga: not a value of the chart; did you mean image.tag?",
		"values file values/prod.yaml: replicaCont: not a value of the chart; did you mean replicaCount?",
		"set=: servce: not a value of the chart; did you mean service?",
		"set=: zzzunrelated: not a value of the chart",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A key the schema lists is known although values.yaml lacks it; with
// additionalProperties true every key is.
func TestUnknownValuesSchema(t *testing.T) {
	ch, err := loader.Load(filepath.Join(chartsDir(t), "schema"))
	if err != nil {
		t.Fatal(err)
	}
	ch.Schema = []byte(`{"type": "object", "properties": {"extra": {"type": "string"}, "image": {"type": "object", "properties": {"tag": {}, "digest": {}}}}}`)
	src := []valuesSource{{Name: "set=", Values: map[string]any{"extra": "x", "image": map[string]any{"digest": "sha", "tagg": "1"}}}}
	got := unknownValues(ch, src)
	want := []UnknownValue{{Key: "image.tagg", Source: "set=", Suggestion: "image.tag"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	ch.Schema = []byte(`{"type": "object", "additionalProperties": true}`)
	if got := unknownValues(ch, src); len(got) != 0 {
		t.Errorf("additionalProperties true: %v", got)
	}
}

// Install warns of an unknown key; with Strict it refuses it as a usage
// error that names the key, the source and the suggestion, and carries
// them as data.
func TestInstallUnknownValues(t *testing.T) {
	c := offlineClient(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "prod.yaml")
	if err := os.WriteFile(file, []byte("replicaCont: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := InstallRequest{Release: "shop", Namespace: "prod",
		Chart:  ChartSource{Chart: "web", Path: filepath.Join(chartsDir(t), "web")},
		Values: Values{Files: []ValuesFile{{Path: file, Name: "values/prod.yaml"}}}}
	res, err := c.Install(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"values file values/prod.yaml: replicaCont: not a value of the chart; did you mean replicaCount?"}
	if d := cmp.Diff(want, res.Warnings); d != "" {
		t.Errorf("warnings (-want +got):\n%s", d)
	}
	req.Strict = true
	_, err = c.Install(context.Background(), req)
	if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "chart web: "+want[0]) {
		t.Fatalf("strict: %v (exit %d)", err, exit.Code(err))
	}
	var ue *UnknownValuesError
	if !errors.As(err, &ue) || len(ue.Unknown) != 1 || ue.Unknown[0].Suggestion != "replicaCount" {
		t.Errorf("strict error carries %+v", ue)
	}
}

// A schema violation names the path, what the schema wants, what it got
// and the source of the bad value: the last source that holds it.
func TestSchemaViolationSource(t *testing.T) {
	c := offlineClient(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	if err := os.WriteFile(a, []byte("replicaCount: 0\nimage: {tag: ok}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("replicaCount: \"three\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := c.Install(context.Background(), InstallRequest{Release: "r", Namespace: "default",
		Chart: ChartSource{Chart: "schema", Path: filepath.Join(chartsDir(t), "schema")},
		Values: Values{Files: []ValuesFile{{Path: a, Name: "values/a.yaml"}, {Path: b, Name: "values/b.yaml"}},
			Set: map[string]any{"image.tag": ""}}})
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("not a schema error: %v", err)
	}
	want := []SchemaViolation{
		{Path: "image.tag", Reason: "minLength: got 0, want 1", Source: "set="},
		{Path: "replicaCount", Reason: "got string, want integer", Source: "values file values/b.yaml"},
	}
	if d := cmp.Diff(want, se.Violations); d != "" {
		t.Errorf("violations (-want +got):\n%s", d)
	}
	if got := firstLine(err.Error()); !strings.HasSuffix(got, "values do not match values.schema.json: image.tag: minLength: got 0, want 1 (from set=); replicaCount: got string, want integer (from values file values/b.yaml)") {
		t.Errorf("message %q", got)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestPointerPath(t *testing.T) {
	for in, want := range map[string]string{"": "", "/replicaCount": "replicaCount", "/image/tag": "image.tag", "/hosts/0/name": "hosts[0].name", "/a~1b/c.d": `a/b.c\.d`} {
		if got := pointerPath(in); got != want {
			t.Errorf("pointerPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The values that change between two revisions, masked: a key that looks
// secret shows no value, and a secret string inside another value is
// replaced.
func TestValuesDiff(t *testing.T) {
	old := map[string]any{"replicaCount": 1, "image": map[string]any{"tag": "1.0", "pullPolicy": "Always"}, "password": "hunter2", "gone": true, "note": "token hunter2"}
	next := map[string]any{"replicaCount": 2, "image": map[string]any{"tag": "1.0"}, "password": "s3cr3t!", "added": map[string]any{"apiKey": "k", "b": 1}, "note": "token s3cr3t!"}
	got := valuesDiff(old, next, []string{"hunter2", "s3cr3t!"})
	want := []trace.ValueDiff{
		{Key: "added", Change: "added", To: map[string]any{"apiKey": trace.Redacted, "b": float64(1)}},
		{Key: "gone", Change: "removed", From: true},
		{Key: "image.pullPolicy", Change: "removed", From: "Always"},
		{Key: "note", Change: "changed", From: "token <redacted>", To: "token <redacted>"},
		{Key: "password", Change: "changed", From: trace.Redacted, To: "<redacted, changed>"},
		{Key: "replicaCount", Change: "changed", From: float64(1), To: float64(2)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := valuesDiff(map[string]any{"a": 1}, map[string]any{"a": int64(1)}, nil); len(got) != 0 {
		t.Errorf("equal values differ: %v", got)
	}
}

// Fields that are not changes (status, the server's bookkeeping, Helm's
// annotations) do not make an object changed nor show in its diff.
func TestDiffIgnoresNoise(t *testing.T) {
	scope := func(_, kind string) bool { return !clusterScoped[kind] }
	live, err := parseManifest(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  uid: 1234
  resourceVersion: "77"
  generation: 3
  creationTimestamp: "2026-01-01T00:00:00Z"
  managedFields: [{manager: helm}]
  annotations: {meta.helm.sh/release-name: shop, team: a}
spec: {replicas: 1}
status: {readyReplicas: 1}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: same, resourceVersion: "5"}
data: {a: "1"}
`, scope, "prod")
	if err != nil {
		t.Fatal(err)
	}
	next, err := parseManifest(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {team: a}
spec: {replicas: 2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: same}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: fresh}
data: {b: "2"}
`, scope, "prod")
	if err != nil {
		t.Fatal(err)
	}
	d := diffObjects(live, next, nil)
	want := `--- live Deployment/prod/web
+++ new  Deployment/prod/web
@@ -5,4 +5,4 @@
     team: a
   name: web
 spec:
-  replicas: 1
+  replicas: 2
`
	if diff := cmp.Diff(want, d.Objects[0].Diff); diff != "" {
		t.Errorf("deployment diff (-want +got):\n%s", diff)
	}
	if d.Objects[1].Change != Unchanged {
		t.Errorf("a ConfigMap differing only in resourceVersion is %s", d.Objects[1].Change)
	}
	wantNew := `--- live (none)
+++ new  ConfigMap/prod/fresh
@@ -0,0 +1,6 @@
+apiVersion: v1
+data:
+  b: "2"
+kind: ConfigMap
+metadata:
+  name: fresh
`
	if diff := cmp.Diff(wantNew, d.Objects[2].Diff); diff != "" {
		t.Errorf("created object's diff (-want +got):\n%s", diff)
	}
	td := d.Trace()
	if td.Unchanged != 1 || len(td.Objects) != 2 || td.Objects[0].Object != "Deployment/prod/web" || td.Objects[1].Change != trace.DiffCreated {
		t.Errorf("trace diff %+v", td)
	}
}

// A kube_apply object's diff leaves out the server's bookkeeping and
// masks what the trace's arguments mask, showing which secret-looking
// keys change.
func TestObjectDiff(t *testing.T) {
	live := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "prod", "resourceVersion": "9", "uid": "u",
			"managedFields": []any{map[string]any{"manager": "plate"}}},
		"data": map[string]any{"mode": "blue", "password": "hunter2", "apiToken": "same"}}
	next := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "prod", "resourceVersion": "10", "uid": "u",
			"managedFields": []any{map[string]any{"manager": "plate", "time": "now"}}},
		"data": map[string]any{"mode": "green", "password": "s3cr3t!", "apiToken": "same"}}
	got := ObjectDiff("ConfigMap/prod/settings", live, next)
	want := `--- live ConfigMap/prod/settings
+++ new  ConfigMap/prod/settings
@@ -1,8 +1,8 @@
 apiVersion: v1
 data:
   apiToken: <redacted>
-  mode: blue
-  password: <redacted>
+  mode: green
+  password: <redacted, changed>
 kind: ConfigMap
 metadata:
   name: settings
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	created := ObjectDiff("ConfigMap/prod/settings", nil, next)
	if !strings.HasPrefix(created, "--- live (none)\n") || !strings.Contains(created, "+  password: <redacted>\n") || strings.Contains(created, "s3cr3t") || strings.Contains(created, "resourceVersion") {
		t.Errorf("created:\n%s", created)
	}
}
