package helm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/plate-dev/plate/internal/exit"
)

// testChart names a chart of internal/helm/testdata/charts.
func testChart(name string) ChartSource {
	return ChartSource{Chart: name, Path: filepath.Join("testdata", "charts", name)}
}

// readerDocuments splits stream with the Kubernetes YAML reader itself,
// the separator that opens the stream taken off the first document.
func readerDocuments(t *testing.T, stream string) []string {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var out []string
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(doc, []byte("---")) {
			_, doc, _ = bytes.Cut(doc, []byte("\n"))
		}
		out = append(out, string(doc))
	}
}

// Manifests are split as Helm's kube client reads them: by the YAML
// reader, every document kept byte for byte (a block scalar that ends a
// document keeps its final newline).
func TestSplitDocuments(t *testing.T) {
	for name, stream := range map[string]string{
		"helm manifest": "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\ndata:\n  s: |\n    x\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: Secret\n",
		"no separator":  "apiVersion: v1\nkind: ConfigMap\ndata:\n  s: |\n    x\n",
		"leading only":  "--- # a comment\napiVersion: v1\nkind: ConfigMap\n",
		"no newline":    "apiVersion: v1\nkind: ConfigMap\n---\nkind: Secret",
		"blank docs":    "---\n---\n\n---\n# only a comment\n",
		"crlf":          "a: 1\r\n---\r\nb: 2\r\n",
		"dashes inside": "data:\n  s: |\n    ---- not a separator (indented)\n",
	} {
		t.Run(name, func(t *testing.T) {
			docs, err := splitDocuments([]byte(stream))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, string(d))
			}
			if d := cmp.Diff(readerDocuments(t, stream), got); d != "" {
				t.Errorf("documents differ from the YAML reader's (-reader +split):\n%s", d)
			}
		})
	}
	for _, bad := range []string{"---foo\na: 1\n", "a: 1\n--- b: 2\n"} {
		if _, err := splitDocuments([]byte(bad)); err == nil || !strings.Contains(err.Error(), "invalid Yaml document separator") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

// What the skim keeps decodes to what the whole document says about the
// object's identity and, for a CRD, the kind it defines.
func TestSkim(t *testing.T) {
	docs := map[string]string{
		"plain": `apiVersion: v1
kind: ConfigMap
metadata:
  name: web
  namespace: prod
  annotations:
    helm.sh/resource-policy: keep
data:
  config.yaml: |
    metadata:
      name: not-this
    kind: NotThis
`,
		"compact sequence value": `kind: List
items:
- kind: NotThis
- apiVersion: v9
apiVersion: v1
metadata: {name: list}
`,
		"quoted keys and comments": `"apiVersion": v1
# kind: NotThis
'kind': Service
spec:
  # metadata: no
  ports: [{port: 80}]
"metadata":
  "name": svc # a comment
`,
		"flow document": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}`,
		"crd": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.test.plate.dev
spec:
  group: test.plate.dev
  names: {kind: Gadget, plural: gadgets}
  scope: Cluster
  versions:
  - schema:
      openAPIV3Schema:
        description: |
          schema:
            versions: [nope]
        type: object
    name: v1beta1
    served: true
  - name: v1
    schema:
      openAPIV3Schema: {type: object}
    additionalPrinterColumns:
    - name: Age
      jsonPath: .metadata.creationTimestamp
    served: true
`,
		"old crd": `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: olds.test.plate.dev}
spec:
  group: test.plate.dev
  version: v1alpha1
  names:
    kind: Old
  validation:
    openAPIV3Schema:
      properties:
        spec: {type: object}
`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			whole, err := decodeYAML([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			head, ok := decodeSkimmed([]byte(doc), keepHead)
			if name == "flow document" {
				if ok {
					t.Errorf("a flow document was skimmed: %v", head)
				}
				return
			}
			if !ok {
				t.Fatal("not skimmed")
			}
			want := map[string]any{}
			for _, k := range []string{"apiVersion", "kind", "metadata"} {
				if v, ok := whole[k]; ok {
					want[k] = v
				}
			}
			if d := cmp.Diff(want, head); d != "" {
				t.Errorf("head (-whole +skimmed):\n%s", d)
			}
			wantKind, wantOK := crdKindOf(whole)
			for _, keep := range []func(int, string) bool{keepCRDKind, keepCRDHead} {
				m, ok := decodeSkimmed([]byte(doc), keep)
				if !ok {
					t.Fatal("not skimmed for the CRD's kind")
				}
				k, kok := crdKindOf(m)
				if kok != wantOK || !reflect.DeepEqual(k, wantKind) {
					t.Errorf("CRD kind %+v %v, want %+v %v", k, kok, wantKind, wantOK)
				}
			}
		})
	}
	// The schema is what is left out.
	part, _ := skim([]byte(docs["crd"]), keepCRDKind)
	if strings.Contains(string(part), "openAPIV3Schema") || strings.Contains(string(part), "creationTimestamp") || strings.Contains(string(part), "gadgets.test.plate.dev") {
		t.Errorf("skim kept more than the CRD's kind:\n%s", part)
	}
}

