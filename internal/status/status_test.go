package status

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// helmSecret encodes a release record the way Helm's Secret driver does.
func helmSecret(t *testing.T, name string, version int, status string) *corev1.Secret {
	rel := map[string]any{
		"name":    name,
		"version": version,
		"info":    map[string]any{"status": status, "description": "Install complete", "last_deployed": now.Add(-4 * time.Minute)},
		"chart":   map[string]any{"metadata": map[string]any{"name": name, "version": "1.2.0", "appVersion": "1.2"}},
		"config":  map[string]any{"password": "hunter2"},
	}
	js, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(js)
	_ = zw.Close()
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "sh.helm.release.v1." + name + ".v" + itoa(version), Namespace: "stg",
			Labels: map[string]string{"owner": "helm", "name": name, "status": status, "version": itoa(version)},
		},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(gz.Bytes()))},
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCollectAndText(t *testing.T) {
	ctrl := true
	objs := []runtime.Object{
		helmSecret(t, "api", 1, "superseded"),
		helmSecret(t, "api", 2, "deployed"),
		helmSecret(t, "cache", 1, "failed"),
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "api-7c9-x", Namespace: "stg", CreationTimestamp: metav1.NewTime(now.Add(-3 * time.Minute)),
				Labels: map[string]string{instanceLabel: "api"}, OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "api-7c9", Controller: &ctrl}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
		},
		&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "cache-0", Namespace: "stg", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Hour)),
				Labels: map[string]string{instanceLabel: "cache"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "redis"}}, RestartPolicy: corev1.RestartPolicyAlways},
			Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "redis", RestartCount: 7,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "stg", Annotations: map[string]string{releaseNameAnnotation: "api"}},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.5", Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}},
			Status:     corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "127.240.0.1"}}}},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "stg", Annotations: map[string]string{releaseNameAnnotation: "cache"}},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.0.0.6", Ports: []corev1.ServicePort{{Port: 6379}}},
		},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "stg", Annotations: map[string]string{releaseNameAnnotation: "api"}},
			Spec: networkingv1.IngressSpec{
				Rules: []networkingv1.IngressRule{{Host: "api.example.com"}},
				TLS:   []networkingv1.IngressTLS{{Hosts: []string{"api.example.com"}, SecretName: "api-tls"}},
			},
		},
	}
	cs := fake.NewClientset(objs...)
	r, err := Collect(context.Background(), cs, Options{Namespace: "stg", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := `namespace stg

RELEASE  REVISION  STATUS    CHART        APP VERSION  UPDATED
api      2         deployed  api-1.2.0    1.2          4m
cache    1         failed    cache-1.2.0  1.2          4m

POD        READY  STATUS            RESTARTS  AGE  PROBLEM
api-7c9-x  1/1    Running           1         3m   -
cache-0    0/1    CrashLoopBackOff  7         2h   CrashLoopBackOff
problems:
  pod cache-0 container redis: CrashLoopBackOff (7 restarts)

SERVICE  TYPE          CLUSTER-IP  EXTERNAL     PORTS
api      LoadBalancer  10.0.0.5    127.240.0.1  80:30080/TCP
cache    LoadBalancer  10.0.0.6    <pending>    6379/TCP

INGRESS  CLASS  HOSTS            TLS                        ADDRESS
api      -      api.example.com  api.example.com (api-tls)  -
`
	if diff := cmp.Diff(want, r.Text()); diff != "" {
		t.Errorf("Text() mismatch (-want +got):\n%s", diff)
	}
	js, _ := json.Marshal(r)
	if strings.Contains(string(js), "hunter2") || strings.Contains(r.Text(), "hunter2") {
		t.Error("release values leaked into the status")
	}

	only, err := Collect(context.Background(), cs, Options{Namespace: "stg", Now: now, Releases: []string{"api", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(only.Releases) != 1 || len(only.Pods) != 1 || len(only.Services) != 1 || len(only.Ingresses) != 1 {
		t.Errorf("filtered report = %+v", only)
	}
	if diff := cmp.Diff([]string{"nope"}, only.Missing); diff != "" {
		t.Errorf("missing: %s", diff)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 12 * time.Minute: "12m", 5 * time.Hour: "5h", 80 * time.Hour: "3d",
	} {
		if got := Age(d); got != want {
			t.Errorf("Age(%s) = %s; want %s", d, got, want)
		}
	}
}
