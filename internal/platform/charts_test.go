package platform

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// appCharts are the charts of charts/, each deployed as a release named
// after the chart.
var appCharts = []string{"plate-cache", "plate-api", "plate-llm", "plate-web", "plate-ingress"}

// overlays are the values sets every chart must lint and render with: the
// defaults alone, then each environment's overlay.
var overlays = []struct{ name, file, namespace string }{
	{"defaults", "", "default"},
	{"stg", "values-stg.yaml", "plate-stg"},
	{"prod", "values-prod.yaml", "plate-prod"},
}

func chartDir(t testing.TB, name string) string {
	return filepath.Join(repoRoot(t), "charts", name)
}

func overlayValues(t testing.TB, chart, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	return readValues(t, filepath.Join(chartDir(t, chart), file))
}

// render renders an app chart with one overlay and fails the test on error.
func render(t testing.TB, chart, overlay, namespace string) *renderedChart {
	t.Helper()
	r, err := renderChart(t, chartDir(t, chart), chart, namespace, overlayValues(t, chart, overlay))
	if err != nil {
		t.Fatalf("%s with %s: %v", chart, or(overlay, "values.yaml"), err)
	}
	return r
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestChartsHaveTheirFiles(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "charts"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		if e.IsDir() {
			found = append(found, e.Name())
		}
	}
	want := append([]string(nil), appCharts...)
	sort.Strings(want)
	if d := cmp.Diff(want, found); d != "" {
		t.Errorf("charts/ (-tested +present):\n%s", d)
	}
	for _, c := range appCharts {
		for _, f := range []string{"Chart.yaml", "values.yaml", "values-stg.yaml", "values-prod.yaml", "values.schema.json", "templates/_helpers.tpl", "templates/NOTES.txt"} {
			if _, err := os.Stat(filepath.Join(chartDir(t, c), f)); err != nil {
				t.Errorf("%s: missing %s", c, f)
			}
		}
		schema, err := os.ReadFile(filepath.Join(chartDir(t, c), "values.schema.json"))
		if err == nil && !strings.Contains(string(schema), `"$schema": "http://json-schema.org/draft-07/schema#"`) {
			t.Errorf("%s: values.schema.json does not declare draft-07", c)
		}
	}
}

// TestChartsLint runs helm lint --strict on every chart with values.yaml
// alone and merged with each overlay.
func TestChartsLint(t *testing.T) {
	for _, c := range appCharts {
		for _, o := range overlays {
			t.Run(c+"/"+o.name, func(t *testing.T) {
				for _, m := range lintChart(t, chartDir(t, c), o.namespace, overlayValues(t, c, o.file)) {
					t.Errorf("lint: %s", m)
				}
			})
		}
	}
}

// TestChartsRender renders every chart with every overlay for Kubernetes
// v1.37 and checks what every object must have.
func TestChartsRender(t *testing.T) {
	for _, c := range appCharts {
		for _, o := range overlays {
			t.Run(c+"/"+o.name, func(t *testing.T) {
				r := render(t, c, o.file, o.namespace)
				if len(r.Objects) == 0 {
					t.Fatal("no objects")
				}
				if strings.TrimSpace(r.Notes) == "" {
					t.Error("NOTES.txt renders empty")
				}
				for i, obj := range r.Objects {
					if _, ok := r.Typed[i]; !ok {
						t.Errorf("%s %s: not a built-in kind", obj.GetKind(), obj.GetName())
					}
					labels := obj.GetLabels()
					for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"} {
						if labels[l] == "" {
							t.Errorf("%s %s: no label %s", obj.GetKind(), obj.GetName(), l)
						}
					}
					if labels["app.kubernetes.io/instance"] != c || labels["app.kubernetes.io/managed-by"] != "Helm" {
						t.Errorf("%s %s: labels %v", obj.GetKind(), obj.GetName(), labels)
					}
					if obj.GetNamespace() != "" {
						t.Errorf("%s %s: sets metadata.namespace; the release namespace applies", obj.GetKind(), obj.GetName())
					}
				}
				for _, d := range typedOf[*appsv1.Deployment](r) {
					checkPodSpec(t, d.Name, d.Spec.Template.Spec)
					if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
						t.Errorf("Deployment %s: no selector", d.Name)
					}
					for k, v := range d.Spec.Selector.MatchLabels {
						if d.Spec.Template.Labels[k] != v {
							t.Errorf("Deployment %s: selector %s=%s does not match the pod template", d.Name, k, v)
						}
					}
				}
				for _, s := range typedOf[*corev1.Service](r) {
					if o.name == "defaults" && s.Spec.Type != corev1.ServiceTypeClusterIP {
						t.Errorf("Service %s: type %s by default, want ClusterIP", s.Name, s.Spec.Type)
					}
				}
				for _, ing := range typedOf[*networkingv1.Ingress](r) {
					for _, tls := range ing.Spec.TLS {
						if ing.Annotations["cert-manager.io/cluster-issuer"] == "" {
							t.Errorf("Ingress %s: TLS (%s) without a cert-manager.io/cluster-issuer annotation", ing.Name, tls.SecretName)
						}
					}
				}
			})
		}
	}
}

