package kube

import (
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Planned is the planned world of one pass: what the pass's earlier steps
// would have created so far. A dry run cannot create a namespace or a CRD,
// yet the plan's later steps use them: an object applied into a namespace
// the plan creates earlier is validated by the API server in an existing
// namespace instead, an object of a kind whose CRD the plan installs earlier
// is reported without server validation, and a chart rendered after such a
// CRD sees its API versions. The engine owns one Planned per pass and gives
// it to both the Kubernetes and the Helm adapter, so a ClusterIssuer applied
// after cert-manager's chart and a chart rendered after a kube_apply of a
// Namespace see the same world. In a writing pass it stays empty.
type Planned struct {
	mu         sync.Mutex
	namespaces map[string]bool
	kinds      map[schema.GroupKind]PlannedKind
	// objects are every object earlier steps would create or update, by
	// kind and namespace (the reference check's index, internal/refcheck).
	objects map[plannedKey]map[string]*unstructured.Unstructured
}

type plannedKey struct {
	gk schema.GroupKind
	ns string
}

// PlannedKind is a kind that a CustomResourceDefinition planned earlier in
// the pass defines.
type PlannedKind struct {
	Group      string
	Kind       string
	Versions   []string
	Namespaced bool
}

// NewPlanned returns an empty planned world.
func NewPlanned() *Planned {
	return &Planned{namespaces: map[string]bool{}, kinds: map[schema.GroupKind]PlannedKind{}, objects: map[plannedKey]map[string]*unstructured.Unstructured{}}
}

// Namespace records that namespace would have been created.
func (p *Planned) Namespace(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.namespaces[name] = true
}

// HasNamespace reports whether namespace would have been created.
func (p *Planned) HasNamespace(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.namespaces[name]
}

// Object records the effect of a planned object: it is indexed for the
// reference check, a Namespace plans the namespace, a
// CustomResourceDefinition plans its kind.
func (p *Planned) Object(obj *unstructured.Unstructured) {
	k := plannedKey{obj.GroupVersionKind().GroupKind(), obj.GetNamespace()}
	p.mu.Lock()
	if p.objects[k] == nil {
		p.objects[k] = map[string]*unstructured.Unstructured{}
	}
	p.objects[k][obj.GetName()] = obj
	p.mu.Unlock()
	switch obj.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Kind: "Namespace"}:
		p.Namespace(obj.GetName())
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		if k, ok := CRDKind(obj.Object); ok {
			p.Kind(k)
		}
	}
}

// Forget records that an earlier step would delete an object.
func (p *Planned) Forget(gk schema.GroupKind, namespace, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.objects[plannedKey{gk, namespace}], name)
}

// Objects lists the objects of kind gk in namespace ("" for cluster-scoped
// kinds) that earlier steps would create or update, sorted by name.
func (p *Planned) Objects(gk schema.GroupKind, namespace string) []*unstructured.Unstructured {
	p.mu.Lock()
	m := p.objects[plannedKey{gk, namespace}]
	out := make([]*unstructured.Unstructured, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// Kind records that a CRD planned earlier defines k.
func (p *Planned) Kind(k PlannedKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kinds[schema.GroupKind{Group: k.Group, Kind: k.Kind}] = k
}

// HasKind reports whether a CRD planned earlier defines gk.
func (p *Planned) HasKind(gk schema.GroupKind) bool {
	_, ok := p.KindOf(gk)
	return ok
}

// KindOf returns the kind a CRD planned earlier defines as gk.
func (p *Planned) KindOf(gk schema.GroupKind) (PlannedKind, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.kinds[gk]
	return k, ok
}

// Kinds lists the planned kinds, sorted by group and kind.
func (p *Planned) Kinds() []PlannedKind {
	p.mu.Lock()
	out := make([]PlannedKind, 0, len(p.kinds))
	for _, k := range p.kinds {
		out = append(out, k)
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// CRDKind reads the kind a CustomResourceDefinition object defines.
func CRDKind(body map[string]any) (PlannedKind, bool) {
	if body["kind"] != "CustomResourceDefinition" {
		return PlannedKind{}, false
	}
	spec, _ := body["spec"].(map[string]any)
	names, _ := spec["names"].(map[string]any)
	k := PlannedKind{}
	k.Group, _ = spec["group"].(string)
	k.Kind, _ = names["kind"].(string)
	scope, _ := spec["scope"].(string)
	k.Namespaced = scope != "Cluster"
	if vs, ok := spec["versions"].([]any); ok {
		for _, v := range vs {
			if vm, ok := v.(map[string]any); ok {
				if n, ok := vm["name"].(string); ok {
					k.Versions = append(k.Versions, n)
				}
			}
		}
	}
	if v, ok := spec["version"].(string); ok && len(k.Versions) == 0 {
		k.Versions = []string{v}
	}
	if k.Group == "" || k.Kind == "" {
		return PlannedKind{}, false
	}
	return k, true
}
