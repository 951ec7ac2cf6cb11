package readiness

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LoadBalancerHint is appended to the message of a LoadBalancer Service
// without an address: on bare-metal clusters nothing assigns one unless a
// load balancer implementation is installed and configured.
const LoadBalancerHint = "no external address assigned yet; on bare metal this needs a load balancer " +
	"implementation such as MetalLB with an IPAddressPool and an L2Advertisement (or BGPAdvertisement) covering this service"

func (e *evaluator) service() Result {
	var s corev1.Service
	if err := e.convert(&s); err != nil {
		return invalid(err)
	}
	typ := orDefault(string(s.Spec.Type), string(corev1.ServiceTypeClusterIP))
	if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return Result{State: Ready, Message: typ + " service"}
	}
	var addrs []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a := orDefault(in.IP, in.Hostname); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		return Result{State: Ready, Message: "load balancer at " + strings.Join(addrs, ", ")}
	}
	return Result{State: Progressing, Reason: ReasonAwaitingLoadBalancer, Message: joinMsg(LoadBalancerHint, e.lastWarning())}
}

func (e *evaluator) crd() Result {
	if res, judged := generationCheck(e.obj, false); !judged {
		return res
	}
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	names, hasNames := findCondition(conds, "NamesAccepted")
	if hasNames && names.Status == "False" {
		return Result{State: Failed, Reason: ReasonNamesNotAccepted, Message: condMessage(names)}
	}
	est, hasEst := findCondition(conds, "Established")
	switch {
	case hasEst && est.Status == "True" && hasNames && names.Status == "True":
		return Result{State: Ready, Message: "established"}
	case !hasNames || names.Status != "True":
		return Result{State: Progressing, Reason: "AwaitingNames", Message: "waiting for the names to be accepted"}
	case hasEst:
		return Result{State: Progressing, Reason: "NotEstablished", Message: condMessage(est)}
	}
	return Result{State: Progressing, Reason: "NotEstablished", Message: "waiting for the API server to establish the definition"}
}

func (e *evaluator) namespace() Result {
	var n corev1.Namespace
	if err := e.convert(&n); err != nil {
		return invalid(err)
	}
	if n.Status.Phase != corev1.NamespaceTerminating && n.DeletionTimestamp == nil {
		return Result{State: Ready, Message: "active"}
	}
	msg := "namespace is being deleted and will not become Active again"
	for _, c := range n.Status.Conditions {
		if c.Status == corev1.ConditionTrue && c.Message != "" {
			msg += "; " + string(c.Type) + ": " + oneLine(c.Message)
		}
	}
	return Result{State: Failed, Reason: ReasonTerminating, Message: msg}
}

func (e *evaluator) apiService() Result {
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	c, ok := findCondition(conds, "Available")
	switch {
	case !ok:
		return Result{State: Progressing, Reason: "Unavailable", Message: "availability not reported yet"}
	case c.Status == "True":
		return Result{State: Ready, Message: "available"}
	}
	return Result{State: Progressing, Reason: orDefault(c.Reason, "Unavailable"), Message: condMessage(c)}
}

// WebhookServices lists the Services ("namespace/name") an admission
// webhook configuration calls, in order, without duplicates.
func WebhookServices(obj *unstructured.Unstructured) []string {
	hooks, _, _ := unstructured.NestedSlice(obj.Object, "webhooks")
	var out []string
	seen := map[string]bool{}
	for _, h := range hooks {
		m, ok := h.(map[string]any)
		if !ok {
			continue
		}
		ns, _, _ := unstructured.NestedString(m, "clientConfig", "service", "namespace")
		name, _, _ := unstructured.NestedString(m, "clientConfig", "service", "name")
		if name == "" {
			continue
		}
		k := ns + "/" + name
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// webhookConfiguration: ready when every Service its webhooks call has a
// ready endpoint; until then the API server rejects what the webhooks
// match ("no endpoints available for service") when they fail closed.
func (e *evaluator) webhookConfiguration() Result {
	svcs := WebhookServices(e.obj)
	if len(svcs) == 0 {
		return Result{State: Ready, Message: "exists (its webhooks call URLs, not Services)"}
	}
	if e.rel.EndpointSlices == nil {
		return Result{State: Ready, Message: "exists (endpoints of its Services not read)"}
	}
	for _, k := range svcs {
		if !hasReadyEndpoint(e.rel.EndpointSlices[k]) {
			return Result{State: Progressing, Reason: ReasonAwaitingEndpoints,
				Message: fmt.Sprintf("its webhooks call Service %s, which has no ready endpoint yet", k)}
		}
	}
	if len(svcs) == 1 {
		return Result{State: Ready, Message: "Service " + svcs[0] + " has a ready endpoint"}
	}
	return Result{State: Ready, Message: fmt.Sprintf("the %d Services its webhooks call have ready endpoints", len(svcs))}
}

func hasReadyEndpoint(slices []*discoveryv1.EndpointSlice) bool {
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) > 0 && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				return true
			}
		}
	}
	return false
}
