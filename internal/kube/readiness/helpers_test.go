package readiness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestPodSelector(t *testing.T) {
	withSelector := func(file string, sel any) *unstructured.Unstructured {
		obj := loadFixture(t, file).obj
		if sel == nil {
			unstructured.RemoveNestedField(obj.Object, "spec", "selector")
		} else if err := unstructured.SetNestedField(obj.Object, sel, "spec", "selector"); err != nil {
			t.Fatal(err)
		}
		return obj
	}
	tests := []struct {
		name   string
		obj    *unstructured.Unstructured
		want   string
		wantOK bool
	}{
		{"deployment", loadFixture(t, "deployment-ready.yaml").obj, "app.kubernetes.io/name=api", true},
		{"statefulset", loadFixture(t, "statefulset-ready.yaml").obj, "app.kubernetes.io/name=db", true},
		{"daemonset", loadFixture(t, "daemonset-ready.yaml").obj, "app.kubernetes.io/name=node-exporter", true},
		{"job", loadFixture(t, "job-complete.yaml").obj, "batch.kubernetes.io/controller-uid=8c0e2a4c-6d8f-4b0d-9e2a-4c6e8a0c2d40", true},
		{"replicationcontroller map selector", loadFixture(t, "replicationcontroller-unavailable.yaml").obj, "app=legacy", true},
		{"match expressions", withSelector("deployment-ready.yaml", map[string]any{
			"matchLabels": map[string]any{"app": "api"},
			"matchExpressions": []any{map[string]any{
				"key": "tier", "operator": "In", "values": []any{"backend", "worker"}}},
		}), "app=api,tier in (backend,worker)", true},
		{"empty selector matches everything: refused", withSelector("deployment-ready.yaml", map[string]any{}), "", false},
		{"missing selector", withSelector("deployment-ready.yaml", nil), "", false},
		{"invalid operator", withSelector("deployment-ready.yaml", map[string]any{
			"matchExpressions": []any{map[string]any{"key": "tier", "operator": "Near"}},
		}), "", false},
		{"pod owns no pods", loadFixture(t, "pod-ready.yaml").obj, "", false},
		{"configmap owns no pods", loadFixture(t, "configmap.yaml").obj, "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, ok := PodSelector(tt.obj)
			if ok != tt.wantOK {
				t.Fatalf("PodSelector ok = %v, want %v", ok, tt.wantOK)
			}
			if ok != OwnsPods(tt.obj) && tt.wantOK {
				t.Errorf("OwnsPods disagrees with PodSelector")
			}
			got := ""
			if sel != nil {
				got = sel.String()
			}
			if got != tt.want {
				t.Errorf("PodSelector = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOwnsPods(t *testing.T) {
	for file, want := range map[string]bool{
		"deployment-ready.yaml":                  true,
		"statefulset-ready.yaml":                 true,
		"daemonset-ready.yaml":                   true,
		"replicaset-ready.yaml":                  true,
		"replicationcontroller-unavailable.yaml": true,
		"job-complete.yaml":                      true,
		"pod-ready.yaml":                         false,
		"service-clusterip.yaml":                 false,
		"cr-ready.yaml":                          false,
	} {
		if got := OwnsPods(loadFixture(t, file).obj); got != want {
			t.Errorf("OwnsPods(%s) = %v, want %v", file, got, want)
		}
	}
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	slices.Sort(out)
	return out
}

func TestOwnedPods(t *testing.T) {
	f := loadFixture(t, "deployment-rolling.yaml")
	// Add pods that match the selector but are not the Deployment's: one
	// owned by another workload's ReplicaSet, one with the right owner name
	// in another namespace, and one with no owner at all.
	stranger := f.rel.Pods[0].DeepCopy()
	stranger.Name, stranger.UID = "web-canary-1", "0a0a0a0a-0000-4000-8000-000000000001"
	stranger.OwnerReferences[0].UID, stranger.OwnerReferences[0].Name = "0a0a0a0a-0000-4000-8000-000000000002", "web-canary-7f8d9c"
	elsewhere := f.rel.Pods[1].DeepCopy()
	elsewhere.Namespace = "staging"
	orphan := f.rel.Pods[1].DeepCopy()
	orphan.Name, orphan.OwnerReferences = "web-debug", nil
	pods := append(f.rel.Pods, stranger, elsewhere, orphan)

	got := podNames(OwnedPods(f.obj, pods, f.rel.ReplicaSets))
	want := []string{"shop/web-5f7b9d4c8-p4n8x", "shop/web-6c4d8b7f9-7kq2d"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OwnedPods via ReplicaSets (-want +got):\n%s", diff)
	}
	if got := OwnedPods(f.obj, pods, nil); len(got) != 0 {
		t.Errorf("OwnedPods without ReplicaSets = %v, want none (Deployment pods are owned through ReplicaSets)", podNames(got))
	}
	if got := len(OwnedReplicaSets(f.obj, f.rel.ReplicaSets)); got != 2 {
		t.Errorf("OwnedReplicaSets = %d, want 2", got)
	}

	job := loadFixture(t, "job-config-error.yaml")
	if got, want := podNames(OwnedPods(job.obj, append(job.rel.Pods, stranger), nil)), []string{"shop/migrate-x7k2p"}; !slices.Equal(got, want) {
		t.Errorf("OwnedPods(job) = %v, want %v", got, want)
	}

	// Without UIDs (e.g. objects rendered from a manifest), ownership falls
	// back to kind and name.
	noUID := job.obj.DeepCopy()
	noUID.SetUID("")
	if got := len(OwnedPods(noUID, job.rel.Pods, nil)); got != 1 {
		t.Errorf("OwnedPods by name = %d pods, want 1", got)
	}
	if OwnedPods(nil, pods, nil) != nil {
		t.Error("OwnedPods(nil) should be nil")
	}
}

func TestRelevantEvents(t *testing.T) {
	f := loadFixture(t, "deployment-imagepull.yaml")
	reasons := func(evs []*corev1.Event) []string {
		var out []string
		for _, ev := range evs {
			out = append(out, ev.InvolvedObject.Kind+":"+ev.Reason)
		}
		return out
	}
	all := []string{"Deployment:ScalingReplicaSet", "Pod:Scheduled", "Pod:Pulling", "Pod:Failed", "Pod:Failed", "Pod:BackOff", "Pod:Failed"}
	if diff := cmp.Diff(all, reasons(RelevantEvents(f.rel.Events, f.obj, f.rel.Pods, 0))); diff != "" {
		t.Errorf("all events, oldest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[4:], reasons(RelevantEvents(f.rel.Events, f.obj, f.rel.Pods, 3))); diff != "" {
		t.Errorf("last 3 events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[:1], reasons(RelevantEvents(f.rel.Events, f.obj, nil, 0))); diff != "" {
		t.Errorf("object events only (-want +got):\n%s", diff)
	}

	// A pod recreated under the same name (StatefulSet style) has a new UID;
	// events of its predecessor must not be attributed to it.
	reborn := f.rel.Pods[0].DeepCopy()
	reborn.UID = "99999999-9999-4999-8999-999999999999"
	if got := RelevantEvents(f.rel.Events, nil, []*corev1.Pod{reborn}, 0); len(got) != 0 {
		t.Errorf("events of a previous pod with the same name matched: %v", reasons(got))
	}
	// Without UIDs, matching falls back to kind/namespace/name.
	reborn.UID = ""
	if got := len(RelevantEvents(f.rel.Events, nil, []*corev1.Pod{reborn}, 0)); got != 6 {
		t.Errorf("events by name = %d, want 6", got)
	}
}

func TestEventTimes(t *testing.T) {
	at := func(s int) time.Time { return baseNow.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name        string
		ev          corev1.Event
		last, first time.Time
	}{
		{"legacy timestamps", corev1.Event{FirstTimestamp: metav1.NewTime(at(1)), LastTimestamp: metav1.NewTime(at(5))}, at(5), at(1)},
		{"events.k8s.io style with series", corev1.Event{
			EventTime: metav1.NewMicroTime(at(2)),
			Series:    &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(at(9))},
		}, at(9), at(2)},
		{"only creation time", corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(at(3))}}, at(3), at(3)},
	}
	for _, tt := range tests {
		if got := eventTime(&tt.ev); !got.Equal(tt.last) {
			t.Errorf("%s: eventTime = %v, want %v", tt.name, got, tt.last)
		}
		if got := eventFirstTime(&tt.ev); !got.Equal(tt.first) {
			t.Errorf("%s: eventFirstTime = %v, want %v", tt.name, got, tt.first)
		}
	}
	series := corev1.Event{Type: "Warning", Reason: "FailedScheduling", Message: "no\nnodes",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}, Series: &corev1.EventSeries{Count: 7}}
	if got, want := FormatEvent(&series), "Warning FailedScheduling Pod/p: no nodes (x7)"; got != want {
		t.Errorf("FormatEvent = %q, want %q", got, want)
	}
}

func TestSinceObserve(t *testing.T) {
	pull := loadFixture(t, "deployment-imagepull.yaml").rel.Pods[0]
	unsched := loadFixture(t, "pod-unschedulable.yaml")
	var unschedPod corev1.Pod
	if err := (&evaluator{obj: unsched.obj}).convert(&unschedPod); err != nil {
		t.Fatal(err)
	}
	pullKey := SinceKey{PodUID: pull.UID, Container: "backend", Problem: ProblemImagePull}
	schedKey := SinceKey{PodUID: unschedPod.UID, Problem: ProblemUnschedulable}

	s := Since{}
	t0, t1 := baseNow, baseNow.Add(4*time.Second)
	s.Observe([]*corev1.Pod{pull, &unschedPod}, t0)
	want := Since{pullKey: t0, schedKey: t0}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Fatalf("after first Observe (-want +got):\n%s", diff)
	}

	// ErrImagePull and ImagePullBackOff alternate for one problem: the
	// first sighting must be kept.
	pull2 := pull.DeepCopy()
	pull2.Status.ContainerStatuses[0].State.Waiting.Reason = "ErrImagePull"
	s.Observe([]*corev1.Pod{pull2, &unschedPod}, t1)
	if diff := cmp.Diff(want, s); diff != "" {
		t.Fatalf("after alternating reason (-want +got):\n%s", diff)
	}

	// The container starts: its entry goes; the pod that vanished goes too.
	started := pull.DeepCopy()
	started.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	s.Observe([]*corev1.Pod{started}, t1)
	if len(s) != 0 {
		t.Fatalf("after recovery and pod deletion, Since = %v, want empty", s)
	}

	// A problem that comes back later starts a new grace period.
	s.Observe([]*corev1.Pod{pull}, t1)
	if got := s[pullKey]; !got.Equal(t1) {
		t.Errorf("re-observed problem dated %v, want %v", got, t1)
	}
}

// TestSinceDrivesGrace checks the caller-state contract end to end: a
// watcher that starts watching an old, event-less pod gives it the full
// grace from its first sighting.
func TestSinceDrivesGrace(t *testing.T) {
	f := loadFixture(t, "pod-imagepull-old.yaml")
	pod := f.rel.Pods
	var p corev1.Pod
	if err := (&evaluator{obj: f.obj}).convert(&p); err != nil {
		t.Fatal(err)
	}
	pod = append(pod, &p)
	since := Since{}
	start := baseNow
	for _, step := range []struct {
		after time.Duration
		want  State
	}{{0, Progressing}, {10 * time.Second, Progressing}, {15 * time.Second, Failed}} {
		now := start.Add(step.after)
		since.Observe(pod, now)
		got := Evaluate(f.obj, Related{Since: since}, Options{}, now)
		if got.State != step.want {
			t.Errorf("at +%v: state %s, want %s (%s)", step.after, got.State, step.want, got)
		}
		if got.State == Progressing && got.RecheckAfter != DefaultImagePullGrace-step.after {
			t.Errorf("at +%v: RecheckAfter %v, want %v", step.after, got.RecheckAfter, DefaultImagePullGrace-step.after)
		}
	}
}

func TestSummary(t *testing.T) {
	r := Result{State: Failed, Reason: ReasonCrashLoopBackOff, Message: "pod a container b: CrashLoopBackOff",
		Pod: "a", Container: "b", LastTermination: "Error, exit code 1: boom",
		Events: []string{"Warning BackOff Pod/a: Back-off restarting failed container b (x5)"}}
	want := "Deployment/shop/api: Failed (CrashLoopBackOff): pod a container b: CrashLoopBackOff\n" +
		"  last termination: Error, exit code 1: boom\n" +
		"  events:\n" +
		"    Warning BackOff Pod/a: Back-off restarting failed container b (x5)"
	if got := Summary(ID(loadFixture(t, "deployment-ready.yaml").obj), r); got != want {
		t.Errorf("Summary =\n%s\nwant\n%s", got, want)
	}
	if got, want := Summary("", Result{State: Ready, Message: "3/3 replicas available"}), "Ready: 3/3 replicas available"; got != want {
		t.Errorf("Summary(ready) = %q, want %q", got, want)
	}
	if got, want := ID(loadFixture(t, "crd-established.yaml").obj), "CustomResourceDefinition/widgets.example.com"; got != want {
		t.Errorf("ID(cluster-scoped) = %q, want %q", got, want)
	}
	if ID(nil) != "" {
		t.Error("ID(nil) should be empty")
	}
}

func TestResultPredicates(t *testing.T) {
	tests := []struct {
		r            Result
		done, waived bool
	}{
		{Result{State: Ready}, true, false},
		{Result{State: Ready, Reason: ReasonPaused}, true, true},
		{Result{State: Failed, Reason: "ImagePullBackOff"}, true, false},
		{Result{State: Progressing, Reason: ReasonAwaitingLoadBalancer}, false, false},
		{Result{State: Unknown}, false, false},
		{Result{State: NotFound}, false, false},
	}
	for _, tt := range tests {
		if got := tt.r.Done(); got != tt.done {
			t.Errorf("%v.Done() = %v, want %v", tt.r, got, tt.done)
		}
		if got := tt.r.Waived(); got != tt.waived {
			t.Errorf("%v.Waived() = %v, want %v", tt.r, got, tt.waived)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := Options{ImagePullGrace: DefaultImagePullGrace, ContainerErrorGrace: DefaultContainerErrorGrace,
		CrashLoopRestarts: DefaultCrashLoopRestarts, OOMKills: DefaultOOMKills, UnschedulableGrace: DefaultUnschedulableGrace,
		ReplicaFailureGrace: DefaultReplicaFailureGrace, StorageClassGrace: DefaultStorageClassGrace,
		ProvisioningGrace: DefaultProvisioningGrace, MaxEvents: DefaultMaxEvents}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zero Options (-want +got):\n%s", diff)
	}
	got = Options{ImagePullGrace: -1, ContainerErrorGrace: -1, CrashLoopRestarts: -1, OOMKills: -1,
		UnschedulableGrace: -1, ReplicaFailureGrace: -1, StorageClassGrace: -1, ProvisioningGrace: -1, MaxEvents: -1}.withDefaults()
	if diff := cmp.Diff(Options{}, got); diff != "" {
		t.Errorf("negative Options should mean no grace / disabled / no events (-want +got):\n%s", diff)
	}
	custom := Options{ImagePullGrace: time.Minute, CrashLoopRestarts: 9, MaxEvents: 1}
	got = custom.withDefaults()
	if got.ImagePullGrace != time.Minute || got.CrashLoopRestarts != 9 || got.MaxEvents != 1 {
		t.Errorf("explicit Options changed: %+v", got)
	}
}

func TestRuleValidate(t *testing.T) {
	fn := func(*unstructured.Unstructured) (State, string, error) { return Ready, "", nil }
	tests := []struct {
		rule    Rule
		wantErr string
	}{
		{Rule{Kind: "Widget", ReadyCondition: "Ready"}, ""},
		{Rule{Kind: "Widget", Func: fn}, ""},
		{Rule{Kind: "Widget", ReadyCondition: "Ready", FailedCondition: "Stalled"}, ""},
		{Rule{ReadyCondition: "Ready"}, "kind is required"},
		{Rule{Kind: "Widget"}, "needs a ready condition or a function"},
		{Rule{Kind: "Widget", ReadyCondition: "Ready", Func: fn}, "not both"},
		{Rule{Kind: "Widget", ReadyCondition: "Ready", FailedStatus: "True"}, "failed status without failed condition"},
	}
	for _, tt := range tests {
		err := tt.rule.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("Validate(%+v) = %v, want nil", tt.rule, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Validate(%+v) = %v, want error containing %q", tt.rule, err, tt.wantErr)
		}
	}
}

func TestRuleCallbackInvalidState(t *testing.T) {
	rule := Rule{Group: "example.com", Kind: "Widget",
		Func: func(*unstructured.Unstructured) (State, string, error) { return "Green", "", nil }}
	got := Evaluate(loadFixture(t, "cr-ready.yaml").obj, Related{}, Options{Rules: []Rule{rule}}, baseNow)
	if got.State != Unknown || got.Reason != ReasonRuleError {
		t.Errorf("callback returning an invalid state: got %v, want Unknown (RuleError)", got)
	}
}

// TestEvaluateFixtureInvariants runs every fixture and checks properties
// that must hold for all of them: Evaluate does not modify its inputs,
// does not depend on the order of pods and events, judges every fixture
// (never Unknown), fills Events only for Failed results and RecheckAfter
// only for Progressing ones.
func TestEvaluateFixtureInvariants(t *testing.T) {
	for _, name := range fixtureFiles(t) {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			pristine := loadFixture(t, name)
			got := Evaluate(f.obj, f.rel, Options{}, baseNow)
			if !equality.Semantic.DeepEqual(f.obj, pristine.obj) || !equality.Semantic.DeepEqual(f.rel, pristine.rel) {
				t.Error("Evaluate modified its input")
			}
			if got.State == Unknown || got.State == "" {
				t.Errorf("fixture not judged: %v", got)
			}
			if got.Events != nil && got.State != Failed {
				t.Errorf("Events on a %s result", got.State)
			}
			if got.RecheckAfter != 0 && got.State != Progressing {
				t.Errorf("RecheckAfter on a %s result", got.State)
			}
			if got.RecheckAfter < 0 {
				t.Errorf("negative RecheckAfter %v", got.RecheckAfter)
			}
			slices.Reverse(f.rel.Pods)
			slices.Reverse(f.rel.Events)
			slices.Reverse(f.rel.ReplicaSets)
			if diff := cmp.Diff(got, Evaluate(f.obj, f.rel, Options{}, baseNow)); diff != "" {
				t.Errorf("result depends on the order of related objects (-first +reversed):\n%s", diff)
			}
		})
	}
}

