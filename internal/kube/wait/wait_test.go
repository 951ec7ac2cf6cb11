package wait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

var deploymentTarget = Target{GVK: schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Namespace: "ns", Name: "api"}

func TestReadyOnWatchEventWithoutPolling(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrDeployments, deployment(t, 0))
	var changes int
	ch := fc.start(t, []Target{deploymentTarget}, Options{OnChange: func(*Report) { changes++ }})
	fc.awaitWatches(t, "deployments", "pods", "replicasets", "events")
	mustNotReturn(t, ch, 100*time.Millisecond)

	changed := time.Now()
	fc.update(t, gvrDeployments, deployment(t, 1))
	r := await(t, ch, 2*time.Second)
	if r.err != nil {
		t.Fatalf("Wait: %v", r.err)
	}
	if lat := r.at.Sub(changed); lat > 500*time.Millisecond {
		t.Errorf("Wait returned %s after the status update; want well under the 2s of a poll", lat)
	}
	if n := fc.lists("deployments"); n != 1 {
		t.Errorf("deployments listed %d times; want 1 (watch, do not poll)", n)
	}
	if got := r.rep.Objects; len(got) != 1 || got[0].ID != "Deployment/ns/api" || got[0].Result.State != readiness.Ready {
		t.Errorf("report = %+v", got)
	}
	if changes < 2 {
		t.Errorf("OnChange called %d times; want the first verdict and the change to Ready", changes)
	}
}

