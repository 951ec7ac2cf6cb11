package wait

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/kube/readiness"
)

// DefaultTimeout is how long Wait waits when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// DefaultLoadBalancerTimeout is how long a LoadBalancer Service may wait for
// an address. It is much shorter than the overall timeout: a cluster that
// assigns addresses does so within seconds, and one that has no load
// balancer implementation (bare metal without MetalLB, or a MetalLB whose
// address pools are exhausted) never will.
const DefaultLoadBalancerTimeout = 60 * time.Second

// DefaultLostAfter is how long a wait rides out an API server that does
// not answer before it says the cluster was lost.
const DefaultLostAfter = 30 * time.Second

// lostCheckEvery is how often a wait looks whether its API server still
// answers, while its watches fail.
const lostCheckEvery = 2 * time.Second

// Clients are what a Waiter talks to the cluster with.
type Clients struct {
	// Typed lists and watches pods, ReplicaSets, events and storage classes.
	Typed kubernetes.Interface
	// Dynamic lists and watches the target objects, whatever their kind.
	Dynamic dynamic.Interface
	// Mapper maps kinds to resources; it is reset when a kind is unknown
	// and after CRDs become established.
	Mapper meta.ResettableRESTMapper
	// Discovery, optional, expands short names published by the cluster.
	Discovery discovery.DiscoveryInterface
	// Server names the API server in a lost-cluster error.
	Server string
	// Health, optional, says since when the API server has not answered
	// the clients' requests (watches retried by client-go included).
	Health *kube.Health
}

// Waiter waits for objects to become ready.
type Waiter struct {
	c Clients
}

// New returns a Waiter over c.
func New(c Clients) *Waiter { return &Waiter{c: c} }

// ForClient returns a Waiter over plate's Kubernetes client.
func ForClient(kc *kube.Client) *Waiter {
	return New(Clients{Typed: kc.Clientset, Dynamic: kc.Dynamic, Mapper: kc.Mapper, Discovery: kc.Discovery, Server: kc.Server, Health: kc.Health})
}

