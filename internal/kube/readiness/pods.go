package readiness

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Problem classes used as SinceKey.Problem. ErrImagePull and ImagePullBackOff
// alternate for one underlying problem, so grace is tracked per class.
const (
	// ProblemImagePull covers ErrImagePull, ImagePullBackOff,
	// RegistryUnavailable and ImageInspectError.
	ProblemImagePull = "ImagePull"
	// ProblemContainerError covers CreateContainerConfigError,
	// CreateContainerError and RunContainerError.
	ProblemContainerError = "ContainerError"
	// ProblemUnschedulable is PodScheduled=False with reason Unschedulable.
	ProblemUnschedulable = "Unschedulable"
	// ProblemMount is a volume that cannot be mounted because its Secret or
	// ConfigMap does not exist (FailedMount events, containers not created).
	ProblemMount = "Mount"
)

// SinceKey identifies one pod problem: a container (or, with Container "",
// the pod) of the pod with PodUID showing a problem class.
type SinceKey struct {
	PodUID    types.UID
	Container string
	Problem   string
}

// Since is caller-kept memory of when each pod problem was first observed.
// It is the only caller state Evaluate reads; it exists because the kubelet
// puts no timestamp on a container's waiting state. Evaluate uses, as the
// start of a grace period, the earliest of the matching kubelet event's first
// timestamp and the Since entry, never earlier than the pod's creation.
//
// A watcher keeps one Since per wait, calls Observe with the pods before each
// Evaluate, and passes it in Related.Since.
type Since map[SinceKey]time.Time

// Observe records now for problems seen for the first time in pods and
// forgets problems that are over: the pod is gone, the container started or
// terminated, or the pod got scheduled. It is not safe for concurrent use.
func (s Since) Observe(pods []*corev1.Pod, now time.Time) {
	live := make(map[types.UID]*corev1.Pod, len(pods))
	for _, p := range pods {
		if p == nil {
			continue
		}
		live[p.UID] = p
		for _, k := range problemKeys(p) {
			if _, ok := s[k]; !ok {
				s[k] = now
			}
		}
	}
	for k := range s {
		p, ok := live[k.PodUID]
		if !ok || problemOver(p, k) {
			delete(s, k)
		}
	}
}

// problemKeys lists the grace-tracked problems a pod shows now.
func problemKeys(p *corev1.Pod) []SinceKey {
	var keys []SinceKey
	if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		keys = append(keys, SinceKey{PodUID: p.UID, Problem: ProblemUnschedulable})
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if w := list[i].State.Waiting; w != nil {
				if class := waitingClass(w.Reason); class != "" {
					keys = append(keys, SinceKey{PodUID: p.UID, Container: list[i].Name, Problem: class})
				}
			}
		}
	}
	return keys
}

func problemOver(p *corev1.Pod, k SinceKey) bool {
	if k.Container == "" {
		c := podCondition(p, corev1.PodScheduled)
		return c == nil || c.Status == corev1.ConditionTrue
	}
	cs, _ := containerStatus(p, k.Container)
	return cs == nil || cs.State.Running != nil || cs.State.Terminated != nil
}

func waitingClass(reason string) string {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "RegistryUnavailable", "ImageInspectError":
		return ProblemImagePull
	case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return ProblemContainerError
	}
	return ""
}

func containerStatus(p *corev1.Pod, name string) (*corev1.ContainerStatus, bool) {
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			return &p.Status.InitContainerStatuses[i], true
		}
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i], false
		}
	}
	return nil, false
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func (e *evaluator) pod() Result {
	var p corev1.Pod
	if err := e.convert(&p); err != nil {
		return invalid(err)
	}
	if res, judged := generationCheck(e.obj, false); !judged {
		return res
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		if p.Spec.RestartPolicy == corev1.RestartPolicyAlways || p.Spec.RestartPolicy == "" {
			return Result{State: Failed, Reason: "PodCompleted",
				Message: fmt.Sprintf("pod %s exited although its restartPolicy is Always", p.Name)}
		}
		return Result{State: Ready, Message: "pod completed"}
	case corev1.PodFailed:
		return podFailed(&p)
	}
	ready, total := countReady(p.Status.ContainerStatuses)
	if c := podCondition(&p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
		return Result{State: Ready, Message: fmt.Sprintf("%d/%d containers ready", ready, total)}
	}
	res := Result{State: Progressing, Reason: "ContainersNotReady",
		Message: fmt.Sprintf("%d/%d containers ready", ready, total)}
	if c := podCondition(&p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		res = Result{State: Progressing, Reason: "Pending", Message: "pod not scheduled yet"}
	} else if total == 0 {
		res.Message = "containers not started yet"
	}
	if pr := e.podProblem(&p); pr != nil {
		if pr.state == Failed {
			return pr.result()
		}
		res.Reason, res.Message, res.RecheckAfter = pr.reason, pr.message, pr.recheck
		res.Pod, res.Container, res.InitContainer, res.LastTermination = pr.pod, pr.container, pr.init, pr.lastTermination
	}
	return res
}

