package platform

import (
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/releaseutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// renderLibrary renders a library's stand-in chart with the library's values
// from env.
func renderLibrary(t *testing.T, env *Environment, lib *Library) *renderedChart {
	t.Helper()
	if lib.StandIn == "" {
		t.Fatalf("%s: library %s has no stand-in", env.File, lib.Name)
	}
	vals := mergeValues(map[string]any{}, lib.Values)
	r, err := renderChart(t, env.Abs(lib.StandIn), lib.Name, lib.Namespace, vals)
	if err != nil {
		t.Fatalf("%s: %v", lib.StandIn, err)
	}
	return r
}

// TestStandInsLint: every stand-in passes helm lint --strict with its
// values from each environment, and with its defaults.
func TestStandInsLint(t *testing.T) {
	for _, env := range loadEnvs(t) {
		for i := range env.Libraries {
			lib := &env.Libraries[i]
			t.Run(env.Name+"/"+lib.Name, func(t *testing.T) {
				for _, vals := range []map[string]any{{}, lib.Values} {
					for _, m := range lintChart(t, env.Abs(lib.StandIn), lib.Namespace, vals) {
						t.Errorf("lint: %s", m)
					}
				}
			})
		}
	}
}

// crdStructural checks a CRD the way the API server does at creation time
// (for what the stand-ins use): names consistent with the CRD's name, one
// storage version, and a structural schema for every version.
func crdStructural(crd *apiextensionsv1.CustomResourceDefinition) (map[string]*structuralschema.Structural, error) {
	var errs []string
	if want := crd.Spec.Names.Plural + "." + crd.Spec.Group; crd.Name != want {
		errs = append(errs, fmt.Sprintf("metadata.name %s, want %s", crd.Name, want))
	}
	if crd.Spec.Names.Kind == "" || crd.Spec.Names.ListKind == "" || crd.Spec.Names.Singular == "" {
		errs = append(errs, "names: kind, listKind and singular are required")
	}
	if crd.Spec.Scope != apiextensionsv1.NamespaceScoped && crd.Spec.Scope != apiextensionsv1.ClusterScoped {
		errs = append(errs, "scope: "+string(crd.Spec.Scope))
	}
	storage := 0
	out := map[string]*structuralschema.Structural{}
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			storage++
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			errs = append(errs, v.Name+": no openAPIV3Schema")
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", v.Name, err))
			continue
		}
		s, err := structuralschema.NewStructural(&internal)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: not structural: %v", v.Name, err))
			continue
		}
		if fe := structuralschema.ValidateStructural(field.NewPath("spec", "versions").Key(v.Name).Child("schema", "openAPIV3Schema"), s); len(fe) > 0 {
			errs = append(errs, fmt.Sprintf("%s: not structural: %v", v.Name, fe.ToAggregate()))
			continue
		}
		out[v.Name] = s
	}
	if storage != 1 {
		errs = append(errs, fmt.Sprintf("%d storage versions, want 1", storage))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("CRD %s: %s", crd.Name, strings.Join(errs, "; "))
	}
	return out, nil
}

