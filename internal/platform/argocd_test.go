package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArgoCDAgreesWithEnvironments is the check of the GitOps path: the
// checked-in Argo CD manifests must say what environments/*.yaml say.
func TestArgoCDAgreesWithEnvironments(t *testing.T) {
	if err := CheckArgoCD(repoRoot(t), loadEnvs(t)); err != nil {
		t.Fatal(err)
	}
}

// TestArgoCDDisagreements proves each failure mode on a mutated copy.
func TestArgoCDDisagreements(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, root string)
		want   []string
	}{
		{
			name: "missing app",
			mutate: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, "environments/argocd/apps/plate-api-stg.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"environments/argocd/apps/plate-api-stg.yaml: missing: environments/staging.yaml deploys app plate-api, and Argo CD has no Application for it"},
		},
		{
			name: "missing library",
			mutate: func(t *testing.T, root string) {
				if err := os.Remove(filepath.Join(root, "environments/argocd/apps/metallb-prod.yaml")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"environments/argocd/apps/metallb-prod.yaml: missing: environments/production.yaml deploys library metallb"},
		},
		{
			name: "wrong values file",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-web-stg.yaml", "- values-stg.yaml", "- values-prod.yaml")
			},
			want: []string{"environments/argocd/apps/plate-web-stg.yaml: spec.source.helm.valueFiles are [charts/plate-web/values-prod.yaml], environments/staging.yaml says [charts/plate-web/values-stg.yaml]"},
		},
		{
			name: "values file that does not exist",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-llm-prod.yaml", "- values-prod.yaml", "- values-production.yaml")
			},
			want: []string{
				"environments/argocd/apps/plate-llm-prod.yaml: spec.source.helm.valueFiles: values-production.yaml (charts/plate-llm/values-production.yaml) does not exist",
				"spec.source.helm.valueFiles are [charts/plate-llm/values-production.yaml], environments/production.yaml says [charts/plate-llm/values-prod.yaml]",
			},
		},
		{
			name: "wrong namespace",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-cache-prod.yaml", "namespace: plate-prod", "namespace: plate-stg")
			},
			want: []string{`environments/argocd/apps/plate-cache-prod.yaml: spec.destination.namespace is "plate-stg", environments/production.yaml says "plate-prod"`},
		},
		{
			name: "wrong library namespace",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/cert-manager-stg.yaml", "namespace: cert-manager", "namespace: cert-manger")
			},
			want: []string{`cert-manager-stg.yaml: spec.destination.namespace is "cert-manger", environments/staging.yaml says "cert-manager"`},
		},
		{
			name: "path that does not exist",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-ingress-stg.yaml", "path: charts/plate-ingress", "path: charts/plate-ingres")
			},
			want: []string{
				"environments/argocd/apps/plate-ingress-stg.yaml: spec.source.path charts/plate-ingres does not exist in the repository",
				`spec.source.path is "charts/plate-ingres", environments/staging.yaml says "charts/plate-ingress"`,
			},
		},
		{
			name: "library version not the pinned one",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/jenkins-prod.yaml", "targetRevision: 5.8.80", "targetRevision: 5.8.81")
			},
			want: []string{`jenkins-prod.yaml: spec.source.targetRevision is "5.8.81", environments/production.yaml pins "5.8.80"`},
		},
		{
			name: "library values differ",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/jenkins-stg.yaml", "size: 8Gi", "size: 9Gi")
			},
			want: []string{"jenkins-stg.yaml: spec.source.helm.valuesObject differs from the values of library jenkins in environments/staging.yaml"},
		},
		{
			name: "wrong server",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-api-prod.yaml", "server: https://prod.k8s.example.com", "server: https://stg.k8s.example.com")
			},
			want: []string{`plate-api-prod.yaml: spec.destination.server is "https://stg.k8s.example.com", environments/production.yaml says "https://prod.k8s.example.com"`},
		},
		{
			name: "wave out of order",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-web-stg.yaml", `sync-wave: "4"`, `sync-wave: "2"`)
			},
			want: []string{`plate-web-stg.yaml: sync wave (annotation argocd.argoproj.io/sync-wave) is "2", want "4"`},
		},
		{
			name: "sync policy",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-llm-stg.yaml", "selfHeal: true", "selfHeal: false")
				edit(t, root, "environments/argocd/apps/plate-llm-stg.yaml", "      - CreateNamespace=true\n", "")
			},
			want: []string{
				"plate-llm-stg.yaml: spec.syncPolicy.automated must set prune: true and selfHeal: true",
				"plate-llm-stg.yaml: spec.syncPolicy.syncOptions lacks CreateNamespace=true",
			},
		},
		{
			name: "misspelt field",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/plate-api-stg.yaml", "valueFiles:", "valuesFiles:")
			},
			want: []string{"plate-api-stg.yaml: not a valid Application", "field valuesFiles not found"},
		},
		{
			name: "library configuration",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/apps/platform-config-prod.yaml", "cluster-issuer-prod.yaml", "cluster-issuer.yaml")
			},
			want: []string{`platform-config-prod.yaml: spec.source.directory.include is "{cluster-issuer.yaml,metallb-pool.yaml}", environments/production.yaml says "{cluster-issuer-prod.yaml,metallb-pool.yaml}"`},
		},
		{
			name: "app the environments do not have",
			mutate: func(t *testing.T, root string) {
				data, err := os.ReadFile(filepath.Join(root, "environments/argocd/apps/plate-api-stg.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, "environments/argocd/apps/plate-admin-stg.yaml"), data, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"environments/argocd/apps/plate-admin-stg.yaml: unexpected file: no environment deploys plate-admin-stg"},
		},
		{
			name: "environment gains an app",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/production.yaml", "apps:\n", "apps:\n  - name: plate-docs\n    chart: charts/plate-web\n    values: []\n    needs: []\n")
			},
			want: []string{"environments/argocd/apps/plate-docs-prod.yaml: missing: environments/production.yaml deploys app plate-docs"},
		},
		{
			name: "root points elsewhere",
			mutate: func(t *testing.T, root string) {
				edit(t, root, "environments/argocd/app-of-apps.yaml", "path: environments/argocd/apps", "path: environments/argo/apps")
			},
			want: []string{"environments/argocd/app-of-apps.yaml: spec.source.path environments/argo/apps does not exist in the repository"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyPlatform(t)
			tc.mutate(t, root)
			envs, err := LoadAll(filepath.Join(root, "environments"))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckArgoCD(root, envs)
			if err == nil {
				t.Fatal("no disagreement found")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
