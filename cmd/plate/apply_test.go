package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/planfile"
	"github.com/plate-dev/plate/internal/runner"
)

// writeSavedPlan saves the plan at path, bound with params, as a dry run
// with --save-plan would (the cluster part made up): the file checks of
// plate apply need no cluster.
func writeSavedPlan(t *testing.T, path string, params ...string) string {
	t.Helper()
	p, err := runner.Prepare(runner.Options{Plan: path, Params: params, Plugins: registry.Plugins})
	if err != nil {
		t.Fatal(err)
	}
	src, mods, err := planfile.Sources(p.Plan, p.Predeclared)
	if err != nil {
		t.Fatal(err)
	}
	pf := &planfile.File{Kind: planfile.Kind, Version: planfile.Version, Created: time.Now().UTC(), Salt: "5a17",
		Plan: src, Modules: mods, Params: planfile.Params(p.Plan, p.Params, "5a17"), Kube: planfile.Kube{Root: p.Root},
		Cluster: planfile.Cluster{Server: "https://127.0.0.1:1", UID: "u"}}
	file := filepath.Join(t.TempDir(), "p.plan")
	if err := planfile.Write(file, pf); err != nil {
		t.Fatal(err)
	}
	return file
}

// A saved plan whose plan or module changed, or whose parameter would be
// another, is refused before plate contacts the cluster: not one request.
func TestApplyRefusesChangedFilesWithoutAnyRequest(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".plateroot":    "",
		"lib/util.star": "def greet(x):\n    return \"hi \" + x\n",
		"plan.star": `load("//lib/util.star", "greet")
who = param("who", "world")
api_token = param("api_token", "")
print(greet(who))
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"who": who}})
`,
	})
	plan := filepath.Join(dir, "plan.star")
	rec, kc := newAPIRecorder(t)
	for _, tc := range []struct {
		name   string
		change func()
		args   []string
		want   string
	}{
		{"module changed", func() { appendFile(t, filepath.Join(dir, "lib/util.star"), "# edited\n") }, nil, "module lib/util.star changed since the plan was saved"},
		{"plan changed", func() { appendFile(t, plan, "# edited\n") }, nil, "plan plan.star changed since it was saved"},
		{"parameter removed", func() {
			src, _ := os.ReadFile(plan)
			if err := os.WriteFile(plan, []byte(strings.Replace(string(src), `who = param("who", "world")`, `who = "world"`, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "plan plan.star changed since it was saved"},
		{"other secret", func() {}, []string{"-p", "api_token=not-it"}, "parameter api_token: the value given is not the one the plan was saved with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := map[string][]byte{}
			for _, f := range []string{plan, filepath.Join(dir, "lib/util.star")} {
				orig[f], _ = os.ReadFile(f)
			}
			t.Cleanup(func() {
				for f, b := range orig {
					_ = os.WriteFile(f, b, 0o644)
				}
			})
			file := writeSavedPlan(t, plan, "who=you", "api_token=the-token")
			tc.change()
			args := append([]string{"apply", file, "--kubeconfig", kc}, tc.args...)
			if len(tc.args) == 0 {
				args = append(args, "-p", "api_token=the-token")
			}
			before := len(rec.requests())
			r := runPlate(t, "", false, args...)
			if r.code != exit.PlanFailed || !strings.Contains(r.errOut, tc.want) || !strings.Contains(r.errOut, "nothing was written") {
				t.Errorf("exit %d, want %d and %q:\n%s", r.code, exit.PlanFailed, tc.want, r.errOut)
			}
			if strings.Contains(r.errOut, "not-it") || strings.Contains(r.errOut, "the-token") {
				t.Errorf("the refusal shows a secret parameter:\n%s", r.errOut)
			}
			if got := rec.requests()[before:]; len(got) != 0 {
				t.Errorf("a refusal of changed files contacted the cluster: %v", got)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, s...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Files that are not saved plans, and flags that do not go together.
func TestApplyUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x.plan")
	if err := os.WriteFile(bad, []byte(`{"kind": "plate-saved-plan", "version": 7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apply", bad}, exit.Usage, "format version 7; this plate reads version 1"},
		{[]string{"apply", filepath.Join(t.TempDir(), "none.plan")}, exit.Usage, "no such file"},
		{[]string{"run", "--save-plan", "x.plan", "testdata/plans/ask.star"}, exit.Usage, "--save-plan goes with --dry-run"},
		{[]string{"run", "--dry-run", "--offline", "--save-plan", "x.plan", "testdata/plans/ask.star"}, exit.Usage, "--save-plan goes with --dry-run, without --offline"},
	} {
		r := runPlate(t, "", false, tc.args...)
		if r.code != tc.code || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("plate %s: exit %d, want %d and %q:\n%s", strings.Join(tc.args, " "), r.code, tc.code, tc.want, r.errOut)
		}
	}
}