// checkPodSpec checks that every container has probes, resources and an
// image, and that every probe's named port exists.
func checkPodSpec(t *testing.T, owner string, spec corev1.PodSpec) {
	t.Helper()
	if len(spec.Containers) == 0 {
		t.Errorf("%s: no containers", owner)
	}
	for _, ct := range spec.Containers {
		if ct.Image == "" || strings.HasSuffix(ct.Image, ":") {
			t.Errorf("%s/%s: image %q", owner, ct.Name, ct.Image)
		}
		if ct.ReadinessProbe == nil || ct.LivenessProbe == nil {
			t.Errorf("%s/%s: want both a readiness and a liveness probe", owner, ct.Name)
		}
		if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s/%s: no cpu/memory requests", owner, ct.Name)
		}
		ports := map[string]bool{}
		for _, p := range ct.Ports {
			ports[p.Name] = true
		}
		for _, pr := range []*corev1.Probe{ct.ReadinessProbe, ct.LivenessProbe} {
			if pr == nil {
				continue
			}
			var port string
			switch {
			case pr.HTTPGet != nil:
				port = pr.HTTPGet.Port.StrVal
			case pr.TCPSocket != nil:
				port = pr.TCPSocket.Port.StrVal
			}
			if port != "" && !ports[port] {
				t.Errorf("%s/%s: a probe uses port %q, which the container does not name", owner, ct.Name, port)
			}
		}
	}
}

// TestChartsRejectTypos: a misspelt key in an overlay fails schema
// validation, so it fails before anything is deployed.
func TestChartsRejectTypos(t *testing.T) {
	cases := []struct {
		chart, overlay, key string
	}{
		{"plate-api", "replicaCont: 2\n", "replicaCont"},
		{"plate-api", "backend:\n  imge:\n    tag: x\n", "imge"},
		{"plate-api", "appSecrets:\n  enabled: true\n  envVars:\n    - name: A\n      secretkey: a\n", "secretkey"},
		{"plate-web", "ingress:\n  enabeld: true\n", "enabeld"},
		{"plate-web", "resources:\n  limits:\n    memroy: 1Gi\n", "memroy"},
		{"plate-llm", "llm:\n  modle: gpt-4o\n", "modle"},
		{"plate-cache", "pvc:\n  storgeClass: standard\n", "storgeClass"},
		{"plate-ingress", "tls:\n  enabled: true\n  clusterIsuer: x\n", "clusterIsuer"},
	}
	for _, tc := range cases {
		t.Run(tc.chart+"/"+tc.key, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values-typo.yaml")
			if err := os.WriteFile(f, []byte(tc.overlay), 0o644); err != nil {
				t.Fatal(err)
			}
			vals := readValues(t, f)
			_, err := renderChart(t, chartDir(t, tc.chart), tc.chart, "plate-stg", vals)
			if err == nil {
				t.Fatalf("overlay %q rendered; want a schema error", tc.overlay)
			}
			if !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "additional properties") {
				t.Errorf("error does not name %q as an additional property: %v", tc.key, err)
			}
			// helm lint --strict fails on it too.
			if msgs := lintChart(t, chartDir(t, tc.chart), "plate-stg", vals); len(msgs) == 0 {
				t.Error("lint passed")
			}
		})
	}
}

