package helm

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/plate-dev/plate/internal/kube"
)

// restGetter is the RESTClientGetter every Helm action of plate gets: it hands
// out the engine's own rest.Config (so the read-only transport of a dry pass
// applies to Helm too), the engine's discovery cache and REST mapper, and a
// kubeconfig loader whose namespace is the release namespace, never the
// kubeconfig's or $HELM_NAMESPACE (pitfall 1).
type restGetter struct {
	kc        *kube.Client
	namespace string
	// bind ties every request to the operation using the getter (see
	// Client.config); nil: unbound.
	bind *kube.Binding
}

var _ genericclioptions.RESTClientGetter = (*restGetter)(nil)

func newGetter(kc *kube.Client, namespace string, bind *kube.Binding) *restGetter {
	return &restGetter{kc: kc, namespace: namespace, bind: bind}
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) {
	if g.bind != nil {
		return kube.Bind(g.kc.Config, g.bind), nil
	}
	return rest.CopyConfig(g.kc.Config), nil
}

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.kc.Discovery, nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.kc.Mapper, nil }

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return &kubeconfig{g: g}
}

// kubeconfig answers the questions kubectl's factory asks a kubeconfig with the
// engine's settings: the engine's rest.Config and the release namespace.
type kubeconfig struct{ g *restGetter }

func (l *kubeconfig) RawConfig() (clientcmdapi.Config, error) {
	if l.g.kc.Loader != nil {
		return l.g.kc.Loader.RawConfig()
	}
	return clientcmdapi.Config{}, nil
}

func (l *kubeconfig) ClientConfig() (*rest.Config, error) { return l.g.ToRESTConfig() }

func (l *kubeconfig) Namespace() (string, bool, error) { return l.g.namespace, true, nil }

func (l *kubeconfig) ConfigAccess() clientcmd.ConfigAccess {
	if l.g.kc.Loader != nil {
		return l.g.kc.Loader.ConfigAccess()
	}
	return clientcmd.NewDefaultClientConfigLoadingRules()
}
