package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// plate init scaffolds a project in a fresh directory outside any
// repository; the scaffold passes plate check (no warnings) and plate test,
// and its dry run resolves the values paths the plan hands to the helper
// against the plan (the caller), not the helper's file. A second init
// writes nothing.
func TestInitScaffold(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deploys")
	r := runPlate(t, "", false, "init", dir)
	if r.code != 0 || !strings.Contains(r.out, "wrote a plate project in "+dir) {
		t.Fatalf("init: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for name := range scaffold {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("init did not write %s", name)
		}
	}
	r = runPlate(t, "", false, "check", filepath.Join(dir, "plans/deploy.star"))
	if r.code != 0 || r.errOut != "" || !strings.Contains(r.out, "-p env      string  default staging  (staging|production)") {
		t.Errorf("check: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runPlate(t, "", false, "test", filepath.Join(dir, "plans"))
	if r.code != 0 || !strings.Contains(r.out, "4 passed, 0 failed") {
		t.Errorf("test: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", "-v", filepath.Join(dir, "plans/deploy.star"), "-p", "env=production", "--yes")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{
		"hello-production/api  helm_install  would install or upgrade service 0.1.0",
		// The line shows the plan's call; -v the helper's.
		"plans/deploy.star:19\n         in a helper at plans/lib/service.star:",
		`values=["../values/production/api.yaml"]`,
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.out)
		}
	}

	// A second init changes nothing.
	plan := filepath.Join(dir, "plans/deploy.star")
	if err := os.WriteFile(plan, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "README.md"))
	r = runPlate(t, "", false, "init", dir)
	if r.code != exit.Usage || !strings.Contains(r.errOut, "already has .plateroot, charts/service/Chart.yaml") || !strings.Contains(r.errOut, "nothing was written") {
		t.Errorf("second init: exit %d\n%s", r.code, r.errOut)
	}
	if b, _ := os.ReadFile(plan); string(b) != "# mine\n" {
		t.Errorf("init overwrote the plan")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
		t.Errorf("a refused init wrote README.md")
	}
}