func TestAPIProduction(t *testing.T) {
	r := render(t, "plate-api", "values-prod.yaml", "plate-prod")
	ds := typedOf[*appsv1.Deployment](r)
	if len(ds) != 1 {
		t.Fatalf("%d Deployments, want 1", len(ds))
	}
	d := ds[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	if ing := r.find("Ingress", ""); len(ing) != 0 {
		t.Errorf("production renders an Ingress: %s", ing[0].GetName())
	}
	svc := typedOf[*corev1.Service](r)
	if len(svc) != 1 || svc[0].Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("want one ClusterIP Service (internal only), got %v", svc)
	}
	// One pod: nginx in front of the backend, configured from the ConfigMap
	// to proxy to the backend port on localhost.
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 2 || pod.Containers[0].Name != "nginx" || pod.Containers[1].Name != "backend" {
		t.Fatalf("containers %v, want nginx and backend", containerNames(pod))
	}
	backendPort := pod.Containers[1].Ports[0].ContainerPort
	cms := typedOf[*corev1.ConfigMap](r)
	if len(cms) != 1 {
		t.Fatalf("%d ConfigMaps, want 1", len(cms))
	}
	conf := cms[0].Data["default.conf"]
	if want := "proxy_pass http://127.0.0.1:" + itoa(backendPort) + ";"; !strings.Contains(conf, want) {
		t.Errorf("nginx config does not contain %q:\n%s", want, conf)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].ConfigMap == nil || pod.Volumes[0].ConfigMap.Name != cms[0].Name {
		t.Errorf("nginx config volume %v, want the ConfigMap %s", pod.Volumes, cms[0].Name)
	}
	// The service reaches nginx, not the backend.
	if tp := svc[0].Spec.Ports[0].TargetPort.String(); tp != "http" || pod.Containers[0].Ports[0].Name != "http" {
		t.Errorf("service targetPort %s, want nginx's port http", tp)
	}
	// appSecrets become secretKeyRef environment variables of the backend.
	got := map[string]string{}
	for _, e := range pod.Containers[1].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			got[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	want := map[string]string{"DATABASE_URL": "plate-api-secrets/database-url", "SESSION_KEY": "plate-api-secrets/session-key"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("backend secret env (-want +got):\n%s", d)
	}
}

func TestAPIStagingIngress(t *testing.T) {
	r := render(t, "plate-api", "values-stg.yaml", "plate-stg")
	ings := typedOf[*networkingv1.Ingress](r)
	if len(ings) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(ings))
	}
	ing := ings[0]
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingressClassName %v", ing.Spec.IngressClassName)
	}
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].Hosts[0] != ing.Spec.Rules[0].Host {
		t.Errorf("TLS %v does not cover the host %s", ing.Spec.TLS, ing.Spec.Rules[0].Host)
	}
	be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	if be.Name != "plate-api" || be.Port.Name != "http" {
		t.Errorf("backend %v, want plate-api:http", be)
	}
}

