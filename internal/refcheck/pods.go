package refcheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"

	"github.com/plate-dev/plate/internal/trace"
)

// podTemplate is the pod spec of a workload, with its field path and how
// many pods the object makes at once.
type podTemplate struct {
	spec corev1.PodSpec
	path string
	pods int64
}

// podTemplateOf finds the pod spec of every workload kind: Pod, Deployment,
// ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job, CronJob.
func podTemplateOf(obj *unstructured.Unstructured) (*podTemplate, bool) {
	var fields []string
	pods := int64(1)
	switch obj.GroupVersionKind().GroupKind().String() {
	case "Pod":
		fields = []string{"spec"}
	case "Deployment.apps", "ReplicaSet.apps", "StatefulSet.apps", "ReplicationController":
		fields = []string{"spec", "template", "spec"}
		if n, ok, _ := intAt(obj.Object, "spec", "replicas"); ok {
			pods = n
		}
	case "DaemonSet.apps":
		fields = []string{"spec", "template", "spec"}
		pods = -1 // one per node it may run on
	case "Job.batch":
		fields = []string{"spec", "template", "spec"}
		if n, ok, _ := intAt(obj.Object, "spec", "parallelism"); ok {
			pods = n
		}
		if n, ok, _ := intAt(obj.Object, "spec", "completions"); ok && n < pods {
			pods = n
		}
	case "CronJob.batch":
		fields = []string{"spec", "jobTemplate", "spec", "template", "spec"}
		pods = 0 // its Jobs come later
	default:
		return nil, false
	}
	m, ok, _ := unstructured.NestedMap(obj.Object, fields...)
	if !ok {
		return nil, false
	}
	pt := &podTemplate{path: strings.Join(fields, "."), pods: pods}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &pt.spec); err != nil {
		return nil, false
	}
	return pt, true
}

