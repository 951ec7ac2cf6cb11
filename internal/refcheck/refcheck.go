// Package refcheck is the reference check of dry passes: before the first
// write, every object a step would create or update (a release's rendered
// objects and hooks, kube_apply's objects) is checked against the live
// cluster plus what the plan's earlier steps would create. It finds what
// would make a deploy get stuck or fail half-way: a storage class, Secret,
// ConfigMap, ServiceAccount, PriorityClass, RuntimeClass or IngressClass
// that does not exist; a pod no node can take (selector, affinity, taints,
// requests); a Service an Ingress names that is not there; a namespace or
// kind the cluster lacks; an API version it does not serve; an object that
// belongs to another release or to none; an immutable field an upgrade
// changes; a ResourceQuota the new pods would exceed.
//
// The checks are pure functions of the objects and a View (the cluster as
// read once per pass, through a Reader, overlaid with the Planned index of
// earlier steps). The engine runs them in dry passes only (docs/checks.md).
package refcheck

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/trace"
)

// The checks, by the name that silences them.
const (
	CheckStorageClass   = "storage-class"
	CheckSecret         = "secret"
	CheckConfigMap      = "config-map"
	CheckServiceAccount = "service-account"
	CheckPriorityClass  = "priority-class"
	CheckRuntimeClass   = "runtime-class"
	CheckNodeSelector   = "node-selector"
	CheckTaints         = "taints"
	CheckResources      = "resources"
	CheckIngressClass   = "ingress-class"
	CheckService        = "service"
	CheckNamespace      = "namespace"
	CheckKind           = "kind"
	CheckAPIVersion     = "api-version"
	CheckOwnership      = "ownership"
	CheckImmutable      = "immutable"
	CheckQuota          = "quota"
)

// Check describes one check for the docs and for validating the names a
// plan silences.
type Check struct {
	Name string
	// Severity is the severity of its findings; Warning lists when one
	// is a warning instead.
	Severity string
	What     string
	Warning  string
}

// Checks lists every check.
var Checks = []Check{
	{CheckStorageClass, trace.SeverityError, "PersistentVolumeClaims and StatefulSet volumeClaimTemplates: the named StorageClass exists; with none named, a default class exists.", "the default class binds on first consumer (WaitForFirstConsumer)"},
	{CheckSecret, trace.SeverityError, "Pod templates: Secrets read by env, envFrom, volumes, projected volumes (unless optional: true) and imagePullSecrets exist.", ""},
	{CheckConfigMap, trace.SeverityError, "Pod templates: ConfigMaps read by env, envFrom, volumes and projected volumes (unless optional: true) exist.", ""},
	{CheckServiceAccount, trace.SeverityError, "Pod templates: the ServiceAccount exists (\"default\" always does).", ""},
	{CheckPriorityClass, trace.SeverityError, "Pod templates: the PriorityClass exists.", ""},
	{CheckRuntimeClass, trace.SeverityError, "Pod templates: the RuntimeClass exists.", ""},
	{CheckNodeSelector, trace.SeverityError, "Pod templates: some node satisfies the nodeSelector and the required node affinity.", "the cluster's nodes show an autoscaler (new nodes may carry the labels)"},
	{CheckTaints, trace.SeverityError, "Pod templates: some node the pod may run on has no NoSchedule/NoExecute taint the pod does not tolerate.", "the cluster's nodes show an autoscaler"},
	{CheckResources, trace.SeverityError, "Pod templates: the pod's requests of cpu, memory and ephemeral storage fit the allocatable of some node the pod may run on.", "the cluster's nodes show an autoscaler"},
	{CheckIngressClass, trace.SeverityError, "Ingresses: the named IngressClass exists; with none named, a default class exists.", "no class is named and none is the default (some controllers take such Ingresses)"},
	{CheckService, trace.SeverityError, "Ingresses: the backend Services exist (in the step, earlier in the plan, or in the cluster) and have the named or numbered port.", ""},
	{CheckNamespace, trace.SeverityError, "Namespaced objects: the namespace exists or an earlier step creates it.", ""},
	{CheckKind, trace.SeverityError, "Every object: the cluster serves its kind, or an earlier step (or the same release) creates its CRD.", ""},
	{CheckAPIVersion, trace.SeverityError, "Every object: the cluster serves its apiVersion; the finding names the version to use.", ""},
	{CheckOwnership, trace.SeverityError, "helm_install: an object that exists belongs to this release, not to another release or to none; the finding says who owns it and how to adopt it.", "kube_apply changes an object a Helm release manages"},
	{CheckImmutable, trace.SeverityError, "Objects that exist: the step does not change an immutable field (Deployment/StatefulSet/DaemonSet selector, Job template, StatefulSet volumeClaimTemplates, Service clusterIP, PVC storage class); the finding gives the recreate choice.", ""},
	{CheckQuota, trace.SeverityError, "ResourceQuotas of the target namespace (without scopes): the step's new pods and objects fit what is left of them.", ""},
}

