package readiness

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Evaluate judges one object. obj is the object as read from the API server
// (nil means it does not exist: NotFound); rel carries the related objects
// the caller fetched; now is the current time, used for grace periods.
// Evaluate is pure: it reads its arguments, never modifies them, and does no
// I/O. See the package documentation for the rules.
func Evaluate(obj *unstructured.Unstructured, rel Related, opts Options, now time.Time) Result {
	if obj == nil {
		return Result{State: NotFound, Reason: "NotFound", Message: "object does not exist"}
	}
	opts = opts.withDefaults()
	e := &evaluator{obj: obj, rel: rel, opts: opts, now: now}
	var res Result
	if r, ok := findRule(opts.Rules, obj); ok {
		res = evalRule(r, obj)
	} else {
		res = e.evaluate()
	}
	if res.State == Failed && opts.MaxEvents > 0 && res.Events == nil {
		res.Events = formatEvents(relevantEvents(rel.Events, e.eventRefs(res.Pod), opts.MaxEvents))
	}
	return res
}

// evaluator carries the arguments of one Evaluate call.
type evaluator struct {
	obj  *unstructured.Unstructured
	rel  Related
	opts Options
	now  time.Time
}

var (
	gkDeployment        = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	gkStatefulSet       = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	gkDaemonSet         = schema.GroupKind{Group: "apps", Kind: "DaemonSet"}
	gkReplicaSet        = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	gkRC                = schema.GroupKind{Kind: "ReplicationController"}
	gkJob               = schema.GroupKind{Group: "batch", Kind: "Job"}
	gkPod               = schema.GroupKind{Kind: "Pod"}
	gkPVC               = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	gkPV                = schema.GroupKind{Kind: "PersistentVolume"}
	gkService           = schema.GroupKind{Kind: "Service"}
	gkNamespace         = schema.GroupKind{Kind: "Namespace"}
	gkCRD               = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	gkAPIService        = schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}
	gkValidatingWebhook = schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}
	gkMutatingWebhook   = schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}
)

// existsKinds are ready as soon as they exist: their status, if any, says
// nothing a deploy should wait for. Their generation is not checked either.
var existsKinds = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}:      true,
	{Kind: "Secret"}:         true,
	{Kind: "ServiceAccount"}: true,
	{Kind: "Endpoints"}:      true,
	{Kind: "LimitRange"}:     true,
	{Kind: "ResourceQuota"}:  true,
	{Kind: "PodTemplate"}:    true,

	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               true,
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,

	// An Ingress with a class may get an address later; by default plate
	// does not wait for it (declare a Rule to do so).
	{Group: "networking.k8s.io", Kind: "Ingress"}:       true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:  true,
	{Group: "networking.k8s.io", Kind: "NetworkPolicy"}: true,
	{Group: "discovery.k8s.io", Kind: "EndpointSlice"}:  true,

	{Group: "policy", Kind: "PodDisruptionBudget"}:                                    true,
	{Group: "batch", Kind: "CronJob"}:                                                 true,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:                           true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                               true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                      true,
	{Group: "coordination.k8s.io", Kind: "Lease"}:                                     true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                      true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}:                          true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
}

func (e *evaluator) evaluate() Result {
	gk := e.obj.GroupVersionKind().GroupKind()
	if gk == gkNamespace {
		return e.namespace()
	}
	if res, deleting := deletion(e.obj); deleting {
		return res
	}
	switch gk {
	case gkDeployment:
		return e.deployment()
	case gkStatefulSet:
		return e.statefulSet()
	case gkDaemonSet:
		return e.daemonSet()
	case gkReplicaSet, gkRC:
		return e.replicaSet(gk)
	case gkJob:
		return e.job()
	case gkPod:
		return e.pod()
	case gkPVC:
		return e.pvc()
	case gkPV:
		return e.pv()
	case gkService:
		return e.service()
	case gkCRD:
		return e.crd()
	case gkAPIService:
		return e.apiService()
	case gkValidatingWebhook, gkMutatingWebhook:
		return e.webhookConfiguration()
	}
	if existsKinds[gk] {
		return Result{State: Ready, Message: "exists"}
	}
	if r, ok := operatorRules[gk]; ok {
		if !hasStatus(e.obj) {
			return e.awaitingController(r.operator)
		}
		return r.eval(e)
	}
	if e.rel.StatusSubresource && !hasStatus(e.obj) {
		return e.awaitingController("")
	}
	return e.generic()
}

// deletion reports an object with a deletionTimestamp as Progressing: it
// will disappear, and the caller may see a recreated object (new UID) next.
func deletion(obj *unstructured.Unstructured) (Result, bool) {
	if obj.GetDeletionTimestamp() == nil {
		return Result{}, false
	}
	msg := "object is being deleted"
	if f := obj.GetFinalizers(); len(f) > 0 {
		msg += " (finalizers: " + strings.Join(f, ", ") + ")"
	}
	return Result{State: Progressing, Reason: ReasonTerminating, Message: msg}, true
}

