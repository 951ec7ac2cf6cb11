package refcheck

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/plate-dev/plate/internal/trace"
)

// usage is what objects take of a quota, by quota resource name.
type usage map[corev1.ResourceName]*resource.Quantity

func (u usage) add(name corev1.ResourceName, q resource.Quantity, times int64) {
	if times == 0 {
		return
	}
	if u[name] == nil {
		u[name] = resource.NewQuantity(0, q.Format)
	}
	u[name].Add(*resource.NewMilliQuantity(q.MilliValue()*times, q.Format))
}

func (u usage) count(name corev1.ResourceName, n int64) {
	u.add(name, *resource.NewQuantity(1, resource.DecimalSI), n)
}

// usageOf is what one object takes of a namespace's quotas while it runs:
// its pods' requests and limits times the pods it makes at once, its
// claims' storage, and its object count.
func (r *run) usageOf(obj *unstructured.Unstructured) usage {
	u := usage{}
	gk := obj.GroupVersionKind().GroupKind()
	if pt, ok := podTemplateOf(obj); ok {
		pods := pt.pods
		if pods < 0 {
			pods = r.daemonPods(&pt.spec)
		}
		u.count(corev1.ResourcePods, pods)
		req, lim := podRequests(&pt.spec), podLimits(&pt.spec)
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			if q, ok := req[res]; ok {
				u.add(corev1.ResourceName("requests."+string(res)), q, pods)
				u.add(res, q, pods)
			}
			if q, ok := lim[res]; ok {
				u.add(corev1.ResourceName("limits."+string(res)), q, pods)
			}
		}
		if gk.String() == "StatefulSet.apps" {
			vcts, _, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
			for _, v := range vcts {
				m, _ := v.(map[string]any)
				if s, ok, _ := unstructured.NestedString(m, "spec", "resources", "requests", "storage"); ok {
					if q, err := resource.ParseQuantity(s); err == nil {
						u.add(corev1.ResourceRequestsStorage, q, pods)
						u.count(corev1.ResourcePersistentVolumeClaims, pods)
					}
				}
			}
		}
	}
	switch gk {
	case gkPVC:
		if s, ok, _ := unstructured.NestedString(obj.Object, "spec", "resources", "requests", "storage"); ok {
			if q, err := resource.ParseQuantity(s); err == nil {
				u.add(corev1.ResourceRequestsStorage, q, 1)
			}
		}
		u.count(corev1.ResourcePersistentVolumeClaims, 1)
	case gkService:
		u.count(corev1.ResourceServices, 1)
		switch t, _, _ := unstructured.NestedString(obj.Object, "spec", "type"); t {
		case "LoadBalancer":
			u.count(corev1.ResourceServicesLoadBalancers, 1)
		case "NodePort":
			u.count(corev1.ResourceServicesNodePorts, 1)
		}
	case gkSecret:
		u.count(corev1.ResourceSecrets, 1)
	case gkConfigMap:
		u.count(corev1.ResourceConfigMaps, 1)
	}
	return u
}

// daemonPods is the number of nodes a DaemonSet's pods may run on.
func (r *run) daemonPods(spec *corev1.PodSpec) int64 {
	objs, err := r.c.Reader.List(r.ctx, gkNode, "", true)
	if err != nil {
		return 0
	}
	var n int64
	for _, o := range objs {
		var node corev1.Node
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &node) != nil {
			continue
		}
		if _, bad := untoleratedTaint(spec.Tolerations, node.Spec.Taints); !bad && nodeMatches(spec, &node) {
			n++
		}
	}
	return n
}

// checkQuota: in each namespace the step touches, what its objects add
// (what a new object takes; for one that exists, what it takes more than
// the live one) fits in every ResourceQuota without scopes.
func (r *run) checkQuota() {
	byNS := map[string][]*unstructured.Unstructured{}
	var namespaces []string
	for _, o := range r.step.Objects {
		ns := o.GetNamespace()
		if ns == "" {
			continue
		}
		if _, hook := o.GetAnnotations()[hookAnnotation]; hook && o.GetKind() != "Job" && o.GetKind() != "Pod" {
			continue
		}
		if byNS[ns] == nil {
			namespaces = append(namespaces, ns)
		}
		byNS[ns] = append(byNS[ns], o)
	}
	sort.Strings(namespaces)
	for _, ns := range namespaces {
		if r.newNamespace(ns) {
			continue
		}
		quotas, err := r.c.Reader.List(r.ctx, gkQuota, ns, true)
		if err != nil {
			r.note(CheckQuota, err, "resourcequotas")
			continue
		}
		if len(quotas) == 0 {
			continue
		}
		add := usage{}
		contributors := map[corev1.ResourceName][]string{}
		for _, o := range byNS[ns] {
			u := r.usageOf(o)
			if old := r.live(o, true); old != nil {
				ou := r.usageOf(old)
				for k, q := range u {
					if oq := ou[k]; oq != nil {
						q.Sub(*oq)
					}
				}
			}
			for k, q := range u {
				if q.Sign() <= 0 {
					continue
				}
				add.add(k, *q, 1)
				contributors[k] = append(contributors[k], Ref(o))
			}
		}
		for _, qo := range quotas {
			var q corev1.ResourceQuota
			if runtime.DefaultUnstructuredConverter.FromUnstructured(qo.Object, &q) != nil {
				continue
			}
			if len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil {
				continue
			}
			for _, name := range sortedResourceNames(q.Spec.Hard) {
				hard := q.Spec.Hard[name]
				more := add[name]
				if more == nil {
					continue
				}
				used := q.Status.Used[name]
				total := used.DeepCopy()
				total.Add(*more)
				if total.Cmp(hard) <= 0 {
					continue
				}
				who := contributors[name]
				qobj := qo.DeepCopy()
				qobj.SetKind("ResourceQuota")
				r.reportOnStep(qobj, who, trace.SeverityError, CheckQuota, "spec.hard."+string(name),
					fmt.Sprintf("ResourceQuota %s/%s: %s would reach %s of %s (used %s, this step adds %s for %s): the API server refuses what does not fit",
						ns, q.Name, name, total.String(), hard.String(), used.String(), more.String(), strings.Join(who, ", ")),
					"raise the quota, or lower replicas or requests")
			}
		}
	}
}

// reportOnStep reports a finding about obj (not an object of the step)
// unless the step silences it, or every object in who silences it.
func (r *run) reportOnStep(obj *unstructured.Unstructured, who []string, sev, check, field, msg, hint string) {
	silent := len(who) > 0
	for _, ref := range who {
		for _, o := range r.step.Objects {
			if Ref(o) == ref && !silenced(o, check) {
				silent = false
			}
		}
	}
	if silent {
		return
	}
	for _, ig := range r.step.Ignore {
		if name, _, one := strings.Cut(ig, ":"); (name == check || name == "all") && !one {
			return
		}
	}
	r.findings = append(r.findings, trace.Finding{Severity: sev, Check: check, Object: Ref(obj), Field: field, Message: msg, Hint: hint})
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
