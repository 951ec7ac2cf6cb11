package helm

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	// Raw is the document exactly as Helm applies it.
	Raw []byte
	// head is what was decoded to learn the object's identity: apiVersion,
	// kind, metadata, and for the documents of crds/ files what says
	// which kind a CRD defines.
	head map[string]any
	meta map[string]any

	body    map[string]any
	bodyErr error
	decoded bool
}

// Body decodes the whole document (once; see decodeYAML for numbers).
func (o *object) Body() (map[string]any, error) {
	if !o.decoded {
		o.body, o.bodyErr = decodeYAML(o.Raw)
		o.decoded = true
	}
	return o.body, o.bodyErr
}

// Annotations are the object's metadata.annotations.
func (o *object) Annotations() map[string]any {
	a, _ := o.meta["annotations"].(map[string]any)
	return a
}

// CRDKind is the kind the object defines when it is a
// CustomResourceDefinition, read without decoding its schemas.
func (o *object) CRDKind() (crdKind, bool) {
	if o.Kind != "CustomResourceDefinition" {
		return crdKind{}, false
	}
	if _, ok := o.head["spec"]; ok {
		if k, ok := crdKindOf(o.head); ok {
			return k, true
		}
	}
	if m, ok := decodeSkimmed(o.Raw, keepCRDKind); ok {
		if k, ok := crdKindOf(m); ok {
			return k, true
		}
	}
	body, err := o.Body()
	if err != nil {
		return crdKind{}, false
	}
	return crdKindOf(body)
}

// parseManifest splits a release manifest into objects, in order. Objects
// without a namespace get one from scope: the release namespace for
// namespaced kinds.
func parseManifest(manifest string, scope scopeFunc, namespace string) ([]*object, error) {
	return parseDocuments([]byte(manifest), "", scope, namespace, keepHead)
}

// parseCRDFile parses a file of a chart's crds/ directory, decoding at
// once what says which kind each CRD defines.
func parseCRDFile(crd chart.CRD, scope scopeFunc, namespace string) ([]*object, error) {
	return parseDocuments(crd.File.Data, crd.Filename, scope, namespace, keepCRDHead)
}

// parseDocuments splits a YAML stream into objects (see manifest.go),
// decoding only the part of each that keep keeps (at least apiVersion,
// kind and metadata); source names the file for documents without a
// "# Source:" comment. Blank and empty documents are skipped.
func parseDocuments(stream []byte, source string, scope scopeFunc, namespace string, keep func(int, string) bool) ([]*object, error) {
	docs, err := splitDocuments(stream)
	if err != nil {
		src := ""
		if source != "" {
			src = source + ": "
		}
		return nil, fmt.Errorf("%sinvalid YAML: %v", src, err)
	}
	out := make([]*object, 0, len(docs))
	for _, doc := range docs {
		if blankDocument(doc) {
			continue
		}
		o := &object{Raw: doc, Source: sourceOf(doc)}
		if o.Source == "" {
			o.Source = source
		}
		head, ok := decodeSkimmed(doc, keep)
		if !ok || len(head) == 0 {
			// Not skimmable, or nothing but other fields: decode it whole,
			// which also says what is wrong with it.
			body, err := o.Body()
			if err != nil {
				src := ""
				if o.Source != "" {
					src = o.Source + ": "
				}
				return nil, fmt.Errorf("%sinvalid YAML: %v", src, err)
			}
			head = body
		}
		if len(head) == 0 {
			continue
		}
		o.head = head
		o.APIVersion, _ = head["apiVersion"].(string)
		o.Kind, _ = head["kind"].(string)
		o.meta, _ = head["metadata"].(map[string]any)
		o.Name, _ = o.meta["name"].(string)
		o.Namespace, _ = o.meta["namespace"].(string)
		o.scopeTo(scope, namespace)
		out = append(out, o)
	}
	return out, nil
}

// scopeTo gives the object the namespace it is created in: its own, or
// namespace for a namespaced kind without one; none for a cluster-scoped
// kind. A nil scope changes nothing.
func (o *object) scopeTo(scope scopeFunc, namespace string) {
	if scope == nil {
		return
	}
	namespaced := scope(o.APIVersion, o.Kind)
	if o.Namespace == "" && namespaced {
		o.Namespace = namespace
	}
	if o.Namespace != "" && !namespaced {
		o.Namespace = ""
	}
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
// subcharts'; prepare the chart first, so that disabled subcharts do not
// count) and by CustomResourceDefinitions among objs. Only what says which
// kind a CRD defines is decoded.
func crdKinds(ch *chart.Chart, objs []*object) []crdKind {
	var out []crdKind
	if ch != nil {
		for _, crd := range ch.CRDObjects() {
			docs, err := parseCRDFile(crd, nil, "")
			if err != nil {
				continue
			}
			for _, o := range docs {
				if k, ok := o.CRDKind(); ok {
					out = append(out, k)
				}
			}
		}
	}
	for _, o := range objs {
		if k, ok := o.CRDKind(); ok {
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

func refs(objs []*object) []ObjectRef {
	out := make([]ObjectRef, len(objs))
	for i, o := range objs {
		out[i] = o.ObjectRef
	}
	return out
}
