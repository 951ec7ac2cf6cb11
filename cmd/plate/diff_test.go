package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
)

// valuesProject is a project with copies of the web and schema charts
// and a plan that installs plans/values.star's chart with its values.
func valuesProject(t *testing.T, plan string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range []string{"web", "schema"} {
		if err := os.CopyFS(filepath.Join(dir, "charts", c), os.DirFS(filepath.Join("..", "..", "testdata", "charts", c))); err != nil {
			t.Fatal(err)
		}
	}
	files[".plateroot"] = ""
	files["plans/values.star"] = plan
	writeTree(t, dir, files)
	return dir
}

// A values key the chart does not have is a warning under the step's line
// naming the source and the nearest key; with --strict it is an error
// (exit 2) and the run stops in its dry pass.
func TestValuesMistakesGolden(t *testing.T) {
	dir := valuesProject(t, `helm_install("shop", "../charts/web", namespace = "prod", values = ["../values/prod.yaml"],
             set = {"imagee.tag": "2.0", "message": "hi"})
`, map[string]string{"values/prod.yaml": "replicaCont: 3\nimage:\n  tga: \"1.0\"\npodAnnotations:\n  free: form\n"})
	plan := filepath.Join(dir, "plans", "values.star")
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	strict := runPlate(t, "", false, "run", "--dry-run", "--offline", "--strict", plan)
	if strict.code != exit.Usage {
		t.Errorf("--strict: exit %d, want %d", strict.code, exit.Usage)
	}
	real := runPlate(t, "", false, "run", "--strict", "--kubeconfig", filepath.Join(dir, "no-such-kubeconfig"), plan)
	if real.code != exit.Usage || !strings.Contains(real.out, "preflight failed: nothing was written") || !strings.Contains(real.errOut, "replicaCont: not a value of the chart") {
		t.Errorf("--strict on a real run: exit %d\n%s%s", real.code, real.out, real.errOut)
	}
	golden(t, "values_mistakes.txt", "$ plate run --dry-run --offline plans/values.star\n"+r.out+r.errOut+
		"\n$ plate run --dry-run --offline --strict plans/values.star\n"+strict.out+strict.errOut)
}

// A values.schema.json refusal carries its whole reason and the source of
// the bad value in the trace line, in the JSON event's detail and on
// stderr.
func TestSchemaViolationGolden(t *testing.T) {
	dir := valuesProject(t, `helm_install("shop", "../charts/schema", namespace = "prod", values = ["../values/a.yaml", "../values/b.yaml"],
             set = {"image.tag": ""})
`, map[string]string{"values/a.yaml": "replicaCount: 2\n", "values/b.yaml": "replicaCount: \"three\"\n"})
	plan := filepath.Join(dir, "plans", "values.star")
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != exit.Usage {
		t.Errorf("exit %d, want %d", r.code, exit.Usage)
	}
	golden(t, "schema_violation.txt", r.out+r.errOut)
	j := runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", "json", plan)
	var failed map[string]any
	sc := bufio.NewScanner(strings.NewReader(j.out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev["phase"] == "failed" {
			failed = ev
		}
	}
	if failed == nil {
		t.Fatalf("no failed event:\n%s", j.out)
	}
	vs, _ := failed["detail"].(map[string]any)["schema_violations"].([]any)
	want := []map[string]any{
		{"path": "image.tag", "reason": "minLength: got 0, want 1", "source": "set="},
		{"path": "replicaCount", "reason": "got string, want integer", "source": "values file values/b.yaml"},
	}
	if len(vs) != len(want) {
		t.Fatalf("detail %v", failed["detail"])
	}
	for i, w := range want {
		for k, v := range w {
			if vs[i].(map[string]any)[k] != v {
				t.Errorf("violation %d: %s = %v, want %v", i, k, vs[i].(map[string]any)[k], v)
			}
		}
	}
}

// --diff takes none, summary or full and nothing else.
func TestDiffFlag(t *testing.T) {
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "--diff", "all", "../../testdata/plans/sample.star")
	if r.code != exit.Usage || !strings.Contains(r.errOut, `--diff: want none, summary or full, got "all"`) {
		t.Errorf("exit %d: %s", r.code, r.errOut)
	}
}

// diffPlan deploys the web chart as release shop with a message; env
// production asks first.
const diffPlan = `
ns = param("ns", "default")
env = param("env", "staging", choices = ["staging", "production"])
msg = param("msg", "hello")
if env == "production":
    confirm("Deploy shop to production?")
helm_install("shop", "CHART", namespace = ns, set = {"message": msg, "password": secret("pw-canary-77")})
`