// generic delegates to kstatus for kinds without a built-in rule.
func (e *evaluator) generic() Result {
	res, err := status.Compute(e.obj)
	if err != nil {
		return invalid(err)
	}
	reason := ""
	if len(res.Conditions) > 0 {
		reason = res.Conditions[0].Reason
	}
	switch res.Status {
	case status.CurrentStatus:
		return Result{State: Ready, Message: res.Message}
	case status.InProgressStatus:
		return Result{State: Progressing, Reason: orDefault(reason, "InProgress"), Message: res.Message}
	case status.FailedStatus:
		return Result{State: Failed, Reason: orDefault(reason, "Stalled"), Message: res.Message}
	case status.TerminatingStatus:
		return Result{State: Progressing, Reason: ReasonTerminating, Message: res.Message}
	}
	return Result{State: Unknown, Reason: orDefault(reason, string(res.Status)), Message: res.Message}
}

// convert decodes the evaluated object into a typed struct. It skips the
// parts no rule reads and that dominate the cost of the reflective
// conversion: metadata.managedFields and the pod templates of workloads. The
// object itself is not modified (only the maps on the way are copied).
func (e *evaluator) convert(into any) error {
	content := e.obj.Object
	cloned := false
	set := func(key string, v any) {
		if !cloned {
			content, cloned = maps.Clone(content), true
		}
		content[key] = v
	}
	if md, ok := content["metadata"].(map[string]any); ok && md["managedFields"] != nil {
		md = maps.Clone(md)
		delete(md, "managedFields")
		set("metadata", md)
	}
	if spec, ok := content["spec"].(map[string]any); ok && (spec["template"] != nil || spec["volumeClaimTemplates"] != nil) {
		spec = maps.Clone(spec)
		delete(spec, "template")
		delete(spec, "volumeClaimTemplates")
		set("spec", spec)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, into); err != nil {
		return fmt.Errorf("decoding %s: %w", e.obj.GetKind(), err)
	}
	return nil
}

func invalid(err error) Result {
	return Result{State: Unknown, Reason: ReasonInvalidObject, Message: err.Error()}
}

// generationCheck returns judged=false and a Progressing result while the
// controller has not observed metadata.generation. With required, a missing
// status.observedGeneration counts as 0 (the controller has not written
// status yet); otherwise a missing field skips the check.
func generationCheck(obj *unstructured.Unstructured, required bool) (Result, bool) {
	gen := obj.GetGeneration()
	if gen == 0 {
		return Result{}, true
	}
	observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if err != nil {
		return invalid(fmt.Errorf("status.observedGeneration: %w", err)), false
	}
	if !found && !required {
		return Result{}, true
	}
	if observed >= gen {
		return Result{}, true
	}
	msg := fmt.Sprintf("waiting for controller to observe generation %d", gen)
	if observed > 0 {
		msg += fmt.Sprintf(" (observed %d)", observed)
	}
	return Result{State: Progressing, Reason: ReasonGenerationNotObserved, Message: msg}, false
}

// condition is the common shape of status conditions across kinds.
type condition struct {
	Type, Status, Reason, Message string
	LastTransitionTime            time.Time
	ObservedGeneration            int64
}

// staleFor reports whether the condition carries an observedGeneration older
// than gen.
func (c condition) staleFor(gen int64) bool {
	return c.ObservedGeneration > 0 && gen > 0 && c.ObservedGeneration < gen
}

// conditions reads status.conditions of any kind.
func conditions(obj *unstructured.Unstructured) ([]condition, error) {
	raw, found, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
	if err != nil {
		return nil, fmt.Errorf("status.conditions: %w", err)
	}
	if !found {
		return nil, nil
	}
	out := make([]condition, 0, len(raw))
	for _, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("status.conditions: item is %T, not an object", item)
		}
		c := condition{
			Type:    str(m["type"]),
			Status:  str(m["status"]),
			Reason:  str(m["reason"]),
			Message: str(m["message"]),
		}
		if ts := str(m["lastTransitionTime"]); ts != "" {
			if t, err := time.Parse(time.RFC3339, ts); err == nil {
				c.LastTransitionTime = t
			}
		}
		switch g := m["observedGeneration"].(type) {
		case int64:
			c.ObservedGeneration = g
		case float64:
			c.ObservedGeneration = int64(g)
		}
		out = append(out, c)
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func findCondition(conds []condition, typ string) (condition, bool) {
	for _, c := range conds {
		if c.Type == typ {
			return c, true
		}
	}
	return condition{}, false
}

// elapsedSince returns how long ago t was, never negative.
func (e *evaluator) elapsedSince(t time.Time) time.Duration {
	if t.IsZero() {
		return 1<<63 - 1
	}
	if d := e.now.Sub(t); d > 0 {
		return d
	}
	return 0
}

func plural(n int64, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