// A ConfigMap whose document ends with a block scalar keeps the scalar's
// final newline, as Helm installs it; a document that changes by that
// newline only is changed, the same document unchanged.
func TestBlockScalarNewline(t *testing.T) {
	c := offlineClient(t)
	res, err := c.Template(context.Background(), TemplateRequest{Release: "r", Chart: testChart("blockscalar")})
	if err != nil {
		t.Fatal(err)
	}
	data := res.Objects[0]["data"].(map[string]any)
	if got, want := data["start.sh"], "#!/bin/sh\necho hello\n"; got != want {
		t.Errorf("start.sh = %q, want %q", got, want)
	}
	render := func(chomp string) []*object {
		t.Helper()
		rel, err := c.renderClientOnly("r", "default", mustLoad(t, c, "blockscalar"), map[string]any{"chomp": chomp}, "v1.37.2", nil, false, false)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := parseManifest(rel.Manifest, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	keep, strip := render(""), render("-")
	if d := diffObjects(keep, render(""), nil); !d.Empty() {
		t.Errorf("the same render differs: %+v", d)
	}
	d := diffObjects(keep, strip, nil)
	if d.Count(Changed) != 1 {
		t.Fatalf("final newline dropped: %+v", d)
	}
	if text := d.Objects[0].Diff; !strings.Contains(text, "-  start.sh: |") || !strings.Contains(text, "+  start.sh: |-") {
		t.Errorf("diff:\n%s", text)
	}
}

func mustLoad(t *testing.T, c *Client, name string) *chart.Chart {
	t.Helper()
	ch, err := c.LoadChart(context.Background(), testChart(name))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// The CRDs of a subchart disabled by its condition are neither rendered,
// nor planned, nor among the capabilities; those of an enabled one are
// what helm template renders, and among the capabilities of an install
// only (Helm installs them before it renders; helm template does not).
func TestSubchartCRDs(t *testing.T) {
	ctx := context.Background()
	caps := func(objs []map[string]any) map[string]any {
		for _, o := range objs {
			if o["kind"] == "ConfigMap" {
				return o["data"].(map[string]any)
			}
		}
		t.Fatal("no ConfigMap")
		return nil
	}
	for _, enabled := range []bool{false, true} {
		vals := Values{Set: map[string]any{"gadgets.enabled": enabled}}
		c := offlineClient(t)
		res, err := c.Template(ctx, TemplateRequest{Release: "r", Chart: testChart("subcrds"), Values: vals})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range res.Refs {
			got = append(got, r.String())
		}
		want := []string{"ConfigMap/default/r-capabilities"}
		if enabled {
			want = []string{"CustomResourceDefinition/gadgets.gadgets.test.plate.dev", "ConfigMap/default/r-capabilities", "Gadget/r-gadget"}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("enabled=%v: template objects (-want +got):\n%s", enabled, d)
		}
		if d := caps(res.Objects); d["gadgets"] != "false" || d["gadgetKind"] != "false" {
			t.Errorf("enabled=%v: helm_template capabilities %v", enabled, d)
		}

		inst, err := c.Install(ctx, InstallRequest{Release: "r", Namespace: "default", Chart: testChart("subcrds"), Values: vals})
		if err != nil {
			t.Fatal(err)
		}
		n := len(c.opts.Planned.Kinds())
		if enabled && (n != 1 || c.opts.Planned.Kinds()[0].Kind != "Gadget") || !enabled && n != 0 {
			t.Errorf("enabled=%v: planned kinds %+v", enabled, c.opts.Planned.Kinds())
		}
		objs, err := parseManifest(inst.Release.Manifest, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		var cm map[string]any
		for _, o := range objs {
			if o.Kind == "ConfigMap" {
				body, _ := o.Body()
				cm = body["data"].(map[string]any)
			}
		}
		want2 := map[string]any{"gadgets": "false", "gadgetKind": "false"}
		if enabled {
			want2 = map[string]any{"gadgets": "true", "gadgetKind": "true"}
		}
		if d := cmp.Diff(want2, cm); d != "" {
			t.Errorf("enabled=%v: install capabilities (-want +got):\n%s", enabled, d)
		}
	}
}

// Preparing the chart before Helm does (for its CRDs) leaves the values
// Helm computes unchanged: imports from a subchart, parent values winning.
func TestImportValuesPreparedTwice(t *testing.T) {
	for _, install := range []bool{false, true} {
		c := offlineClient(t)
		var objs []map[string]any
		if install {
			res, err := c.Install(context.Background(), InstallRequest{Release: "r", Namespace: "default", Chart: testChart("imports")})
			if err != nil {
				t.Fatal(err)
			}
			docs, err := parseManifest(res.Release.Manifest, nil, "default")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := docs[0].Body()
			objs = append(objs, body)
		} else {
			res, err := c.Template(context.Background(), TemplateRequest{Release: "r", Chart: testChart("imports")})
			if err != nil {
				t.Fatal(err)
			}
			objs = res.Objects
		}
		// What helm template prints for this chart.
		want := `{"c":{"deep":{"a":"child-a","b":"child-b"},"exports":{"data":{"imported":"yes-1"}},"global":{}},"fromChild":{"a":"child-a","b":"parent-wins"},"imported":"yes-1"}`
		if got := objs[0]["data"].(map[string]any)["all"]; got != want {
			t.Errorf("install=%v: values\n%s\nwant\n%s", install, got, want)
		}
	}
}

// A library chart is refused as Helm refuses it, before any render.
func TestLibraryChart(t *testing.T) {
	c := offlineClient(t)
	_, err := c.Install(context.Background(), InstallRequest{Release: "r", Namespace: "default", Chart: testChart("library")})
	if err == nil || !strings.Contains(err.Error(), "chart library: library charts are not installable") || exit.Code(err) != exit.Usage {
		t.Errorf("install: %v (exit %d)", err, exit.Code(err))
	}
	_, err = c.Template(context.Background(), TemplateRequest{Chart: testChart("library")})
	if err == nil || !strings.Contains(err.Error(), "library charts are not installable") {
		t.Errorf("template: %v", err)
	}
}

// Integers beyond 2^53 keep their value from the chart's values.yaml, a
// values file and set= to the rendered objects; smaller numbers stay what
// Helm makes of them (float64).
func TestLargeIntegers(t *testing.T) {
	c := offlineClient(t)
	res, err := c.Template(context.Background(), TemplateRequest{
		Release: "r", Chart: testChart("bigint"),
		Values: Values{Files: []ValuesFile{vf("big.yaml")}, Set: map[string]any{"fromSet": int64(9007199254740997)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := res.Objects[0]["spec"].(map[string]any)
	want := map[string]any{
		"fromChart": int64(9007199254740993),
		"fromFile":  int64(9007199254740995),
		"fromSet":   int64(9007199254740997),
		"small":     float64(3),
		"literal":   int64(18014398509481985),
	}
	if d := cmp.Diff(want, spec); d != "" {
		t.Errorf("spec (-want +got):\n%s", d)
	}
	// A change beyond float64's precision is a change.
	live, _ := parseManifest("apiVersion: v1\nkind: Counter\nmetadata: {name: c}\nspec: {count: 9007199254740993}\n", nil, "")
	next, _ := parseManifest("apiVersion: v1\nkind: Counter\nmetadata: {name: c}\nspec: {count: 9007199254740992}\n", nil, "")
	if d := diffObjects(live, next, nil); d.Count(Changed) != 1 || !strings.Contains(d.Objects[0].Diff, "-  count: 9007199254740993") {
		t.Errorf("diff: %+v %q", d, d.Objects[0].Diff)
	}
}
