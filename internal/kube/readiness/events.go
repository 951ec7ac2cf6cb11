package readiness

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// objRef identifies an object an event may be about.
type objRef struct {
	kind, namespace, name string
	uid                   types.UID
}

// matches compares by UID when both sides carry one (a StatefulSet pod
// recreated under the same name is a different object), else by kind,
// namespace and name.
func (r objRef) matches(o corev1.ObjectReference) bool {
	if r.uid != "" && o.UID != "" {
		return r.uid == o.UID
	}
	return o.Kind == r.kind && o.Name == r.name && o.Namespace == r.namespace
}

func podRef(p *corev1.Pod) objRef {
	return objRef{kind: "Pod", namespace: p.Namespace, name: p.Name, uid: p.UID}
}

// eventTime is the time of an event's most recent occurrence.
func eventTime(ev *corev1.Event) time.Time {
	t := ev.LastTimestamp.Time
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	for _, c := range []time.Time{ev.EventTime.Time, ev.FirstTimestamp.Time, ev.CreationTimestamp.Time} {
		if t.IsZero() {
			t = c
		}
	}
	return t
}

// eventFirstTime is the time of an event's first occurrence.
func eventFirstTime(ev *corev1.Event) time.Time {
	for _, t := range []time.Time{ev.FirstTimestamp.Time, ev.EventTime.Time, ev.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// RelevantEvents returns the last n events (all for n <= 0) about obj or any
// of pods, sorted oldest first by their most recent occurrence. Events are
// matched by involvedObject UID when both sides have one, else by kind,
// namespace and name.
func RelevantEvents(events []*corev1.Event, obj *unstructured.Unstructured, pods []*corev1.Pod, n int) []*corev1.Event {
	refs := make([]objRef, 0, len(pods)+1)
	if obj != nil {
		refs = append(refs, refOf(obj))
	}
	for _, p := range pods {
		if p != nil {
			refs = append(refs, podRef(p))
		}
	}
	return relevantEvents(events, refs, n)
}

func relevantEvents(events []*corev1.Event, refs []objRef, n int) []*corev1.Event {
	var out []*corev1.Event
	for _, ev := range events {
		if ev == nil {
			continue
		}
		for _, r := range refs {
			if r.matches(ev.InvolvedObject) {
				out = append(out, ev)
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *corev1.Event) int {
		if c := eventTime(a).Compare(eventTime(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// FormatEvent renders an event on one line:
// "Warning Failed Pod/api-7c9-x: Failed to pull image ... (x4)".
func FormatEvent(ev *corev1.Event) string {
	count := ev.Count
	if ev.Series != nil && ev.Series.Count > count {
		count = ev.Series.Count
	}
	s := fmt.Sprintf("%s %s %s/%s: %s", orDefault(ev.Type, corev1.EventTypeNormal), ev.Reason,
		ev.InvolvedObject.Kind, ev.InvolvedObject.Name, oneLine(ev.Message))
	if count > 1 {
		s += fmt.Sprintf(" (x%d)", count)
	}
	return s
}

func formatEvents(evs []*corev1.Event) []string {
	if len(evs) == 0 {
		return nil
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = FormatEvent(ev)
	}
	return out
}
