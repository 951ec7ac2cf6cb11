package wait

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/plate-dev/plate/internal/kube"
)

// The resources a selector target lists: the workloads it may match.
var (
	gvrDeployments  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrStatefulSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	gvrDaemonSets   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	gvrJobs         = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}

	selectorGVRs = []schema.GroupVersionResource{gvrDeployments, gvrStatefulSets, gvrDaemonSets, gvrJobs}
)

// podOwnerKinds are the kinds whose pods Evaluate inspects (see
// readiness.OwnsPods): targets of these kinds need the pods of their
// namespace watched.
var podOwnerKinds = map[schema.GroupKind]bool{
	{Group: "apps", Kind: "Deployment"}:  true,
	{Group: "apps", Kind: "StatefulSet"}: true,
	{Group: "apps", Kind: "DaemonSet"}:   true,
	{Group: "apps", Kind: "ReplicaSet"}:  true,
	{Kind: "ReplicationController"}:      true,
	{Group: "batch", Kind: "Job"}:        true,
}

var (
	gkDeployment = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	gkPVC        = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	gkCRD        = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	gkService    = schema.GroupKind{Kind: "Service"}

	webhookKinds = map[schema.GroupKind]bool{
		{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: true,
		{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   true,
	}
)

// objKey identifies one informer of target objects: a resource in a
// namespace, restricted to one name or ("" ) all of them.
type objKey struct {
	gvr  schema.GroupVersionResource
	ns   string
	name string
}

// sources are the informers of one wait: the target objects by resource
// and namespace, and the related objects Evaluate needs (pods, ReplicaSets
// and events per namespace, storage classes cluster-wide).
type sources struct {
	objs    map[objKey]cache.SharedIndexInformer
	pods    map[string]cache.SharedIndexInformer
	rss     map[string]cache.SharedIndexInformer
	events  map[string]cache.SharedIndexInformer
	classes cache.SharedIndexInformer
	// slices are every EndpointSlice of the cluster, for admission webhook
	// configurations (the Services they call may be anywhere).
	slices cache.SharedIndexInformer

	all []cache.SharedIndexInformer
	// synced are closed once each handler has seen its initial list.
	synced []cache.DoneChecker

	mu      sync.Mutex
	lastErr error
	// unreachableSince is when list and watch requests began to fail
	// without an answer from the API server (zero: they do not); see
	// Options.LostAfter.
	unreachableSince time.Time
	fatal            chan error
}

// plan decides which informers the targets need.
func (w *Waiter) plan(targets []resolved) *sources {
	s := &sources{
		objs:   map[objKey]cache.SharedIndexInformer{},
		pods:   map[string]cache.SharedIndexInformer{},
		rss:    map[string]cache.SharedIndexInformer{},
		events: map[string]cache.SharedIndexInformer{},
		fatal:  make(chan error, 1),
	}
	type nsRes struct {
		gvr schema.GroupVersionResource
		ns  string
	}
	names := map[nsRes]map[string]bool{}
	all := map[nsRes]bool{}
	needPods, needRS, needEvents := map[string]bool{}, map[string]bool{}, map[string]bool{}
	needClasses, needSlices := false, false
	for _, t := range targets {
		if t.sel != nil {
			for _, gvr := range selectorGVRs {
				all[nsRes{gvr, t.Namespace}] = true
			}
			needPods[t.Namespace], needRS[t.Namespace], needEvents[t.Namespace] = true, true, true
			continue
		}
		k := nsRes{t.gvr, t.Namespace}
		if names[k] == nil {
			names[k] = map[string]bool{}
		}
		names[k][t.Name] = true
		gk := t.gvk.GroupKind()
		if t.namespaced {
			needEvents[t.Namespace] = true
		}
		if podOwnerKinds[gk] {
			needPods[t.Namespace] = true
		}
		if gk == gkDeployment {
			needRS[t.Namespace] = true
		}
		if gk == gkPVC {
			needClasses = true
		}
		if webhookKinds[gk] {
			needSlices = true
		}
	}
	for k := range all {
		s.objs[objKey{gvr: k.gvr, ns: k.ns}] = nil
	}
	for k, set := range names {
		if all[k] || len(set) > 1 {
			s.objs[objKey{gvr: k.gvr, ns: k.ns}] = nil
			continue
		}
		for name := range set {
			s.objs[objKey{gvr: k.gvr, ns: k.ns, name: name}] = nil
		}
	}
	for k := range s.objs {
		s.objs[k] = w.objectInformer(k)
	}
	for ns := range needPods {
		s.pods[ns] = w.typedInformer(&corev1.Pod{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return w.c.Typed.CoreV1().Pods(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return w.c.Typed.CoreV1().Pods(ns).Watch(ctx, o)
			})
	}
	for ns := range needRS {
		s.rss[ns] = w.typedInformer(&appsv1.ReplicaSet{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return w.c.Typed.AppsV1().ReplicaSets(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return w.c.Typed.AppsV1().ReplicaSets(ns).Watch(ctx, o)
			})
	}
	for ns := range needEvents {
		s.events[ns] = w.typedInformer(&corev1.Event{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return w.c.Typed.CoreV1().Events(ns).List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return w.c.Typed.CoreV1().Events(ns).Watch(ctx, o)
			})
	}
	if needClasses {
		s.classes = w.typedInformer(&storagev1.StorageClass{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return w.c.Typed.StorageV1().StorageClasses().List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return w.c.Typed.StorageV1().StorageClasses().Watch(ctx, o)
			})
	}
	if needSlices {
		s.slices = w.typedInformer(&discoveryv1.EndpointSlice{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return w.c.Typed.DiscoveryV1().EndpointSlices("").List(ctx, o)
			},
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return w.c.Typed.DiscoveryV1().EndpointSlices("").Watch(ctx, o)
			})
	}
	for _, inf := range s.objs {
		s.all = append(s.all, inf)
	}
	for _, m := range []map[string]cache.SharedIndexInformer{s.pods, s.rss, s.events} {
		for _, inf := range m {
			s.all = append(s.all, inf)
		}
	}
	if s.classes != nil {
		s.all = append(s.all, s.classes)
	}
	if s.slices != nil {
		s.all = append(s.all, s.slices)
	}
	return s
}

func (w *Waiter) objectInformer(k objKey) cache.SharedIndexInformer {
	tweak := func(o *metav1.ListOptions) {}
	if k.name != "" {
		sel := fields.OneTermEqualSelector("metadata.name", k.name).String()
		tweak = func(o *metav1.ListOptions) { o.FieldSelector = sel }
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(w.c.Dynamic, k.gvr, k.ns, 0, cache.Indexers{}, tweak).Informer()
	_ = inf.SetTransform(stripManagedFields)
	return inf
}

func (w *Waiter) typedInformer(example runtime.Object, list cache.ListWithContextFunc, wat cache.WatchFuncWithContext) cache.SharedIndexInformer {
	lw := &cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: wat}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, w.c.Typed), example, cache.SharedIndexInformerOptions{})
	_ = inf.SetTransform(stripManagedFields)
	return inf
}

// stripManagedFields drops metadata.managedFields, which no rule reads and
// which is often the largest part of an object.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// start runs every informer until ctx ends; notify is called on every
// change. It returns once the handlers are registered; see synced.
func (s *sources) start(ctx context.Context, notify func()) error {
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range s.all {
		if err := inf.SetWatchErrorHandler(s.watchError); err != nil {
			return err
		}
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		s.synced = append(s.synced, reg.HasSyncedChecker())
	}
	for _, inf := range s.all {
		go inf.RunWithContext(ctx)
	}
	return nil
}

// watchError records list and watch errors instead of logging them, and
// reports the ones that will not heal (no permission, resource gone).
func (s *sources) watchError(r *cache.Reflector, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
		return
	}
	s.mu.Lock()
	s.lastErr = err
	if kube.IsUnreachable(err) && s.unreachableSince.IsZero() {
		s.unreachableSince = time.Now()
	}
	s.mu.Unlock()
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		select {
		case s.fatal <- err:
		default:
		}
	}
}

