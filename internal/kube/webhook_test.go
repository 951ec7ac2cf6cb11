package kube

import (
	"errors"
	"testing"
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