// checkPods checks the references of a pod template.
func (r *run) checkPods() {
	pt, ok := podTemplateOf(r.obj)
	if !ok {
		return
	}
	ns := r.obj.GetNamespace()
	spec, p := &pt.spec, pt.path
	var secrets, configMaps lookup
	secret := func(name, field string) {
		if secrets.names == nil {
			secrets = r.secretsIn(ns)
		}
		if secrets.ok && !secrets.has(name) {
			r.report(trace.SeverityError, CheckSecret, field,
				fmt.Sprintf("Secret %s/%s does not exist and no earlier step creates it", ns, name),
				"create it before this step (kube_apply, or the release that makes it, earlier in the plan); or mark the reference optional: true")
		}
	}
	configMap := func(name, field string) {
		if configMaps.names == nil {
			configMaps = r.objects(CheckConfigMap, gkConfigMap, ns, false, "configmaps")
		}
		if configMaps.ok && !configMaps.has(name) {
			r.report(trace.SeverityError, CheckConfigMap, field,
				fmt.Sprintf("ConfigMap %s/%s does not exist and no earlier step creates it", ns, name),
				"create it before this step, or mark the reference optional: true")
		}
	}
	for i, ps := range spec.ImagePullSecrets {
		if ps.Name != "" {
			secret(ps.Name, fmt.Sprintf("%s.imagePullSecrets[%d].name", p, i))
		}
	}
	for i, v := range spec.Volumes {
		vp := fmt.Sprintf("%s.volumes[%d]", p, i)
		switch {
		case v.Secret != nil && !isTrue(v.Secret.Optional) && v.Secret.SecretName != "":
			secret(v.Secret.SecretName, vp+".secret.secretName")
		case v.ConfigMap != nil && !isTrue(v.ConfigMap.Optional) && v.ConfigMap.Name != "":
			configMap(v.ConfigMap.Name, vp+".configMap.name")
		case v.Projected != nil:
			for j, s := range v.Projected.Sources {
				sp := fmt.Sprintf("%s.projected.sources[%d]", vp, j)
				if s.Secret != nil && !isTrue(s.Secret.Optional) && s.Secret.Name != "" {
					secret(s.Secret.Name, sp+".secret.name")
				}
				if s.ConfigMap != nil && !isTrue(s.ConfigMap.Optional) && s.ConfigMap.Name != "" {
					configMap(s.ConfigMap.Name, sp+".configMap.name")
				}
			}
		}
	}
	containers := func(kind string, cs []corev1.Container) {
		for i, c := range cs {
			cp := fmt.Sprintf("%s.%s[%d]", p, kind, i)
			for j, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				ep := fmt.Sprintf("%s.env[%d].valueFrom", cp, j)
				if k := e.ValueFrom.SecretKeyRef; k != nil && !isTrue(k.Optional) && k.Name != "" {
					secret(k.Name, ep+".secretKeyRef.name")
				}
				if k := e.ValueFrom.ConfigMapKeyRef; k != nil && !isTrue(k.Optional) && k.Name != "" {
					configMap(k.Name, ep+".configMapKeyRef.name")
				}
			}
			for j, e := range c.EnvFrom {
				ep := fmt.Sprintf("%s.envFrom[%d]", cp, j)
				if e.SecretRef != nil && !isTrue(e.SecretRef.Optional) && e.SecretRef.Name != "" {
					secret(e.SecretRef.Name, ep+".secretRef.name")
				}
				if e.ConfigMapRef != nil && !isTrue(e.ConfigMapRef.Optional) && e.ConfigMapRef.Name != "" {
					configMap(e.ConfigMapRef.Name, ep+".configMapRef.name")
				}
			}
		}
	}
	containers("initContainers", spec.InitContainers)
	containers("containers", spec.Containers)

	sa, saField := spec.ServiceAccountName, p+".serviceAccountName"
	if sa == "" {
		sa, saField = spec.DeprecatedServiceAccount, p+".serviceAccount"
	}
	if sa != "" && sa != "default" {
		l := r.objects(CheckServiceAccount, gkServiceAccount, ns, false, "serviceaccounts")
		if l.ok && !l.has(sa) {
			r.report(trace.SeverityError, CheckServiceAccount, saField,
				fmt.Sprintf("ServiceAccount %s/%s does not exist and no earlier step creates it: the controller cannot create the pods", ns, sa),
				"create the ServiceAccount before this step (a chart value such as serviceAccount.create often does)")
		}
	}
	if pc := spec.PriorityClassName; pc != "" {
		l := r.objects(CheckPriorityClass, gkPriorityClass, "", false, "priorityclasses")
		if l.ok && !l.has(pc) {
			r.report(trace.SeverityError, CheckPriorityClass, p+".priorityClassName",
				fmt.Sprintf("PriorityClass %s does not exist (classes: %s): the pods are refused", pc, l.list(8)),
				"create the PriorityClass earlier in the plan, or use one of the existing classes")
		}
	}
	if rc := spec.RuntimeClassName; rc != nil && *rc != "" {
		l := r.objects(CheckRuntimeClass, gkRuntimeClass, "", false, "runtimeclasses")
		if l.ok && !l.has(*rc) {
			r.report(trace.SeverityError, CheckRuntimeClass, p+".runtimeClassName",
				fmt.Sprintf("RuntimeClass %s does not exist (classes: %s): the pods are refused", *rc, l.list(8)),
				"create the RuntimeClass earlier in the plan, or drop runtimeClassName")
		}
	}
	r.checkNodes(pt)
}

// secretsIn is what is known of Secrets in ns, with the Secrets that
// objects of the step or of earlier steps make later: cert-manager
// Certificates (spec.secretName), ExternalSecrets (spec.target.name, else
// their name) and SealedSecrets (their name).
func (r *run) secretsIn(ns string) lookup {
	l := r.objects(CheckSecret, gkSecret, ns, false, "secrets")
	for _, gen := range []struct {
		group, kind string
		name        func(o *unstructured.Unstructured) string
	}{
		{"cert-manager.io", "Certificate", func(o *unstructured.Unstructured) string {
			s, _, _ := unstructured.NestedString(o.Object, "spec", "secretName")
			return s
		}},
		{"external-secrets.io", "ExternalSecret", func(o *unstructured.Unstructured) string {
			if s, _, _ := unstructured.NestedString(o.Object, "spec", "target", "name"); s != "" {
				return s
			}
			return o.GetName()
		}},
		{"bitnami.com", "SealedSecret", func(o *unstructured.Unstructured) string { return o.GetName() }},
	} {
		gk := ownKey{gk: schemaGK(gen.group, gen.kind), ns: ns}
		objs := append([]*unstructured.Unstructured(nil), r.own[gk]...)
		if r.c.Planned != nil {
			objs = append(objs, r.c.Planned.Objects(gk.gk, ns)...)
		}
		for _, o := range objs {
			if n := gen.name(o); n != "" {
				l.names[n] = o
			}
		}
	}
	return l
}

