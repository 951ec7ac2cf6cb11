package refcheck

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// Live reads the cluster for the checks of one pass, through the pass's
// (read-only) client: each kind is listed once per namespace and pass, and
// kinds whose bodies no check needs (Secrets, ConfigMaps, …) are listed as
// metadata only, so no Secret data is ever read.
type Live struct {
	Mapper  meta.RESTMapper
	Dynamic dynamic.Interface
	Meta    metadata.Interface
	// Get reads one namespace.
	GetNamespace func(ctx context.Context, name string) error

	mu    sync.Mutex
	lists map[listKey]listResult
	// Lists counts the list requests made (tests and the benchmark); read
	// it with Requests while checks may run.
	Lists int
}

// Requests returns how many list and namespace requests were sent.
func (l *Live) Requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Lists
}

type listKey struct {
	gk   schema.GroupKind
	ns   string
	full bool
}

type listResult struct {
	objs []*unstructured.Unstructured
	err  error
}

// NewLive returns a reader over the REST config and mapper of a pass's
// client.
func NewLive(cfg *rest.Config, mapper meta.RESTMapper, dyn dynamic.Interface, getNamespace func(ctx context.Context, name string) error) (*Live, error) {
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Live{Mapper: mapper, Dynamic: dyn, Meta: mc, GetNamespace: getNamespace, lists: map[listKey]listResult{}}, nil
}

// List lists kind gk in namespace, once per pass.
func (l *Live) List(ctx context.Context, gk schema.GroupKind, namespace string, full bool) ([]*unstructured.Unstructured, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.lists[listKey{gk, namespace, true}]; ok {
		return r.objs, r.err
	}
	if r, ok := l.lists[listKey{gk, namespace, full}]; ok {
		return r.objs, r.err
	}
	objs, err := l.list(ctx, gk, namespace, full)
	l.Lists++
	l.lists[listKey{gk, namespace, full}] = listResult{objs, err}
	return objs, err
}

func (l *Live) list(ctx context.Context, gk schema.GroupKind, namespace string, full bool) ([]*unstructured.Unstructured, error) {
	m, err := l.Mapper.RESTMapping(gk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	gvk := m.GroupVersionKind
	var out []*unstructured.Unstructured
	if full {
		var ri dynamic.ResourceInterface = l.Dynamic.Resource(m.Resource)
		if namespace != "" {
			ri = l.Dynamic.Resource(m.Resource).Namespace(namespace)
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			o := &list.Items[i]
			o.SetGroupVersionKind(gvk)
			out = append(out, o)
		}
		return out, nil
	}
	var ri metadata.ResourceInterface = l.Meta.Resource(m.Resource)
	if namespace != "" {
		ri = l.Meta.Resource(m.Resource).Namespace(namespace)
	}
	list, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		md, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&list.Items[i].ObjectMeta)
		if err != nil {
			return nil, err
		}
		o := &unstructured.Unstructured{Object: map[string]any{"metadata": md}}
		o.SetGroupVersionKind(gvk)
		out = append(out, o)
	}
	return out, nil
}

// Kind says which versions of gk the cluster serves, preferred first.
func (l *Live) Kind(ctx context.Context, gk schema.GroupKind) (KindInfo, error) {
	ms, err := l.Mapper.RESTMappings(gk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return KindInfo{}, nil
		}
		return KindInfo{}, err
	}
	var k KindInfo
	for _, m := range ms {
		k.Versions = append(k.Versions, m.GroupVersionKind.Version)
		k.Namespaced = m.Scope.Name() == meta.RESTScopeNameNamespace
	}
	if len(ms) > 0 {
		k.Preferred = ms[0].GroupVersionKind.Version
	}
	return k, nil
}

// Namespace reports whether a namespace exists.
func (l *Live) Namespace(ctx context.Context, name string) (bool, error) {
	l.mu.Lock()
	key := listKey{gkNamespace, name, false}
	r, ok := l.lists[key]
	l.mu.Unlock()
	if ok {
		return r.err == nil, ignoreNotFound(r.err)
	}
	err := l.GetNamespace(ctx, name)
	l.mu.Lock()
	l.Lists++
	l.lists[key] = listResult{err: err}
	l.mu.Unlock()
	return err == nil, ignoreNotFound(err)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