// TestStandInCRDs: the stand-ins' CRDs are valid apiextensions.k8s.io/v1
// CRDs with structural schemas, the environment lists exactly them under
// crds:, and the library configuration objects validate against them.
func TestStandInCRDs(t *testing.T) {
	for _, env := range loadEnvs(t) {
		for i := range env.Libraries {
			lib := &env.Libraries[i]
			t.Run(env.Name+"/"+lib.Name, func(t *testing.T) {
				r := renderLibrary(t, env, lib)
				crds := typedOf[*apiextensionsv1.CustomResourceDefinition](r)
				var names []string
				schemas := map[string]*structuralschema.Structural{} // group/version/Kind
				scopes := map[string]apiextensionsv1.ResourceScope{}
				for _, crd := range crds {
					names = append(names, crd.Name)
					vs, err := crdStructural(crd)
					if err != nil {
						t.Error(err)
						continue
					}
					if lib.Values["crds"] != nil && crd.Annotations["helm.sh/resource-policy"] != "keep" && lib.Name == "cert-manager" {
						t.Errorf("CRD %s is not kept on uninstall", crd.Name)
					}
					for v, s := range vs {
						gvk := crd.Spec.Group + "/" + v + "/" + crd.Spec.Names.Kind
						schemas[gvk] = s
						scopes[gvk] = crd.Spec.Scope
					}
				}
				sort.Strings(names)
				want := append([]string(nil), lib.CRDs...)
				sort.Strings(want)
				if d := cmp.Diff(want, names); d != "" {
					t.Errorf("%s crds: lists (-) and the stand-in renders (+):\n%s", env.File, d)
				}
				for _, file := range lib.Config {
					for _, obj := range readObjects(t, env.Abs(file)) {
						gvk := obj.GetAPIVersion() + "/" + obj.GetKind()
						s, ok := schemas[gvk]
						if !ok {
							t.Errorf("%s: %s %s: no CRD of library %s defines %s", file, obj.GetKind(), obj.GetName(), lib.Name, gvk)
							continue
						}
						switch scopes[gvk] {
						case apiextensionsv1.ClusterScoped:
							if obj.GetNamespace() != "" {
								t.Errorf("%s: %s %s is cluster-scoped but names namespace %s", file, obj.GetKind(), obj.GetName(), obj.GetNamespace())
							}
						case apiextensionsv1.NamespaceScoped:
							if obj.GetNamespace() != lib.Namespace {
								t.Errorf("%s: %s %s in namespace %q, want the library's %s", file, obj.GetKind(), obj.GetName(), obj.GetNamespace(), lib.Namespace)
							}
						}
						res := validate.NewSchemaValidator(s.ToKubeOpenAPI(), nil, "", strfmt.Default).Validate(obj.Object)
						for _, e := range res.Errors {
							t.Errorf("%s: %s %s does not validate against its CRD: %v", file, obj.GetKind(), obj.GetName(), e)
						}
					}
				}
			})
		}
	}
}

// TestCRDSchemasReject makes sure the schema validation above can fail.
func TestCRDSchemasReject(t *testing.T) {
	env := loadEnvs(t)[0]
	r := renderLibrary(t, env, env.Library("metallb"))
	var pool *structuralschema.Structural
	for _, crd := range typedOf[*apiextensionsv1.CustomResourceDefinition](r) {
		if crd.Spec.Names.Kind == "IPAddressPool" {
			vs, err := crdStructural(crd)
			if err != nil {
				t.Fatal(err)
			}
			pool = vs["v1beta1"]
		}
	}
	bad := map[string]any{"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"addresses": "127.240.0.0/24"}}
	if res := validate.NewSchemaValidator(pool.ToKubeOpenAPI(), nil, "", strfmt.Default).Validate(bad); len(res.Errors) == 0 {
		t.Error("a pool whose addresses is a string validated")
	}
	// A non-structural schema is refused.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	crd.Name = "things.example.com"
	crd.Spec = apiextensionsv1.CustomResourceDefinitionSpec{
		Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
		Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Thing", ListKind: "ThingList", Plural: "things", Singular: "thing"},
		Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
			Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
				Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {}}}}}},
	}
	if _, err := crdStructural(crd); err == nil || !strings.Contains(err.Error(), "not structural") {
		t.Errorf("a schema with an untyped field: %v", err)
	}
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range releaseutil.SplitManifests(string(data)) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no objects", file)
	}
	return out
}