// intAt reads a whole number however it was decoded (int64 from the API
// server, float64 or json.Number from YAML).
func intAt(obj map[string]any, fields ...string) (int64, bool, error) {
	v, ok, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if !ok || err != nil {
		return 0, false, err
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case int:
		return int64(n), true, nil
	case int32:
		return int64(n), true, nil
	case float64:
		return int64(n), true, nil
	case json.Number:
		i, err := n.Int64()
		return i, err == nil, err
	}
	return 0, false, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// autoscaled reports whether the nodes show a cluster autoscaler: then a
// pod no node takes today may get a new node, and the node findings are
// warnings.
func autoscaled(nodes []corev1.Node) bool {
	for _, n := range nodes {
		for k := range n.Labels {
			for _, p := range []string{"karpenter.sh/", "cloud.google.com/gke-nodepool", "eks.amazonaws.com/nodegroup", "kubernetes.azure.com/agentpool", "cluster-autoscaler"} {
				if strings.HasPrefix(k, p) {
					return true
				}
			}
		}
		for k := range n.Annotations {
			if strings.HasPrefix(k, "cluster-autoscaler.kubernetes.io/") {
				return true
			}
		}
	}
	return false
}

// checkNodes: some schedulable node satisfies the pod's nodeSelector and
// required node affinity, tolerates... and has room for its requests.
func (r *run) checkNodes(pt *podTemplate) {
	nodes, ok := r.nodes()
	if !ok || len(nodes) == 0 {
		return
	}
	sev := trace.SeverityError
	if autoscaled(nodes) {
		sev = trace.SeverityWarning
	}
	spec, p := &pt.spec, pt.path
	var matching []corev1.Node
	for _, n := range nodes {
		if !n.Spec.Unschedulable && nodeMatches(spec, &n) {
			matching = append(matching, n)
		}
	}
	if len(matching) == 0 {
		field := p + ".nodeSelector"
		if len(spec.NodeSelector) == 0 {
			field = p + ".affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
		}
		r.report(sev, CheckNodeSelector, field,
			fmt.Sprintf("no schedulable node matches %s (nodes: %d)", describeSelector(spec), len(nodes)),
			"label a node to match (kubectl label node NAME key=value), or fix the selector")
		return
	}
	var tolerating []corev1.Node
	untolerated := map[string]bool{}
	for _, n := range matching {
		if t, ok := untoleratedTaint(spec.Tolerations, n.Spec.Taints); ok {
			untolerated[t] = true
			continue
		}
		tolerating = append(tolerating, n)
	}
	if len(tolerating) == 0 {
		r.report(sev, CheckTaints, p+".tolerations",
			fmt.Sprintf("every node the pod may run on has a taint it does not tolerate: %s", sortedKeys(untolerated)),
			"add a toleration for the taint, or run on other nodes")
		return
	}
	if pt.pods < 0 {
		pt.pods = int64(len(tolerating))
	}
	// Requests: each container's, and the pod's (the sum of its
	// containers', or its largest init container's), against the largest
	// allocatable of the nodes it may run on.
	req := podRequests(spec)
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		q, ok := req[res]
		if !ok || q.IsZero() {
			continue
		}
		var best resource.Quantity
		var bestNode string
		for _, n := range tolerating {
			a, ok := n.Status.Allocatable[res]
			if !ok {
				best, bestNode = q, ""
				break
			}
			if a.Cmp(best) > 0 {
				best, bestNode = a, n.Name
			}
		}
		if bestNode == "" || q.Cmp(best) <= 0 {
			continue
		}
		r.report(sev, CheckResources, p+".containers[*].resources.requests."+string(res),
			fmt.Sprintf("the pod requests %s %s; the largest allocatable of the nodes it may run on is %s (node %s): it stays Pending", q.String(), res, best.String(), bestNode),
			"lower the request, or add a larger node")
	}
}

