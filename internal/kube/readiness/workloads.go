package readiness

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// kueueQueueLabel marks Jobs whose suspension is managed by Kueue admission.
const kueueQueueLabel = "kueue.x-k8s.io/queue-name"

func replicasOr1(p *int32) int64 {
	if p == nil {
		return 1
	}
	return int64(*p)
}

func (e *evaluator) deployment() Result {
	var d appsv1.Deployment
	if err := e.convert(&d); err != nil {
		return invalid(err)
	}
	want := replicasOr1(d.Spec.Replicas)
	st := d.Status
	if d.Spec.Paused {
		return Result{State: Ready, Reason: ReasonPaused, Message: fmt.Sprintf(
			"deployment is paused, rollout not awaited (%d/%d replicas updated, %d available)",
			st.UpdatedReplicas, want, st.AvailableReplicas)}
	}
	if res, judged := generationCheck(e.obj, true); !judged {
		return res
	}
	updated, total, avail := int64(st.UpdatedReplicas), int64(st.Replicas), int64(st.AvailableReplicas)
	if updated == want && total == updated && avail == updated {
		return Result{State: Ready, Message: fmt.Sprintf("%d/%d replicas available", avail, want)}
	}

	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	pods := e.currentDeploymentPods(&d)
	if c, ok := findCondition(conds, "Progressing"); ok && c.Status == "False" && c.Reason == ReasonProgressDeadline {
		return e.withPods(Result{State: Failed, Reason: ReasonProgressDeadline, Message: c.Message}, pods)
	}

	var res Result
	switch {
	case updated < want:
		res = Result{State: Progressing, Reason: "ReplicasUpdating",
			Message: fmt.Sprintf("%d/%d replicas updated", updated, want)}
	case total > updated:
		res = Result{State: Progressing, Reason: "OldReplicasPending",
			Message: fmt.Sprintf("%d/%d replicas updated, %s pending termination", updated, want, plural(total-updated, "old replica"))}
	default:
		res = Result{State: Progressing, Reason: "ReplicasUnavailable",
			Message: fmt.Sprintf("%d/%d updated replicas available", avail, updated)}
	}
	if f, failed := e.replicaFailure(conds, &res); failed {
		return e.withPods(f, pods)
	}
	return e.withPods(res, pods)
}

// replicaFailure handles ReplicaFailure=True: Failed once it lasted
// ReplicaFailureGrace, else it annotates the Progressing result res.
func (e *evaluator) replicaFailure(conds []condition, res *Result) (Result, bool) {
	c, ok := findCondition(conds, "ReplicaFailure")
	if !ok || c.Status != "True" {
		return Result{}, false
	}
	detail := c.Message
	if c.Reason != "" {
		detail = c.Reason + ": " + c.Message
	}
	elapsed := e.elapsedSince(c.LastTransitionTime)
	if elapsed >= e.opts.ReplicaFailureGrace {
		return Result{State: Failed, Reason: ReasonReplicaFailure, Message: detail}, true
	}
	res.Reason = ReasonReplicaFailure
	res.Message += "; " + detail
	res.RecheckAfter = e.opts.ReplicaFailureGrace - elapsed
	return Result{}, false
}

// currentDeploymentPods returns the pods of the Deployment's newest
// ReplicaSet when rel.ReplicaSets identifies it, else all related pods.
func (e *evaluator) currentDeploymentPods(d *appsv1.Deployment) []*corev1.Pod {
	rev := d.Annotations[revisionAnnotation]
	if rev == "" || len(e.rel.ReplicaSets) == 0 {
		return e.rel.Pods
	}
	owner := refOf(e.obj)
	for _, rs := range e.rel.ReplicaSets {
		if rs == nil || rs.Annotations[revisionAnnotation] != rev || !controlledBy(rs.OwnerReferences, owner) {
			continue
		}
		rsRef := objRef{kind: "ReplicaSet", namespace: rs.Namespace, name: rs.Name, uid: rs.UID}
		var out []*corev1.Pod
		for _, p := range e.rel.Pods {
			if p != nil && controlledBy(p.OwnerReferences, rsRef) {
				out = append(out, p)
			}
		}
		return out
	}
	return e.rel.Pods
}

