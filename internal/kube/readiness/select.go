package readiness

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// OwnsPods reports whether obj is a workload whose pods Evaluate inspects:
// Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController or
// Job. (A bare Pod is evaluated itself and needs no related pods.)
func OwnsPods(obj *unstructured.Unstructured) bool {
	if obj == nil {
		return false
	}
	switch obj.GroupVersionKind().GroupKind() {
	case gkDeployment, gkStatefulSet, gkDaemonSet, gkReplicaSet, gkRC, gkJob:
		return true
	}
	return false
}

// PodSelector returns the label selector of the pods obj owns, for listing
// or watching them in obj's namespace. ok is false for kinds that do not own
// pods and for missing, invalid or empty selectors (an empty selector would
// match every pod in the namespace). Selected pods should still be filtered
// with OwnedPods, since selectors of different workloads may overlap.
func PodSelector(obj *unstructured.Unstructured) (sel labels.Selector, ok bool) {
	if !OwnsPods(obj) {
		return nil, false
	}
	if obj.GroupVersionKind().GroupKind() == gkRC {
		m, found, err := unstructured.NestedStringMap(obj.Object, "spec", "selector")
		if err != nil || !found || len(m) == 0 {
			return nil, false
		}
		return labels.SelectorFromSet(m), true
	}
	raw, found, err := unstructured.NestedMap(obj.Object, "spec", "selector")
	if err != nil || !found {
		return nil, false
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, false
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || s.Empty() {
		return nil, false
	}
	return s, true
}

// OwnedReplicaSets returns the ReplicaSets controlled by obj (a Deployment).
func OwnedReplicaSets(obj *unstructured.Unstructured, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	if obj == nil {
		return nil
	}
	owner := refOf(obj)
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && controlledBy(rs.OwnerReferences, owner) {
			out = append(out, rs)
		}
	}
	return out
}

// OwnedPods returns the pods controlled by obj directly or through one of
// the ReplicaSets in rss that obj controls (for Deployments). Ownership is
// decided by controller owner references: by UID when obj has one, else by
// kind and name.
func OwnedPods(obj *unstructured.Unstructured, pods []*corev1.Pod, rss []*appsv1.ReplicaSet) []*corev1.Pod {
	if obj == nil {
		return nil
	}
	owners := []objRef{refOf(obj)}
	for _, rs := range OwnedReplicaSets(obj, rss) {
		owners = append(owners, objRef{kind: "ReplicaSet", namespace: rs.Namespace, name: rs.Name, uid: rs.UID})
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p == nil || p.Namespace != obj.GetNamespace() {
			continue
		}
		for _, o := range owners {
			if controlledBy(p.OwnerReferences, o) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// controlledBy reports whether the controller reference among refs points
// at owner.
func controlledBy(refs []metav1.OwnerReference, owner objRef) bool {
	for _, r := range refs {
		if r.Controller == nil || !*r.Controller {
			continue
		}
		if owner.uid != "" && r.UID != "" {
			return r.UID == owner.uid
		}
		return r.Kind == owner.kind && r.Name == owner.name
	}
	return false
}
