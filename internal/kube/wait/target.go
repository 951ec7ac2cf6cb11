package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"
)

// Target names what to wait for: one object (Name set) or every workload
// and bare pod matching a label selector (Selector set).
type Target struct {
	// GVK is the object's type when it is known exactly, as for the objects
	// of a release manifest. Version may be empty (the preferred version).
	GVK schema.GroupVersionKind
	// Kind is the type as a user wrote it, resolved through discovery when
	// GVK is empty: a kind ("Deployment"), a resource ("deployments",
	// "deployment"), a short name ("deploy", "pvc", "crd"), optionally
	// qualified by group ("certificates.cert-manager.io" as a resource,
	// "Certificate.cert-manager.io" as a kind), or "group/version/Kind".
	Kind string
	// Namespace of a namespaced object; empty means Options.Namespace.
	// Ignored for cluster-scoped kinds.
	Namespace string
	// Name of the object.
	Name string
	// Selector is a label selector ("app=api,tier!=cache"); the target is
	// then every Deployment, StatefulSet, DaemonSet and Job in Namespace
	// whose labels match, plus the workloads that own matching pods, plus
	// matching pods that no workload owns.
	Selector string
	// Release names the Helm release whose manifest the target came from
	// (a release value passed to wait_ready), if any.
	Release string
}

// String names the target as the user gave it.
func (t Target) String() string {
	if t.Selector != "" {
		if t.Namespace != "" {
			return fmt.Sprintf("selector %q in %s", t.Selector, t.Namespace)
		}
		return fmt.Sprintf("selector %q", t.Selector)
	}
	kind := t.Kind
	if kind == "" {
		kind = t.GVK.Kind
	}
	if t.Namespace != "" {
		return kind + "/" + t.Namespace + "/" + t.Name
	}
	return kind + "/" + t.Name
}

// ObjectTarget is the target of one object of a release's manifest, whose
// type is known exactly.
func ObjectTarget(apiVersion, kind, namespace, name, release string) (Target, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return Target{}, err
	}
	return Target{GVK: gv.WithKind(kind), Namespace: namespace, Name: name, Release: release}, nil
}

// ParseRef parses a "kind/name" reference such as "deployment/plate-api",
// "pvc/cache" or "crd/certificates.cert-manager.io". The kind part may
// itself contain slashes ("apps/v1/Deployment/api"): the name is what
// follows the last one.
func ParseRef(ref string) (Target, error) {
	i := strings.LastIndex(ref, "/")
	if i <= 0 || i == len(ref)-1 {
		return Target{}, fmt.Errorf("%q: want kind/name, e.g. deployment/api or pvc/cache", ref)
	}
	kind, name := ref[:i], ref[i+1:]
	if strings.ContainsAny(name, " \t\n") || strings.ContainsAny(kind, " \t\n") {
		return Target{}, fmt.Errorf("%q: want kind/name without spaces", ref)
	}
	return Target{Kind: kind, Name: name}, nil
}

// ParseSelector checks a label selector.
func ParseSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("selector %q selects everything; name the labels to match, e.g. app=api", s)
	}
	return sel, nil
}

// shortNames are the kubectl short names of built-in resources, so that
// references resolve even where discovery does not publish short names.
var shortNames = map[string]string{
	"cm":     "configmaps",
	"crd":    "customresourcedefinitions",
	"crds":   "customresourcedefinitions",
	"cj":     "cronjobs",
	"deploy": "deployments",
	"ds":     "daemonsets",
	"ep":     "endpoints",
	"hpa":    "horizontalpodautoscalers",
	"ing":    "ingresses",
	"netpol": "networkpolicies",
	"ns":     "namespaces",
	"pdb":    "poddisruptionbudgets",
	"po":     "pods",
	"pv":     "persistentvolumes",
	"pvc":    "persistentvolumeclaims",
	"rs":     "replicasets",
	"sa":     "serviceaccounts",
	"sc":     "storageclasses",
	"sts":    "statefulsets",
	"svc":    "services",
}

// ErrUnknownKind is wrapped by errors for kinds the cluster does not serve.
var ErrUnknownKind = errors.New("unknown kind")

// resolved is a target with its type and REST mapping known.
type resolved struct {
	Target
	gvk        schema.GroupVersionKind
	gvr        schema.GroupVersionResource
	namespaced bool
	sel        labels.Selector
	// statusSub: the kind is a custom resource whose CRD declares a
	// status subresource for this version (a controller writes status).
	statusSub bool
}

