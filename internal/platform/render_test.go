package platform

// Test helpers that load, lint and render charts.
//
// Tests use the Helm SDK (pkg/chart/loader, pkg/chartutil, pkg/engine,
// pkg/lint) directly: they check the charts as data, offline. Product code
// never does that; it goes through internal/helm, the only user of
// pkg/action.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the Kubernetes version charts are rendered for: the local
// control plane's (internal/localcluster.KubernetesVersion).
const kubeVersion = "v1.37.2"

// repoRoot is the repository root.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	envsOnce sync.Once
	envs     []*Environment
	envsErr  error
)

// loadEnvs loads environments/*.yaml once per test binary.
func loadEnvs(t testing.TB) []*Environment {
	t.Helper()
	envsOnce.Do(func() {
		envs, envsErr = LoadAll(filepath.Join(repoRoot(t), "environments"))
	})
	if envsErr != nil {
		t.Fatal(envsErr)
	}
	return envs
}

// readValues reads and merges values files (a later file wins; maps merge,
// everything else is replaced), the way helm -f and plate's values= do.
func readValues(t testing.TB, files ...string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = mergeValues(out, m)
	}
	return out
}

func mergeValues(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// lintChart runs helm lint in strict mode (a warning fails, as with
// --strict) with the given user values (merged over values.yaml by lint).
func lintChart(t testing.TB, dir, namespace string, vals map[string]any) []support.Message {
	t.Helper()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	l := lint.AllWithKubeVersion(dir, vals, namespace, kv)
	var bad []support.Message
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			bad = append(bad, m)
		}
	}
	return bad
}

// renderedChart is a chart rendered for one release.
type renderedChart struct {
	Chart   *chart.Chart
	Values  chartutil.Values
	Notes   string
	Objects []*unstructured.Unstructured
	// Typed holds the typed decoding of each object of a built-in kind
	// (client-go's scheme) or a CRD (apiextensions v1), by index in Objects.
	Typed map[int]runtime.Object
}

// strictDecoder decodes built-in kinds and CRDs and fails on unknown or
// duplicate fields.
var strictDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// renderChart renders the chart in dir as release name in namespace with
// user values vals (merged over values.yaml, checked against the schema),
// like helm install would for kubeVersion, and decodes every object.
func renderChart(t testing.TB, dir, name, namespace string, vals map[string]any) (*renderedChart, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, err
	}
	opts := chartutil.ReleaseOptions{Name: name, Namespace: namespace, Revision: 1, IsInstall: true}
	// ToRenderValues coalesces vals over values.yaml and validates the
	// result against values.schema.json.
	rv, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	out := &renderedChart{Chart: ch, Values: rv, Typed: map[int]runtime.Object{}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		base := path.Base(n)
		switch {
		case base == "NOTES.txt":
			out.Notes = files[n]
			continue
		case strings.HasPrefix(base, "_") || !strings.HasSuffix(base, ".yaml"):
			continue
		}
		for i, doc := range releaseutil.SplitManifests(files[n]) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("%s (document %s): %v\n%s", n, i, err, doc)
			}
			if m == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				return nil, fmt.Errorf("%s: an object without apiVersion, kind or name:\n%s", n, doc)
			}
			idx := len(out.Objects)
			out.Objects = append(out.Objects, u)
			gvk := u.GroupVersionKind()
			if gvk.Group == "apiextensions.k8s.io" || scheme.Scheme.Recognizes(gvk) {
				obj, _, err := strictDecoder.Decode([]byte(doc), nil, nil)
				if err != nil {
					return nil, fmt.Errorf("%s: %s %s is not a valid %s: %v", n, gvk.Kind, u.GetName(), gvk, err)
				}
				out.Typed[idx] = obj
			}
		}
	}
	return out, nil
}

// find returns the rendered objects of kind (and name, when not empty).
func (r *renderedChart) find(kind, name string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			out = append(out, o)
		}
	}
	return out
}

// typed returns the typed objects of type T.
func typedOf[T runtime.Object](r *renderedChart) []T {
	var out []T
	for i := range r.Objects {
		if o, ok := r.Typed[i].(T); ok {
			out = append(out, o)
		}
	}
	return out
}
