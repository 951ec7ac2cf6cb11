package helm

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/internal/kube"
)

// ObjectRef names one Kubernetes object of a release.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String is Kind/namespace/name, or Kind/name for cluster-scoped objects.
func (r ObjectRef) String() string {
	if r.Namespace != "" {
		return r.Kind + "/" + r.Namespace + "/" + r.Name
	}
	return r.Kind + "/" + r.Name
}

// key identifies the object across API versions of its group.
func (r ObjectRef) key() string {
	gv, _ := schema.ParseGroupVersion(r.APIVersion)
	return gv.Group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

// object is one document of a rendered manifest.
type object struct {
	ObjectRef
	// Source is the chart template it came from.
	Source string
	Body   map[string]any
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (.+)$`)

// parseManifest splits a release manifest into objects, in order. Objects
// without a namespace get one from scope: the release namespace for
// namespaced kinds.
func parseManifest(manifest string, scope scopeFunc, namespace string) ([]object, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []object
	for _, k := range keys {
		doc := docs[k]
		var body map[string]any
		if err := yaml.Unmarshal([]byte(doc), &body); err != nil {
			src := ""
			if m := sourceLine.FindStringSubmatch(doc); m != nil {
				src = m[1] + ": "
			}
			return nil, fmt.Errorf("%sinvalid YAML: %v", src, err)
		}
		if len(body) == 0 {
			continue
		}
		o := object{Body: body}
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			o.Source = m[1]
		}
		o.APIVersion, _ = body["apiVersion"].(string)
		o.Kind, _ = body["kind"].(string)
		if md, ok := body["metadata"].(map[string]any); ok {
			o.Name, _ = md["name"].(string)
			o.Namespace, _ = md["namespace"].(string)
		}
		if o.Namespace == "" && scope != nil && scope(o.APIVersion, o.Kind) {
			o.Namespace = namespace
		}
		if o.Namespace != "" && scope != nil && !scope(o.APIVersion, o.Kind) {
			o.Namespace = ""
		}
		out = append(out, o)
	}
	return out, nil
}

// scopeFunc reports whether a kind is namespaced.
type scopeFunc func(apiVersion, kind string) bool

// clusterScoped are the built-in kinds without a namespace, for renders
// without a cluster to ask.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true,
	"ClusterRole": true, "ClusterRoleBinding": true,
	"CustomResourceDefinition": true, "APIService": true,
	"StorageClass": true, "CSIDriver": true, "CSINode": true, "VolumeAttachment": true,
	"PriorityClass": true, "RuntimeClass": true, "IngressClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
	"FlowSchema": true, "PriorityLevelConfiguration": true,
	"CertificateSigningRequest": true, "ComponentStatus": true,
	"DeviceClass": true, "ResourceSlice": true, "IPAddress": true, "ServiceCIDR": true,
}

// scope returns how to tell namespaced kinds: the cluster's REST mapper
// when there is one, then the CRDs the chart (or an earlier step of the
// pass) brings, then the built-in list.
func (c *Client) scope(mapper meta.RESTMapper, crds []crdKind) scopeFunc {
	crds = append(append([]crdKind(nil), crds...), c.opts.Planned.Kinds()...)
	return func(apiVersion, kind string) bool {
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return true
		}
		if mapper != nil {
			if m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version); err == nil {
				return m.Scope.Name() == meta.RESTScopeNameNamespace
			}
		}
		for _, k := range crds {
			if k.Group == gv.Group && k.Kind == kind {
				return k.Namespaced
			}
		}
		if gv.Group == "" || !strings.Contains(gv.Group, ".") || strings.HasSuffix(gv.Group, ".k8s.io") {
			return !clusterScoped[kind]
		}
		return true
	}
}

// crdKind is a kind a CustomResourceDefinition defines; the planned world
// of a pass (kube.Planned) records the same.
type crdKind = kube.PlannedKind

func crdKey(k crdKind) string { return k.Group + "/" + k.Kind }

// crdKinds returns the kinds defined by the chart's crds/ files (and its
// subcharts') and by CustomResourceDefinitions among objs.
func crdKinds(ch *chart.Chart, objs []object) []crdKind {
	var out []crdKind
	if ch != nil {
		for _, crd := range ch.CRDObjects() {
			for _, doc := range releaseutil.SplitManifests(string(crd.File.Data)) {
				var body map[string]any
				if yaml.Unmarshal([]byte(doc), &body) == nil {
					if k, ok := crdKindOf(body); ok {
						out = append(out, k)
					}
				}
			}
		}
	}
	for _, o := range objs {
		if k, ok := crdKindOf(o.Body); ok {
			out = append(out, k)
		}
	}
	return out
}

func crdKindOf(body map[string]any) (crdKind, bool) { return kube.CRDKind(body) }

// apiVersions lists group/version and group/version/Kind entries for
// kinds, as chartutil.VersionSet holds them.
func apiVersions(kinds []crdKind) []string {
	var out []string
	for _, k := range kinds {
		for _, v := range k.Versions {
			gv := k.Group + "/" + v
			out = append(out, gv, gv+"/"+k.Kind)
		}
	}
	return out
}

func refs(objs []object) []ObjectRef {
	out := make([]ObjectRef, len(objs))
	for i, o := range objs {
		out[i] = o.ObjectRef
	}
	return out
}
