package localcluster_test

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/plate-dev/plate/internal/localcluster"
)

// webhookFixture deploys a webhook "server" (a Deployment whose pods kwok
// runs), its Service and a ValidatingWebhookConfiguration (failurePolicy
// Fail, no caBundle) for ConfigMaps of namespace ns.
func webhookFixture(t *testing.T, c *localcluster.Cluster, ns string, podAnnotations map[string]string) {
	t.Helper()
	cs := c.Clientset()
	ctx := ctxFor(t, time.Minute)
	d := deployment("hooks", 1, podAnnotations)
	d.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "https", ContainerPort: 9443}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hooks"},
		Spec: corev1.ServiceSpec{
			Selector: labels("hooks"),
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromString("https")}},
		},
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	path := "/validate"
	timeout := int32(5)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-hooks"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "configmaps.hooks.plate.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "hooks", Path: &path}},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			ObjectSelector:          &metav1.LabelSelector{MatchLabels: map[string]string{"hooked": "yes"}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          &timeout,
		}},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), vwc.Name, metav1.DeleteOptions{})
	})
	// The backend fills the empty caBundle.
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwc.Name, metav1.GetOptions{})
		return err == nil && len(got.Webhooks[0].ClientConfig.CABundle) > 0, nil
	})
	if err != nil {
		t.Fatalf("caBundle of %s not filled by the webhook backend: %v", vwc.Name, err)
	}
}

func hookedConfigMap(name string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"hooked": "yes"}, Annotations: annotations}}
}

// createEventually creates the ConfigMap, retrying while the webhook's
// Service has no ready endpoint yet; it returns the last error.
func createEventually(ctx context.Context, c *localcluster.Cluster, ns string, cm *corev1.ConfigMap, within time.Duration) error {
	var last error
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, within, true, func(ctx context.Context) (bool, error) {
		_, last = c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		return last == nil || !strings.Contains(last.Error(), "no endpoints available"), nil
	})
	return last
}

func TestWebhookAdmitsThroughService(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	webhookFixture(t, c, ns, nil)

	if err := createEventually(ctx, c, ns, hookedConfigMap("allowed", nil), 20*time.Second); err != nil {
		t.Fatalf("create through the webhook: %v", err)
	}
	_, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, hookedConfigMap("refused", map[string]string{localcluster.AnnotationWebhook: localcluster.WebhookDeny}), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "denied the request") {
		t.Fatalf("annotated ConfigMap: want the webhook to deny it, got %v", err)
	}
	recs, err := c.AdmissionReviews()
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied bool
	for _, r := range recs {
		if r.Namespace != ns || r.Kind != "ConfigMap" {
			continue
		}
		if r.Host != "hooks."+ns+".svc" || r.Endpoint == "" || r.Path != "/validate" {
			t.Errorf("review %+v: want host hooks.%s.svc, a pod endpoint and path /validate", r, ns)
		}
		switch {
		case r.Name == "allowed" && r.Allowed:
			allowed = true
		case r.Name == "refused" && !r.Allowed:
			denied = true
		}
	}
	if !allowed || !denied {
		t.Fatalf("admission log lacks the reviews (allowed %v, denied %v): %+v", allowed, denied, recs)
	}
	// A ConfigMap outside the webhook's selector is never sent to it.
	if _, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookWithoutReadyEndpoints(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	// The webhook's pod turns Ready after 3s: until then the Service has
	// no ready endpoint and the API server refuses the call itself.
	webhookFixture(t, c, ns, map[string]string{localcluster.AnnotationReadyDelay: "3s"})
	_, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, hookedConfigMap("early", nil), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "no endpoints available") {
		t.Fatalf("create before the webhook's pod is ready: want \"no endpoints available\", got %v", err)
	}
	if err := createEventually(ctx, c, ns, hookedConfigMap("early", nil), 20*time.Second); err != nil {
		t.Fatalf("create once the webhook's pod is ready: %v", err)
	}
}

func TestWebhookModes(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	webhookFixture(t, c, ns, nil)
	if err := createEventually(ctx, c, ns, hookedConfigMap("first", nil), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.SetWebhookMode(localcluster.WebhookAllow) })
	if err := c.SetWebhookMode(localcluster.WebhookUnavailable); err != nil {
		t.Fatal(err)
	}
	_, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, hookedConfigMap("unavailable", nil), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("mode unavailable: want \"connection refused\", got %v", err)
	}
	if err := c.SetWebhookMode(localcluster.WebhookDeny); err != nil {
		t.Fatal(err)
	}
	_, err = c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, hookedConfigMap("denied", nil), metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "mode deny") {
		t.Fatalf("mode deny: want a denial, got %v", err)
	}
	if err := c.SetWebhookMode("sometimes"); err == nil {
		t.Fatal("an unknown mode was accepted")
	}
}