// Options tune a wait.
type Options struct {
	// Readiness tunes the per-object verdicts: grace periods, thresholds
	// and plan rules.
	Readiness readiness.Options
	// Timeout bounds the whole wait (DefaultTimeout when zero).
	Timeout time.Duration
	// LoadBalancerTimeout bounds how long a LoadBalancer Service may stay
	// without an address, from the moment it is first seen without one
	// (DefaultLoadBalancerTimeout when zero).
	LoadBalancerTimeout time.Duration
	// Namespace is used for namespaced targets that name none.
	Namespace string
	// LostAfter is how long the API server may not answer the wait's
	// watches before the wait ends with a lost cluster
	// (DefaultLostAfter when zero). A restart of the API server is
	// ridden out; a wait whose timeout ends while the server does not
	// answer ends with a lost cluster too, not with stale reasons.
	LostAfter time.Duration
	// Now is the clock (time.Now when nil). Timers still run on real time.
	Now func() time.Time
	// OnChange, when set, receives a snapshot whenever an object's verdict
	// changes, and once when watching starts. It is called on the waiting
	// goroutine and should return quickly.
	OnChange func(*Report)
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ObjectStatus is the verdict on one object.
type ObjectStatus struct {
	// ID names the object: "Kind/namespace/name" or "Kind/name".
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Result is the latest verdict.
	Result readiness.Result `json:"-"`
	// Elapsed is the time from the start of the wait until the object was
	// ready or failed, or until now while it is neither.
	Elapsed time.Duration `json:"elapsed"`
	// Target is the index of the target the object belongs to.
	Target int `json:"-"`
}

// Report is the state of a wait.
type Report struct {
	Objects []ObjectStatus `json:"objects"`
	Started time.Time      `json:"started"`
	Elapsed time.Duration  `json:"elapsed"`
}

// NotReady returns the objects that are not Ready.
func (r *Report) NotReady() []ObjectStatus {
	var out []ObjectStatus
	for _, o := range r.Objects {
		if o.Result.State != readiness.Ready {
			out = append(out, o)
		}
	}
	return out
}

// Counts returns how many objects are ready, out of how many.
func (r *Report) Counts() (ready, total int) {
	for _, o := range r.Objects {
		if o.Result.State == readiness.Ready {
			ready++
		}
	}
	return ready, len(r.Objects)
}

// Cause says why a wait ended without every object ready.
type Cause string

const (
	// CauseFailed: an object failed (a pod cannot pull its image, a Job
	// failed, a rule said failed, …). Waiting longer would not help.
	CauseFailed Cause = "failed"
	// CauseTimeout: the overall timeout ran out.
	CauseTimeout Cause = "timeout"
	// CauseLoadBalancer: a LoadBalancer Service got no address within
	// Options.LoadBalancerTimeout.
	CauseLoadBalancer Cause = "load-balancer-timeout"
	// CauseLost: the API server stopped answering (Options.LostAfter);
	// Error.Lost says where and why.
	CauseLost Cause = "lost-cluster"
)

// Error is returned when a wait ends without every object ready.
type Error struct {
	Cause   Cause
	Timeout time.Duration
	// Report is the state at the end; its failed or not-ready objects are
	// the ones to blame.
	Report *Report
	// WatchErr is the last list or watch error, if any (it may explain a
	// timeout).
	WatchErr error
	// Lost is set with CauseLost.
	Lost *kube.LostError
}

// Unwrap returns the lost-cluster error of a wait that lost its cluster.
func (e *Error) Unwrap() error {
	if e.Lost != nil {
		return e.Lost
	}
	return nil
}

// IsTimeout reports whether the wait ran out of time (overall or for a
// load balancer address), as opposed to detecting a failure.
func (e *Error) IsTimeout() bool { return e.Cause == CauseTimeout || e.Cause == CauseLoadBalancer }

// Error names what was not ready and why, one object per line (with its
// last termination and recent events when it failed).
func (e *Error) Error() string { return e.message() }

// Wait watches targets until every object is Ready, one fails, or time runs
// out. It returns the final report, and an *Error when not every object is
// ready. A target whose object does not exist yet is waited for (NotFound
// is "not yet"). Objects are judged by readiness.Evaluate on every watch
// event of the object or a related object, and again when a grace period
// ends (Result.RecheckAfter), so a verdict changes within milliseconds of
// the change on the API server; nothing polls.
func (w *Waiter) Wait(ctx context.Context, targets []Target, opts Options) (*Report, error) {
	if len(targets) == 0 {
		return &Report{Started: opts.now()}, nil
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.LoadBalancerTimeout <= 0 {
		opts.LoadBalancerTimeout = DefaultLoadBalancerTimeout
	}
	defNS := opts.Namespace
	if defNS == "" {
		defNS = metav1.NamespaceDefault
	}
	rs := make([]resolved, 0, len(targets))
	for _, t := range targets {
		r, err := w.resolve(t, defNS)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timeout := time.NewTimer(opts.Timeout)
	defer timeout.Stop()

	src := w.plan(rs)
	dirty := make(chan struct{}, 1)
	notify := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	if err := src.start(ctx, notify); err != nil {
		return nil, err
	}
	s := &session{src: src, targets: rs, opts: opts, started: opts.now(), entries: map[string]*entry{}}
	synced := src.waitSynced(ctx)
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	lostAfter := opts.LostAfter
	if lostAfter <= 0 {
		lostAfter = DefaultLostAfter
	}
	lostCheck := time.NewTicker(lostCheckEvery)
	defer lostCheck.Stop()
	ready := false
	for {
		select {
		case <-ctx.Done():
			return s.report(opts.now()), ctx.Err()
		case err := <-src.fatal:
			return s.report(opts.now()), fmt.Errorf("cannot watch the objects: %w", err)
		case <-timeout.C:
			r := s.report(opts.now())
			if lost := w.lost(ctx, src, 0); lost != nil {
				return r, &Error{Cause: CauseLost, Report: r, WatchErr: src.lastError(), Lost: lost}
			}
			return r, &Error{Cause: CauseTimeout, Timeout: opts.Timeout, Report: r, WatchErr: src.lastError()}
		case <-lostCheck.C:
			if lost := w.lost(ctx, src, lostAfter); lost != nil {
				r := s.report(opts.now())
				return r, &Error{Cause: CauseLost, Report: r, WatchErr: src.lastError(), Lost: lost}
			}
			continue
		case <-synced:
			ready, synced = true, nil
		case <-dirty:
		case <-recheck.C:
		}
		if !ready {
			continue
		}
		now := opts.now()
		verdict, wake, changed := s.round(now)
		if changed && opts.OnChange != nil {
			opts.OnChange(s.report(now))
		}
		switch verdict {
		case allReady:
			if err := w.awaitKinds(ctx, timeout.C, s.crds()); err != nil {
				return s.report(opts.now()), err
			}
			return s.report(opts.now()), nil
		case failed:
			r := s.report(now)
			return r, &Error{Cause: CauseFailed, Report: r}
		case lbTimeout:
			r := s.report(now)
			return r, &Error{Cause: CauseLoadBalancer, Timeout: opts.LoadBalancerTimeout, Report: r}
		}
		recheck.Stop()
		if wake > 0 {
			recheck.Reset(wake)
		}
	}
}

type verdict int

const (
	waiting verdict = iota
	allReady
	failed
	lbTimeout
)

// session is the state of one Wait.
type session struct {
	src     *sources
	targets []resolved
	opts    Options
	started time.Time
	entries map[string]*entry
	order   []string
}

// entry is the memory about one watched object.
type entry struct {
	id              string
	kind, ns, name  string
	target          int
	res             readiness.Result
	since           readiness.Since
	doneAt          time.Time
	awaitingLBSince time.Time
	seen            bool
}

// round judges every object now. It returns the verdict of the wait, how
// long until a grace period or the load balancer timeout ends (0: none),
// and whether any verdict changed.
func (s *session) round(now time.Time) (verdict, time.Duration, bool) {
	for _, e := range s.entries {
		e.seen = false
	}
	changed := false
	var wake time.Duration
	addWake := func(d time.Duration) {
		if d > 0 && (wake == 0 || d < wake) {
			wake = d
		}
	}
	for i, t := range s.targets {
		var objs []*unstructured.Unstructured
		placeholder := ""
		if t.sel != nil {
			objs = s.expand(t)
			if len(objs) == 0 {
				placeholder = t.Target.String()
			}
		} else {
			obj := s.src.object(t)
			if obj == nil {
				placeholder = idFor(t.gvk.Kind, t.Namespace, t.Name)
			}
			objs = []*unstructured.Unstructured{obj}
		}
		if placeholder != "" {
			e := s.entry(placeholder, i, t)
			res := readiness.Evaluate(nil, readiness.Related{}, s.opts.Readiness, now)
			if t.sel != nil {
				res.Message = "no workload or pod matches yet"
			}
			changed = s.set(e, res, now) || changed
			continue
		}
		for _, obj := range objs {
			e := s.entry(readiness.ID(obj), i, t)
			e.kind, e.ns, e.name = obj.GetKind(), obj.GetNamespace(), obj.GetName()
			rel := s.related(obj, e)
			res := readiness.Evaluate(obj, rel, s.opts.Readiness, now)
			changed = s.set(e, res, now) || changed
			addWake(res.RecheckAfter)
			if res.Reason == readiness.ReasonAwaitingLoadBalancer {
				if e.awaitingLBSince.IsZero() {
					e.awaitingLBSince = now
				}
				addWake(e.awaitingLBSince.Add(s.opts.LoadBalancerTimeout).Sub(now))
			} else {
				e.awaitingLBSince = time.Time{}
			}
		}
	}
	for id, e := range s.entries {
		if !e.seen {
			delete(s.entries, id)
			changed = true
		}
	}
	s.sortOrder()
	allOK, anyFailed, lb := true, false, false
	for _, e := range s.entries {
		switch {
		case e.res.State == readiness.Failed:
			anyFailed = true
		case e.res.State == readiness.Unknown && e.res.Reason == readiness.ReasonRuleError:
			// A plan rule that errors will not fix itself.
			anyFailed = true
		case e.res.Reason == readiness.ReasonAwaitingLoadBalancer && !now.Before(e.awaitingLBSince.Add(s.opts.LoadBalancerTimeout)):
			lb = true
		}
		if e.res.State != readiness.Ready {
			allOK = false
		}
	}
	switch {
	case anyFailed:
		return failed, 0, changed
	case lb:
		return lbTimeout, 0, changed
	case allOK && len(s.entries) > 0:
		return allReady, 0, changed
	}
	return waiting, wake, changed
}

func (s *session) entry(id string, target int, t resolved) *entry {
	e, ok := s.entries[id]
	if !ok {
		e = &entry{id: id, target: target, kind: t.gvk.Kind, ns: t.Namespace, name: t.Name, since: readiness.Since{}}
		if t.sel != nil {
			e.kind, e.name = "", ""
		}
		s.entries[id] = e
	}
	e.seen = true
	return e
}

// set records res for e and reports whether what a user sees changed.
func (s *session) set(e *entry, res readiness.Result, now time.Time) bool {
	old := e.res
	e.res = res
	if res.Done() && e.doneAt.IsZero() {
		e.doneAt = now
	} else if !res.Done() {
		e.doneAt = time.Time{}
	}
	return old.State != res.State || old.Reason != res.Reason || old.Message != res.Message ||
		old.Pod != res.Pod || old.Container != res.Container
}

// related gathers what Evaluate needs besides obj.
func (s *session) related(obj *unstructured.Unstructured, e *entry) readiness.Related {
	var rel readiness.Related
	ns := obj.GetNamespace()
	gk := obj.GroupVersionKind().GroupKind()
	if sel, ok := readiness.PodSelector(obj); ok {
		var pods []*corev1.Pod
		for _, p := range s.src.podList(ns) {
			if sel.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
			}
		}
		if gk == gkDeployment {
			rel.ReplicaSets = readiness.OwnedReplicaSets(obj, s.src.rsList(ns))
		}
		rel.Pods = readiness.OwnedPods(obj, pods, rel.ReplicaSets)
	}
	if gk.Kind == "Pod" && gk.Group == "" {
		if p := toPod(obj); p != nil {
			e.since.Observe([]*corev1.Pod{p}, s.opts.now())
		}
	} else {
		e.since.Observe(rel.Pods, s.opts.now())
	}
	rel.Since = e.since
	if ns != "" {
		rel.Events = s.src.eventList(ns)
	}
	if gk == gkPVC {
		rel.StorageClasses = s.src.storageClasses()
	}
	if webhookKinds[gk] {
		rel.EndpointSlices = s.src.endpointSlices()
	}
	if e.target >= 0 && e.target < len(s.targets) {
		rel.StatusSubresource = s.targets[e.target].statusSub
	}
	return rel
}

// expand lists the objects a selector target stands for: matching
// workloads, the workloads owning matching pods, and matching pods no
// workload owns. Objects being deleted are left out.
func (s *session) expand(t resolved) []*unstructured.Unstructured {
	found := map[string]*unstructured.Unstructured{}
	add := func(o *unstructured.Unstructured) {
		if o != nil && o.GetDeletionTimestamp() == nil {
			found[readiness.ID(o)] = o
		}
	}
	byKind := map[string]map[string]*unstructured.Unstructured{}
	for _, gvr := range selectorGVRs {
		for _, o := range s.src.list(gvr, t.Namespace) {
			o = withKind(o, kindOf(gvr))
			if byKind[o.GetKind()] == nil {
				byKind[o.GetKind()] = map[string]*unstructured.Unstructured{}
			}
			byKind[o.GetKind()][o.GetName()] = o
			if t.sel.Matches(labels.Set(o.GetLabels())) {
				add(o)
			}
		}
	}
	rss := map[string]*unstructuredRS{}
	for _, rs := range s.src.rsList(t.Namespace) {
		rss[rs.Name] = &unstructuredRS{owner: metav1.GetControllerOf(rs)}
	}
	for _, p := range s.src.podList(t.Namespace) {
		if p.DeletionTimestamp != nil || !t.sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			add(podObject(p))
			continue
		}
		kind, name := ref.Kind, ref.Name
		if kind == "ReplicaSet" {
			if rs, ok := rss[name]; ok && rs.owner != nil && rs.owner.Kind == "Deployment" {
				kind, name = "Deployment", rs.owner.Name
			}
		}
		if o, ok := byKind[kind][name]; ok {
			add(o)
		} else {
			// A controller plate does not know (or not listed yet):
			// judge the pod itself.
			add(podObject(p))
		}
	}
	out := make([]*unstructured.Unstructured, 0, len(found))
	for _, o := range found {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return readiness.ID(out[i]) < readiness.ID(out[j]) })
	return out
}