func countReady(cs []corev1.ContainerStatus) (ready, total int) {
	for _, c := range cs {
		if c.Ready {
			ready++
		}
	}
	return ready, len(cs)
}

// podFailed describes a pod in phase Failed, naming the first container
// (init containers first) that terminated with a non-zero exit code.
func podFailed(p *corev1.Pod) Result {
	res := Result{State: Failed, Reason: orDefault(p.Status.Reason, ReasonPodFailed), Pod: p.Name}
	msg := "pod " + p.Name + " failed"
	if p.Status.Message != "" {
		msg += ": " + oneLine(p.Status.Message)
	}
	for i, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		init := i == 0
		for _, cs := range list {
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			res.Container, res.InitContainer, res.LastTermination = cs.Name, init, describeTermination(t)
			if p.Status.Reason == "" && t.Reason != "" && t.Reason != "Error" {
				res.Reason = t.Reason
			}
			if p.Status.Message == "" {
				msg += fmt.Sprintf(": %s %s exited with code %d", containerWord(init), cs.Name, t.ExitCode)
			}
			res.Message = msg
			return res
		}
	}
	res.Message = msg
	return res
}

func containerWord(init bool) string {
	if init {
		return "init container"
	}
	return "container"
}

// problem is a pod problem found by podProblem.
type problem struct {
	state           State // Failed, or Progressing while within grace/threshold
	reason, message string
	pod, container  string
	init            bool
	lastTermination string
	recheck         time.Duration
}

func (p *problem) result() Result {
	return Result{State: p.state, Reason: p.reason, Message: p.message, Pod: p.pod,
		Container: p.container, InitContainer: p.init, LastTermination: p.lastTermination,
		RecheckAfter: p.recheck}
}

// worstProblem returns the most severe problem among live pods (a Failed one
// before a pending one; ties broken by pod name), or nil. Terminating pods and
// pods that finished (Succeeded, or Failed, e.g. evicted: their controller
// replaces them, and a Job counts them against its backoffLimit) are skipped.
func (e *evaluator) worstProblem(pods []*corev1.Pod) *problem {
	var worst *problem
	for _, p := range pods {
		if p == nil || p.DeletionTimestamp != nil {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		pr := e.podProblem(p)
		if pr == nil {
			continue
		}
		if worst == nil || severity(pr) > severity(worst) || (severity(pr) == severity(worst) && pr.pod < worst.pod) {
			worst = pr
		}
	}
	return worst
}

func severity(p *problem) int {
	if p.state == Failed {
		return 2
	}
	return 1
}

// podProblem finds the first problem of one pod: unschedulable, then init
// containers in order, then app containers. Failed problems win over pending
// ones within the pod as well.
func (e *evaluator) podProblem(p *corev1.Pod) *problem {
	var pending *problem
	keep := func(pr *problem) bool {
		if pr == nil {
			return false
		}
		if pr.state == Failed {
			return true
		}
		if pending == nil {
			pending = pr
		}
		return false
	}
	if pr := e.unschedulable(p); keep(pr) {
		return pr
	}
	if pr := e.mountProblem(p); keep(pr) {
		return pr
	}
	for i := range p.Status.InitContainerStatuses {
		if pr := e.containerProblem(p, &p.Status.InitContainerStatuses[i], true); keep(pr) {
			return pr
		}
	}
	for i := range p.Status.ContainerStatuses {
		if pr := e.containerProblem(p, &p.Status.ContainerStatuses[i], false); keep(pr) {
			return pr
		}
	}
	return pending
}

// scaleUpReasons are pod event reasons that announce capacity is coming.
var scaleUpReasons = []string{"TriggeredScaleUp", "Nominated"}

func (e *evaluator) unschedulable(p *corev1.Pod) *problem {
	c := podCondition(p, corev1.PodScheduled)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
		return nil
	}
	pr := &problem{state: Progressing, reason: ReasonUnschedulable, pod: p.Name,
		message: fmt.Sprintf("pod %s: Unschedulable: %s", p.Name, oneLine(c.Message))}
	if p.Status.NominatedNodeName != "" {
		pr.message += fmt.Sprintf(" (nominated to node %s)", p.Status.NominatedNodeName)
		return pr
	}
	ref := podRef(p)
	for _, ev := range e.rel.Events {
		if ev != nil && slices.Contains(scaleUpReasons, ev.Reason) && ref.matches(ev.InvolvedObject) {
			pr.message += " (scale-up triggered: " + oneLine(ev.Message) + ")"
			return pr
		}
	}
	start := c.LastTransitionTime.Time
	if start.IsZero() {
		start = e.graceStart(p, "", ProblemUnschedulable)
	}
	return e.applyGrace(pr, start, e.opts.UnschedulableGrace)
}

