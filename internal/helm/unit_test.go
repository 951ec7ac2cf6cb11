package helm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/release"

	"github.com/plate-dev/plate/internal/exit"
)

func chartsDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("../../testdata/charts")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func vf(name string) ValuesFile {
	return ValuesFile{Path: filepath.Join("testdata", "values", name), Name: "values/" + name}
}

func TestValuesMerge(t *testing.T) {
	v := Values{
		Files: []ValuesFile{vf("base.yaml"), vf("prod.yaml")},
		Set: map[string]any{
			"image.tag":                      "1.2",
			"service":                        map[string]any{"type": "NodePort"},
			"nodeSelector":                   map[string]any{"kubernetes.io/os": "linux"},
			`annotations.example\.com/owner`: "team-a",
			"extra":                          []any{int64(1), "two"},
		},
	}
	got, err := v.Merge()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicaCount": float64(3),
		"image":        map[string]any{"repository": "registry.example/web", "tag": "1.2"},
		"service":      map[string]any{"port": float64(80), "type": "NodePort"},
		"nodeSelector": map[string]any{"kubernetes.io/os": "linux"},
		"annotations":  map[string]any{"example.com/owner": "team-a"},
		"extra":        []any{int64(1), "two"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merged values (-want +got):\n%s", d)
	}
}

func TestSetOrder(t *testing.T) {
	// A whole map and a dotted key into it: the dotted key wins whatever
	// the order of the dict.
	got, err := expandSet(map[string]any{"image.tag": "2", "image": map[string]any{"tag": "1", "repository": "r"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"image": map[string]any{"tag": "2", "repository": "r"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if _, err := expandSet(map[string]any{"a..b": 1}); err == nil || !strings.Contains(err.Error(), "empty path element") {
		t.Errorf("a..b: got %v", err)
	}
}

func TestValuesFileErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"missing.yaml", "values file values/missing.yaml: no such file"},
		{"bad.yaml", "values file values/bad.yaml:3: did not find expected key"},
		{"list.yaml", "values file values/list.yaml: want a mapping of values at the top level"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Values{Files: []ValuesFile{vf(tt.file)}}.Merge()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d", exit.Code(err), exit.Usage)
			}
		})
	}
}

