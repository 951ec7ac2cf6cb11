package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// The rules that used to be written once per builtin family and had
// drifted apart, each checked where a user meets it: on the command line.

// Offline, every change is reported as what it would be: kube_delete like
// helm_uninstall (it used to fail with a usage error).
func TestOfflineDeletesAreReportedLikeUninstalls(t *testing.T) {
	plan := planFile(t, `
print("deleted:", kube_delete("deployment", "old-api", namespace = "shop"))
print("uninstalled:", helm_uninstall("old-web", namespace = "shop"))
`)
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{
		"would delete deployment/old-api (offline: the cluster was not read)",
		"would uninstall old-web (offline: the release was not read)",
		"deleted: True",
		"uninstalled: True",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
}

// One set of argument types: every duration parameter takes a
// time.duration (wait_ready used to refuse what helm_install took).
func TestDurationsAcceptTimeDurationEverywhere(t *testing.T) {
	plan := planFile(t, `
r = wait_ready("deployment/api", namespace = "shop", timeout = time.minute, lb_timeout = time.second * 30,
               image_pull_grace = 20, container_error_grace = "5s")
print("planned", r.objects[0]["state"])
`)
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "would wait up to 1m0s for Deployment/shop/api") || !strings.Contains(r.out, "planned Planned") {
		t.Errorf("output:\n%s", r.out)
	}
}

// None means "not given" for every optional parameter (the defaults the
// signatures show), through starlark's "??".
func TestNoneMeansNotGiven(t *testing.T) {
	plan := planFile(t, `
r = wait_ready("deployment/api", namespace = None, timeout = None, selector = None, crash_loop_restarts = None)
print("namespace", r.objects[0]["namespace"])
print("confirm", confirm("go?", default = None))
`)
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "-n", "team-a", plan)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "namespace team-a") || !strings.Contains(r.out, "would wait up to 5m0s") {
		t.Errorf("output:\n%s", r.out)
	}
}

// One default-namespace rule, validated the same way by every builtin that
// takes a namespace.
func TestEveryBuiltinValidatesItsNamespace(t *testing.T) {
	for _, call := range []string{
		`kube_get("secret", "x", namespace = "Bad_NS")`,
		`kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, namespace = "Bad_NS")`,
		`kube_delete("secret", "x", namespace = "Bad_NS")`,
		`wait_ready("deployment/api", namespace = "Bad_NS")`,
		`health_check(namespaces = "Bad_NS")`,
		`status(namespace = "Bad_NS")`,
		`helm_release("x", namespace = "Bad_NS")`,
		`helm_uninstall("x", namespace = "Bad_NS")`,
		`helm_rollback("x", namespace = "Bad_NS")`,
		`backup("x", namespace = "Bad_NS")`,
	} {
		t.Run(call, func(t *testing.T) {
			r := runPlate(t, "", false, "run", "--dry-run", "--offline", planFile(t, call+"\n"))
			name, _, _ := strings.Cut(call, "(")
			want := name + `: namespace "Bad_NS" is not a valid name`
			if r.code != exit.Usage || !strings.Contains(r.errOut, "plan.star:1:") || !strings.Contains(r.errOut, want) {
				t.Errorf("exit %d, want %d and %q:\n%s", r.code, exit.Usage, want, r.errOut)
			}
		})
	}
	// -n is checked by the same rule.
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "-n", "x.y", planFile(t, `kube_get("secret", "x")`+"\n"))
	if r.code != exit.Usage || !strings.Contains(r.errOut, `kube_get: namespace "x.y" is not a valid name`) {
		t.Errorf("-n x.y: exit %d:\n%s", r.code, r.errOut)
	}
}

// A dry run's backup writes no file, not even the directory: its writer
// goes through the pass's file system, which only plans.
func TestOfflineBackupWritesNothing(t *testing.T) {
	plan := planFile(t, `backup("shop", namespace = "shop", dest = "keep")`+"\n")
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != 0 || !strings.Contains(r.out, "would back up shop to keep/") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(plan), "keep")); !os.IsNotExist(err) {
		t.Errorf("the dry run made the backups directory: %v", err)
	}
}

// --detailed-exitcode: a dry run exits 0 when nothing would change and 2
// when changes are pending, read from the steps' typed change records.
func TestDetailedExitcodeOffline(t *testing.T) {
	reads := planFile(t, `print(kube_get("secret", "x", namespace = "shop"))`+"\n")
	if r := runPlate(t, "", false, "run", "--dry-run", "--offline", "--detailed-exitcode", reads); r.code != 0 {
		t.Errorf("a plan that only reads: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	writes := planFile(t, `kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, namespace = "shop")`+"\n")
	if r := runPlate(t, "", false, "run", "--dry-run", "--offline", "--detailed-exitcode", writes); r.code != exit.ChangesPending || r.errOut != "" {
		t.Errorf("a plan that applies: exit %d, want %d and no error\n%s%s", r.code, exit.ChangesPending, r.out, r.errOut)
	}
	if r := runPlate(t, "", false, "run", "--detailed-exitcode", writes); r.code != exit.Usage || !strings.Contains(r.errOut, "--detailed-exitcode goes with --dry-run") {
		t.Errorf("without --dry-run: exit %d\n%s", r.code, r.errOut)
	}
}