// nodes lists the cluster's nodes (typed), once per pass.
func (r *run) nodes() ([]corev1.Node, bool) {
	objs, err := r.c.Reader.List(r.ctx, gkNode, "", true)
	if err != nil {
		r.note(CheckNodeSelector, err, "nodes")
		return nil, false
	}
	out := make([]corev1.Node, 0, len(objs))
	for _, o := range objs {
		var n corev1.Node
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &n) == nil {
			out = append(out, n)
		}
	}
	return out, true
}

// podRequests is what the scheduler counts for a pod: the larger of the sum
// of its containers' requests and each init container's (requests default
// to limits).
func podRequests(spec *corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range spec.Containers {
		for k, v := range containerRequests(c) {
			q := out[k]
			q.Add(v)
			out[k] = q
		}
	}
	for _, c := range spec.InitContainers {
		for k, v := range containerRequests(c) {
			if q, ok := out[k]; !ok || v.Cmp(q) > 0 {
				out[k] = v
			}
		}
	}
	return out
}

func containerRequests(c corev1.Container) corev1.ResourceList {
	out := corev1.ResourceList{}
	for k, v := range c.Resources.Limits {
		out[k] = v
	}
	for k, v := range c.Resources.Requests {
		out[k] = v
	}
	return out
}

func podLimits(spec *corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range spec.Containers {
		for k, v := range c.Resources.Limits {
			q := out[k]
			q.Add(v)
			out[k] = q
		}
	}
	return out
}

// nodeMatches reports whether n satisfies the pod's nodeSelector, its
// required node affinity and its nodeName.
func nodeMatches(spec *corev1.PodSpec, n *corev1.Node) bool {
	if spec.NodeName != "" && spec.NodeName != n.Name {
		return false
	}
	for k, v := range spec.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return true
	}
	for _, t := range terms {
		if termMatches(t, n) {
			return true
		}
	}
	return false
}

// termMatches: every expression of the term holds (terms are ORed; an
// empty term matches nothing, as the scheduler has it).
func termMatches(t corev1.NodeSelectorTerm, n *corev1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, e := range t.MatchExpressions {
		v, has := n.Labels[e.Key]
		if !requirementHolds(e, v, has) {
			return false
		}
	}
	for _, e := range t.MatchFields {
		if e.Key != "metadata.name" || !requirementHolds(e, n.Name, true) {
			return false
		}
	}
	return true
}

func requirementHolds(e corev1.NodeSelectorRequirement, v string, has bool) bool {
	in := func() bool {
		for _, x := range e.Values {
			if x == v {
				return true
			}
		}
		return false
	}
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		return has && in()
	case corev1.NodeSelectorOpNotIn:
		return !has || !in()
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(e.Values) != 1 {
			return false
		}
		var a, b int64
		if _, err := fmt.Sscan(v, &a); err != nil {
			return false
		}
		if _, err := fmt.Sscan(e.Values[0], &b); err != nil {
			return false
		}
		if e.Operator == corev1.NodeSelectorOpGt {
			return a > b
		}
		return a < b
	}
	return false
}

// untoleratedTaint returns a NoSchedule or NoExecute taint of the node
// that no toleration tolerates.
func untoleratedTaint(tols []corev1.Toleration, taints []corev1.Taint) (string, bool) {
	for i := range taints {
		t := &taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		ok := false
		for j := range tols {
			if tols[j].ToleratesTaint(klog.Background(), t, false) {
				ok = true
				break
			}
		}
		if !ok {
			return t.ToString(), true
		}
	}
	return "", false
}

func describeSelector(spec *corev1.PodSpec) string {
	var parts []string
	for _, k := range sortedMapKeys(spec.NodeSelector) {
		parts = append(parts, k+"="+spec.NodeSelector[k])
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		var terms []string
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			var es []string
			for _, e := range t.MatchExpressions {
				es = append(es, fmt.Sprintf("%s %s %v", e.Key, e.Operator, e.Values))
			}
			for _, e := range t.MatchFields {
				es = append(es, fmt.Sprintf("%s %s %v", e.Key, e.Operator, e.Values))
			}
			terms = append(terms, strings.Join(es, " and "))
		}
		parts = append(parts, "required affinity ("+strings.Join(terms, ") or (")+")")
	}
	if spec.NodeName != "" {
		parts = append(parts, "nodeName "+spec.NodeName)
	}
	return strings.Join(parts, ", ")
}

func sortedMapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]bool) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
