package helm

import (
	"sync"

	hkube "helm.sh/helm/v3/pkg/kube"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/openapi/cached"
	"k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
)

// newValidator builds the OpenAPI validator Helm validates manifests with,
// as kubectl's factory does (client-side schema validation, used only when
// the server does not support server-side field validation for a kind), but
// with a verifier that remembers, per group version, that the server does
// support it. kubectl's verifier caches per kind, and each miss fetches and
// parses the whole OpenAPI v3 document of the kind's group version again
// (~100 ms of CPU for core/v1): a deploy of the platform parsed core/v1
// five times per pass. The support of a group version is remembered for
// the process (the run pass reuses what its preflight learnt); kinds not
// known to be supported are asked about one by one, as kubectl does.
//
// Factories that are not kubectl's fall back to their own Validator.
func (c *Client) newValidator(directive string, f hkube.Factory) (validation.Schema, error) {
	getter, ok := f.(openapi.OpenAPIResourcesGetter)
	if directive == metav1.FieldValidationIgnore || !ok || c.opts.Kube == nil || c.opts.Kube.Discovery == nil {
		return f.Validator(directive)
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		return nil, err
	}
	disc := c.opts.Kube.Discovery
	param := resource.QueryParamFieldValidation
	primary := &groupVersionVerifier{
		next:   resource.NewQueryParamVerifierV3(dyn, cached.NewClient(disc.OpenAPIV3()), param),
		server: c.opts.Kube.Config.Host,
		kinds:  map[schema.GroupVersionKind]error{},
	}
	secondary := resource.NewQueryParamVerifier(dyn, openapi.NewOpenAPIGetter(disc), param)
	s := validation.ConjunctiveSchema{validation.NewSchemaValidation(getter), validation.NoDoubleKeySchema{}}
	return validation.NewParamVerifyingSchema(s, resource.NewFallbackQueryParamVerifier(primary, secondary), directive), nil
}

// supportedGroupVersions remembers, for the life of the process, the
// group versions ("server|group/version") whose kinds support server-side
// field validation, so that the run pass does not parse again what its
// preflight parsed. Only support is remembered: it does not go away.
var supportedGroupVersions sync.Map

// groupVersionVerifier answers whether the server supports field
// validation for a kind. A group version is served by one API server, which
// supports field validation on all of its kinds or none: once one kind of a
// group version is supported, the others are taken as supported without
// parsing the document again. Other answers are cached per kind, for the
// pass.
type groupVersionVerifier struct {
	next   resource.Verifier
	server string

	mu    sync.Mutex
	kinds map[schema.GroupVersionKind]error
}

func (v *groupVersionVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	key := v.server + "|" + gvk.GroupVersion().String()
	// v1 List is never supported (the verifier says so without looking).
	list := gvk.Kind == "List"
	if _, ok := supportedGroupVersions.Load(key); ok && !list {
		return nil
	}
	v.mu.Lock()
	if err, ok := v.kinds[gvk]; ok {
		v.mu.Unlock()
		return err
	}
	v.mu.Unlock()
	err := v.next.HasSupport(gvk)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.kinds[gvk] = err
	if err == nil && !list {
		supportedGroupVersions.Store(key, true)
	}
	return err
}