// TestStandInWorkloads: what the stand-ins must make besides CRDs, so that
// readiness waits have something real to wait for.
func TestStandInWorkloads(t *testing.T) {
	for _, env := range loadEnvs(t) {
		cm := renderLibrary(t, env, env.Library("cert-manager"))
		deps := typedOf[*appsv1.Deployment](cm)
		if len(deps) != 2 {
			t.Errorf("cert-manager: %d Deployments, want the controller and the webhook", len(deps))
		}
		if len(cm.find("Service", "cert-manager-webhook")) != 1 {
			t.Error("cert-manager: no webhook Service")
		}

		j := renderLibrary(t, env, env.Library("jenkins"))
		sts := typedOf[*appsv1.StatefulSet](j)
		if len(sts) != 1 || len(sts[0].Spec.VolumeClaimTemplates) != 1 {
			t.Fatalf("jenkins: want a StatefulSet with a volume claim template")
		}
		vct := sts[0].Spec.VolumeClaimTemplates[0]
		wantClass := env.Library("jenkins").Values["persistence"].(map[string]any)["storageClass"]
		if vct.Spec.StorageClassName == nil || *vct.Spec.StorageClassName != wantClass {
			t.Errorf("jenkins: claim template class %v, want %v", vct.Spec.StorageClassName, wantClass)
		}
		if len(typedOf[*corev1.ServiceAccount](j)) != 1 || len(typedOf[*corev1.Service](j)) == 0 {
			t.Error("jenkins: want a ServiceAccount and a Service")
		}

		m := renderLibrary(t, env, env.Library("metallb"))
		if len(typedOf[*appsv1.DaemonSet](m)) != 1 || len(typedOf[*appsv1.Deployment](m)) != 1 {
			t.Error("metallb: want a speaker DaemonSet and a controller Deployment")
		}
		for _, r := range []*renderedChart{cm, j, m} {
			for _, d := range typedOf[*appsv1.Deployment](r) {
				checkPodSpec(t, d.Name, d.Spec.Template.Spec)
			}
			for _, s := range typedOf[*appsv1.StatefulSet](r) {
				checkPodSpec(t, s.Name, s.Spec.Template.Spec)
			}
			for _, d := range typedOf[*appsv1.DaemonSet](r) {
				checkPodSpec(t, d.Name, d.Spec.Template.Spec)
			}
			for i, o := range r.Objects {
				if _, ok := r.Typed[i]; !ok {
					t.Errorf("%s %s: neither a built-in kind nor a CRD", o.GetKind(), o.GetName())
				}
			}
		}
	}
	// Without crds.enabled, cert-manager renders no CRD (upstream's default).
	env := loadEnvs(t)[0]
	r, err := renderChart(t, env.Abs(env.Library("cert-manager").StandIn), "cert-manager", "cert-manager", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.find("CustomResourceDefinition", "")); n != 0 {
		t.Errorf("cert-manager defaults render %d CRDs, want none", n)
	}
}

// TestMetalLBPoolIsLoopback: the address pool never holds an address that
// something could be sent traffic to: loopback only.
func TestMetalLBPoolIsLoopback(t *testing.T) {
	seen := map[string]bool{}
	for _, env := range loadEnvs(t) {
		for _, file := range env.Library("metallb").Config {
			if seen[file] {
				continue
			}
			seen[file] = true
			for _, obj := range readObjects(t, env.Abs(file)) {
				if obj.GetKind() != "IPAddressPool" {
					continue
				}
				addrs, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "addresses")
				if len(addrs) == 0 {
					t.Errorf("%s: pool %s has no addresses", file, obj.GetName())
				}
				for _, a := range addrs {
					if err := checkLoopback(a); err != nil {
						t.Errorf("%s: pool %s: %v", file, obj.GetName(), err)
					}
				}
			}
		}
	}
	for _, bad := range []string{"10.0.0.0/24", "192.168.1.240-192.168.1.250", "127.0.0.0/7", "203.0.113.0/24", "fd00::/64"} {
		if checkLoopback(bad) == nil {
			t.Errorf("checkLoopback(%q) accepted it", bad)
		}
	}
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// checkLoopback accepts a CIDR or an a-b range inside 127.0.0.0/8.
func checkLoopback(a string) error {
	if lo, hi, ok := strings.Cut(a, "-"); ok {
		for _, s := range []string{lo, hi} {
			ip, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || !loopback.Contains(ip) {
				return fmt.Errorf("%s is not inside %s", a, loopback)
			}
		}
		return nil
	}
	p, err := netip.ParsePrefix(a)
	if err != nil {
		return err
	}
	if !p.Addr().Is4() || p.Bits() < loopback.Bits() || !loopback.Contains(p.Addr()) {
		return fmt.Errorf("%s is not inside %s", a, loopback)
	}
	return nil
}