func TestRecheckAfterFailsWithoutNewEvent(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrDeployments, deployment(t, 0))
	ctx := context.Background()
	if _, err := fc.typed.AppsV1().ReplicaSets("ns").Create(ctx, replicaSet(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.typed.CoreV1().Pods("ns").Create(ctx, ownedPod("api-1-x", time.Now(), "ImagePullBackOff"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	grace := 400 * time.Millisecond
	start := time.Now()
	ch := fc.start(t, []Target{deploymentTarget}, Options{Readiness: readiness.Options{ImagePullGrace: grace}})
	r := await(t, ch, 3*time.Second)
	took := r.at.Sub(start)
	var we *Error
	if !errors.As(r.err, &we) || we.Cause != CauseFailed {
		t.Fatalf("err = %v; want a failure", r.err)
	}
	if took < grace {
		t.Errorf("failed after %s, before the %s grace ended", took, grace)
	}
	if took > grace+time.Second {
		t.Errorf("failed after %s; want soon after the %s grace (RecheckAfter timer)", took, grace)
	}
	msg := r.err.Error()
	for _, want := range []string{"Deployment/ns/api failed", "ImagePullBackOff", "api-1-x", "app"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if we.IsTimeout() || IsTimeout(r.err) {
		t.Error("a detected failure is not a timeout")
	}
}

func TestTimeoutNamesWhatIsNotReady(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrDeployments, deployment(t, 0))
	ch := fc.start(t, []Target{deploymentTarget}, Options{Timeout: 300 * time.Millisecond})
	r := await(t, ch, 3*time.Second)
	if !IsTimeout(r.err) {
		t.Fatalf("err = %v; want a timeout", r.err)
	}
	msg := r.err.Error()
	for _, want := range []string{"timed out after 300ms", "0/1 ready", "Deployment/ns/api: Progressing", "0/1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestNotFoundIsWaitedFor(t *testing.T) {
	fc := newFake(t)
	var last *Report
	ch := fc.start(t, []Target{deploymentTarget}, Options{OnChange: func(r *Report) { last = r }})
	fc.awaitWatches(t, "deployments", "pods", "replicasets", "events")
	mustNotReturn(t, ch, 100*time.Millisecond)
	fc.create(t, gvrDeployments, deployment(t, 1))
	r := await(t, ch, 2*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if last == nil || last.Objects[0].Result.State != readiness.Ready {
		t.Errorf("last change = %+v", last)
	}
}

func TestLoadBalancerTimeout(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrServices, obj(t, `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
spec: {type: LoadBalancer, ports: [{port: 80}]}
`))
	ch := fc.start(t, []Target{{Kind: "svc", Namespace: "ns", Name: "web"}}, Options{LoadBalancerTimeout: 300 * time.Millisecond, Timeout: time.Minute})
	r := await(t, ch, 3*time.Second)
	var we *Error
	if !errors.As(r.err, &we) || we.Cause != CauseLoadBalancer || !we.IsTimeout() {
		t.Fatalf("err = %v; want the load balancer timeout", r.err)
	}
	msg := r.err.Error()
	for _, want := range []string{"no load balancer address after 300ms for Service/ns/web", "AwaitingLoadBalancer", "MetalLB"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

func TestLoadBalancerGetsAddress(t *testing.T) {
	fc := newFake(t)
	svc := obj(t, `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
spec: {type: LoadBalancer, ports: [{port: 80}]}
`)
	fc.create(t, gvrServices, svc)
	ch := fc.start(t, []Target{{Kind: "service", Namespace: "ns", Name: "web"}}, Options{})
	fc.awaitWatches(t, "services", "events")
	_ = unstructured.SetNestedSlice(svc.Object, []any{map[string]any{"ip": "10.0.0.7"}}, "status", "loadBalancer", "ingress")
	fc.update(t, gvrServices, svc)
	r := await(t, ch, 2*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if m := r.rep.Objects[0].Result.Message; !strings.Contains(m, "10.0.0.7") {
		t.Errorf("message = %q", m)
	}
}

func TestCRDEstablishedResetsMapper(t *testing.T) {
	fc := newFake(t)
	crd := obj(t, `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com, generation: 1}
spec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced}
status:
  conditions:
  - {type: NamesAccepted, status: "True"}
`)
	fc.create(t, gvrCRDs, crd)
	ch := fc.start(t, []Target{{Kind: "crd", Name: "widgets.example.com"}}, Options{})
	fc.awaitWatches(t, "customresourcedefinitions")
	mustNotReturn(t, ch, 50*time.Millisecond)
	before := fc.mapper.resets.Load()
	_ = unstructured.SetNestedSlice(crd.Object, []any{
		map[string]any{"type": "NamesAccepted", "status": "True"},
		map[string]any{"type": "Established", "status": "True"},
	}, "status", "conditions")
	fc.update(t, gvrCRDs, crd)
	r := await(t, ch, 2*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if fc.mapper.resets.Load() <= before {
		t.Error("the REST mapper was not reset after the CRD was established")
	}
	if id := r.rep.Objects[0].ID; id != "CustomResourceDefinition/widgets.example.com" {
		t.Errorf("id = %q", id)
	}
}

func TestSelectorLiftsPodsToWorkloads(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrDeployments, deployment(t, 0))
	ctx := context.Background()
	if _, err := fc.typed.AppsV1().ReplicaSets("ns").Create(ctx, replicaSet(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.typed.CoreV1().Pods("ns").Create(ctx, ownedPod("api-1-x", time.Now(), ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bare := ownedPod("debug", time.Now(), "")
	bare.OwnerReferences = nil
	bare.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if _, err := fc.typed.CoreV1().Pods("ns").Create(ctx, bare, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var first *Report
	ch := fc.start(t, []Target{{Selector: "app=api", Namespace: "ns"}}, Options{OnChange: func(r *Report) {
		if first == nil {
			first = r
		}
	}})
	fc.awaitWatches(t, "deployments", "statefulsets", "daemonsets", "jobs", "pods", "replicasets", "events")
	mustNotReturn(t, ch, 100*time.Millisecond)
	fc.update(t, gvrDeployments, deployment(t, 1))
	r := await(t, ch, 2*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	var ids []string
	for _, o := range r.rep.Objects {
		ids = append(ids, o.ID)
	}
	if got, want := strings.Join(ids, " "), "Deployment/ns/api Pod/ns/debug"; got != want {
		t.Errorf("objects = %s; want %s", got, want)
	}
}

func TestSelectorWithoutMatchWaits(t *testing.T) {
	fc := newFake(t)
	ch := fc.start(t, []Target{{Selector: "app=nothing", Namespace: "ns"}}, Options{Timeout: 200 * time.Millisecond})
	r := await(t, ch, 2*time.Second)
	if !IsTimeout(r.err) || !strings.Contains(r.err.Error(), `selector "app=nothing" in ns: NotFound (NotFound): no workload or pod matches yet`) {
		t.Fatalf("err = %v", r.err)
	}
}

func TestRuleFuncErrorFailsAtOnce(t *testing.T) {
	fc := newFake(t)
	fc.create(t, gvrWidgets, obj(t, `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: ns}
`))
	rule := readiness.Rule{Kind: "Widget", Group: "example.com", Func: func(*unstructured.Unstructured) (readiness.State, string, error) {
		return "", "", errors.New("boom")
	}}
	ch := fc.start(t, []Target{{Kind: "widgets.example.com", Namespace: "ns", Name: "w"}}, Options{Readiness: readiness.Options{Rules: []readiness.Rule{rule}}})
	r := await(t, ch, 2*time.Second)
	var we *Error
	if !errors.As(r.err, &we) || we.Cause != CauseFailed || !strings.Contains(r.err.Error(), "boom") {
		t.Fatalf("err = %v", r.err)
	}
}

func TestForbiddenFailsFast(t *testing.T) {
	fc := newFake(t)
	fc.typed.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("no access"))
	})
	ch := fc.start(t, []Target{{Kind: "configmap", Namespace: "ns", Name: "x"}}, Options{})
	r := await(t, ch, 3*time.Second)
	if r.err == nil || !strings.Contains(r.err.Error(), "forbidden") {
		t.Fatalf("err = %v", r.err)
	}
}

func TestUnknownKind(t *testing.T) {
	fc := newFake(t)
	_, err := fc.w.Wait(context.Background(), []Target{{Kind: "gizmo", Name: "x"}}, Options{})
	if !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("err = %v", err)
	}
	if fc.mapper.resets.Load() == 0 {
		t.Error("an unknown kind should refresh the mapping once")
	}
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in, kind, name, err string
	}{
		{"deployment/plate-api", "deployment", "plate-api", ""},
		{"crd/certificates.cert-manager.io", "crd", "certificates.cert-manager.io", ""},
		{"apps/v1/Deployment/api", "apps/v1/Deployment", "api", ""},
		{"plate-api", "", "", "want kind/name"},
		{"deployment/", "", "", "want kind/name"},
		{"/x", "", "", "want kind/name"},
	} {
		got, err := ParseRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) err = %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.Kind != tc.kind || got.Name != tc.name {
			t.Errorf("ParseRef(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestGuessKindAndRuleText(t *testing.T) {
	for in, want := range map[string]string{
		"pvc":                         "PersistentVolumeClaim",
		"deployment":                  "Deployment.apps",
		"crd":                         "CustomResourceDefinition.apiextensions.k8s.io",
		"Certificate.cert-manager.io": "Certificate.cert-manager.io",
		"apps/v1/StatefulSet":         "StatefulSet.apps",
	} {
		if gk, _ := GuessKind(in); gk.String() != want {
			t.Errorf("GuessKind(%q) = %s; want %s", in, gk, want)
		}
	}
	if s := RuleText(schema.GroupKind{Kind: "Service"}, Options{LoadBalancerTimeout: 30 * time.Second}); !strings.Contains(s, "30s") {
		t.Errorf("service rule = %q", s)
	}
	opts := Options{Readiness: readiness.Options{Rules: []readiness.Rule{{Name: "certs", Group: "cert-manager.io", Kind: "Certificate", ReadyCondition: "Ready"}}}}
	if s := RuleText(schema.GroupKind{Group: "cert-manager.io", Kind: "Certificate"}, opts); s != "plan rule certs: condition Ready=True" {
		t.Errorf("rule text = %q", s)
	}
}

func TestHealth(t *testing.T) {
	fc := newFake(t)
	ctx := context.Background()
	ready := ownedPod("ok", time.Now(), "")
	ready.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	done := ownedPod("job-x", time.Now(), "")
	done.Spec.RestartPolicy = corev1.RestartPolicyNever
	done.Status = corev1.PodStatus{Phase: corev1.PodSucceeded}
	for _, p := range []*corev1.Pod{ready, done} {
		if _, err := fc.typed.CoreV1().Pods("ns").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := fc.w.Health(ctx, []string{"ns"}, readiness.Options{}, time.Now())
	if err != nil || r.Pods != 2 || r.Ready != 2 {
		t.Fatalf("healthy namespace: %+v, %v", r, err)
	}
	if _, err := fc.typed.CoreV1().Pods("ns").Create(ctx, ownedPod("pull", time.Now().Add(-time.Minute), "ImagePullBackOff"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err = fc.w.Health(ctx, []string{"ns"}, readiness.Options{}, time.Now())
	var he *HealthError
	if !errors.As(err, &he) || len(r.Problems) != 1 || !r.Problems[0].Trouble {
		t.Fatalf("err = %v, report = %+v", err, r)
	}
	if msg := err.Error(); !strings.Contains(msg, "2/3 pods ready in ns; 1 problem") || !strings.Contains(msg, "Pod/ns/pull: Failed (ImagePullBackOff)") {
		t.Errorf("message:\n%s", msg)
	}
}
