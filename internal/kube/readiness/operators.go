package readiness

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Built-in rules for the custom resources of the operators teams meet most.
// kstatus alone calls most of them "Current" as soon as they exist (they
// carry no Ready condition kstatus knows, or no status at all before their
// operator wrote one).

// DefaultControllerGrace is how long a custom resource whose kind has a
// status subresource may go without any status before its controller is
// reported missing.
const DefaultControllerGrace = 60 * time.Second

// ReasonAwaitingController: a custom resource has no status yet.
const ReasonAwaitingController = "AwaitingController"

// ReasonNoController: no status long after creation: no operator handles
// the kind (not installed, not running, or watching other namespaces).
const ReasonNoController = "NoController"

var (
	gkCertificate   = schema.GroupKind{Group: "cert-manager.io", Kind: "Certificate"}
	gkIssuer        = schema.GroupKind{Group: "cert-manager.io", Kind: "Issuer"}
	gkClusterIssuer = schema.GroupKind{Group: "cert-manager.io", Kind: "ClusterIssuer"}
	gkPrometheus    = schema.GroupKind{Group: "monitoring.coreos.com", Kind: "Prometheus"}
	gkAlertmanager  = schema.GroupKind{Group: "monitoring.coreos.com", Kind: "Alertmanager"}
	gkApplication   = schema.GroupKind{Group: "argoproj.io", Kind: "Application"}
	gkHelmRelease   = schema.GroupKind{Group: "helm.toolkit.fluxcd.io", Kind: "HelmRelease"}
	gkKustomization = schema.GroupKind{Group: "kustomize.toolkit.fluxcd.io", Kind: "Kustomization"}
)

// operatorRules maps a kind to its rule and the operator named in messages.
var operatorRules = map[schema.GroupKind]struct {
	operator string
	eval     func(*evaluator) Result
}{
	gkCertificate:   {"cert-manager", (*evaluator).certManager},
	gkIssuer:        {"cert-manager", (*evaluator).certManager},
	gkClusterIssuer: {"cert-manager", (*evaluator).certManager},
	gkPrometheus:    {"the Prometheus operator", (*evaluator).prometheusOperator},
	gkAlertmanager:  {"the Prometheus operator", (*evaluator).prometheusOperator},
	gkApplication:   {"Argo CD", (*evaluator).argoApplication},
	gkHelmRelease:   {"Flux", (*evaluator).flux},
	gkKustomization: {"Flux", (*evaluator).flux},
}

// hasStatus reports whether the object has a non-empty status.
func hasStatus(obj *unstructured.Unstructured) bool {
	st, ok := obj.Object["status"].(map[string]any)
	return ok && len(st) > 0
}

// awaitingController judges a custom resource without status: waiting for
// its controller for the grace (from creation), then failed.
func (e *evaluator) awaitingController(operator string) Result {
	grace := duration(e.opts.ControllerGrace, DefaultControllerGrace)
	who := "its controller"
	if operator != "" {
		who = operator
	}
	created := e.obj.GetCreationTimestamp().Time
	if !created.IsZero() && grace > 0 {
		if age := e.now.Sub(created); age >= grace {
			return Result{State: Failed, Reason: ReasonNoController,
				Message: fmt.Sprintf("no status %s after creation: is %s installed and running, and does it watch this namespace?", round(age), who)}
		} else {
			return Result{State: Progressing, Reason: ReasonAwaitingController,
				Message: "waiting for " + who + " to report a status", RecheckAfter: grace - age}
		}
	}
	return Result{State: Progressing, Reason: ReasonAwaitingController, Message: "waiting for " + who + " to report a status"}
}

func round(d time.Duration) string { return d.Round(time.Second).String() }

// certManager: Certificate, Issuer, ClusterIssuer report Ready; a
// Certificate whose issuance failed says so in Issuing=False/Failed.
func (e *evaluator) certManager() Result {
	if res, judged := generationCheck(e.obj, false); !judged {
		return res
	}
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	gen := e.obj.GetGeneration()
	ready, ok := findCondition(conds, "Ready")
	switch {
	case ok && ready.Status == "True" && !ready.staleFor(gen):
		return Result{State: Ready, Message: condMessage(ready)}
	}
	if iss, ok := findCondition(conds, "Issuing"); ok && iss.Status == "False" && iss.Reason == "Failed" {
		return Result{State: Failed, Reason: "IssuanceFailed", Message: condMessage(iss)}
	}
	if !ok {
		return Result{State: Progressing, Reason: "AwaitingReady", Message: "no Ready condition yet"}
	}
	return Result{State: Progressing, Reason: orDefault(ready.Reason, "NotReady"), Message: condMessage(ready)}
}

