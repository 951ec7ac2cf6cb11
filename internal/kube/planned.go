package kube

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Planned is what a dry pass would have created so far. A dry run cannot
// create a namespace or a CRD, yet the plan's later steps use them: an
// object applied into a namespace the plan creates earlier is validated by
// the API server in an existing namespace instead, and an object of a kind
// whose CRD the plan installs earlier is reported without server validation.
// In a writing pass Planned stays empty.
type Planned struct {
	mu         sync.Mutex
	namespaces map[string]bool
	kinds      map[schema.GroupKind]bool
}

// NewPlanned returns an empty record.
func NewPlanned() *Planned {
	return &Planned{namespaces: map[string]bool{}, kinds: map[schema.GroupKind]bool{}}
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

// Object records the effect of a planned object: a Namespace plans the
// namespace, a CustomResourceDefinition plans its kind.
func (p *Planned) Object(obj *unstructured.Unstructured) {
	switch obj.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Kind: "Namespace"}:
		p.Namespace(obj.GetName())
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "kind")
		if kind != "" {
			p.mu.Lock()
			p.kinds[schema.GroupKind{Group: group, Kind: kind}] = true
			p.mu.Unlock()
		}
	}
}

// Kind records that a CRD planned earlier defines gk.
func (p *Planned) Kind(gk schema.GroupKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kinds[gk] = true
}

// HasKind reports whether a CRD planned earlier defines gk.
func (p *Planned) HasKind(gk schema.GroupKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kinds[gk]
}
