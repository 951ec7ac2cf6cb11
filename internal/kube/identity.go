package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Identity names a cluster: how plate reached it (the kubeconfig context
// and the API server URL) and what it is (the UID of its kube-system
// namespace, which survives renamed contexts and moved servers).
type Identity struct {
	Context string
	Server  string
	// UID is the UID of the cluster's kube-system namespace.
	UID string
	// Version is the API server's version (v1.37.2); empty when the
	// server does not say.
	Version string
	// NoUID says why UID is empty: the user may not read the kube-system
	// namespace (a namespace-scoped user). Context and Server still name
	// the target.
	NoUID string `json:"-"`
}

// Identify reads the identity of c's cluster. Its error names the context
// and the server. The server version is best effort: a cluster that does
// not tell it is still identified.
func Identify(ctx context.Context, c *Client) (Identity, error) {
	ns, err := c.Clientset.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		who := "the user of context " + c.ContextName
		if c.Config != nil && c.Config.Impersonate.UserName != "" {
			who = "user " + c.Config.Impersonate.UserName
		}
		return Identity{Context: c.ContextName, Server: c.Server,
			NoUID: who + " may not get the namespace kube-system, whose UID identifies the cluster"}, nil
	}
	if err != nil {
		return Identity{}, fmt.Errorf("cannot identify the cluster of %s: reading namespace kube-system: %w", c.Describe(), err)
	}
	id := Identity{Context: c.ContextName, Server: c.Server, UID: string(ns.UID)}
	if v, err := c.Clientset.Discovery().ServerVersion(); err == nil {
		id.Version = v.GitVersion
	}
	return id, nil
}