// prometheusOperator: Prometheus and Alertmanager are ready when
// Available=True and Reconciled=True for the current generation.
func (e *evaluator) prometheusOperator() Result {
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	gen := e.obj.GetGeneration()
	avail, okA := findCondition(conds, "Available")
	rec, okR := findCondition(conds, "Reconciled")
	switch {
	case okR && rec.Status == "False":
		return Result{State: Progressing, Reason: orDefault(rec.Reason, "NotReconciled"), Message: condMessage(rec)}
	case !okA || !okR:
		return Result{State: Progressing, Reason: "AwaitingConditions", Message: "waiting for the Available and Reconciled conditions"}
	case avail.staleFor(gen) || rec.staleFor(gen):
		return Result{State: Progressing, Reason: ReasonGenerationNotObserved, Message: fmt.Sprintf("waiting for the operator to observe generation %d", gen)}
	case avail.Status == "True" && rec.Status == "True":
		return Result{State: Ready, Message: orDefault(avail.Message, "available and reconciled")}
	case avail.Status == "Degraded":
		return Result{State: Progressing, Reason: orDefault(avail.Reason, "Degraded"), Message: condMessage(avail)}
	}
	return Result{State: Progressing, Reason: orDefault(avail.Reason, "Unavailable"), Message: condMessage(avail)}
}

// argoApplication: Healthy and Synced; Degraded fails.
func (e *evaluator) argoApplication() Result {
	health, _, _ := unstructured.NestedString(e.obj.Object, "status", "health", "status")
	healthMsg, _, _ := unstructured.NestedString(e.obj.Object, "status", "health", "message")
	sync, _, _ := unstructured.NestedString(e.obj.Object, "status", "sync", "status")
	phase, _, _ := unstructured.NestedString(e.obj.Object, "status", "operationState", "phase")
	opMsg, _, _ := unstructured.NestedString(e.obj.Object, "status", "operationState", "message")
	switch {
	case phase == "Failed" || phase == "Error":
		return Result{State: Failed, Reason: "Sync" + phase, Message: orDefault(opMsg, "sync "+phase)}
	case health == "Degraded":
		return Result{State: Failed, Reason: "Degraded", Message: orDefault(healthMsg, "application degraded")}
	case health == "Healthy" && sync == "Synced":
		return Result{State: Ready, Message: "Healthy and Synced"}
	case health == "Suspended" && sync == "Synced":
		return Result{State: Ready, Reason: "Suspended", Message: orDefault(healthMsg, "suspended")}
	}
	return Result{State: Progressing, Reason: orDefault(health, "Unknown"),
		Message: fmt.Sprintf("health %s, sync %s", orDefault(health, "unknown"), orDefault(sync, "unknown"))}
}

// flux: HelmRelease and Kustomization report Ready for the observed
// generation; Stalled=True is a failure Flux will not retry by itself.
func (e *evaluator) flux() Result {
	if res, judged := generationCheck(e.obj, false); !judged {
		return res
	}
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	if st, ok := findCondition(conds, "Stalled"); ok && st.Status == "True" {
		return Result{State: Failed, Reason: orDefault(st.Reason, "Stalled"), Message: condMessage(st)}
	}
	ready, ok := findCondition(conds, "Ready")
	switch {
	case !ok:
		return Result{State: Progressing, Reason: "AwaitingReady", Message: "no Ready condition yet"}
	case ready.Status == "True" && !ready.staleFor(e.obj.GetGeneration()):
		return Result{State: Ready, Message: condMessage(ready)}
	}
	return Result{State: Progressing, Reason: orDefault(ready.Reason, "NotReady"), Message: condMessage(ready)}
}

// OperatorRuleText says what the built-in rule of an operator's kind waits
// for; ok is false for kinds without one.
func OperatorRuleText(gk schema.GroupKind) (string, bool) {
	switch gk {
	case gkCertificate, gkIssuer, gkClusterIssuer:
		return "cert-manager's Ready condition (a Certificate fails on Issuing=False/Failed)", true
	case gkPrometheus, gkAlertmanager:
		return "the Prometheus operator's Available and Reconciled conditions", true
	case gkApplication:
		return "Argo CD health Healthy and sync Synced (Degraded or a failed sync fails)", true
	case gkHelmRelease, gkKustomization:
		return "Flux's Ready condition (Stalled fails)", true
	}
	return "", false
}