func (e *evaluator) statefulSet() Result {
	var s appsv1.StatefulSet
	if err := e.convert(&s); err != nil {
		return invalid(err)
	}
	if res, judged := generationCheck(e.obj, true); !judged {
		return res
	}
	want := replicasOr1(s.Spec.Replicas)
	st := s.Status
	var res Result
	if s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		var partition int64
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = int64(*ru.Partition)
		}
		if partition > 0 {
			need := max(want-partition, 0)
			if int64(st.UpdatedReplicas) < need {
				res = Result{State: Progressing, Reason: "ReplicasUpdating", Message: fmt.Sprintf(
					"%d/%d replicas at or above partition %d updated to revision %s",
					st.UpdatedReplicas, need, partition, st.UpdateRevision)}
			}
		} else if st.CurrentRevision != st.UpdateRevision {
			res = Result{State: Progressing, Reason: "ReplicasUpdating", Message: fmt.Sprintf(
				"%d/%d replicas updated to revision %s", st.UpdatedReplicas, want, st.UpdateRevision)}
		}
	}
	if res.State == "" {
		switch {
		case int64(st.Replicas) != want:
			res = Result{State: Progressing, Reason: "Scaling", Message: fmt.Sprintf(
				"%s exist, want %d", plural(int64(st.Replicas), "replica"), want)}
		case int64(st.ReadyReplicas) < want:
			res = Result{State: Progressing, Reason: "ReplicasNotReady", Message: fmt.Sprintf(
				"%d/%d replicas ready", st.ReadyReplicas, want)}
		case s.Spec.MinReadySeconds > 0 && int64(st.AvailableReplicas) < want:
			res = Result{State: Progressing, Reason: "ReplicasUnavailable", Message: fmt.Sprintf(
				"%d/%d replicas available", st.AvailableReplicas, want)}
		default:
			return Result{State: Ready, Message: fmt.Sprintf("%d/%d replicas ready", st.ReadyReplicas, want)}
		}
	}
	res, failed := e.withCreateFailure(res)
	if failed {
		return res
	}
	return e.withPods(res, e.rel.Pods)
}

func (e *evaluator) daemonSet() Result {
	var d appsv1.DaemonSet
	if err := e.convert(&d); err != nil {
		return invalid(err)
	}
	if res, judged := generationCheck(e.obj, true); !judged {
		return res
	}
	st := d.Status
	desired := st.DesiredNumberScheduled
	var res Result
	switch {
	case d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType && st.UpdatedNumberScheduled < desired:
		res = Result{State: Progressing, Reason: "ReplicasUpdating", Message: fmt.Sprintf(
			"%d/%d scheduled pods updated", st.UpdatedNumberScheduled, desired)}
	case st.NumberAvailable < desired:
		res = Result{State: Progressing, Reason: "ReplicasUnavailable", Message: fmt.Sprintf(
			"%d/%d scheduled pods available", st.NumberAvailable, desired)}
	default:
		return Result{State: Ready, Message: fmt.Sprintf("%d/%d scheduled pods available", st.NumberAvailable, desired)}
	}
	res, failed := e.withCreateFailure(res)
	if failed {
		return res
	}
	return e.withPods(res, e.rel.Pods)
}

// replicaSet evaluates ReplicaSets and ReplicationControllers, whose status
// fields have the same names.
func (e *evaluator) replicaSet(gk schema.GroupKind) Result {
	var spec *int32
	var total, ready, avail int32
	if gk == gkRC {
		var rc corev1.ReplicationController
		if err := e.convert(&rc); err != nil {
			return invalid(err)
		}
		spec, total, ready, avail = rc.Spec.Replicas, rc.Status.Replicas, rc.Status.ReadyReplicas, rc.Status.AvailableReplicas
	} else {
		var rs appsv1.ReplicaSet
		if err := e.convert(&rs); err != nil {
			return invalid(err)
		}
		spec, total, ready, avail = rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas, rs.Status.AvailableReplicas
	}
	if res, judged := generationCheck(e.obj, true); !judged {
		return res
	}
	want := replicasOr1(spec)
	var res Result
	switch {
	case int64(ready) < want || int64(avail) < want:
		res = Result{State: Progressing, Reason: "ReplicasUnavailable", Message: fmt.Sprintf(
			"%d/%d replicas available", avail, want)}
	case int64(total) != want:
		res = Result{State: Progressing, Reason: "Scaling", Message: fmt.Sprintf(
			"%s exist, want %d", plural(int64(total), "replica"), want)}
	default:
		return Result{State: Ready, Message: fmt.Sprintf("%d/%d replicas available", avail, want)}
	}
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	if f, failed := e.replicaFailure(conds, &res); failed {
		return e.withPods(f, e.rel.Pods)
	}
	return e.withPods(res, e.rel.Pods)
}