// TestStandInShapes: the stand-ins have what the real charts have that
// matters to a deployer: admission webhooks with failurePolicy Fail that
// call a Service of the release whose pods serve them, cert-manager's
// post-install hook Job, Jenkins' test hook with a name generated at every
// render, MetalLB's CRDs in a subchart.
func TestStandInShapes(t *testing.T) {
	env := loadEnvs(t)[0]
	webhookServedBy := func(r *renderedChart, lib string) {
		t.Helper()
		vwcs := typedOf[*admissionregistrationv1.ValidatingWebhookConfiguration](r)
		if len(vwcs) != 1 {
			t.Fatalf("%s: %d ValidatingWebhookConfigurations, want 1", lib, len(vwcs))
		}
		for _, w := range vwcs[0].Webhooks {
			if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
				t.Errorf("%s: webhook %s: failurePolicy %v, want Fail", lib, w.Name, w.FailurePolicy)
			}
			ref := w.ClientConfig.Service
			if ref == nil || len(w.ClientConfig.CABundle) != 0 {
				t.Fatalf("%s: webhook %s: want a Service reference and an empty caBundle", lib, w.Name)
			}
			var svc *corev1.Service
			for _, s := range typedOf[*corev1.Service](r) {
				if s.Name == ref.Name {
					svc = s
				}
			}
			if svc == nil {
				t.Fatalf("%s: webhook %s calls Service %s, which the chart does not have", lib, w.Name, ref.Name)
			}
			served := false
			for _, d := range typedOf[*appsv1.Deployment](r) {
				if labelsMatch(svc.Spec.Selector, d.Spec.Template.Labels) {
					for _, c := range d.Spec.Template.Spec.Containers {
						for _, p := range c.Ports {
							if p.Name == svc.Spec.Ports[0].TargetPort.StrVal {
								served = true
							}
						}
					}
				}
			}
			if !served {
				t.Errorf("%s: no Deployment's container serves port %q of Service %s", lib, svc.Spec.Ports[0].TargetPort.StrVal, svc.Name)
			}
		}
	}

	cm := renderLibrary(t, env, env.Library("cert-manager"))
	webhookServedBy(cm, "cert-manager")
	var hookJob *unstructured.Unstructured
	for _, o := range cm.find("Job", "") {
		if o.GetAnnotations()["helm.sh/hook"] == "post-install" {
			hookJob = o
		}
	}
	if hookJob == nil {
		t.Error("cert-manager: no post-install hook Job (startupapicheck)")
	}
	if n := len(cm.find("CustomResourceDefinition", "")); env.Library("cert-manager").Values["crds"].(map[string]any)["enabled"] == true && n != 3 {
		t.Errorf("cert-manager: %d CRD templates, want 3", n)
	}

	j1 := renderLibrary(t, env, env.Library("jenkins"))
	j2 := renderLibrary(t, env, env.Library("jenkins"))
	testName := func(r *renderedChart) string {
		for _, o := range r.find("Pod", "") {
			if o.GetAnnotations()["helm.sh/hook"] == "test" {
				return o.GetName()
			}
		}
		t.Fatal("jenkins: no test hook Pod")
		return ""
	}
	if a, b := testName(j1), testName(j2); a == b {
		t.Errorf("jenkins: test hook name %q is the same in two renders; upstream's is generated", a)
	}

	m := renderLibrary(t, env, env.Library("metallb"))
	webhookServedBy(m, "metallb")
	var sub bool
	for _, d := range m.Chart.Dependencies() {
		for _, tpl := range d.Templates {
			if d.Name() == "crds" && strings.Contains(string(tpl.Data), "kind: CustomResourceDefinition") {
				sub = true
			}
		}
	}
	if !sub || len(m.find("CustomResourceDefinition", "")) != 2 {
		t.Error("metallb: want the two metallb.io CRDs, from the subchart crds")
	}
	if len(typedOf[*appsv1.DaemonSet](m)) != 1 {
		t.Error("metallb: want the speaker DaemonSet")
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
