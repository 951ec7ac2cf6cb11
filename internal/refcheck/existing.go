package refcheck

import (
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/trace"
)

// Helm's ownership metadata.
const (
	releaseNameAnnotation      = "meta.helm.sh/release-name"
	releaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
	managedByLabel             = "app.kubernetes.io/managed-by"
	hookAnnotation             = "helm.sh/hook"
)

// checkExisting checks an object against the one that exists: who owns it,
// and whether the step changes a field that cannot change.
func (r *run) checkExisting() {
	obj := r.obj
	if _, hook := obj.GetAnnotations()[hookAnnotation]; hook {
		// Hooks are made anew each time (delete policy), never adopted.
		return
	}
	full := r.step.Immutable && immutableKind(obj) && (r.step.Changed == nil || r.step.Changed[Ref(obj)])
	if !full && !r.step.Ownership {
		return
	}
	live := r.live(obj, full)
	if live == nil {
		return
	}
	if r.step.Ownership {
		r.checkOwner(live)
	}
	if full {
		r.checkImmutable(live)
	}
}

func (r *run) checkOwner(live *unstructured.Unstructured) {
	a := live.GetAnnotations()
	owner, ownerNS := a[releaseNameAnnotation], a[releaseNamespaceAnnotation]
	kind, name, ns := live.GetKind(), live.GetName(), live.GetNamespace()
	nsFlag := ""
	if ns != "" {
		nsFlag = " -n " + ns
	}
	if r.step.Release == "" {
		if owner != "" {
			r.report(trace.SeverityWarning, CheckOwnership, "metadata",
				fmt.Sprintf("%s belongs to Helm release %s (namespace %s): kube_apply changes fields the release manages, and its next upgrade may change them back", Ref(live), owner, ownerNS),
				"change it through the release's values instead, or silence with "+IgnoreAnnotation+": ownership")
		}
		return
	}
	if owner == r.step.Release && ownerNS == r.step.Namespace && live.GetLabels()[managedByLabel] == "Helm" {
		return
	}
	adopt := fmt.Sprintf("to adopt it into release %s: kubectl%s annotate %s %s --overwrite %s=%s %s=%s && kubectl%s label %s %s --overwrite %s=Helm",
		r.step.Release, nsFlag, strings.ToLower(kind), name, releaseNameAnnotation, r.step.Release, releaseNamespaceAnnotation, r.step.Namespace,
		nsFlag, strings.ToLower(kind), name, managedByLabel)
	switch {
	case owner != "" && (owner != r.step.Release || ownerNS != r.step.Namespace):
		r.report(trace.SeverityError, CheckOwnership, "metadata.annotations",
			fmt.Sprintf("%s already exists and belongs to release %s in namespace %s: Helm refuses to take it (invalid ownership metadata)", Ref(live), owner, ownerNS),
			"rename it in this chart, or remove it from release "+owner+" first; "+adopt)
	default:
		r.report(trace.SeverityError, CheckOwnership, "metadata.annotations",
			fmt.Sprintf("%s already exists and belongs to no Helm release (made by kubectl or another tool): Helm refuses to take it (invalid ownership metadata)", Ref(live)),
			adopt+"; or delete it first")
	}
}

// immutableKind reports whether the check of immutable fields needs the
// whole live object of obj's kind.
func immutableKind(obj *unstructured.Unstructured) bool {
	switch obj.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps", "StatefulSet.apps", "DaemonSet.apps", "ReplicaSet.apps", "Job.batch", "Service", "PersistentVolumeClaim":
		return true
	}
	return false
}

