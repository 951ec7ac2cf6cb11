package plantest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Plan tests read a fixed clock: time.now() in a test and in the plans it
// runs starts at 2026-01-01T00:00:00Z, whenever the tests run.
func TestTimeNowIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		".plateroot": "",
		"plan.star":  "print(\"now\", time.now())\n",
		"plan_test.star": `def test_clock(t):
    t.true(str(time.now()).startswith("2026-01-01 00:00:00.0"))
    r = t.run("plan.star")
    printed = r.effects[t.index(r, {"builtin": "print"})]["summary"]
    t.true(printed.startswith("now 2026-01-01 00:00:00.0"), printed)
    t.true(printed.endswith(" +0000 UTC"), printed)
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	res, err := Run(context.Background(), Options{Paths: []string{dir}, Out: &out, Verbose: true})
	if err != nil || res.Passed != 1 {
		t.Fatalf("plate test: %+v, %v\n%s", res, err, out.String())
	}
}

// A t.run that cannot start its plan (a misspelt plan file, a parameter the
// plan does not declare) fails the test unless the test looks at the run's
// error or code: a mistake in the test is not a passing test.
func TestHarnessErrorsFailUnlessChecked(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		".plateroot":  "",
		"deploy.star": "p = param(\"env\", \"staging\", choices = [\"staging\", \"production\"])\nprint(p)\n",
		"deploy_test.star": `def test_misspelt_plan(t):
    r = t.run("deplyo.star")
    t.eq(len(r.effects), 0)

def test_unknown_parameter(t):
    t.run("deploy.star", params = {"enviroment": "production"})

def test_expected_bad_parameter(t):
    r = t.run("deploy.star", params = {"env": "prod"})
    t.eq(r.code, 2)

def test_expected_failure_by_fails(t):
    t.fails(t.run("deploy.star", params = {"nope": 1}), "unknown parameter")
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	res, _ := Run(context.Background(), Options{Paths: []string{dir}, Out: &out, Verbose: true})
	if res.Passed != 2 || res.Failed != 2 {
		t.Fatalf("passed %d, failed %d; want 2 and 2\n%s", res.Passed, res.Failed, out.String())
	}
	for _, want := range []string{
		"--- FAIL: test_misspelt_plan",
		`deploy_test.star:2: t.run("deplyo.star") could not run the plan`,
		"--- FAIL: test_unknown_parameter",
		`unknown parameter "enviroment"`,
		"--- PASS: test_expected_bad_parameter",
		"--- PASS: test_expected_failure_by_fails",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
