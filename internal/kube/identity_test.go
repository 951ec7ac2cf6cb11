package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func TestIdentify(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: "uid-1"}})
	cs.Discovery().(*fakediscovery.FakeDiscovery).FakedServerVersion = &version.Info{GitVersion: "v1.37.2"}
	c := &Client{ContextName: "staging", Server: "https://staging:6443", Clientset: cs}
	id, err := Identify(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Context: "staging", Server: "https://staging:6443", UID: "uid-1", Version: "v1.37.2"}
	if diff := cmp.Diff(want, id); diff != "" {
		t.Errorf("Identify (-want +got):\n%s", diff)
	}

	c.Clientset = fake.NewClientset()
	_, err = Identify(context.Background(), c)
	if err == nil || !apierrors.IsNotFound(err) ||
		!strings.HasPrefix(err.Error(), `cannot identify the cluster of context "staging" (https://staging:6443): reading namespace kube-system: `) {
		t.Errorf("without kube-system: %v", err)
	}
}
