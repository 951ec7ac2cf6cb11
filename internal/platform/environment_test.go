package platform

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// renderEnv renders every app of env as a plan deploys it: release named
// after the app, in the environment's namespace, with its values files.
func renderEnv(t *testing.T, env *Environment) map[string]*renderedChart {
	t.Helper()
	out := map[string]*renderedChart{}
	for _, a := range env.Apps {
		var files []string
		for _, v := range a.Values {
			files = append(files, env.Abs(v))
		}
		r, err := renderChart(t, env.Abs(a.Chart), a.Name, env.Namespace, readValues(t, files...))
		if err != nil {
			t.Fatalf("%s: app %s: %v", env.Name, a.Name, err)
		}
		out[a.Name] = r
	}
	return out
}

// TestEnvironmentsAgreeWithCharts checks what crosses chart boundaries:
// the integrated ingress routes to the Services the apps really make, every
// TLS issuer is the environment's ClusterIssuer, and every Secret an app
// reads is declared in the environment file (so a plan can check it exists).
func TestEnvironmentsAgreeWithCharts(t *testing.T) {
	for _, env := range loadEnvs(t) {
		t.Run(env.Name, func(t *testing.T) {
			rendered := renderEnv(t, env)

			// Services by name -> port numbers and names.
			type svcPort struct {
				name   string
				number int32
			}
			services := map[string][]svcPort{}
			for _, r := range rendered {
				for _, s := range typedOf[*corev1.Service](r) {
					for _, p := range s.Spec.Ports {
						services[s.Name] = append(services[s.Name], svcPort{p.Name, p.Port})
					}
				}
			}

			// The integrated ingress: / -> web, /api -> api, /llm -> llm.
			ings := typedOf[*networkingv1.Ingress](rendered["plate-ingress"])
			if len(ings) != 1 {
				t.Fatalf("plate-ingress renders %d Ingresses, want 1", len(ings))
			}
			ing := ings[0]
			routes := map[string]string{}
			for _, rule := range ing.Spec.Rules {
				for _, p := range rule.HTTP.Paths {
					be := p.Backend.Service
					routes[p.Path] = be.Name
					ports, ok := services[be.Name]
					if !ok {
						t.Errorf("route %s -> service %s, which no app of %s makes", p.Path, be.Name, env.Name)
						continue
					}
					found := false
					for _, sp := range ports {
						found = found || (be.Port.Number != 0 && sp.number == be.Port.Number) || (be.Port.Name != "" && sp.name == be.Port.Name)
					}
					if !found {
						t.Errorf("route %s -> %s port %v, which the Service does not have (%v)", p.Path, be.Name, be.Port, ports)
					}
				}
			}
			if d := cmp.Diff(map[string]string{"/": "plate-web", "/api": "plate-api", "/llm": "plate-llm"}, routes); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
			if len(ing.Spec.TLS) == 0 {
				t.Error("the integrated ingress has no TLS")
			}

			// Every cluster issuer named by an Ingress is the ClusterIssuer
			// that the environment's cert-manager configuration creates.
			issuers := map[string]bool{}
			for _, f := range env.Library("cert-manager").Config {
				for _, obj := range readObjects(t, env.Abs(f)) {
					if obj.GetKind() == "ClusterIssuer" {
						issuers[obj.GetName()] = true
					}
				}
			}
			if len(issuers) != 1 {
				t.Errorf("%s: the cert-manager configuration creates %d ClusterIssuers, want 1", env.File, len(issuers))
			}
			var withIngress []string
			for app, r := range rendered {
				for _, i := range typedOf[*networkingv1.Ingress](r) {
					withIngress = append(withIngress, app)
					if is := i.Annotations["cert-manager.io/cluster-issuer"]; len(i.Spec.TLS) > 0 && !issuers[is] {
						t.Errorf("%s: Ingress %s uses ClusterIssuer %q, the environment creates %v", app, i.Name, is, issuers)
					}
				}
			}
			sort.Strings(withIngress)
			if env.Name == "production" {
				// Production has one entry point: the integrated ingress.
				if d := cmp.Diff([]string{"plate-ingress"}, withIngress); d != "" {
					t.Errorf("apps with an Ingress (-want +got):\n%s", d)
				}
			}

			// Secrets read by each app == secrets: of the environment file.
			for _, a := range env.Apps {
				got := map[string][]string{}
				for _, d := range typedOf[*appsv1.Deployment](rendered[a.Name]) {
					for _, ct := range d.Spec.Template.Spec.Containers {
						for _, e := range ct.Env {
							if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
								ref := e.ValueFrom.SecretKeyRef
								got[ref.Name] = append(got[ref.Name], ref.Key)
							}
						}
					}
				}
				want := map[string][]string{}
				for _, s := range a.Secrets {
					want[s.Name] = append([]string(nil), s.Keys...)
				}
				for _, m := range []map[string][]string{got, want} {
					for k := range m {
						sort.Strings(m[k])
					}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s: app %s: secrets: in %s (-) and read by the chart (+):\n%s", env.Name, a.Name, env.File, d)
				}
			}
		})
	}
}
