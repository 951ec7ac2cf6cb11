package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWebhookUnavailable(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{`Internal error occurred: failed calling webhook "ipaddresspoolvalidationwebhook.metallb.io": failed to call webhook: Post "https://metallb-webhook-service.metallb-system.svc:443/validate-metallb-io-v1beta1-ipaddresspool?timeout=10s": no endpoints available for service "metallb-webhook-service"`, true},
		{`Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": dial tcp 10.96.20.7:443: connect: connection refused`, true},
		{`admission webhook "ipaddresspoolvalidationwebhook.metallb.io" denied the request: overlapping CIDRs`, false},
		{`Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": tls: failed to verify certificate: x509: certificate signed by unknown authority`, false},
		{`dial tcp 127.0.0.1:6443: connect: connection refused`, false},
	} {
		if got := WebhookUnavailable(errors.New(tc.msg)); got != tc.want {
			t.Errorf("WebhookUnavailable(%.60q…) = %v, want %v", tc.msg, got, tc.want)
		}
	}
	if WebhookUnavailable(nil) {
		t.Error("nil error taken as an unavailable webhook")
	}
}

// In a dry run, a custom resource whose CRD comes earlier in the plan takes
// its scope from that CRD: a ClusterIssuer gets no namespace.
func TestApplyPlannedKindScope(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	c := &Client{ReadOnly: true, Planned: NewPlanned(), Mapper: resettable{mapper}}
	c.Planned.Kind(PlannedKind{Group: "cert-manager.io", Kind: "ClusterIssuer", Versions: []string{"v1"}, Namespaced: false})
	c.Planned.Kind(PlannedKind{Group: "metallb.io", Kind: "IPAddressPool", Versions: []string{"v1beta1"}, Namespaced: true})
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": map[string]any{"name": "plate-selfsigned"}}},
		{Object: map[string]any{"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": map[string]any{"name": "plate-loopback"}}},
	}
	res, err := c.Apply(context.Background(), objs, "default")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range res {
		refs = append(refs, r.Ref)
	}
	if want := []string{"ClusterIssuer/plate-selfsigned", "IPAddressPool/default/plate-loopback"}; strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("refs %v, want %v", refs, want)
	}
}

type resettable struct{ meta.RESTMapper }

func (resettable) Reset() {}