// TestDeletingObject covers objects with a deletionTimestamp.
func TestDeletingObject(t *testing.T) {
	obj := loadFixture(t, "deployment-ready.yaml").obj
	ts := metav1.NewTime(baseNow.Add(-time.Minute))
	obj.SetDeletionTimestamp(&ts)
	obj.SetFinalizers([]string{"example.com/drain"})
	got := Evaluate(obj, Related{}, Options{}, baseNow)
	want := Result{State: Progressing, Reason: ReasonTerminating, Message: "object is being deleted (finalizers: example.com/drain)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deleting Deployment (-want +got):\n%s", diff)
	}
}

// TestWorstPodWins checks that among several problem pods a Failed one is
// reported even when a pending problem sorts first.
func TestWorstPodWins(t *testing.T) {
	f := loadFixture(t, "deployment-imagepull.yaml")
	pending := f.rel.Pods[0] // within grace at baseNow
	crash := loadFixture(t, "pod-crashloop-above.yaml").obj
	var crashPod corev1.Pod
	if err := (&evaluator{obj: crash}).convert(&crashPod); err != nil {
		t.Fatal(err)
	}
	crashPod.Name = "zz-last-by-name"
	f.rel.ReplicaSets = nil // judge all pods
	f.rel.Pods = []*corev1.Pod{pending, &crashPod}
	got := Evaluate(f.obj, f.rel, Options{MaxEvents: -1}, baseNow)
	if got.State != Failed || got.Pod != "zz-last-by-name" || got.Reason != ReasonCrashLoopBackOff {
		t.Errorf("got %v (pod %s), want the crash-looping pod to fail the Deployment", got, got.Pod)
	}
	// Terminating pods are ignored.
	crashPod.DeletionTimestamp = &metav1.Time{Time: baseNow}
	got = Evaluate(f.obj, f.rel, Options{MaxEvents: -1}, baseNow)
	if got.State != Progressing || got.Pod != pending.Name {
		t.Errorf("got %v (pod %s), want the terminating pod ignored", got, got.Pod)
	}
}
