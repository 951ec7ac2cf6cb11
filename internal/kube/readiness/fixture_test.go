package readiness

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// baseNow is the "current time" the fixtures were written against.
var baseNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// fixture is one testdata file: the first YAML document is the object under
// evaluation, the following documents are related objects (Pods, Events,
// ReplicaSets, StorageClasses).
type fixture struct {
	obj *unstructured.Unstructured
	rel Related
}

var (
	fixtureMu    sync.Mutex
	fixtureCache = map[string]fixture{}
)

// loadFixture parses testdata/name once and returns a deep copy, so tests
// may modify what they get.
func loadFixture(tb testing.TB, name string) fixture {
	tb.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	f, ok := fixtureCache[name]
	if !ok {
		var err error
		if f, err = parseFixture(filepath.Join("testdata", name)); err != nil {
			tb.Fatalf("fixture %s: %v", name, err)
		}
		fixtureCache[name] = f
	}
	return f.deepCopy()
}

func parseFixture(path string) (fixture, error) {
	var f fixture
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return f, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return f, err
		}
		if s := string(bytes.TrimSpace(js)); s == "null" || s == "" {
			continue // a document holding only comments
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return f, err
		}
		if f.obj == nil {
			f.obj = u
			continue
		}
		if err := f.addRelated(u); err != nil {
			return f, err
		}
	}
	if f.obj == nil {
		return f, errors.New("no object")
	}
	return f, nil
}

func (f *fixture) addRelated(u *unstructured.Unstructured) error {
	conv := runtime.DefaultUnstructuredConverter
	switch u.GetKind() {
	case "Pod":
		p := &corev1.Pod{}
		if err := conv.FromUnstructured(u.Object, p); err != nil {
			return err
		}
		f.rel.Pods = append(f.rel.Pods, p)
	case "Event":
		ev := &corev1.Event{}
		if err := conv.FromUnstructured(u.Object, ev); err != nil {
			return err
		}
		f.rel.Events = append(f.rel.Events, ev)
	case "ReplicaSet":
		rs := &appsv1.ReplicaSet{}
		if err := conv.FromUnstructured(u.Object, rs); err != nil {
			return err
		}
		f.rel.ReplicaSets = append(f.rel.ReplicaSets, rs)
	case "StorageClass":
		sc := &storagev1.StorageClass{}
		if err := conv.FromUnstructured(u.Object, sc); err != nil {
			return err
		}
		if f.rel.StorageClasses == nil {
			f.rel.StorageClasses = map[string]*storagev1.StorageClass{}
		}
		f.rel.StorageClasses[sc.Name] = sc
	case "EndpointSlice":
		sl := &discoveryv1.EndpointSlice{}
		if err := conv.FromUnstructured(u.Object, sl); err != nil {
			return err
		}
		if f.rel.EndpointSlices == nil {
			f.rel.EndpointSlices = map[string][]*discoveryv1.EndpointSlice{}
		}
		k := sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
		f.rel.EndpointSlices[k] = append(f.rel.EndpointSlices[k], sl)
	default:
		return errors.New("unexpected related kind " + u.GetKind())
	}
	return nil
}

func (f fixture) deepCopy() fixture {
	out := fixture{obj: f.obj.DeepCopy()}
	for _, p := range f.rel.Pods {
		out.rel.Pods = append(out.rel.Pods, p.DeepCopy())
	}
	for _, ev := range f.rel.Events {
		out.rel.Events = append(out.rel.Events, ev.DeepCopy())
	}
	for _, rs := range f.rel.ReplicaSets {
		out.rel.ReplicaSets = append(out.rel.ReplicaSets, rs.DeepCopy())
	}
	if f.rel.StorageClasses != nil {
		out.rel.StorageClasses = map[string]*storagev1.StorageClass{}
		for k, sc := range f.rel.StorageClasses {
			out.rel.StorageClasses[k] = sc.DeepCopy()
		}
	}
	if f.rel.EndpointSlices != nil {
		out.rel.EndpointSlices = map[string][]*discoveryv1.EndpointSlice{}
		for k, sls := range f.rel.EndpointSlices {
			for _, sl := range sls {
				out.rel.EndpointSlices[k] = append(out.rel.EndpointSlices[k], sl.DeepCopy())
			}
		}
	}
	return out
}

// fixtureFiles lists every testdata file.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}
