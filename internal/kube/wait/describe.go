package wait

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// builtinKinds maps the lower-case kind, its plural resource and its short
// name to the group and kind, for describing targets without asking the
// cluster (dry runs).
var builtinKinds = func() map[string]schema.GroupKind {
	m := map[string]schema.GroupKind{}
	add := func(group, kind, plural string) {
		gk := schema.GroupKind{Group: group, Kind: kind}
		m[strings.ToLower(kind)] = gk
		m[plural] = gk
	}
	add("apps", "Deployment", "deployments")
	add("apps", "StatefulSet", "statefulsets")
	add("apps", "DaemonSet", "daemonsets")
	add("apps", "ReplicaSet", "replicasets")
	add("batch", "Job", "jobs")
	add("batch", "CronJob", "cronjobs")
	add("", "Pod", "pods")
	add("", "PersistentVolumeClaim", "persistentvolumeclaims")
	add("", "PersistentVolume", "persistentvolumes")
	add("", "Service", "services")
	add("", "ConfigMap", "configmaps")
	add("", "Secret", "secrets")
	add("", "ServiceAccount", "serviceaccounts")
	add("", "Namespace", "namespaces")
	add("", "Endpoints", "endpoints")
	add("", "ReplicationController", "replicationcontrollers")
	add("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions")
	add("apiregistration.k8s.io", "APIService", "apiservices")
	add("networking.k8s.io", "Ingress", "ingresses")
	add("networking.k8s.io", "NetworkPolicy", "networkpolicies")
	add("policy", "PodDisruptionBudget", "poddisruptionbudgets")
	add("autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
	add("storage.k8s.io", "StorageClass", "storageclasses")
	add("rbac.authorization.k8s.io", "Role", "roles")
	add("rbac.authorization.k8s.io", "RoleBinding", "rolebindings")
	add("rbac.authorization.k8s.io", "ClusterRole", "clusterroles")
	add("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings")
	add("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations")
	add("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations")
	for short, plural := range shortNames {
		if gk, ok := m[plural]; ok {
			m[short] = gk
		}
	}
	return m
}()

// clusterScoped are the built-in kinds without a namespace.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:        true,
	{Kind: "Node"}:             true,
	{Kind: "PersistentVolume"}: true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:               true,
	{Group: "apiregistration.k8s.io", Kind: "APIService"}:                           true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:                       true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:                true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                                 true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:                                    true,
	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}:                             true,
	{Group: "networking.k8s.io", Kind: "IngressClass"}:                              true,
	{Group: "node.k8s.io", Kind: "RuntimeClass"}:                                    true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:   true,
}

// ClusterScoped reports whether gk is a built-in kind without a namespace,
// for describing targets without asking the cluster. Custom kinds are
// assumed to be namespaced.
func ClusterScoped(gk schema.GroupKind) bool { return clusterScoped[gk] }

// GuessKind resolves a kind as a user wrote it ("pvc", "deployment",
// "Certificate.cert-manager.io") without asking the cluster: built-in kinds
// by name, resource or short name; anything else by splitting off the
// group. ok is false when the kind could only be guessed from its spelling.
func GuessKind(kind string) (gk schema.GroupKind, ok bool) {
	if strings.Contains(kind, "/") {
		i := strings.LastIndex(kind, "/")
		gv, err := schema.ParseGroupVersion(kind[:i])
		if err == nil {
			gk = schema.GroupKind{Group: gv.Group, Kind: kind[i+1:]}
			_, known := builtinKinds[strings.ToLower(gk.Kind)]
			return gk, known
		}
	}
	lower := strings.ToLower(kind)
	if gk, ok := builtinKinds[lower]; ok {
		return gk, true
	}
	res, group, _ := strings.Cut(kind, ".")
	if gk, ok := builtinKinds[strings.ToLower(res)]; ok && strings.EqualFold(gk.Group, group) {
		return gk, true
	}
	return schema.GroupKind{Group: group, Kind: res}, false
}

// RuleText says in one line what a wait for an object of kind gk waits for,
// for dry runs and documentation. A plan rule for the kind wins.
func RuleText(gk schema.GroupKind, opts Options) string {
	for _, r := range opts.Readiness.Rules {
		if r.Kind == gk.Kind && r.Group == gk.Group {
			return "plan rule " + ruleName(r) + ": " + ruleDescription(r)
		}
	}
	pods := fmt.Sprintf("; fails fast on pod problems (image pull after %s, crash loop at %d restarts)",
		orDur(opts.Readiness.ImagePullGrace, readiness.DefaultImagePullGrace), orCount(opts.Readiness.CrashLoopRestarts, readiness.DefaultCrashLoopRestarts))
	switch gk {
	case schema.GroupKind{Group: "apps", Kind: "Deployment"}:
		return "all replicas updated and available, old pods gone" + pods
	case schema.GroupKind{Group: "apps", Kind: "StatefulSet"}:
		return "all replicas ready at the update revision" + pods
	case schema.GroupKind{Group: "apps", Kind: "DaemonSet"}:
		return "updated and available on every scheduled node" + pods
	case schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, schema.GroupKind{Kind: "ReplicationController"}:
		return "all replicas ready and available" + pods
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		return "Complete (Failed fails)" + pods
	case schema.GroupKind{Kind: "Pod"}:
		return "Ready (or Succeeded)" + pods
	case schema.GroupKind{Kind: "PersistentVolumeClaim"}:
		return "Bound, or Pending on a WaitForFirstConsumer class (awaiting first consumer)"
	case schema.GroupKind{Kind: "Service"}:
		lb := opts.LoadBalancerTimeout
		if lb <= 0 {
			lb = DefaultLoadBalancerTimeout
		}
		// The type is not known before the object is read: say what each
		// type waits for (the live wait names the real type).
		return fmt.Sprintf("ClusterIP, NodePort, ExternalName: exists; LoadBalancer: an ingress address within %s", round(lb))
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		return "Established and NamesAccepted, then the REST mapping is refreshed"
	case schema.GroupKind{Kind: "Namespace"}:
		return "Active"
	case schema.GroupKind{Group: "apiregistration.k8s.io", Kind: "APIService"}:
		return "Available"
	case schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"},
		schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:
		return "every Service its webhooks call has a ready endpoint"
	}
	if _, ok := builtinKinds[strings.ToLower(gk.Kind)]; ok && gk.Group == builtinKinds[strings.ToLower(gk.Kind)].Group {
		return "exists"
	}
	if d, ok := readiness.OperatorRuleText(gk); ok {
		return d + "; no status yet: waiting for its operator (fails after " + round(readiness.DefaultControllerGrace) + ")"
	}
	return "kstatus conditions (Ready / Reconciling / Stalled), or a plan rule; no status yet on a kind with a status subresource: waiting for its controller (fails after " + round(readiness.DefaultControllerGrace) + ")"
}

func ruleName(r readiness.Rule) string {
	if r.Name != "" {
		return r.Name
	}
	return "PlanRule"
}

func ruleDescription(r readiness.Rule) string {
	if r.Func != nil {
		return "a plan function decides"
	}
	s := fmt.Sprintf("condition %s=%s", r.ReadyCondition, orStr(r.ReadyStatus, "True"))
	if r.FailedCondition != "" {
		s += fmt.Sprintf(", failed on %s=%s", r.FailedCondition, orStr(r.FailedStatus, "True"))
	}
	return s
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDur(d, def time.Duration) string {
	if d == 0 {
		d = def
	}
	if d < 0 {
		d = 0
	}
	return round(d)
}

func orCount(n, def int32) int32 {
	if n == 0 {
		return def
	}
	return n
}