// mountProblem finds a pod whose containers cannot be created because a
// volume's Secret or ConfigMap does not exist: the kubelet keeps the
// containers in ContainerCreating and records FailedMount events ("MountVolume.SetUp
// failed for volume "config" : configmap "app-config" not found"). It fails
// after ContainerErrorGrace, like CreateContainerConfigError, the same
// problem for environment variables.
func (e *evaluator) mountProblem(p *corev1.Pod) *problem {
	if c := podCondition(p, corev1.PodScheduled); c == nil || c.Status != corev1.ConditionTrue {
		return nil
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				return nil
			}
		}
	}
	ref := podRef(p)
	var last *corev1.Event
	for _, ev := range e.rel.Events {
		if ev != nil && ref.matches(ev.InvolvedObject) && eventClass(ev) == ProblemMount && (last == nil || eventTime(ev).After(eventTime(last))) {
			last = ev
		}
	}
	if last == nil {
		return nil
	}
	pr := &problem{state: Progressing, reason: ReasonFailedMount, pod: p.Name,
		message: fmt.Sprintf("pod %s: %s: %s", p.Name, ReasonFailedMount, oneLine(last.Message))}
	return e.applyGrace(pr, e.graceStart(p, "", ProblemMount), e.opts.ContainerErrorGrace)
}

func (e *evaluator) applyGrace(pr *problem, start time.Time, grace time.Duration) *problem {
	elapsed := e.elapsedSince(start)
	if elapsed >= grace {
		pr.state = Failed
		return pr
	}
	pr.recheck = grace - elapsed
	return pr
}

func (e *evaluator) containerProblem(p *corev1.Pod, cs *corev1.ContainerStatus, init bool) *problem {
	w := cs.State.Waiting
	last := cs.LastTerminationState.Terminated
	newProblem := func(reason, detail string) *problem {
		msg := fmt.Sprintf("pod %s %s %s: %s", p.Name, containerWord(init), cs.Name, reason)
		if detail != "" {
			msg += ": " + oneLine(detail)
		}
		pr := &problem{state: Progressing, reason: reason, message: msg, pod: p.Name, container: cs.Name, init: init}
		if last != nil {
			pr.lastTermination = describeTermination(last)
		}
		return pr
	}
	if last != nil && last.Reason == ReasonOOMKilled && e.opts.OOMKills > 0 && cs.RestartCount >= e.opts.OOMKills {
		limit := "its memory limit"
		if q, ok := memoryLimit(p, cs.Name); ok {
			limit += " (" + q + ")"
		}
		pr := newProblem(ReasonOOMKilled, fmt.Sprintf("killed for exceeding %s, %s", limit, plural(int64(cs.RestartCount), "restart")))
		pr.state = Failed
		return pr
	}
	if w == nil {
		return e.exitedProblem(p, cs, init)
	}
	switch w.Reason {
	case "InvalidImageName", "ErrImageNeverPull":
		pr := newProblem(w.Reason, w.Message)
		pr.state = Failed
		return pr
	case ReasonCrashLoopBackOff:
		pr := newProblem(w.Reason, w.Message)
		pr.message += fmt.Sprintf(" (%s)", plural(int64(cs.RestartCount), "restart"))
		if e.opts.CrashLoopRestarts > 0 && cs.RestartCount >= e.opts.CrashLoopRestarts {
			pr.state = Failed
		}
		return pr
	}
	class := waitingClass(w.Reason)
	if class == "" {
		return nil
	}
	grace := e.opts.ImagePullGrace
	if class == ProblemContainerError {
		grace = e.opts.ContainerErrorGrace
	}
	return e.applyGrace(newProblem(w.Reason, w.Message), e.graceStart(p, cs.Name, class), grace)
}

