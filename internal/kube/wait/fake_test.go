package wait

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// resetMapper is a RESTMapper that counts resets.
type resetMapper struct {
	meta.RESTMapper
	resets atomic.Int32
}

func (m *resetMapper) Reset() { m.resets.Add(1) }

var (
	gvrPods     = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrServices = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrPVCs     = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	gvrWidgets  = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

// fakeCluster is a Waiter over client-go fakes whose watches announce
// themselves, so a test can change objects once the watcher listens.
type fakeCluster struct {
	w       *Waiter
	typed   *fake.Clientset
	dyn     *dynamicfake.FakeDynamicClient
	mapper  *resetMapper
	watched chan string
}

func newFake(t *testing.T) *fakeCluster {
	t.Helper()
	m := meta.NewDefaultRESTMapper(nil)
	for _, k := range []struct {
		gvk        schema.GroupVersionKind
		namespaced bool
	}{
		{appsv1.SchemeGroupVersion.WithKind("Deployment"), true},
		{appsv1.SchemeGroupVersion.WithKind("StatefulSet"), true},
		{appsv1.SchemeGroupVersion.WithKind("DaemonSet"), true},
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, true},
		{corev1.SchemeGroupVersion.WithKind("Pod"), true},
		{corev1.SchemeGroupVersion.WithKind("Service"), true},
		{corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), true},
		{corev1.SchemeGroupVersion.WithKind("ConfigMap"), true},
		{schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, false},
		{schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, true},
	} {
		scope := meta.RESTScopeRoot
		if k.namespaced {
			scope = meta.RESTScopeNamespace
		}
		m.Add(k.gvk, scope)
	}
	mapper := &resetMapper{RESTMapper: m}
	typed := fake.NewClientset()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gvrDeployments:                          "DeploymentList",
		gvrStatefulSets:                         "StatefulSetList",
		gvrDaemonSets:                           "DaemonSetList",
		gvrJobs:                                 "JobList",
		gvrPods:                                 "PodList",
		gvrServices:                             "ServiceList",
		gvrPVCs:                                 "PersistentVolumeClaimList",
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList",
		gvrCRDs:                                 "CustomResourceDefinitionList",
		gvrWidgets:                              "WidgetList",
	})
	fc := &fakeCluster{
		w:       New(Clients{Typed: typed, Dynamic: dyn, Mapper: mapper}),
		typed:   typed,
		dyn:     dyn,
		mapper:  mapper,
		watched: make(chan string, 100),
	}
	announce := func(tracker k8stesting.ObjectTracker) k8stesting.WatchReactionFunc {
		return func(a k8stesting.Action) (bool, watch.Interface, error) {
			wa := a.(k8stesting.WatchAction)
			w, err := tracker.Watch(wa.GetResource(), wa.GetNamespace())
			fc.watched <- wa.GetResource().Resource
			return true, w, err
		}
	}
	typed.PrependWatchReactor("*", announce(typed.Tracker()))
	dyn.PrependWatchReactor("*", announce(dyn.Tracker()))
	return fc
}

// awaitWatches waits until a watch on each resource has started.
func (fc *fakeCluster) awaitWatches(t *testing.T, resources ...string) {
	t.Helper()
	want := map[string]int{}
	for _, r := range resources {
		want[r]++
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case r := <-fc.watched:
			if want[r]--; want[r] <= 0 {
				delete(want, r)
			}
		case <-deadline:
			t.Fatalf("watches not started: %v", want)
		}
	}
}

func (fc *fakeCluster) lists(resource string) int {
	n := 0
	for _, a := range append(fc.dyn.Actions(), fc.typed.Actions()...) {
		if a.GetVerb() == "list" && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func (fc *fakeCluster) create(t *testing.T, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	var err error
	if u.GetNamespace() == "" {
		_, err = fc.dyn.Resource(gvr).Create(context.Background(), u, metav1.CreateOptions{})
	} else {
		_, err = fc.dyn.Resource(gvr).Namespace(u.GetNamespace()).Create(context.Background(), u, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (fc *fakeCluster) update(t *testing.T, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	var err error
	if u.GetNamespace() == "" {
		_, err = fc.dyn.Resource(gvr).Update(context.Background(), u, metav1.UpdateOptions{})
	} else {
		_, err = fc.dyn.Resource(gvr).Namespace(u.GetNamespace()).Update(context.Background(), u, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: ns, uid: d-1, generation: 1, labels: {app: api}}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: app, image: api:1}]}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  availableReplicas: 0
  unavailableReplicas: 1
`

func deployment(t *testing.T, available int64) *unstructured.Unstructured {
	u := obj(t, deploymentYAML)
	_ = unstructured.SetNestedField(u.Object, available, "status", "availableReplicas")
	_ = unstructured.SetNestedField(u.Object, available, "status", "readyReplicas")
	_ = unstructured.SetNestedField(u.Object, 1-available, "status", "unavailableReplicas")
	return u
}

func ownedPod(name string, created time.Time, waiting string) *corev1.Pod {
	ctrl := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "api"},
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-1", UID: "rs-1", Controller: &ctrl}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/api:1"}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		},
	}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "registry.invalid/api:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "Back-off pulling image"}}}}
	}
	return p
}

func replicaSet() *appsv1.ReplicaSet {
	ctrl := true
	one := int32(1)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "ns", UID: "rs-1",
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "api", UID: "d-1", Controller: &ctrl}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}},
	}
}

type waitResult struct {
	rep *Report
	err error
	at  time.Time
}

func (fc *fakeCluster) start(t *testing.T, targets []Target, opts Options) <-chan waitResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan waitResult, 1)
	go func() {
		rep, err := fc.w.Wait(ctx, targets, opts)
		ch <- waitResult{rep, err, time.Now()}
	}()
	return ch
}

func await(t *testing.T, ch <-chan waitResult, within time.Duration) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("Wait did not return within %s", within)
	}
	return waitResult{}
}

func mustNotReturn(t *testing.T, ch <-chan waitResult, d time.Duration) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Wait returned early: %v", r.err)
	case <-time.After(d):
	}
}