// resolve finds the REST mapping of t, refreshing discovery once when the
// kind is unknown (a CRD may just have been established).
func (w *Waiter) resolve(t Target, defNS string) (resolved, error) {
	r := resolved{Target: t}
	if t.Selector != "" {
		sel, err := ParseSelector(t.Selector)
		if err != nil {
			return r, err
		}
		r.sel = sel
		if r.Namespace == "" {
			r.Namespace = defNS
		}
		r.namespaced = true
		return r, nil
	}
	if t.Name == "" {
		return r, fmt.Errorf("%s: no name", t)
	}
	m, err := w.mapping(t)
	if err != nil && (meta.IsNoMatchError(err) || errors.Is(err, ErrUnknownKind)) && w.c.Mapper != nil {
		w.c.Mapper.Reset()
		m, err = w.mapping(t)
	}
	if err != nil {
		return r, err
	}
	r.gvk, r.gvr = m.GroupVersionKind, m.Resource
	r.namespaced = m.Scope.Name() == meta.RESTScopeNameNamespace
	r.statusSub = w.statusSubresource(r.gvr)
	if !r.namespaced {
		r.Namespace = ""
	} else if r.Namespace == "" {
		r.Namespace = defNS
	}
	return r, nil
}

func (w *Waiter) mapping(t Target) (*meta.RESTMapping, error) {
	if w.c.Mapper == nil {
		return nil, errors.New("no REST mapper")
	}
	if t.GVK.Kind != "" {
		var versions []string
		if t.GVK.Version != "" {
			versions = []string{t.GVK.Version}
		}
		m, err := w.c.Mapper.RESTMapping(t.GVK.GroupKind(), versions...)
		if err != nil {
			if meta.IsNoMatchError(err) {
				return nil, fmt.Errorf("%w %s: the cluster does not serve it (is its CRD installed?)", ErrUnknownKind, gvkString(t.GVK))
			}
			return nil, err
		}
		return m, nil
	}
	gvk, err := w.kindFor(t.Kind)
	if err != nil {
		return nil, err
	}
	return w.c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

// kindFor resolves a kind as a user wrote it.
func (w *Waiter) kindFor(kind string) (schema.GroupVersionKind, error) {
	if strings.Contains(kind, "/") {
		i := strings.LastIndex(kind, "/")
		gv, err := schema.ParseGroupVersion(kind[:i])
		if err != nil {
			return schema.GroupVersionKind{}, fmt.Errorf("kind %q: %w", kind, err)
		}
		return gv.WithKind(kind[i+1:]), nil
	}
	var mapper meta.RESTMapper = w.c.Mapper
	if w.c.Discovery != nil {
		mapper = restmapper.NewShortcutExpander(w.c.Mapper, w.c.Discovery, func(string) {})
	}
	lower := strings.ToLower(kind)
	res, group, _ := strings.Cut(lower, ".")
	if full, ok := shortNames[res]; ok {
		lower = full
		if group != "" {
			lower += "." + group
		}
	}
	gvr, gr := schema.ParseResourceArg(lower)
	if gvr != nil {
		if gvk, err := mapper.KindFor(*gvr); err == nil {
			return gvk, nil
		}
	}
	if gvk, err := mapper.KindFor(gr.WithVersion("")); err == nil {
		return gvk, nil
	}
	// A kind written with its case ("Certificate.cert-manager.io").
	gvkp, gk := schema.ParseKindArg(kind)
	if gvkp != nil {
		if m, err := w.c.Mapper.RESTMapping(gvkp.GroupKind(), gvkp.Version); err == nil {
			return m.GroupVersionKind, nil
		}
	}
	if m, err := w.c.Mapper.RESTMapping(gk); err == nil {
		return m.GroupVersionKind, nil
	}
	return schema.GroupVersionKind{}, fmt.Errorf("%w %q: the cluster serves no such kind or resource (is its CRD installed?)", ErrUnknownKind, kind)
}

func gvkString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Version + "/" + gvk.Kind
	}
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
}

var gvrCRDs = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// statusSubresource reads the CRD of gvr (none for built-in kinds) and
// reports whether its version declares a status subresource.
func (w *Waiter) statusSubresource(gvr schema.GroupVersionResource) bool {
	if !strings.Contains(gvr.Group, ".") || strings.HasSuffix(gvr.Group, ".k8s.io") || w.c.Dynamic == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	crd, err := w.c.Dynamic.Resource(gvrCRDs).Get(ctx, gvr.Resource+"."+gvr.Group, metav1.GetOptions{})
	if err != nil {
		return false
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, ok := v.(map[string]any)
		if !ok || m["name"] != gvr.Version {
			continue
		}
		_, found, _ := unstructured.NestedMap(m, "subresources", "status")
		return found
	}
	return false
}
