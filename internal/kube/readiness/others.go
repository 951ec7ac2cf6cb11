package readiness

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
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
