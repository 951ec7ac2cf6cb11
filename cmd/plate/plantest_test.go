package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The platform plans' own tests pass under plate test.
func TestPlatformPlanTests(t *testing.T) {
	r := runPlate(t, "", false, "test", filepath.Join(repoRoot, "plans"))
	if r.code != 0 || !strings.Contains(r.out, " passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}

// A deliberately broken expectation fails with exit 1, the position of the
// assertion and a go-cmp diff between the expected and the nearest actual
// effect; -run selects tests.
func TestPlanTestFailureIsReadable(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "plan.star"), []byte(`
env = param("env", "staging", choices = ["staging", "production"])
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"env": env}})
if env == "production":
    confirm("Deploy to production?")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}})
`), 0o644)
	os.WriteFile(filepath.Join(dir, "plan_test.star"), []byte(`
def test_broken(t):
    r = t.run("plan.star", params = {"env": "production"})
    t.contains(r, {"builtin": "kube_apply", "args": {"manifest": {"data": {"env": "staging"}}}})

def test_ok(t):
    r = t.run("plan.star", params = {"env": "production"}, cluster = {"confirm": [False]})
    t.fails(r, "aborted by user")
    t.eq(t.index(r, {"builtin": "kube_apply", "summary": "re:ConfigMap/after"}), -1)
`), 0o644)
	r := runPlate(t, "", false, "test", dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{
		"--- FAIL: test_broken",
		"plan_test.star:4: no effect matches",
		`map[string]any{"env": string("staging")}`,
		`map[string]any{"env": string("production")}`,
		"FAIL\tplan_test.star",
		"1 passed, 1 failed",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	r = runPlate(t, "", false, "test", "-v", "--run", "ok$", dir)
	if r.code != 0 || !strings.Contains(r.out, "--- PASS: test_ok") || strings.Contains(r.out, "test_broken") {
		t.Errorf("-run ok$: exit %d\n%s", r.code, r.out)
	}
}
