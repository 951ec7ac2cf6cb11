package helm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/kube/readiness"
)

// HookInfo describes one hook of a release for dry runs: what Helm creates
// and waits for around the release's objects.
type HookInfo struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Phases []string `json:"phases"`
	Weight int      `json:"weight"`
}

func (h HookInfo) String() string {
	return fmt.Sprintf("%s/%s (%s, weight %d)", h.Kind, h.Name, strings.Join(h.Phases, ","), h.Weight)
}

// hookInfos lists hooks in the order Helm runs them (weight, then name).
func hookInfos(hs []*release.Hook) []HookInfo {
	var out []HookInfo
	for _, h := range hs {
		var ph []string
		for _, e := range h.Events {
			ph = append(ph, string(e))
		}
		out = append(out, HookInfo{Kind: h.Kind, Name: h.Name, Phases: ph, Weight: h.Weight})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Weight != out[j].Weight {
			return out[i].Weight < out[j].Weight
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// hookWatchInterval is how often a running hook is looked at.
const hookWatchInterval = 250 * time.Millisecond

// hookFailure is the cause an install or upgrade is cancelled with when one
// of its hooks failed.
type hookFailure struct{ msg string }

func (e *hookFailure) Error() string { return e.msg }

// hookWatch follows the Job and Pod hooks of one install or upgrade while
// Helm runs them. Helm waits for a hook until its timeout and reports little
// more than "BackoffLimitExceeded"; the watch judges each hook's pods like a
// workload's (image pull, crash loop, failed containers) and stops the
// operation as soon as one fails, with the pod's reason, recent events and
// its last log lines. It also remembers which hook was running, so that a
// timeout can name it.
type hookWatch struct {
	kc     *kube.Client
	ns     string
	hooks  []*release.Hook
	phases map[release.HookEvent]bool
	since  readiness.Since

	mu      sync.Mutex
	current string // "the post-install hook Job/x (weight 1)"
	last    readiness.Result
}

func newHookWatch(kc *kube.Client, ns string, hooks []*release.Hook, phases ...release.HookEvent) *hookWatch {
	w := &hookWatch{kc: kc, ns: ns, phases: map[release.HookEvent]bool{}, since: readiness.Since{}}
	for _, p := range phases {
		w.phases[p] = true
	}
	for _, h := range hooks {
		if h.Kind != "Job" && h.Kind != "Pod" {
			continue // Helm waits only for Jobs and Pods
		}
		for _, e := range h.Events {
			if w.phases[e] {
				w.hooks = append(w.hooks, h)
				break
			}
		}
	}
	sort.SliceStable(w.hooks, func(i, j int) bool {
		if w.hooks[i].Weight != w.hooks[j].Weight {
			return w.hooks[i].Weight < w.hooks[j].Weight
		}
		return w.hooks[i].Name < w.hooks[j].Name
	})
	return w
}

func (w *hookWatch) phaseOf(h *release.Hook) string {
	for _, e := range h.Events {
		if w.phases[e] {
			return string(e)
		}
	}
	return ""
}

// run looks at the hooks until ctx ends, and cancels the operation with a
// hookFailure when one fails.
func (w *hookWatch) run(ctx context.Context, cancel context.CancelCauseFunc) {
	if w == nil || len(w.hooks) == 0 || w.kc == nil || w.kc.Clientset == nil {
		return
	}
	t := time.NewTicker(hookWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if msg := w.check(ctx); msg != "" {
			cancel(&hookFailure{msg: msg})
			return
		}
	}
}

// check judges the hooks that exist now; it returns a failure message.
func (w *hookWatch) check(ctx context.Context) string {
	now := time.Now()
	for _, h := range w.hooks {
		obj, pods, events, err := w.read(ctx, h)
		if err != nil || obj == nil {
			continue
		}
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		w.since.Observe(pods, now)
		res := readiness.Evaluate(obj, readiness.Related{Pods: pods, Events: events, Since: w.since}, readiness.Options{}, now)
		if res.State == readiness.Ready {
			continue
		}
		what := fmt.Sprintf("the %s hook %s/%s (weight %d)", w.phaseOf(h), h.Kind, h.Name, h.Weight)
		w.mu.Lock()
		w.current, w.last = what, res
		w.mu.Unlock()
		if res.State == readiness.Failed {
			return what + " failed: " + w.explain(ctx, res)
		}
	}
	return ""
}

func (w *hookWatch) read(ctx context.Context, h *release.Hook) (*unstructured.Unstructured, []*corev1.Pod, []*corev1.Event, error) {
	cs := w.kc.Clientset
	var obj runtime.Object
	var gvk schema.GroupVersionKind
	var pods []*corev1.Pod
	switch h.Kind {
	case "Job":
		j, err := cs.BatchV1().Jobs(w.ns).Get(ctx, h.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil, nil, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		obj, gvk = j, schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
		list, err := cs.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(j.UID)})
		if err == nil {
			for i := range list.Items {
				pods = append(pods, &list.Items[i])
			}
		}
	case "Pod":
		p, err := cs.CoreV1().Pods(w.ns).Get(ctx, h.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil, nil, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		obj, gvk = p, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, nil, nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	var events []*corev1.Event
	if el, err := cs.CoreV1().Events(w.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range el.Items {
			events = append(events, &el.Items[i])
		}
	}
	return u, pods, events, nil
}

// explain formats a failed hook's result: reason, culprit pod, its last
// termination, recent events and last log lines (when the API has them).
func (w *hookWatch) explain(ctx context.Context, res readiness.Result) string {
	var b strings.Builder
	b.WriteString(res.String())
	if res.Pod != "" && !strings.Contains(res.Message, res.Pod) {
		fmt.Fprintf(&b, " (pod %s", res.Pod)
		if res.Container != "" {
			fmt.Fprintf(&b, ", container %s", res.Container)
		}
		b.WriteString(")")
	}
	if res.LastTermination != "" && !strings.Contains(res.Message, res.LastTermination) {
		b.WriteString("; last termination: " + res.LastTermination)
	}
	if len(res.Events) > 0 {
		b.WriteString("; events: " + strings.Join(res.Events, "; "))
	}
	if res.Pod != "" {
		if lines := w.logTail(ctx, res.Pod, res.Container); lines != "" {
			b.WriteString("; last log lines: " + lines)
		}
	}
	return b.String()
}

func (w *hookWatch) logTail(ctx context.Context, pod, container string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n := int64(5)
	opts := &corev1.PodLogOptions{TailLines: &n, Container: container}
	rc, err := w.kc.Clientset.CoreV1().Pods(w.ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " | ")
}

// during says which hook was running, for a timeout message ("" when none
// was seen unfinished).
func (w *hookWatch) during() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current == "" {
		return ""
	}
	s := "during " + w.current
	if w.last.State != "" {
		s += ", last seen " + w.last.String()
	}
	return s
}

// runWithHooks runs op with a watch on its hooks; a hook failure cancels
// op and becomes its error.
func runWithHooks[T any](ctx context.Context, w *hookWatch, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, cancel)
	}()
	res, err := op(ctx)
	cancel(nil)
	<-done
	var hf *hookFailure
	if cause := context.Cause(ctx); err != nil && errors.As(cause, &hf) {
		return res, hf
	}
	return res, err
}

// hookErr explains an install's or upgrade's error with its hooks: a hook
// the watch failed, a hook failure Helm reported first (explained by a last
// look at the hooks), or a timeout while a hook ran.
func (c *Client) hookErr(kc *kube.Client, w *hookWatch, what string, timeout time.Duration, err error) error {
	var hf *hookFailure
	if errors.As(err, &hf) {
		return &exit.Error{Code: exit.PlanFailed, Msg: what + ": " + hf.msg, Err: err}
	}
	if w != nil && len(w.hooks) > 0 && strings.Contains(err.Error(), "hook") && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		msg := w.check(ctx)
		cancel()
		if msg != "" {
			return &exit.Error{Code: exit.PlanFailed, Msg: what + ": " + msg, Err: err}
		}
	}
	err = c.runErr(kc, what, timeout, err)
	var xe *exit.Error
	if d := w.during(); d != "" && errors.As(err, &xe) && xe.Code == exit.Timeout {
		cp := *xe
		cp.Msg = strings.TrimSuffix(cp.Msg, ".") + " " + d
		return &cp
	}
	return err
}

// hookObjects parses the hooks that run on install, upgrade, rollback or
// delete (test hooks left out), for a diff.
func hookObjects(hs []*release.Hook, scope scopeFunc, namespace string) []*object {
	var out []*object
	for _, h := range hs {
		if testOnlyHook(h) {
			continue
		}
		docs, err := parseDocuments([]byte(h.Manifest), h.Path, scope, namespace, keepHead)
		if err != nil {
			continue
		}
		out = append(out, docs...)
	}
	return out
}