func (e *evaluator) job() Result {
	var j batchv1.Job
	if err := e.convert(&j); err != nil {
		return invalid(err)
	}
	conds, err := conditions(e.obj)
	if err != nil {
		return invalid(err)
	}
	st := j.Status
	completions := replicasOr1(j.Spec.Completions)
	if c, ok := findCondition(conds, "Complete"); ok && c.Status == "True" {
		return Result{State: Ready, Message: fmt.Sprintf("job complete (%d/%d succeeded)", st.Succeeded, completions)}
	}
	for _, typ := range []string{"Failed", "FailureTarget"} {
		if c, ok := findCondition(conds, typ); ok && c.Status == "True" {
			res := Result{State: Failed, Reason: orDefault(c.Reason, "JobFailed"), Message: orDefault(c.Message, "job failed")}
			p := lastFailedPod(e.rel.Pods)
			if p == nil {
				// DeadlineExceeded and friends: a live pod's problem may
				// be why.
				return e.withPods(res, e.rel.Pods)
			}
			// BackoffLimitExceeded says that the pods failed, not why:
			// the last one that failed does.
			pf := podFailed(p)
			res.Message = joinMsg(res.Message, pf.Message)
			res.Pod, res.Container, res.InitContainer, res.LastTermination = pf.Pod, pf.Container, pf.InitContainer, pf.LastTermination
			return res
		}
	}
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		if q := j.Labels[kueueQueueLabel]; q != "" {
			return Result{State: Progressing, Reason: ReasonSuspended,
				Message: fmt.Sprintf("job is suspended, waiting for admission by queue %s", q)}
		}
		return Result{State: Ready, Reason: ReasonSuspended, Message: "job is suspended, completion not awaited"}
	}
	if c, ok := findCondition(conds, "SuccessCriteriaMet"); ok && c.Status == "True" {
		return Result{State: Progressing, Reason: "SuccessCriteriaMet",
			Message: "success criteria met, waiting for remaining pods to terminate"}
	}
	msg := fmt.Sprintf("%d/%d completions, %d active", st.Succeeded, completions, st.Active)
	if st.Failed > 0 {
		msg += fmt.Sprintf(", %d failed", st.Failed)
	}
	res, failed := e.withCreateFailure(Result{State: Progressing, Reason: "JobRunning", Message: msg})
	if failed {
		return res
	}
	return e.withPods(res, e.rel.Pods)
}

// lastFailedPod returns the pod in phase Failed that finished last (by its
// containers' termination, else its creation), or nil.
func lastFailedPod(pods []*corev1.Pod) *corev1.Pod {
	var last *corev1.Pod
	var lastAt time.Time
	for _, p := range pods {
		if p == nil || p.Status.Phase != corev1.PodFailed {
			continue
		}
		at := p.CreationTimestamp.Time
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, cs := range list {
				if t := cs.State.Terminated; t != nil && t.FinishedAt.After(at) {
					at = t.FinishedAt.Time
				}
			}
		}
		if last == nil || at.After(lastAt) || (at.Equal(lastAt) && p.Name > last.Name) {
			last, lastAt = p, at
		}
	}
	return last
}