// An upgrade's dry run shows, without -v, the lines that change (objects
// and values, secrets masked) and writes nothing; --diff summary names the
// objects and keys only, --diff none nothing; the JSON events carry the
// diff as data.
func TestE2EUpgradeDryRunShowsDiff(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, strings.Replace(diffPlan, "CHART", webChartPath(t), 1))
	if r := runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan); r.code != 0 {
		t.Fatalf("install: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	args := []string{"run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns, "-p", "msg=bonjour", plan}
	var full result
	muts := e.mutations(t, func() { full = runPlate(t, "", false, args...) })
	if full.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", full.code, full.out, full.errOut)
	}
	for _, m := range muts {
		if m.ObjectRef == nil || m.ObjectRef.Resource != "leases" {
			t.Errorf("the dry run wrote: %+v", m)
		}
	}
	norm := func(s string) string {
		s = strings.ReplaceAll(s, e.ns, "NS")
		return strings.ReplaceAll(s, filepath.Dir(plan), "ROOT")
	}
	golden(t, "upgrade_dryrun.txt", norm(full.out))
	for _, want := range []string{"-  MESSAGE: hello", "+  MESSAGE: bonjour", `~ message: "hello" → "bonjour"`} {
		if !strings.Contains(full.out, want) {
			t.Errorf("dry run without -v lacks %q:\n%s", want, full.out)
		}
	}
	if strings.Contains(full.out, "pw-canary") || strings.Contains(full.out, "cHctY2FuYXJ5") {
		t.Errorf("secret in the diff:\n%s", full.out)
	}
	summary := runPlate(t, "", false, append([]string{"run", "--diff", "summary"}, args[1:]...)...)
	if !strings.Contains(summary.out, "~ ConfigMap/"+e.ns+"/shop-web changed") || !strings.Contains(summary.out, "values: ~ message") ||
		strings.Contains(summary.out, "MESSAGE: bonjour") {
		t.Errorf("--diff summary:\n%s", summary.out)
	}
	none := runPlate(t, "", false, append([]string{"run", "--diff", "none"}, args[1:]...)...)
	if strings.Contains(none.out, "ConfigMap/"+e.ns+"/shop-web changed") || !strings.Contains(none.out, "would upgrade rev 1→2") {
		t.Errorf("--diff none:\n%s", none.out)
	}
	js := runPlate(t, "", false, append([]string{"run", "-o", "json"}, args[1:]...)...)
	var diff struct {
		Objects []struct{ Object, Change, Diff string }
		Values  []struct {
			Key, Change string
			From, To    any
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(js.out), "\n") {
		var ev struct {
			Builtin string          `json:"builtin"`
			Diff    json.RawMessage `json:"diff"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Builtin == "helm_install" && ev.Diff != nil {
			if err := json.Unmarshal(ev.Diff, &diff); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(diff.Objects) != 2 || diff.Objects[0].Object != "ConfigMap/"+e.ns+"/shop-web" || !strings.Contains(diff.Objects[0].Diff, "+  MESSAGE: bonjour") ||
		len(diff.Values) != 1 || diff.Values[0].Key != "message" || diff.Values[0].To != "bonjour" {
		t.Errorf("JSON diff %+v\n%s", diff, js.out)
	}
}

// In a production run, the preflight's diff is on the terminal before the
// confirmation is asked; answering yes upgrades.
func TestE2EConfirmShowsDiffFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, strings.Replace(diffPlan, "CHART", webChartPath(t), 1))
	if r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "env=production", plan); r.code != 0 {
		t.Fatalf("install: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// One stream, as a terminal shows it.
	var term syncWriter
	term.w = &strings.Builder{}
	io, _, _ := iostreams.Test("y\n")
	io.Out, io.ErrOut = &term, &term
	io.SetTTY(true, true)
	io.NoColor = true
	code := Main([]string{"run", "--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns, "-p", "env=production", "-p", "msg=bonjour", plan},
		&Factory{IO: io, Now: fixedClock(), Plugins: registry.Plugins})
	out := term.w.String()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	diffAt := strings.Index(out, "+  MESSAGE: bonjour")
	askAt := strings.Index(out, "Deploy shop to production? [y/N]")
	if diffAt < 0 || askAt < 0 || diffAt > askAt {
		t.Errorf("the diff (at %d) does not come before the question (at %d):\n%s", diffAt, askAt, out)
	}
	if strings.Count(out, "+  MESSAGE: bonjour") != 1 {
		t.Errorf("the diff is shown more than once:\n%s", out)
	}
	if !strings.Contains(out, "helm_install  upgrade rev 1→2") {
		t.Errorf("no upgrade:\n%s", out)
	}
}

// --strict stops a real run in its preflight: exit 2, no write.
func TestE2EStrictWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, `
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before"}, "data": {"a": "1"}}, namespace = "`+e.ns+`")
helm_install("shop", "`+webChartPath(t)+`", namespace = "`+e.ns+`", set = {"replicaCont": 2})
`)
	var r result
	muts := e.mutations(t, func() { r = runPlate(t, "", false, "run", "--strict", "--kubeconfig", e.kubeconfig, plan) })
	if r.code != exit.Usage || !strings.Contains(r.errOut, "set=: replicaCont: not a value of the chart; did you mean replicaCount?") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("--strict run wrote: %+v", muts)
	}
}

// A kube_apply that would change a live object shows its diff without the
// server's bookkeeping, secret-looking keys masked.
func TestE2EApplyDryRunShowsDiff(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, `
mode = param("mode", "blue")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
            "data": {"mode": mode, "password": secret("pw-" + mode + "-canary")}}, namespace = "`+e.ns+`")
`)
	if r := runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, plan); r.code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r := runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "mode=green", plan)
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"~ ConfigMap/" + e.ns + "/settings changed", "-  mode: blue", "+  mode: green", "+  password: <redacted, changed>"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.out)
		}
	}
	for _, noise := range []string{"canary", "resourceVersion", "managedFields", "creationTimestamp", "uid:"} {
		if strings.Contains(r.out, noise) {
			t.Errorf("dry run shows %q:\n%s", noise, r.out)
		}
	}
}