// unreachable returns since when the API server has not answered the
// informers (zero: it answers, as far as they know).
func (s *sources) unreachable() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreachableSince
}

// reachable forgets an unreachable API server that answers again.
func (s *sources) reachable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unreachableSince = time.Time{}
}

// lastError returns the most recent list or watch error, if any.
func (s *sources) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// waitSynced closes the returned channel once every informer has listed.
func (s *sources) waitSynced(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for _, c := range s.synced {
			select {
			case <-c.Done():
			case <-ctx.Done():
				return
			}
		}
		close(done)
	}()
	return done
}

// object returns the target object from its informer, or nil.
func (s *sources) object(t resolved) *unstructured.Unstructured {
	key := t.Name
	if t.namespaced {
		key = t.Namespace + "/" + t.Name
	}
	for _, k := range []objKey{{gvr: t.gvr, ns: t.Namespace, name: t.Name}, {gvr: t.gvr, ns: t.Namespace}} {
		inf, ok := s.objs[k]
		if !ok {
			continue
		}
		o, exists, err := inf.GetStore().GetByKey(key)
		if err != nil || !exists {
			return nil
		}
		u, _ := o.(*unstructured.Unstructured)
		return withKind(u, t.gvk)
	}
	return nil
}

// list returns every object of gvr in ns (from an all-names informer).
func (s *sources) list(gvr schema.GroupVersionResource, ns string) []*unstructured.Unstructured {
	inf, ok := s.objs[objKey{gvr: gvr, ns: ns}]
	if !ok {
		return nil
	}
	var out []*unstructured.Unstructured
	for _, o := range inf.GetStore().List() {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// withKind makes sure obj carries its apiVersion and kind, which Evaluate
// dispatches on.
func withKind(obj *unstructured.Unstructured, gvk schema.GroupVersionKind) *unstructured.Unstructured {
	if obj == nil || obj.GetKind() != "" || gvk.Kind == "" {
		return obj
	}
	obj = obj.DeepCopy()
	obj.SetGroupVersionKind(gvk)
	return obj
}

func (s *sources) podList(ns string) []*corev1.Pod {
	inf := s.pods[ns]
	if inf == nil {
		return nil
	}
	items := inf.GetStore().List()
	out := make([]*corev1.Pod, 0, len(items))
	for _, o := range items {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

func (s *sources) rsList(ns string) []*appsv1.ReplicaSet {
	inf := s.rss[ns]
	if inf == nil {
		return nil
	}
	items := inf.GetStore().List()
	out := make([]*appsv1.ReplicaSet, 0, len(items))
	for _, o := range items {
		if rs, ok := o.(*appsv1.ReplicaSet); ok {
			out = append(out, rs)
		}
	}
	return out
}

func (s *sources) eventList(ns string) []*corev1.Event {
	inf := s.events[ns]
	if inf == nil {
		return nil
	}
	items := inf.GetStore().List()
	out := make([]*corev1.Event, 0, len(items))
	for _, o := range items {
		if ev, ok := o.(*corev1.Event); ok {
			out = append(out, ev)
		}
	}
	return out
}

func (s *sources) storageClasses() map[string]*storagev1.StorageClass {
	if s.classes == nil {
		return nil
	}
	out := map[string]*storagev1.StorageClass{}
	for _, o := range s.classes.GetStore().List() {
		if sc, ok := o.(*storagev1.StorageClass); ok {
			out[sc.Name] = sc
		}
	}
	return out
}

// endpointSlices returns the EndpointSlices by "namespace/service" (nil when
// they are not watched).
func (s *sources) endpointSlices() map[string][]*discoveryv1.EndpointSlice {
	if s.slices == nil {
		return nil
	}
	out := map[string][]*discoveryv1.EndpointSlice{}
	for _, o := range s.slices.GetStore().List() {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			if svc := sl.Labels[discoveryv1.LabelServiceName]; svc != "" {
				k := sl.Namespace + "/" + svc
				out[k] = append(out[k], sl)
			}
		}
	}
	return out
}
