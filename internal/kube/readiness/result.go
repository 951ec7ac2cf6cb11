package readiness

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// State is the verdict of Evaluate for one object.
type State string

const (
	// Ready means the object reached the state wait_ready waits for, or that
	// waiting is pointless and the Reason says why (see Result.Waived).
	Ready State = "Ready"
	// Progressing means the object is not ready yet but may still get there.
	Progressing State = "Progressing"
	// Failed means the object will not become ready without intervention.
	Failed State = "Failed"
	// Unknown means the object could not be judged: malformed status, or a
	// plan rule that returned an error.
	Unknown State = "Unknown"
	// NotFound means there is no object (Evaluate was given nil).
	NotFound State = "NotFound"
)

// Reasons set by Evaluate itself. Pod problems use the kubelet's reason
// (ImagePullBackOff, CrashLoopBackOff, ...) and failed conditions use the
// condition's reason, so this list is not exhaustive.
const (
	// ReasonGenerationNotObserved: the controller has not caught up with the spec.
	ReasonGenerationNotObserved = "GenerationNotObserved"
	// ReasonPaused: a paused Deployment (Ready, waived).
	ReasonPaused = "Paused"
	// ReasonSuspended: a suspended Job (Ready, waived; Progressing when queued).
	ReasonSuspended = "Suspended"
	// ReasonAwaitingFirstConsumer: a WaitForFirstConsumer claim (Ready, waived).
	ReasonAwaitingFirstConsumer = "AwaitingFirstConsumer"
	// ReasonAwaitingLoadBalancer: a LoadBalancer Service without an address.
	ReasonAwaitingLoadBalancer = "AwaitingLoadBalancer"
	// ReasonAwaitingEndpoints: an admission webhook calls a Service that
	// has no ready endpoint yet (its server is not running).
	ReasonAwaitingEndpoints = "AwaitingEndpoints"
	// ReasonProgressDeadline: a Deployment exceeded progressDeadlineSeconds.
	ReasonProgressDeadline = "ProgressDeadlineExceeded"
	// ReasonReplicaFailure: a workload cannot create its pods (quota, admission).
	ReasonReplicaFailure = "ReplicaFailure"
	// ReasonTerminating: the object is being deleted.
	ReasonTerminating = "Terminating"
	// ReasonUnschedulable: a pod fits on no node.
	ReasonUnschedulable = "Unschedulable"
	// ReasonOOMKilled: a container keeps exceeding its memory limit.
	ReasonOOMKilled = "OOMKilled"
	// ReasonCrashLoopBackOff: a container keeps crashing.
	ReasonCrashLoopBackOff = "CrashLoopBackOff"
	// ReasonContainerFailed: a container exited with a non-zero code and is
	// about to be restarted.
	ReasonContainerFailed = "ContainerFailed"
	// ReasonPodFailed: a pod reached phase Failed without a more specific reason.
	ReasonPodFailed = "PodFailed"
	// ReasonStorageClassNotFound: a claim names a storage class that does
	// not exist.
	ReasonStorageClassNotFound = "StorageClassNotFound"
	// ReasonProvisioningFailed: the provisioner keeps failing to create a
	// claim's volume.
	ReasonProvisioningFailed = "ProvisioningFailed"
	// ReasonFailedMount: a pod cannot mount a volume whose Secret or
	// ConfigMap does not exist.
	ReasonFailedMount = "FailedMount"
	// ReasonNamesNotAccepted: a CRD's names conflict with existing resources.
	ReasonNamesNotAccepted = "NamesNotAccepted"
	// ReasonRuleError: a plan rule is invalid or its callback failed.
	ReasonRuleError = "RuleError"
	// ReasonInvalidObject: the object's status could not be decoded.
	ReasonInvalidObject = "InvalidObject"
)

// Result is the outcome of Evaluate.
type Result struct {
	// State is the verdict.
	State State
	// Reason is a short CamelCase cause, e.g. "ImagePullBackOff",
	// "ProgressDeadlineExceeded" or "AwaitingFirstConsumer". It is empty for
	// a plain Ready result; a Ready result with a Reason is a waiver (see
	// Waived).
	Reason string
	// Message is one human-readable line, e.g. "2/3 replicas available".
	Message string
	// Pod and Container name the culprit when a pod caused the result.
	Pod, Container string
	// InitContainer is true when Container is an init (or sidecar) container.
	InitContainer bool
	// LastTermination describes the culprit container's last termination
	// ("Error, exit code 1: <termination message>") for crashing containers.
	LastTermination string
	// Events holds the most recent events of the object and the culprit pod
	// (formatted by FormatEvent), oldest first. It is only filled for Failed
	// results.
	Events []string
	// RecheckAfter, when positive, asks the caller to evaluate again after
	// this long even if no watch event arrives, because a grace period ends
	// then and the verdict may change from Progressing to Failed.
	RecheckAfter time.Duration
}

// Done reports whether waiting is over: the object is Ready or Failed.
func (r Result) Done() bool { return r.State == Ready || r.State == Failed }

// Waived reports whether the result is Ready only because waiting would be
// pointless (a paused Deployment, a suspended Job, a claim that waits for its
// first consumer), not because the object reached its desired state. Callers
// should show the Reason and Message of waived results.
func (r Result) Waived() bool { return r.State == Ready && r.Reason != "" }

// String renders the result on one line: "State (Reason): Message".
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(string(r.State))
	if r.Reason != "" {
		b.WriteString(" (")
		b.WriteString(r.Reason)
		b.WriteString(")")
	}
	if r.Message != "" {
		b.WriteString(": ")
		b.WriteString(r.Message)
	}
	return b.String()
}

// Summary renders a result for humans: a first line "id: State (Reason):
// Message", then, when present, the last termination of the culprit container
// and the recent events, each on its own indented line. id names the object,
// e.g. as returned by ID; it may be empty.
func Summary(id string, r Result) string {
	var b strings.Builder
	if id != "" {
		b.WriteString(id)
		b.WriteString(": ")
	}
	b.WriteString(r.String())
	if r.LastTermination != "" {
		b.WriteString("\n  last termination: ")
		b.WriteString(r.LastTermination)
	}
	if len(r.Events) > 0 {
		b.WriteString("\n  events:")
		for _, e := range r.Events {
			b.WriteString("\n    ")
			b.WriteString(e)
		}
	}
	return b.String()
}

// ID names an object as "Kind/namespace/name", or "Kind/name" for
// cluster-scoped objects. It returns "" for nil.
func ID(obj *unstructured.Unstructured) string {
	if obj == nil {
		return ""
	}
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s/%s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return obj.GetKind() + "/" + obj.GetName()
}