type unstructuredRS struct{ owner *metav1.OwnerReference }

func kindOf(gvr schema.GroupVersionResource) schema.GroupVersionKind {
	switch gvr {
	case gvrDeployments:
		return gvr.GroupVersion().WithKind("Deployment")
	case gvrStatefulSets:
		return gvr.GroupVersion().WithKind("StatefulSet")
	case gvrDaemonSets:
		return gvr.GroupVersion().WithKind("DaemonSet")
	case gvrJobs:
		return gvr.GroupVersion().WithKind("Job")
	}
	return schema.GroupVersionKind{}
}

func podObject(p *corev1.Pod) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return nil
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("v1")
	u.SetKind("Pod")
	return u
}

func toPod(obj *unstructured.Unstructured) *corev1.Pod {
	var p corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &p); err != nil {
		return nil
	}
	return &p
}

func idFor(kind, ns, name string) string {
	if ns != "" {
		return kind + "/" + ns + "/" + name
	}
	return kind + "/" + name
}

func (s *session) sortOrder() {
	s.order = s.order[:0]
	for id := range s.entries {
		s.order = append(s.order, id)
	}
	sort.Slice(s.order, func(i, j int) bool {
		a, b := s.entries[s.order[i]], s.entries[s.order[j]]
		if a.target != b.target {
			return a.target < b.target
		}
		return a.id < b.id
	})
}