// Known reports whether name is a check (or "all").
func Known(name string) bool {
	if name == "all" {
		return true
	}
	for _, c := range Checks {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Names lists the check names, then "all".
func Names() []string {
	out := make([]string, 0, len(Checks)+1)
	for _, c := range Checks {
		out = append(out, c.Name)
	}
	return append(out, "all")
}

// IgnoreAnnotation silences checks for the object that carries it: a
// comma-separated list of check names, or "all".
const IgnoreAnnotation = "plate.dev/ignore-check"

// Reader reads the live cluster. The live one (Live) caches each list for
// the pass; tests give recorded objects.
type Reader interface {
	// List lists kind gk in namespace ("" for a cluster-scoped kind).
	// Without full, the objects may carry their metadata only.
	List(ctx context.Context, gk schema.GroupKind, namespace string, full bool) ([]*unstructured.Unstructured, error)
	// Kind says how the cluster serves gk.
	Kind(ctx context.Context, gk schema.GroupKind) (KindInfo, error)
	// Namespace reports whether a namespace exists.
	Namespace(ctx context.Context, name string) (bool, error)
}

// KindInfo is how the cluster serves a kind: Versions is empty when it
// does not serve it; Preferred is the version to use.
type KindInfo struct {
	Versions   []string
	Preferred  string
	Namespaced bool
}

// Planned is the index of what earlier steps of the pass would create
// (kube.Planned).
type Planned interface {
	Objects(gk schema.GroupKind, namespace string) []*unstructured.Unstructured
	HasKind(gk schema.GroupKind) bool
	HasNamespace(name string) bool
}

// Step is what one step would create or update.
type Step struct {
	// Release is the Helm release the objects belong to; empty for
	// kube_apply.
	Release string
	// Namespace is the release namespace (or kube_apply's default).
	Namespace string
	// Objects are the objects, namespaced ones with their namespace.
	Objects []*unstructured.Unstructured
	// Kinds are kinds the step itself defines before its objects (a
	// chart's crds/): its objects of those kinds are not checked by kind.
	Kinds []schema.GroupKind
	// Ignore silences checks: "check" for every object of the step,
	// "check:Kind/name" or "check:Kind/namespace/name" for one.
	Ignore []string
	// Ownership checks who owns the objects that exist; Immutable checks
	// that the step changes no immutable field of them. Each costs a list
	// per kind and namespace: helm_install asks for Ownership only when
	// Helm found an object it may not take (it checks ownership itself),
	// and for Immutable on an upgrade; kube_apply asks for both.
	Ownership, Immutable bool
	// Changed, when not nil, names (Ref) the only objects whose immutable
	// fields may change: an upgrade's objects that differ from the
	// deployed revision.
	Changed map[string]bool
}

// Checker runs the checks of one pass. It is safe for concurrent use.
type Checker struct {
	Reader  Reader
	Planned Planned

	mu    sync.Mutex
	noted map[string]bool
}

// New returns a checker over r and the planned index p.
func New(r Reader, p Planned) *Checker {
	return &Checker{Reader: r, Planned: p, noted: map[string]bool{}}
}

// Errors returns the findings of severity error.
func Errors(fs []trace.Finding) []trace.Finding {
	var out []trace.Finding
	for _, f := range fs {
		if f.Severity == trace.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// run is the check of one step.
type run struct {
	c    *Checker
	ctx  context.Context
	step Step
	// own indexes the step's objects by kind and namespace.
	own      map[ownKey][]*unstructured.Unstructured
	findings []trace.Finding
	obj      *unstructured.Unstructured
}

type ownKey struct {
	gk schema.GroupKind
	ns string
}

// Check checks the objects of one step and returns its findings: errors
// and warnings in object order, then notes about checks that could not
// run (each said once per pass).
func (c *Checker) Check(ctx context.Context, s Step) []trace.Finding {
	r := &run{c: c, ctx: ctx, step: s, own: map[ownKey][]*unstructured.Unstructured{}}
	for _, o := range s.Objects {
		k := ownKey{o.GroupVersionKind().GroupKind(), o.GetNamespace()}
		r.own[k] = append(r.own[k], o)
	}
	for _, o := range s.Objects {
		r.obj = o
		r.checkKind()
		r.checkNamespace()
		r.checkExisting()
		r.checkPods()
		r.checkStorage()
		r.checkIngress()
	}
	r.obj = nil
	r.checkQuota()
	var out, notes []trace.Finding
	for _, f := range r.findings {
		if f.Severity == trace.SeverityNote {
			notes = append(notes, f)
		} else {
			out = append(out, f)
		}
	}
	return append(out, notes...)
}

// report adds a finding about the current object unless it is silenced.
func (r *run) report(sev, check, field, msg, hint string) {
	r.reportOn(r.obj, sev, check, field, msg, hint)
}

func (r *run) reportOn(obj *unstructured.Unstructured, sev, check, field, msg, hint string) {
	ref := ""
	if obj != nil {
		ref = Ref(obj)
		if silenced(obj, check) {
			return
		}
	}
	for _, ig := range r.step.Ignore {
		name, what, one := strings.Cut(ig, ":")
		if name != check && name != "all" {
			continue
		}
		if !one || (obj != nil && matchesRef(obj, what)) {
			return
		}
	}
	r.findings = append(r.findings, trace.Finding{Severity: sev, Check: check, Object: ref, Field: field, Message: msg, Hint: hint})
}

// note says once per pass that a check could not run, and why.
func (r *run) note(check string, err error, what string) {
	why := err.Error()
	switch {
	case apierrors.IsForbidden(err):
		why = "the user may not list " + what
	case apierrors.IsUnauthorized(err):
		why = "the user is not authorized to list " + what
	}
	key := check + "\x00" + why
	r.c.mu.Lock()
	seen := r.c.noted[key]
	r.c.noted[key] = true
	r.c.mu.Unlock()
	if seen {
		return
	}
	r.findings = append(r.findings, trace.Finding{Severity: trace.SeverityNote, Check: check, Message: "not checked: " + why})
}

func silenced(obj *unstructured.Unstructured, check string) bool {
	v, ok := obj.GetAnnotations()[IgnoreAnnotation]
	if !ok {
		return false
	}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == check || s == "all" {
			return true
		}
	}
	return false
}

// matchesRef reports whether obj is Kind/name or Kind/namespace/name.
func matchesRef(obj *unstructured.Unstructured, ref string) bool {
	parts := strings.Split(ref, "/")
	if len(parts) < 2 || !strings.EqualFold(parts[0], obj.GetKind()) {
		return false
	}
	if len(parts) == 2 {
		return parts[1] == obj.GetName()
	}
	return len(parts) == 3 && parts[1] == obj.GetNamespace() && parts[2] == obj.GetName()
}

// Ref names an object: Kind/namespace/name, or Kind/name.
func Ref(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + "/" + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + "/" + obj.GetName()
}

// lookup is what is known of objects of one kind in one namespace: those
// of the step, those planned earlier, those in the cluster.
type lookup struct {
	names map[string]*unstructured.Unstructured
	// ok is false when the cluster could not be read (a note was made).
	ok bool
}

func (l lookup) has(name string) bool { _, ok := l.names[name]; return ok }

// objects returns what exists, or will, of kind gk in namespace, for check
// (whose note says why it could not run). Objects of the step come first,
// then planned ones, then the cluster's.
func (r *run) objects(check string, gk schema.GroupKind, namespace string, full bool, what string) lookup {
	l := lookup{names: map[string]*unstructured.Unstructured{}, ok: true}
	var live []*unstructured.Unstructured
	if !r.newNamespace(namespace) {
		var err error
		live, err = r.c.Reader.List(r.ctx, gk, namespace, full)
		if err != nil {
			r.note(check, err, what)
			l.ok = false
		}
	}
	for _, o := range live {
		l.names[o.GetName()] = o
	}
	if r.c.Planned != nil {
		for _, o := range r.c.Planned.Objects(gk, namespace) {
			l.names[o.GetName()] = o
		}
	}
	for _, o := range r.own[ownKey{gk, namespace}] {
		l.names[o.GetName()] = o
	}
	return l
}

// names lists the names of l, sorted, at most n, for messages.
func (l lookup) list(n int) string {
	var out []string
	for k := range l.names {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	if len(out) > n {
		return strings.Join(out[:n], ", ") + fmt.Sprintf(", … (%d in all)", len(out))
	}
	return strings.Join(out, ", ")
}

// live returns the object as it exists in the cluster (not as planned),
// nil when it does not exist or cannot be read.
func (r *run) live(obj *unstructured.Unstructured, full bool) *unstructured.Unstructured {
	if r.newNamespace(obj.GetNamespace()) {
		return nil
	}
	gk := obj.GroupVersionKind().GroupKind()
	objs, err := r.c.Reader.List(r.ctx, gk, obj.GetNamespace(), full)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			r.note(CheckOwnership, err, strings.ToLower(gk.Kind)+"s")
		}
		return nil
	}
	for _, o := range objs {
		if o.GetName() == obj.GetName() {
			return o
		}
	}
	return nil
}

// newNamespace reports whether namespace is one an earlier step would
// create: it does not exist yet, so nothing in it does either (no list is
// sent).
func (r *run) newNamespace(namespace string) bool {
	return namespace != "" && r.c.Planned != nil && r.c.Planned.HasNamespace(namespace)
}

var (
	gkNamespace      = schema.GroupKind{Kind: "Namespace"}
	gkSecret         = schema.GroupKind{Kind: "Secret"}
	gkConfigMap      = schema.GroupKind{Kind: "ConfigMap"}
	gkServiceAccount = schema.GroupKind{Kind: "ServiceAccount"}
	gkService        = schema.GroupKind{Kind: "Service"}
	gkNode           = schema.GroupKind{Kind: "Node"}
	gkQuota          = schema.GroupKind{Kind: "ResourceQuota"}
	gkPVC            = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	gkStorageClass   = schema.GroupKind{Group: "storage.k8s.io", Kind: "StorageClass"}
	gkPriorityClass  = schema.GroupKind{Group: "scheduling.k8s.io", Kind: "PriorityClass"}
	gkRuntimeClass   = schema.GroupKind{Group: "node.k8s.io", Kind: "RuntimeClass"}
	gkIngressClass   = schema.GroupKind{Group: "networking.k8s.io", Kind: "IngressClass"}
	gkIngress        = schema.GroupKind{Group: "networking.k8s.io", Kind: "Ingress"}
)

// checkKind: the cluster serves the object's kind and version, or the
// step or an earlier one creates its CRD.
func (r *run) checkKind() {
	gvk := r.obj.GroupVersionKind()
	gk := gvk.GroupKind()
	for _, k := range r.step.Kinds {
		if k == gk {
			return
		}
	}
	if r.c.Planned != nil && r.c.Planned.HasKind(gk) {
		return
	}
	info, err := r.c.Reader.Kind(r.ctx, gk)
	if err != nil {
		r.note(CheckKind, err, "the API's kinds")
		return
	}
	if len(info.Versions) == 0 {
		r.report(trace.SeverityError, CheckKind, "kind",
			fmt.Sprintf("the cluster has no kind %s in group %q and no earlier step creates its CRD", gk.Kind, gk.Group),
			"install the CRD first (an earlier helm_install or kube_apply; needs= orders concurrent steps), or fix apiVersion/kind")
		return
	}
	for _, v := range info.Versions {
		if v == gvk.Version {
			return
		}
	}
	use := info.Preferred
	if gk.Group != "" {
		use = gk.Group + "/" + use
	}
	r.report(trace.SeverityError, CheckAPIVersion, "apiVersion",
		fmt.Sprintf("the cluster does not serve %s %s (it serves %s)", r.obj.GetAPIVersion(), gk.Kind, strings.Join(versions(gk.Group, info.Versions), ", ")),
		fmt.Sprintf("use apiVersion: %s", use))
}

func versions(group string, vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if group != "" {
			v = group + "/" + v
		}
		out[i] = v
	}
	return out
}

// checkNamespace: a namespaced object's namespace exists, is created
// earlier, or by this step.
func (r *run) checkNamespace() {
	ns := r.obj.GetNamespace()
	if ns == "" || (r.step.Release != "" && ns == r.step.Namespace) {
		// The release namespace is Helm's to check (create_namespace).
		return
	}
	if r.c.Planned != nil && r.c.Planned.HasNamespace(ns) {
		return
	}
	for _, o := range r.own[ownKey{gkNamespace, ""}] {
		if o.GetName() == ns {
			return
		}
	}
	ok, err := r.c.Reader.Namespace(r.ctx, ns)
	if err != nil {
		r.note(CheckNamespace, err, "namespaces")
		return
	}
	if !ok {
		r.report(trace.SeverityError, CheckNamespace, "metadata.namespace",
			fmt.Sprintf("namespace %s does not exist and no earlier step creates it", ns),
			"create it first: kube_apply a Namespace, or helm_install with create_namespace=True into it")
	}
}

// CheckTable is the rows of the table of checks in docs/checks.md.
func CheckTable() string {
	var b strings.Builder
	for _, c := range Checks {
		w := c.Warning
		if w == "" {
			w = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.Name, c.What, c.Severity, w)
	}
	return b.String()
}