// exitedProblem judges a container that has just exited with a non-zero
// code and will be restarted (the kubelet shows CrashLoopBackOff only once it
// backs off): it counts as one more crash than its restart count, against
// CrashLoopRestarts. Under restartPolicy Never the pod fails instead.
func (e *evaluator) exitedProblem(p *corev1.Pod, cs *corev1.ContainerStatus, init bool) *problem {
	t := cs.State.Terminated
	if t == nil || t.ExitCode == 0 || p.Spec.RestartPolicy == corev1.RestartPolicyNever {
		return nil
	}
	crashes := cs.RestartCount + 1
	times := "1 crash"
	if crashes != 1 {
		times = fmt.Sprintf("%d crashes", crashes)
	}
	msg := fmt.Sprintf("pod %s %s %s: %s: exited with code %d (%s)", p.Name, containerWord(init), cs.Name,
		ReasonContainerFailed, t.ExitCode, times)
	pr := &problem{state: Progressing, reason: ReasonContainerFailed, message: msg, pod: p.Name, container: cs.Name,
		init: init, lastTermination: describeTermination(t)}
	if e.opts.CrashLoopRestarts > 0 && crashes >= e.opts.CrashLoopRestarts {
		pr.state = Failed
	}
	return pr
}

// memoryLimit returns the memory limit of the named container, if set.
func memoryLimit(p *corev1.Pod, name string) (string, bool) {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range list {
			if list[i].Name != name {
				continue
			}
			if q, ok := list[i].Resources.Limits[corev1.ResourceMemory]; ok {
				return q.String(), true
			}
			return "", false
		}
	}
	return "", false
}

// graceStart is the earliest evidence of a problem: the first timestamp of a
// matching event or the caller's Since entry, clamped to the pod's creation;
// the pod's creation when there is no evidence.
func (e *evaluator) graceStart(p *corev1.Pod, container, class string) time.Time {
	var start time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (start.IsZero() || t.Before(start)) {
			start = t
		}
	}
	ref := podRef(p)
	for _, ev := range e.rel.Events {
		if ev != nil && ref.matches(ev.InvolvedObject) && eventClass(ev) == class && eventForContainer(ev, container) {
			earliest(eventFirstTime(ev))
		}
	}
	if t, ok := e.rel.Since[SinceKey{PodUID: p.UID, Container: container, Problem: class}]; ok {
		earliest(t)
	}
	if created := p.CreationTimestamp.Time; start.IsZero() || start.Before(created) {
		start = created
	}
	return start
}

// eventClass classifies kubelet events into problem classes.
func eventClass(ev *corev1.Event) string {
	switch ev.Reason {
	case "Failed", "BackOff", "ErrImagePull", "ImagePullBackOff":
		if strings.Contains(strings.ToLower(ev.Message), "pull") {
			return ProblemImagePull
		}
		if ev.Reason == "Failed" {
			return ProblemContainerError
		}
	case "FailedScheduling":
		return ProblemUnschedulable
	case "FailedMount":
		if strings.Contains(ev.Message, " not found") {
			return ProblemMount
		}
	}
	return ""
}

// eventForContainer matches the event's fieldPath, "spec.containers{name}"
// or "spec.initContainers{name}", to a container; pod-level events match all.
func eventForContainer(ev *corev1.Event, container string) bool {
	fp := ev.InvolvedObject.FieldPath
	if fp == "" || container == "" {
		return true
	}
	return strings.HasSuffix(fp, "{"+container+"}")
}

// describeTermination renders "Reason, exit code N: message".
func describeTermination(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		s = t.Reason + ", " + s
	}
	if t.Signal != 0 {
		s += fmt.Sprintf(", signal %d", t.Signal)
	}
	if m := oneLine(t.Message); m != "" {
		s += ": " + m
	}
	return s
}

// oneLine collapses whitespace runs (including newlines) to single spaces
// and trims the result to 400 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		cut := 397
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