func TestRollbackTarget(t *testing.T) {
	rev := func(n int, st string) Revision { return Revision{Revision: n, Status: st} }
	tests := []struct {
		name string
		hist []Revision
		want int
		err  string
	}{
		{"previous deployed", []Revision{rev(1, StatusSuperseded), rev(2, StatusDeployed)}, 1, ""},
		{"skips failed", []Revision{rev(1, StatusSuperseded), rev(2, StatusFailed), rev(3, StatusDeployed)}, 1, ""},
		{"current failed", []Revision{rev(1, StatusSuperseded), rev(2, StatusDeployed), rev(3, StatusFailed)}, 2, ""},
		{"after uninstall", []Revision{rev(1, StatusSuperseded), rev(2, StatusUninstalled)}, 1, ""},
		{"nothing good", []Revision{rev(1, StatusFailed), rev(2, StatusFailed)}, 0, "nothing to roll back to"},
		{"single", []Revision{rev(1, StatusDeployed)}, 0, "nothing to roll back to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RollbackTarget(tt.hist, 0)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %d, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	hist := []Revision{rev(1, StatusSuperseded), rev(2, StatusFailed), rev(3, StatusDeployed)}
	if got, err := RollbackTarget(hist, 2); err != nil || got != 2 {
		t.Errorf("explicit 2: %d, %v", got, err)
	}
	if _, err := RollbackTarget(hist, 7); err == nil || !strings.Contains(err.Error(), "revision 7 is not in the release history (revisions: 1 (superseded), 2 (failed), 3 (deployed))") || exit.Code(err) != exit.Usage {
		t.Errorf("explicit 7: %v", err)
	}
	if _, err := RollbackTarget(hist, 3); err == nil || !strings.Contains(err.Error(), "current revision") {
		t.Errorf("explicit current: %v", err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := strings.Split("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl", "\n")
	b := strings.Split("a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\nm", "\n")
	got := unifiedDiff(a, b, "old", "new", 2)
	want := `--- old
+++ new
@@ -2,5 +2,5 @@
 b
 c
-d
+D
 e
 f
@@ -11,2 +11,3 @@
 k
 l
+m
`
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := unifiedDiff(a, a, "x", "y", 3); got != "" {
		t.Errorf("equal inputs: %q", got)
	}
	// Close changes merge into one hunk.
	c := strings.Split("a\nB\nc\nD\ne", "\n")
	got = unifiedDiff(strings.Split("a\nb\nc\nd\ne", "\n"), c, "o", "n", 1)
	if strings.Count(got, "@@ ") != 1 {
		t.Errorf("want one hunk:\n%s", got)
	}
}

func TestDiffObjects(t *testing.T) {
	scope := func(_, kind string) bool { return !clusterScoped[kind] }
	live, err := parseManifest(`---
# Source: web/templates/secret.yaml
apiVersion: v1
kind: Secret
metadata: {name: web}
data: {PASSWORD: aHVudGVyMg==, USER: YWRtaW4=}
---
# Source: web/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {MESSAGE: hello, TOKEN_HINT: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: old}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
`, scope, "prod")
	if err != nil {
		t.Fatal(err)
	}
	next, err := parseManifest(`---
apiVersion: v1
kind: Secret
metadata: {name: web}
data: {PASSWORD: czNjcjN0IQ==, USER: YWRtaW4=, NEW: eA==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {MESSAGE: bonjour, TOKEN_HINT: hunter2}
---
apiVersion: v1
kind: Namespace
metadata: {name: extra, namespace: ignored}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80.0}]}
`, scope, "prod")
	if err != nil {
		t.Fatal(err)
	}
	d := diffObjects(live, next, []string{"hunter2", "s3cr3t!"})
	var got []string
	for _, o := range d.Objects {
		got = append(got, o.String()+" "+string(o.Change))
	}
	want := []string{"Secret/prod/web changed", "ConfigMap/prod/web changed", "Namespace/extra created", "Service/prod/web unchanged", "ConfigMap/prod/old removed"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if got, want := d.Counts(), "2 changed, 1 added, 1 removed"; got != want {
		t.Errorf("counts %q, want %q", got, want)
	}
	text := d.Text()
	for _, leak := range []string{"aHVudGVy", "czNjcjN0", "hunter2", "s3cr3t", "YWRtaW4"} {
		if strings.Contains(text, leak) {
			t.Errorf("diff shows secret %q:\n%s", leak, text)
		}
	}
	for _, want := range []string{"-  PASSWORD: <redacted>", "+  PASSWORD: <redacted, changed>", "+  NEW: <redacted>", "-  MESSAGE: hello", "+  MESSAGE: bonjour", "TOKEN_HINT: <redacted>", "= 1 unchanged"} {
		if !strings.Contains(text, want) {
			t.Errorf("diff lacks %q:\n%s", want, text)
		}
	}
}

func offlineClient(t testing.TB) *Client {
	t.Helper()
	c, err := New(Options{Offline: true, CacheDir: t.TempDir(), RepositoryConfig: filepath.Join(t.TempDir(), "none.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTemplateOffline(t *testing.T) {
	c := offlineClient(t)
	dir := chartsDir(t)
	res, err := c.Template(context.Background(), TemplateRequest{
		Release: "shop", Namespace: "prod",
		Chart:  ChartSource{Chart: "web", Path: filepath.Join(dir, "web")},
		Values: Values{Set: map[string]any{"replicaCount": int64(3)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Refs {
		got = append(got, r.String())
	}
	want := []string{"Secret/prod/shop-web", "ConfigMap/prod/shop-web", "Service/prod/shop-web", "Deployment/prod/shop-web"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("objects (-want +got):\n%s", d)
	}
	dep := res.Objects[3]
	if r := dep["spec"].(map[string]any)["replicas"]; r != float64(3) {
		t.Errorf("replicas = %v", r)
	}
	// CRDs come first, then the custom resource, namespaced by the CRD.
	res, err = c.Template(context.Background(), TemplateRequest{Chart: ChartSource{Chart: "crd", Path: filepath.Join(dir, "crd")}})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range res.Refs {
		got = append(got, r.String())
	}
	want = []string{"CustomResourceDefinition/widgets.test.plate.dev", "Widget/default/release-name-widget"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("crd chart objects (-want +got):\n%s", d)
	}
}

func TestRenderErrors(t *testing.T) {
	c := offlineClient(t)
	dir := chartsDir(t)
	tests := []struct {
		name  string
		chart string
		set   map[string]any
		want  []string
	}{
		{"template error", "broken", nil, []string{"chart broken: template broken/templates/configmap.yaml:7:", "nil pointer evaluating interface {}.level"}},
		{"schema type", "schema", map[string]any{"replicaCount": "three"}, []string{"chart schema: values do not match values.schema.json: replicaCount: got string, want integer (from set=)"}},
		{"schema minimum", "schema", map[string]any{"replicaCount": int64(0)}, []string{"replicaCount: minimum: got 0, want 1 (from set=)"}},
		{"schema required", "schema", map[string]any{"image.tag": ""}, []string{"image.tag: minLength: got 0, want 1 (from set=)"}},
		{"missing chart", "nope", nil, []string{"chart nope: no such chart directory or .tgz (looked for "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Install(context.Background(), InstallRequest{
				Release: "r", Namespace: "default",
				Chart:  ChartSource{Chart: tt.chart, Path: filepath.Join(dir, tt.chart)},
				Values: Values{Set: tt.set},
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d", exit.Code(err), exit.Usage)
			}
		})
	}
}

func TestInstallOffline(t *testing.T) {
	c := offlineClient(t)
	res, err := c.Install(context.Background(), InstallRequest{
		Release: "shop", Namespace: "prod",
		Chart: ChartSource{Chart: "web", Path: filepath.Join(chartsDir(t), "web")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Summary(), "would install or upgrade web 0.1.0 (offline: 4 objects rendered for Kubernetes v1.37.2)"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if _, err := c.Get(context.Background(), "shop", "prod"); err == nil {
		t.Error("Get offline: no error")
	}
}

// Helm's environment says where repositories, their cache and registry
// credentials are; never which namespace or context to use.
func TestEnvSettings(t *testing.T) {
	t.Setenv("HELM_REPOSITORY_CONFIG", "/etc/plate-test/repositories.yaml")
	t.Setenv("HELM_REGISTRY_CONFIG", "/etc/plate-test/registry.json")
	t.Setenv("HELM_REPOSITORY_CACHE", "/var/cache/plate-test/repository")
	t.Setenv("XDG_CACHE_HOME", "/var/cache/xdg-test")
	c, err := New(Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.RepositoryConfig != "/etc/plate-test/repositories.yaml" || c.opts.RegistryConfig != "/etc/plate-test/registry.json" {
		t.Errorf("config files: %q %q", c.opts.RepositoryConfig, c.opts.RegistryConfig)
	}
	if got := c.repoCacheDir(); got != "/var/cache/plate-test/repository" {
		t.Errorf("repository cache %q", got)
	}
	if c.opts.CacheDir != "/var/cache/xdg-test/plate/helm" {
		t.Errorf("cache dir %q", c.opts.CacheDir)
	}
	t.Setenv("HELM_REPOSITORY_CACHE", "")
	if got := c.repoCacheDir(); got != "/var/cache/xdg-test/plate/helm/repository" {
		t.Errorf("default repository cache %q", got)
	}
}

// Client-only renders assume the Kubernetes version they are given, never
// the SDK's silent v1.20.
func TestClientOnlyKubeVersion(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: kv\nversion: 0.1.0\nkubeVersion: \">=1.30.0-0\"\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kv}\ndata: {version: {{ .Capabilities.KubeVersion.Version | quote }}}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := ChartSource{Chart: "kv", Path: dir}
	res, err := offlineClient(t).Template(context.Background(), TemplateRequest{Chart: src})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Objects[0]["data"].(map[string]any)["version"]; got != "v1.37.2" {
		t.Errorf("default kube version %v, want v1.37.2", got)
	}
	_, err = offlineClient(t).Template(context.Background(), TemplateRequest{Chart: src, KubeVersion: "v1.29.4"})
	if err == nil || !strings.Contains(err.Error(), "chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.4") || exit.Code(err) != exit.Usage {
		t.Errorf("old kube version: %v", err)
	}
}

// Test hooks never make a release changed: Helm runs them only for `helm
// test`, and charts such as Jenkins generate their names at every render.
func TestSameHooksIgnoresTestHooks(t *testing.T) {
	post := &release.Hook{Name: "cm-startupapicheck", Kind: "Job", Path: "cert-manager/templates/startupapicheck.yaml",
		Manifest: "kind: Job\nmetadata:\n  name: cm-startupapicheck\n", Events: []release.HookEvent{release.HookPostInstall}, Weight: 1}
	test := func(name string) *release.Hook {
		return &release.Hook{Name: name, Kind: "Pod", Path: "jenkins/templates/tests/ui-test.yaml",
			Manifest: "kind: Pod\nmetadata:\n  name: " + name + "\n", Events: []release.HookEvent{release.HookTest}}
	}
	if !sameHooks([]*release.Hook{post, test("jenkins-ui-test-ab12c")}, []*release.Hook{post, test("jenkins-ui-test-x9y8z")}) {
		t.Error("a renamed test hook made the hooks differ")
	}
	if !sameHooks([]*release.Hook{post, test("jenkins-ui-test-ab12c")}, []*release.Hook{post}) {
		t.Error("a test hook gone made the hooks differ")
	}
	changed := *post
	changed.Weight = 2
	if sameHooks([]*release.Hook{post}, []*release.Hook{&changed}) {
		t.Error("a post-install hook's new weight went unnoticed")
	}
	both := test("jenkins-ui-test-ab12c")
	both.Events = append(both.Events, release.HookPostUpgrade)
	if sameHooks([]*release.Hook{both}, nil) {
		t.Error("a hook that also runs on upgrade was taken for a test hook")
	}
}
