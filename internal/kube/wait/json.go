package wait

import (
	"encoding/json"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// resultFields are the JSON fields of a verdict, flattened into the object
// that carries it.
type resultFields struct {
	State           readiness.State `json:"state"`
	Reason          string          `json:"reason,omitempty"`
	Message         string          `json:"message,omitempty"`
	Pod             string          `json:"pod,omitempty"`
	Container       string          `json:"container,omitempty"`
	LastTermination string          `json:"last_termination,omitempty"`
	Events          []string        `json:"events,omitempty"`
}

func fieldsOf(r readiness.Result) resultFields {
	return resultFields{State: r.State, Reason: r.Reason, Message: r.Message, Pod: r.Pod, Container: r.Container,
		LastTermination: r.LastTermination, Events: r.Events}
}

// MarshalJSON flattens the verdict into the object: id, kind, namespace,
// name, state, reason, message, pod, container, last_termination, events,
// elapsed_ms.
func (o ObjectStatus) MarshalJSON() ([]byte, error) {
	type plain ObjectStatus
	return json.Marshal(struct {
		plain
		resultFields
		Elapsed   any   `json:"elapsed,omitempty"`
		ElapsedMS int64 `json:"elapsed_ms"`
	}{plain: plain(o), resultFields: fieldsOf(o.Result), ElapsedMS: o.Elapsed.Milliseconds()})
}

// MarshalJSON flattens the verdict into the problem.
func (p PodProblem) MarshalJSON() ([]byte, error) {
	f := fieldsOf(p.Result)
	return json.Marshal(struct {
		Namespace       string          `json:"namespace"`
		Pod             string          `json:"pod"`
		Trouble         bool            `json:"trouble"`
		State           readiness.State `json:"state"`
		Reason          string          `json:"reason,omitempty"`
		Message         string          `json:"message,omitempty"`
		Container       string          `json:"container,omitempty"`
		LastTermination string          `json:"last_termination,omitempty"`
		Events          []string        `json:"events,omitempty"`
	}{p.Namespace, p.Pod, p.Trouble, f.State, f.Reason, f.Message, f.Container, f.LastTermination, f.Events})
}

// MarshalJSON writes the report with its elapsed time in milliseconds.
func (r *Report) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Objects   []ObjectStatus `json:"objects"`
		ElapsedMS int64          `json:"elapsed_ms"`
	}{r.Objects, r.Elapsed.Milliseconds()})
}