var exactTag = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.]+)?$`)

func TestWebProduction(t *testing.T) {
	r := render(t, "plate-web", "values-prod.yaml", "plate-prod")
	if ing := r.find("Ingress", ""); len(ing) != 0 {
		t.Errorf("production renders an Ingress: %s (plate-ingress routes / instead)", ing[0].GetName())
	}
	d := typedOf[*appsv1.Deployment](r)[0]
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 2 || pod.Containers[0].Name != "nginx" {
		t.Fatalf("containers %v", containerNames(pod))
	}
	repo, tag, _ := strings.Cut(pod.Containers[0].Image, ":")
	if repo != "nginx" || !exactTag.MatchString(tag) {
		t.Errorf("nginx image %s: want nginx pinned to an exact version", pod.Containers[0].Image)
	}
	if !strings.HasPrefix(pod.Containers[1].Image, "busybox:") {
		t.Errorf("backend image %s, want busybox", pod.Containers[1].Image)
	}
	// The pin is the production overlay's own.
	img, _ := overlayValues(t, "plate-web", "values-prod.yaml")["image"].(map[string]any)
	if img["tag"] != tag {
		t.Errorf("values-prod.yaml sets image.tag %v, want the pinned %s", img["tag"], tag)
	}
}

func TestCacheOverlays(t *testing.T) {
	for _, tc := range []struct {
		overlay, class, env string
		prodLabel           bool
	}{
		{"values-prod.yaml", "openebs-hostpath", "production", true},
		{"values-stg.yaml", "standard", "staging", false},
	} {
		r := render(t, "plate-cache", tc.overlay, "plate-x")
		if len(r.Objects) != 1 {
			t.Fatalf("%s: %d objects, want only the PersistentVolumeClaim", tc.overlay, len(r.Objects))
		}
		pvcs := typedOf[*corev1.PersistentVolumeClaim](r)
		if len(pvcs) != 1 {
			t.Fatalf("%s: no PersistentVolumeClaim", tc.overlay)
		}
		pvc := pvcs[0]
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != tc.class {
			t.Errorf("%s: storageClassName %v, want %s", tc.overlay, pvc.Spec.StorageClassName, tc.class)
		}
		if got := pvc.Labels["plate.dev/environment"]; got != tc.env {
			t.Errorf("%s: label plate.dev/environment=%q, want %q", tc.overlay, got, tc.env)
		}
		if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			t.Errorf("%s: no storage request", tc.overlay)
		}
		if pvc.Annotations["plate.dev/mount-path"] == "" {
			t.Errorf("%s: no mount path annotation", tc.overlay)
		}
	}
	// The defaults leave the class to the cluster.
	pvc := typedOf[*corev1.PersistentVolumeClaim](render(t, "plate-cache", "", "default"))[0]
	if pvc.Spec.StorageClassName != nil {
		t.Errorf("default storageClassName %q, want none (the cluster default)", *pvc.Spec.StorageClassName)
	}
	if q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; q.Cmp(resource.MustParse("1Gi")) < 0 {
		t.Errorf("default size %s", q.String())
	}
}

// secretEnvName matches environment variables that hold credentials.
var secretEnvName = regexp.MustCompile(`(^|_)(API_KEY|KEY|SECRET|TOKEN|PASSWORD)$`)

func TestLLMKeyOnlyFromSecret(t *testing.T) {
	for _, o := range overlays {
		r := render(t, "plate-llm", o.file, o.namespace)
		if s := r.find("Secret", ""); len(s) != 0 {
			t.Errorf("%s: renders a Secret %s; the key's Secret is never part of the chart", o.name, s[0].GetName())
		}
		d := typedOf[*appsv1.Deployment](r)[0]
		ref, err := r.Values.Table("Values.llm.apiKeySecret")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ct := range d.Spec.Template.Spec.Containers {
			for _, e := range ct.Env {
				if secretEnvName.MatchString(e.Name) {
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						t.Errorf("%s: %s has a literal value or no secretKeyRef", o.name, e.Name)
						continue
					}
				}
				if e.Name == "LLM_API_KEY" {
					found = true
					sk := e.ValueFrom.SecretKeyRef
					if sk.Name != ref["name"] || sk.Key != ref["key"] {
						t.Errorf("%s: LLM_API_KEY from %s/%s, values say %v", o.name, sk.Name, sk.Key, ref)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s: no LLM_API_KEY", o.name)
		}
	}
	// The schema has no place for a literal key: anywhere under llm, or at
	// the top level.
	for _, overlay := range []string{
		"llm:\n  apiKey: sk-live-0123456789\n",
		"llm:\n  api_key: sk-live-0123456789\n",
		"llm:\n  apiKeySecret:\n    name: plate-llm-provider\n    key: api-key\n    value: sk-live-0123456789\n",
		"apiKey: sk-live-0123456789\n",
	} {
		f := filepath.Join(t.TempDir(), "values-key.yaml")
		if err := os.WriteFile(f, []byte(overlay), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := renderChart(t, chartDir(t, "plate-llm"), "plate-llm", "plate-stg", readValues(t, f))
		if err == nil {
			t.Errorf("overlay %q rendered; a literal key must be rejected", overlay)
		} else if strings.Contains(err.Error(), "sk-live") {
			t.Errorf("the schema error shows the key: %v", err)
		}
	}
}

func TestLLMStagingPullsAlways(t *testing.T) {
	r := render(t, "plate-llm", "values-stg.yaml", "plate-stg")
	ct := typedOf[*appsv1.Deployment](r)[0].Spec.Template.Spec.Containers[0]
	if ct.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("staging imagePullPolicy %s, want Always", ct.ImagePullPolicy)
	}
	prod := typedOf[*appsv1.Deployment](render(t, "plate-llm", "values-prod.yaml", "plate-prod"))[0]
	if p := prod.Spec.Template.Spec.Containers[0].ImagePullPolicy; p != corev1.PullIfNotPresent {
		t.Errorf("production imagePullPolicy %s, want IfNotPresent", p)
	}
	env := map[string]string{}
	for _, e := range ct.Env {
		env[e.Name] = e.Value
	}
	for _, k := range []string{"LLM_PROVIDER", "LLM_MODEL", "LLM_TEMPERATURE"} {
		if env[k] == "" {
			t.Errorf("no %s", k)
		}
	}
}

func containerNames(p corev1.PodSpec) []string {
	var out []string
	for _, c := range p.Containers {
		out = append(out, c.Name)
	}
	return out
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }
