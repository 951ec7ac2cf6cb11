package helm_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plate-dev/plate/internal/exit"
)

// Offline dry runs render client-only; nothing needs a cluster.
func TestOfflinePlan(t *testing.T) {
	p := newProject(t, map[string]string{
		"values/base.yaml": "replicaCount: 2\nmessage: from-file\n",
		"plans/web.star": `
rel = helm_install("shop", "../charts/web", namespace = "prod", values = ["//values/base.yaml"],
                   set = {"image.tag": "2.0", "password": secret("pw-canary-123")})
assert.eq(rel.name, "shop")
assert.eq(rel.namespace, "prod")
assert.eq(rel.planned, True)
assert.eq([o["kind"] for o in rel.objects], ["Secret", "ConfigMap", "Service", "Deployment"])
assert.eq(rel.objects[3]["namespace"], "prod")
assert.eq(type(rel), "helm_release")

objs = helm_template("../charts/web", release = "shop", values = ["//values/base.yaml"], set = {"image": {"tag": "2.0"}})
dep = [o for o in objs if o["kind"] == "Deployment"][0]
assert.eq(dep["spec"]["replicas"], 2)
assert.eq(dep["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example/web:2.0")
cm = [o for o in objs if o["kind"] == "ConfigMap"][0]
assert.eq(cm["data"]["MESSAGE"], "from-file")

crd = helm_template("//charts/crd")
assert.eq([o["kind"] for o in crd], ["CustomResourceDefinition", "Widget"])

helm_install("api", "../charts/web", namespace = "prod", needs = [rel])
helm_uninstall("old", namespace = "prod")
helm_rollback(rel)
`,
	})
	r := p.run("plans/web.star", offline, runOpts{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []string{
		"dry-run helm_install: would install or upgrade web 0.1.0 (offline: 4 objects rendered for Kubernetes v1.37.2)",
		"dry-run helm_template: 4 objects from web 0.1.0",
		"dry-run helm_template: 2 objects from crd 0.1.0",
		"dry-run helm_install: would install or upgrade web 0.1.0 (offline: 4 objects rendered for Kubernetes v1.37.2)",
		"dry-run helm_uninstall: would uninstall old (offline: the release was not read)",
		"dry-run helm_rollback: would roll back shop (offline: the history was not read)",
	}
	if d := cmp.Diff(want, r.summaries()); d != "" {
		t.Errorf("trace (-want +got):\n%s", d)
	}
	installs := r.closing("helm_install")
	if got := installs[1].Needs; len(got) != 1 || got[0] != installs[0].Step {
		t.Errorf("needs of the second install: %v, want [%s]", got, installs[0].Step)
	}
	for _, out := range []string{r.text, r.jsonl} {
		if strings.Contains(out, "pw-canary") {
			t.Errorf("secret value in the trace:\n%s", out)
		}
	}
	contains(t, "verbose trace", r.text, `set={"image.tag":"2.0","password":"<redacted>"}`, "Deployment/prod/shop-web")
}

func TestOfflineErrors(t *testing.T) {
	tests := []struct {
		name string
		plan string
		code int
		want []string
	}{
		{"chart missing", `helm_install("a", "../charts/nope")`, exit.Usage,
			[]string{"plans/p.star:1:13: helm_install: chart ../charts/nope: no such chart directory or .tgz (looked for "}},
		{"template error", `
x = 1
helm_install("a", "../charts/broken")`, exit.Usage,
			[]string{"plans/p.star:3:13: helm_install: chart ../charts/broken: template broken/templates/configmap.yaml:7:19: at <.Values.settings.logging.level>: nil pointer evaluating interface {}.level"}},
		{"schema", `helm_install("a", "../charts/schema", set = {"replicaCount": "three", "image.tag": ""})`, exit.Usage,
			[]string{"helm_install: chart ../charts/schema: values do not match values.schema.json: image.tag: minLength: got 0, want 1 (from set=); replicaCount: got string, want integer (from set=)"}},
		{"values file missing", `helm_install("a", "../charts/web", values = ["../values/nope.yaml"])`, exit.Usage,
			[]string{"plans/p.star:1:13: helm_install: values file values/nope.yaml: no such file"}},
		{"values file YAML", `helm_install("a", "../charts/web", values = ["//values/bad.yaml"])`, exit.Usage,
			[]string{"plans/p.star:1:13: helm_install: values file values/bad.yaml:4: mapping values are not allowed in this context"}},
		{"needs not a release", `helm_install("a", "../charts/web", needs = ["b"])`, exit.Usage,
			[]string{"helm_install: needs[0]: got string, want a release value"}},
		{"bad timeout", `helm_install("a", "../charts/web", timeout = "soon")`, exit.Usage,
			[]string{`helm_install: for parameter "timeout": want a duration like "5m" or "90s", got "soon"`}},
		{"bad release name", `helm_install("Shop_1", "../charts/web")`, exit.Usage,
			[]string{`helm_install: release name "Shop_1" is invalid`}},
		{"local version mismatch", `helm_install("a", "../charts/web", version = "9.0.0")`, exit.Usage,
			[]string{"chart ../charts/web has version 0.1.0, not 9.0.0 as version= says"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProject(t, map[string]string{
				"plans/p.star":    tt.plan,
				"values/bad.yaml": "a: 1\nb:\n  c: 2\n   d: 3\n",
			})
			r := p.run("plans/p.star", offline, runOpts{})
			if r.err == nil {
				t.Fatalf("no error; trace:\n%s", r.text)
			}
			if got := exit.Code(r.err); got != tt.code {
				t.Errorf("exit code %d, want %d (%v)", got, tt.code, r.err)
			}
			contains(t, "error", r.err.Error(), tt.want...)
		})
	}
}
