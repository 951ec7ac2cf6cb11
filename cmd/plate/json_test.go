package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// -o json is honoured by every command that accepts it: version, check
// (an array, errors included), test (one object per line, a summary last)
// and run, whose stream ends with the outcome.
func TestJSONEverywhere(t *testing.T) {
	r := runPlate(t, "", false, "version", "-o", "json")
	var v versionInfo
	if r.code != 0 || json.Unmarshal([]byte(r.out), &v) != nil || v.Version == "" || v.HelmSDK == "" || v.Go == "" {
		t.Errorf("version -o json: exit %d %q", r.code, r.out)
	}

	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".plateroot":     "",
		"plan.star":      "env = param(\"env\", \"stg\", choices = [\"stg\", \"prod\"], help = \"where\")\nkube_apply({\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": env}})\n",
		"bad.star":       "x = \n",
		"plan_test.star": "def test_ok(t):\n    t.eq(len(t.run(\"plan.star\").effects), 1)\n\ndef test_bad(t):\n    t.eq(1, 2)\n",
	})
	r = runPlate(t, "", false, "check", "-o", "json", filepath.Join(dir, "plan.star"), filepath.Join(dir, "bad.star"))
	var reports []checkReport
	if err := json.Unmarshal([]byte(r.out), &reports); err != nil || r.code != exit.Usage || len(reports) != 2 {
		t.Fatalf("check -o json: exit %d, %v\n%s", r.code, err, r.out)
	}
	if p := reports[0]; !p.OK || len(p.Params) != 1 || p.Params[0].Name != "env" || p.Params[0].Default != "stg" || strings.Join(p.Params[0].Choices, ",") != "stg,prod" {
		t.Errorf("check -o json, good plan: %+v", p)
	}
	if b := reports[1]; b.OK || b.Error == nil || b.Error.ExitCode != exit.Usage || b.Error.Pos != "bad.star:1:5" {
		t.Errorf("check -o json, bad plan: %+v", b)
	}

	r = runPlate(t, "", false, "test", "-o", "json", dir)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	actions := []string{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("test -o json: a line that is not JSON: %q", l)
		}
		actions = append(actions, m["action"].(string))
	}
	if r.code != exit.PlanFailed || strings.Join(actions, " ") != "pass fail fail summary" ||
		!strings.Contains(lines[1], `"test":"test_bad"`) || !strings.Contains(lines[3], `"passed":1,"failed":1,"exit_code":1`) {
		t.Errorf("test -o json: exit %d\n%s", r.code, r.out)
	}

	r = runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", "json", filepath.Join(dir, "plan.star"))
	lines = strings.Split(strings.TrimSpace(r.out), "\n")
	last := lines[len(lines)-1]
	if r.code != 0 || !strings.HasPrefix(last, `{"v":1,"outcome":{"status":"ok","exit_code":0,"pass":"dry-run","changes":1,"duration_ms":`) {
		t.Errorf("run -o json does not end with the outcome: exit %d\n%s", r.code, r.out)
	}
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", "--detailed-exitcode", "-o", "json", filepath.Join(dir, "plan.star"))
	if r.code != exit.ChangesPending || !strings.Contains(r.out, `"outcome":{"status":"changes pending","exit_code":2,`) {
		t.Errorf("--detailed-exitcode outcome: exit %d\n%s", r.code, r.out)
	}
	os.WriteFile(filepath.Join(dir, "fails.star"), []byte("fail(\"no\")\n"), 0o644)
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", "json", filepath.Join(dir, "fails.star"))
	if r.code != exit.PlanFailed || !strings.Contains(r.out, `"outcome":{"status":"plan failed","exit_code":1,`) {
		t.Errorf("failed run outcome: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
