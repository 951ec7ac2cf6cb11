package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Storage classes the cluster provides.
const (
	// StorageClassStandard binds claims immediately (the default class).
	StorageClassStandard = "standard"
	// StorageClassOpenEBSHostpath binds claims when a pod uses them
	// (WaitForFirstConsumer).
	StorageClassOpenEBSHostpath = "openebs-hostpath"
	// IngressClassNginx is the cluster's IngressClass (not the default).
	IngressClassNginx = "nginx"
)

// Annotations understood by the simulation stages.
const (
	// AnnotationSimulate selects a simulated failure of a pod; values are
	// the Simulate* constants.
	AnnotationSimulate = "plate.dev/simulate"
	// AnnotationReadyDelay keeps a pod Running but not Ready for a Go
	// duration ("3s") before it turns Ready.
	AnnotationReadyDelay = "plate.dev/ready-delay"
	// AnnotationLBPending: "true" keeps a LoadBalancer Service pending.
	AnnotationLBPending = "plate.dev/lb-pending"
	// FailingImageRegistry: an image from this registry fails to pull
	// (same as SimulateImagePullBackOff).
	FailingImageRegistry = "registry.invalid/"
)

// Values of AnnotationSimulate.
const (
	SimulateImagePullBackOff = "image-pull-backoff"
	SimulateCrashLoop        = "crash-loop"
	SimulateNeverReady       = "never-ready"
	SimulateInitFail         = "init-fail"
	// SimulateFail makes the containers exit with code 1 at once; the pod
	// turns Failed (meant for Job and hook pods).
	SimulateFail = "fail"
)

// bootstrap registers the fake nodes and storage classes and waits until
// the cluster can run a pod.
func (c *Cluster) bootstrap(ctx context.Context) error {
	cs := c.clientset
	for _, name := range c.st.Nodes {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
				Annotations: map[string]string{
					"kwok.x-k8s.io/node":           "fake",
					"node.alpha.kubernetes.io/ttl": "0",
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    nodeResources(),
				Allocatable: nodeResources(),
			},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	immediate := storagev1.VolumeBindingImmediate
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	classes := []*storagev1.StorageClass{
		{
			ObjectMeta: metav1.ObjectMeta{
				Name:        StorageClassStandard,
				Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
			},
			Provisioner:       "plate.dev/localcluster",
			ReclaimPolicy:     &del,
			VolumeBindingMode: &immediate,
		},
		{
			ObjectMeta:        metav1.ObjectMeta{Name: StorageClassOpenEBSHostpath},
			Provisioner:       "openebs.io/local",
			ReclaimPolicy:     &del,
			VolumeBindingMode: &wffc,
		},
	}
	for _, sc := range classes {
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create storage class %s: %w", sc.Name, err)
		}
	}

	// The platform's clusters run ingress-nginx: its IngressClass (no
	// controller serves it here) lets the reference check find the class
	// the charts' Ingresses name.
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: IngressClassNginx},
		Spec:       networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"},
	}
	if _, err := cs.NetworkingV1().IngressClasses().Create(ctx, ic, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ingress class %s: %w", ic.Name, err)
	}

	// kwok marks the nodes Ready.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, name := range c.st.Nodes {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			if !nodeReady(n) {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("nodes not Ready (is kwok working?): %w", err)
	}
	// Pods are only admitted once their namespace has a default service
	// account (made by the controller manager).
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, ns := range []string{"default", "kube-system"} {
			if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return fmt.Errorf("default service accounts missing (is kube-controller-manager working?): %w", err)
	}
	return c.smokePod(ctx)
}

// smokePod runs one pod through scheduler and kwok and deletes it: proof
// that the whole chain works before the first test starts.
func (c *Cluster) smokePod(ctx context.Context) error {
	cs := c.clientset
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plate-localcluster-smoke", Namespace: "kube-system"},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "smoke", Image: "plate.dev/smoke:1"}},
			TerminationGracePeriodSeconds: new(int64),
		},
	}
	_ = cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if _, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create smoke pod: %w", err)
	}
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return PodReady(p), nil
	})
	if err != nil {
		return fmt.Errorf("smoke pod not Ready (scheduler or kwok not working?): %w; last status: %+v", err, statusOf(last))
	}
	return cs.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
}

func statusOf(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status
}

func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("32"),
		corev1.ResourceMemory:           resource.MustParse("128Gi"),
		corev1.ResourcePods:             resource.MustParse("1000"),
		corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