// failedCreate handles a workload whose controller cannot create its pods
// and says so only in Warning FailedCreate events (StatefulSet, DaemonSet,
// Job; a Deployment's ReplicaSet reports a ReplicaFailure condition
// instead): a missing ServiceAccount, an admission webhook or a quota that
// refuses the pods. Events older than the workload's last SuccessfulCreate
// are over. The object fails once the failures have lasted
// ReplicaFailureGrace, counted from the first one.
func (e *evaluator) failedCreate() (Result, bool) {
	ref := refOf(e.obj)
	var lastOK time.Time
	for _, ev := range e.rel.Events {
		if ev != nil && ev.Reason == "SuccessfulCreate" && ref.matches(ev.InvolvedObject) && eventTime(ev).After(lastOK) {
			lastOK = eventTime(ev)
		}
	}
	var first time.Time
	var last *corev1.Event
	for _, ev := range e.rel.Events {
		if ev == nil || ev.Type != corev1.EventTypeWarning || ev.Reason != "FailedCreate" || !ref.matches(ev.InvolvedObject) {
			continue
		}
		if !eventTime(ev).After(lastOK) {
			continue
		}
		if t := eventFirstTime(ev); first.IsZero() || t.Before(first) {
			first = t
		}
		if last == nil || eventTime(ev).After(eventTime(last)) {
			last = ev
		}
	}
	if last == nil {
		return Result{}, false
	}
	res := Result{State: Progressing, Reason: ReasonReplicaFailure, Message: "FailedCreate: " + oneLine(last.Message)}
	if first.Before(lastOK) {
		first = lastOK
	}
	elapsed := e.elapsedSince(first)
	if elapsed >= e.opts.ReplicaFailureGrace {
		res.State = Failed
		return res, true
	}
	res.RecheckAfter = e.opts.ReplicaFailureGrace - elapsed
	return res, false
}

// withCreateFailure makes a pending FailedCreate the reason of a
// Progressing workload result, or fails it past its grace.
func (e *evaluator) withCreateFailure(res Result) (Result, bool) {
	f, failed := e.failedCreate()
	if failed {
		return f, true
	}
	if f.Reason != "" {
		res.Reason = f.Reason
		res.Message = joinMsg(res.Message, f.Message)
		res.RecheckAfter = f.RecheckAfter
	}
	return res, false
}

// withPods refines a not-ready workload result with the worst problem among
// its live pods. A Failed pod problem fails the workload; a pending one
// (inside its grace period or below its threshold) becomes the reason of the
// Progressing result. A Failed workload result gains the culprit's details.
func (e *evaluator) withPods(res Result, pods []*corev1.Pod) Result {
	if res.State == Ready {
		return res
	}
	p := e.worstProblem(pods)
	if p == nil {
		return res
	}
	switch {
	case res.State == Failed:
		res.Message = joinMsg(res.Message, p.message)
	case p.state == Failed:
		res = Result{State: Failed, Reason: p.reason, Message: p.message}
	default:
		res.Reason = p.reason
		res.Message = joinMsg(res.Message, p.message)
		if p.recheck > 0 && (res.RecheckAfter == 0 || p.recheck < res.RecheckAfter) {
			res.RecheckAfter = p.recheck
		}
	}
	res.Pod, res.Container, res.InitContainer, res.LastTermination = p.pod, p.container, p.init, p.lastTermination
	return res
}

func joinMsg(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// eventRefs lists the objects whose events belong in a Failed result: the
// object and the culprit pod, or, without a culprit, the object, its pods and
// ReplicaSets.
func (e *evaluator) eventRefs(culprit string) []objRef {
	refs := []objRef{refOf(e.obj)}
	for _, p := range e.rel.Pods {
		if p != nil && (culprit == "" || p.Name == culprit) {
			refs = append(refs, podRef(p))
		}
	}
	if culprit == "" {
		for _, rs := range e.rel.ReplicaSets {
			if rs != nil {
				refs = append(refs, objRef{kind: "ReplicaSet", namespace: rs.Namespace, name: rs.Name, uid: rs.UID})
			}
		}
	}
	return refs
}

func refOf(obj *unstructured.Unstructured) objRef {
	return objRef{kind: obj.GetKind(), namespace: obj.GetNamespace(), name: obj.GetName(), uid: obj.GetUID()}
}