// checkImmutable: the step changes no field the API server refuses to
// change.
func (r *run) checkImmutable(live *unstructured.Unstructured) {
	obj := r.obj
	kind := obj.GroupVersionKind().GroupKind().String()
	nsFlag := ""
	if ns := obj.GetNamespace(); ns != "" {
		nsFlag = " -n " + ns
	}
	recreate := fmt.Sprintf("the API server refuses the change: to recreate the object, delete it first (kubectl%s delete %s %s, or kube_delete before this step), then deploy; its pods are replaced",
		nsFlag, strings.ToLower(obj.GetKind()), obj.GetName())
	changed := func(field string, path ...string) {
		r.report(trace.SeverityError, CheckImmutable, field,
			fmt.Sprintf("%s cannot change: %s → %s", field, show(live.Object, path), show(obj.Object, path)), recreate)
	}
	switch kind {
	case "Deployment.apps", "StatefulSet.apps", "DaemonSet.apps", "ReplicaSet.apps":
		if v, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "selector"); ok {
			old, _, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "selector")
			if !equalSelector(old, v) {
				changed("spec.selector", "spec", "selector")
			}
		}
	case "Job.batch":
		if v, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "template"); ok {
			old, _, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "template")
			if path, diff := subsetDiff(v, old, "spec.template"); diff {
				r.report(trace.SeverityError, CheckImmutable, path,
					fmt.Sprintf("a Job's pod template cannot change (%s differs from the Job that exists)", path),
					strings.Replace(recreate, "its pods are replaced", "the Job runs again", 1))
			}
		}
	case "Service":
		ip, ok, _ := unstructured.NestedString(obj.Object, "spec", "clusterIP")
		old, _, _ := unstructured.NestedString(live.Object, "spec", "clusterIP")
		if ok && ip != "" && old != "" && ip != old {
			changed("spec.clusterIP", "spec", "clusterIP")
		}
	case "PersistentVolumeClaim":
		sc, ok, _ := unstructured.NestedString(obj.Object, "spec", "storageClassName")
		old, _, _ := unstructured.NestedString(live.Object, "spec", "storageClassName")
		if ok && old != "" && sc != old {
			r.report(trace.SeverityError, CheckImmutable, "spec.storageClassName",
				fmt.Sprintf("a claim's storage class cannot change: %s → %s", old, sc),
				fmt.Sprintf("recreating the claim (kubectl%s delete pvc %s) loses its data unless it is copied first; or keep class %s", nsFlag, obj.GetName(), old))
		}
	}
	if kind == "StatefulSet.apps" {
		if v, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", "volumeClaimTemplates"); ok {
			old, _, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "volumeClaimTemplates")
			if path, diff := subsetDiff(stripStatus(v), old, "spec.volumeClaimTemplates"); diff {
				r.report(trace.SeverityError, CheckImmutable, path,
					fmt.Sprintf("a StatefulSet's volumeClaimTemplates cannot change (%s differs from the StatefulSet that exists)", path),
					fmt.Sprintf("delete the StatefulSet but keep its pods and claims (kubectl%s delete statefulset %s --cascade=orphan), then deploy; existing claims keep their old size and class", nsFlag, obj.GetName()))
			}
		}
	}
}

func show(obj map[string]any, path []string) string {
	v, ok, _ := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok {
		return "(none)"
	}
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ml, ok := x["matchLabels"].(map[string]any); ok && len(x) == 1 {
			var parts []string
			for _, k := range sortedAnyKeys(ml) {
				parts = append(parts, fmt.Sprintf("%s=%v", k, ml[k]))
			}
			return strings.Join(parts, ",")
		}
	}
	return fmt.Sprint(v)
}

func sortedAnyKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func equalSelector(a, b any) bool {
	return reflect.DeepEqual(normalizeSel(a), normalizeSel(b))
}

func normalizeSel(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		if s, ok := x.([]any); ok && len(s) == 0 {
			continue
		}
		if mm, ok := x.(map[string]any); ok && len(mm) == 0 {
			continue
		}
		out[k] = x
	}
	return out
}

func stripStatus(v any) any {
	s, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(s))
	for i, x := range s {
		if m, ok := x.(map[string]any); ok {
			cp := map[string]any{}
			for k, y := range m {
				if k != "status" {
					cp[k] = y
				}
			}
			x = cp
		}
		out[i] = x
	}
	return out
}

// subsetDiff reports the first path where want (the rendered value) sets a
// field to something other than have (the live value, which carries the
// server's defaults besides). Quantities compare by value.
func subsetDiff(want, have any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return path, len(w) > 0
		}
		for _, k := range sortedAnyKeys(w) {
			if p, d := subsetDiff(w[k], h[k], path+"."+k); d {
				return p, true
			}
		}
		return "", false
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return path, len(w) > 0 || ok
		}
		for i := range w {
			if p, d := subsetDiff(w[i], h[i], fmt.Sprintf("%s[%d]", path, i)); d {
				return p, true
			}
		}
		return "", false
	case nil:
		return "", false
	}
	if reflect.DeepEqual(want, have) || fmt.Sprint(want) == fmt.Sprint(have) {
		return "", false
	}
	ws, wok := want.(string)
	hs, hok := have.(string)
	if wok && hok {
		a, aerr := resource.ParseQuantity(ws)
		b, berr := resource.ParseQuantity(hs)
		if aerr == nil && berr == nil && a.Cmp(b) == 0 {
			return "", false
		}
	}
	return path, true
}