// crds returns the CustomResourceDefinitions among the targets, as last
// seen.
func (s *session) crds() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, t := range s.targets {
		if t.gvk.GroupKind() == gkCRD {
			if o := s.src.object(t); o != nil {
				out = append(out, o)
			}
		}
	}
	return out
}

// awaitKinds refreshes the REST mapping after CRDs became established and
// waits until it resolves their kinds. The API server publishes a new
// group in discovery a moment after the Established condition, and
// discovery cannot be watched, so this retries with a short back-off
// (10ms doubling to 500ms) until the mapping resolves or the wait's
// timeout ends.
func (w *Waiter) awaitKinds(ctx context.Context, timeout <-chan time.Time, crds []*unstructured.Unstructured) error {
	if w.c.Mapper == nil || len(crds) == 0 {
		return nil
	}
	type kind struct {
		gk      schema.GroupKind
		version string
		crd     string
	}
	var kinds []kind
	for _, crd := range crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		k, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			name, _ := vm["name"].(string)
			if served, _ := vm["served"].(bool); served && name != "" && k != "" {
				kinds = append(kinds, kind{schema.GroupKind{Group: group, Kind: k}, name, crd.GetName()})
			}
		}
	}
	delay := 10 * time.Millisecond
	for {
		w.c.Mapper.Reset()
		var missing *kind
		for i := range kinds {
			if _, err := w.c.Mapper.RESTMapping(kinds[i].gk, kinds[i].version); err != nil {
				missing = &kinds[i]
				break
			}
		}
		if missing == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return fmt.Errorf("%s is established but the API server does not serve %s/%s yet", missing.crd, missing.gk, missing.version)
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// report snapshots the session.
func (s *session) report(now time.Time) *Report {
	r := &Report{Started: s.started, Elapsed: now.Sub(s.started)}
	if len(s.order) != len(s.entries) {
		s.sortOrder()
	}
	if len(s.entries) == 0 {
		// Not listed yet: report the targets themselves.
		for i, t := range s.targets {
			id := t.Target.String()
			if t.sel == nil {
				id = idFor(t.gvk.Kind, t.Namespace, t.Name)
			}
			r.Objects = append(r.Objects, ObjectStatus{
				ID: id, Kind: t.gvk.Kind, Namespace: t.Namespace, Name: t.Name, Target: i,
				Result:  readiness.Result{State: readiness.Unknown, Reason: "NotListed", Message: "not listed from the API server yet"},
				Elapsed: r.Elapsed,
			})
		}
		return r
	}
	for _, id := range s.order {
		e := s.entries[id]
		el := now.Sub(s.started)
		if !e.doneAt.IsZero() {
			el = e.doneAt.Sub(s.started)
		}
		r.Objects = append(r.Objects, ObjectStatus{
			ID: e.id, Kind: e.kind, Namespace: e.ns, Name: e.name, Target: e.target,
			Result: e.res, Elapsed: el,
		})
	}
	return r
}

// IsTimeout reports whether err is a wait that ran out of time.
func IsTimeout(err error) bool {
	var we *Error
	return errors.As(err, &we) && we.IsTimeout()
}

// lost returns a lost-cluster error when the wait's watches have failed
// without an answer for at least after and the API server does not answer
// a request of its own either (one that answers is taken as back: the
// watches follow).
func (w *Waiter) lost(ctx context.Context, src *sources, after time.Duration) *kube.LostError {
	since := src.unreachable()
	if hs, _ := w.c.Health.Unreachable(); !hs.IsZero() && (since.IsZero() || hs.Before(since)) {
		since = hs
	}
	if since.IsZero() || time.Since(since) < after {
		return nil
	}
	err := w.probe(ctx)
	if err == nil || ctx.Err() != nil {
		src.reachable()
		return nil
	}
	return &kube.LostError{Server: w.c.Server, Err: fmt.Errorf("no answer for %s: %w", time.Since(since).Round(time.Second), err)}
}

// probeTimeout bounds the request that checks whether the API server
// answers.
const probeTimeout = 5 * time.Second

func (w *Waiter) probe(ctx context.Context) error {
	if w.c.Typed == nil || w.c.Typed.Discovery() == nil || w.c.Typed.Discovery().RESTClient() == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return w.c.Typed.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
}
