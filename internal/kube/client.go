// Package kube connects plate to a cluster through client-go. It owns the
// read-only transport used in dry passes and the generic object operations
// (apply, get, delete) that plate's kube builtins use.
package kube

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultVersion is the Kubernetes version an offline render assumes unless
// --kube-version says otherwise: the version of the local control plane that
// plate is tested against (never the Helm SDK's silent v1.20 default).
const DefaultVersion = "v1.37.2"

// Settings say which cluster to talk to, as kubectl's flags do.
type Settings struct {
	// Kubeconfig is the kubeconfig path; empty means $KUBECONFIG or ~/.kube/config.
	Kubeconfig string
	// Context is the kubeconfig context; empty means the current one.
	Context string
	// Namespace is the default namespace for builtins; empty means the
	// context's namespace, or "default".
	Namespace string
	// RequestTimeout bounds each request that is not a watch (0:
	// DefaultRequestTimeout; negative: none).
	RequestTimeout time.Duration
}

// Client is a connection to one cluster.
type Client struct {
	Settings Settings
	// ContextName and Server identify the cluster in messages.
	ContextName string
	Server      string
	// Namespace is the resolved default namespace.
	Namespace string
	// ReadOnly is true when the transport refuses writes.
	ReadOnly bool

	Config    *rest.Config
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	Mapper    meta.ResettableRESTMapper
	Discovery discovery.CachedDiscoveryInterface
	// Health says whether the API server answers this client's requests.
	Health *Health
	// Loader is the kubeconfig loader, for adapters (Helm) that build
	// their own clients from the same settings.
	Loader clientcmd.ClientConfig

	// Planned records what earlier steps of a dry pass would have created,
	// so later steps can be checked against it (see planned.go).
	Planned *Planned
}

// LoadConfig resolves settings into a client configuration without
// contacting the cluster.
func LoadConfig(s Settings) (clientcmd.ClientConfig, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if s.Kubeconfig != "" {
		if _, err := os.Stat(s.Kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", s.Kubeconfig, err)
		}
		rules.ExplicitPath = s.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: s.Context}
	if s.Namespace != "" {
		overrides.Context.Namespace = s.Namespace
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides), nil
}

// Connect builds clients for the cluster named by s. When readOnly is true
// every client shares a transport that refuses writes other than
// server-side dry runs.
func Connect(s Settings, readOnly bool) (*Client, error) {
	loader, err := LoadConfig(s)
	if err != nil {
		return nil, err
	}
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	ctxName := s.Context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if ctxName == "" {
		return nil, fmt.Errorf("no kube context: the kubeconfig has no current context; pass --context or --kubeconfig")
	}
	if _, ok := raw.Contexts[ctxName]; !ok {
		return nil, fmt.Errorf("kube context %q not found in kubeconfig", ctxName)
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube context %q: %w", ctxName, err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "plate"
	if cfg.QPS == 0 {
		cfg.QPS = 50
		cfg.Burst = 100
	}
	timeout := s.RequestTimeout
	if timeout == 0 {
		timeout = DefaultRequestTimeout
	}
	health := new(Health)
	{
		prev := cfg.WrapTransport
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if prev != nil {
				rt = prev(rt)
			}
			return deadlines{next: rt, timeout: timeout, health: health}
		}
	}
	if readOnly {
		prev := cfg.WrapTransport
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if prev != nil {
				rt = prev(rt)
			}
			return ReadOnly(rt)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	return &Client{
		Settings:    s,
		ContextName: ctxName,
		Server:      cfg.Host,
		Namespace:   ns,
		ReadOnly:    readOnly,
		Config:      cfg,
		Clientset:   cs,
		Dynamic:     dyn,
		Mapper:      restmapper.NewDeferredDiscoveryRESTMapper(disc),
		Discovery:   disc,
		Loader:      loader,
		Health:      health,
		Planned:     NewPlanned(),
	}, nil
}

// Describe names the cluster for error messages: context "x" (https://…).
func (c *Client) Describe() string {
	return fmt.Sprintf("context %q (%s)", c.ContextName, c.Server)
}
