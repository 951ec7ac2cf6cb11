package wait

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// HealthReport is the outcome of a health check.
type HealthReport struct {
	// Server is the cluster's version ("v1.37.2").
	Server     string   `json:"server_version"`
	Namespaces []string `json:"namespaces"`
	// Pods counts the pods checked (terminating pods are skipped); Ready
	// those that are Ready or completed.
	Pods  int `json:"pods"`
	Ready int `json:"ready"`
	// Problems lists every pod that is not Ready, worst first.
	Problems []PodProblem `json:"problems,omitempty"`
}

// PodProblem is one pod that is not healthy.
type PodProblem struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	// Trouble is true for problems that will not heal by waiting (a failed
	// verdict: crash loop, image pull, failed pod); false for pods that are
	// merely not Ready yet.
	Trouble bool             `json:"trouble"`
	Result  readiness.Result `json:"-"`
}

// HealthError is returned when a health check finds problems.
type HealthError struct{ Report *HealthReport }

func (e *HealthError) Error() string {
	r := e.Report
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d pods ready in %s; %s", r.Ready, r.Pods, strings.Join(r.Namespaces, ", "), plural(len(r.Problems), "problem"))
	for _, p := range r.Problems {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(readiness.Summary("Pod/"+p.Namespace+"/"+p.Pod, p.Result), "\n", "\n  "))
	}
	return b.String()
}

// Text renders the report for the trace.
func (r *HealthReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "server %s; %d/%d pods ready in %s\n", r.Server, r.Ready, r.Pods, strings.Join(r.Namespaces, ", "))
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "%s/%s: %s\n", p.Namespace, p.Pod, p.Result.String())
	}
	return b.String()
}

// Health checks, once, that the cluster answers and that every pod in the
// namespaces is Ready (or completed). Pods in trouble (crash loops, image
// pull errors, failed pods) are judged with opts like wait_ready judges
// them, grace periods included; a pod still inside a grace period is
// reported as not ready, not as trouble. It returns a *HealthError listing
// the problems when there are any.
func (w *Waiter) Health(ctx context.Context, namespaces []string, opts readiness.Options, now time.Time) (*HealthReport, error) {
	ver, err := w.c.Typed.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("the cluster does not answer: %w", err)
	}
	r := &HealthReport{Server: ver.GitVersion, Namespaces: namespaces}
	for _, ns := range namespaces {
		pods, err := w.c.Typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
		}
		var events []*corev1.Event
		if evs, err := w.c.Typed.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for i := range evs.Items {
				events = append(events, &evs.Items[i])
			}
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			r.Pods++
			u := podObject(p)
			res := readiness.Evaluate(u, readiness.Related{Events: events}, opts, now)
			if res.State == readiness.Ready {
				r.Ready++
				continue
			}
			if res.Events == nil {
				res.Events = formatEvents(readiness.RelevantEvents(events, u, nil, 3))
			}
			res.RecheckAfter = 0
			r.Problems = append(r.Problems, PodProblem{Namespace: ns, Pod: p.Name, Trouble: res.State == readiness.Failed || troubled(res.Reason), Result: res})
		}
	}
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Trouble && !r.Problems[j].Trouble })
	if len(r.Problems) > 0 {
		return r, &HealthError{Report: r}
	}
	return r, nil
}

// troubled reports whether a reason names a pod problem rather than a pod
// that is simply not ready yet.
func troubled(reason string) bool {
	switch reason {
	case "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "OOMKilled", "Unschedulable":
		return true
	}
	return false
}

func formatEvents(evs []*corev1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, readiness.FormatEvent(e))
	}
	return out
}
