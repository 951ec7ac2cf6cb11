package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
)

// The everyday verbs on the local control plane: completion of release
// names and namespaces, a plan of two releases
// run with a selector (only the selected release changes), plate list (-n,
// -A, -o json), plate history without -n (finds the namespace), plate
// rollback --dry-run (no write), a positional revision with --wait, plate
// release-test (the chart's test hook), and plate uninstall (--dry-run
// writes nothing, without --yes and without a terminal nothing is removed,
// with --yes the release is gone).
func TestE2EEverydayVerbs(t *testing.T) {
	e := newE2E(t)
	chartA := hookChart(t, "vta", "test", "", ` {"plate.dev/ready-delay": "1s"}`)
	chartB := hookChart(t, "vtb", "test", "", "")
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
msg = param("msg", "a")
a = helm_install("vta", %q, namespace = ns, set = {"msg": msg})
b = helm_install("vtb", %q, namespace = ns, set = {"msg": msg})
wait_ready(a)
wait_ready(b)
`, chartA, chartB))
	kc := []string{"--kubeconfig", e.kubeconfig}
	run := append([]string{"run", "--lock-namespace", e.ns, "-p", "ns=" + e.ns}, kc...)
	mustRun(t, runPlateNow(t, "", false, append(run, plan)...), "install")

	// Completion reads release names and namespaces from the cluster.
	if got := strings.Join(complete(t, "rollback", "--kubeconfig", e.kubeconfig, "-n", e.ns, "vt"), " "); got != "vta vtb" {
		t.Errorf("release names: %q", got)
	}
	if got := complete(t, "uninstall", "--kubeconfig", e.kubeconfig, "-n", e.ns, "vta", ""); len(got) != 0 {
		t.Errorf("a second release name: %q", got)
	}
	if got := complete(t, "list", "--kubeconfig", e.kubeconfig, "-n", e.ns); len(got) != 1 || got[0] != e.ns {
		t.Errorf("namespaces: %q", got)
	}

	// Selector: only vta is upgraded; vtb's steps are skipped, and say so.
	r := runPlateNow(t, "", false, append(run, "-p", "msg=b", "-l", "name=vta", plan)...)
	mustRun(t, r, "run -l name=vta")
	for _, want := range []string{
		"== run of plan.star (only the releases selected by -l name=vta)",
		e.ns + "/vtb  helm_install  not selected by -l name=vta: left as it is",
		e.ns + "/vtb  wait_ready  not selected by -l name=vta: left as it is",
		e.ns + "/vta  helm_install  upgrade rev 1→2",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("selected run lacks %q:\n%s", want, r.out)
		}
	}
	if got := statuses(e.history(t, "vtb")); got != "1:deployed" {
		t.Errorf("vtb was changed by a run that selected vta only: %s", got)
	}
	if got := statuses(e.history(t, "vta")); got != "1:superseded 2:deployed" {
		t.Errorf("vta: %s", got)
	}

	// list
	r = runPlateNow(t, "", false, append([]string{"list", "-n", e.ns}, kc...)...)
	mustRun(t, r, "list")
	if !strings.HasPrefix(r.out, "NAME  ") || !strings.Contains(r.out, "vta   "+e.ns+"  2 ") || !strings.Contains(r.out, "vtb   "+e.ns+"  1 ") {
		t.Errorf("list:\n%s", r.out)
	}
	r = runPlateNow(t, "", false, append([]string{"list", "-A", "-o", "json"}, kc...)...)
	mustRun(t, r, "list -A -o json")
	var entries []helm.ListEntry
	if err := json.Unmarshal([]byte(r.out), &entries); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, r.out)
	}
	found := 0
	for _, en := range entries {
		if en.Namespace == e.ns && (en.Name == "vta" || en.Name == "vtb") {
			found++
		}
	}
	if found != 2 {
		t.Errorf("list -A lacks the test releases: %s", r.out)
	}

	// history without -n finds the namespace that has the release.
	r = runPlateNow(t, "", false, append([]string{"history", "vta"}, kc...)...)
	mustRun(t, r, "history without -n")
	if !strings.Contains(r.out, "superseded") || !strings.Contains(r.out, "deployed") {
		t.Errorf("history:\n%s", r.out)
	}

	// rollback --dry-run writes nothing.
	var muts int
	m := e.mutations(t, func() {
		r = runPlateNow(t, "", false, append([]string{"rollback", "vta", "-n", e.ns, "--dry-run"}, kc...)...)
	})
	muts = len(m)
	if r.code != 0 || !strings.Contains(r.out, "would roll back rev 2→3 (restores rev 1") || !strings.Contains(r.out, "dry run: nothing was changed") || muts != 0 {
		t.Errorf("rollback --dry-run: exit %d, %d writes\n%s%s", r.code, muts, r.out, r.errOut)
	}
	// A positional revision, and --wait.
	r = runPlateNow(t, "", false, append([]string{"rollback", "vta", "1", "-n", e.ns, "--yes", "--wait"}, kc...)...)
	mustRun(t, r, "rollback vta 1 --wait")
	if !strings.Contains(r.out, "vta in "+e.ns+": rollback rev 2→3 (restores rev 1") || !strings.Contains(r.out, "vta in "+e.ns+": rev 3 ready (") {
		t.Errorf("rollback --wait:\n%s", r.out)
	}
	if r := runPlateNow(t, "", false, append([]string{"rollback", "vta", "x", "-n", e.ns}, kc...)...); r.code != exit.Usage || !strings.Contains(r.errOut, `REVISION: want a positive revision number (see plate history), got "x"`) {
		t.Errorf("bad revision: exit %d\n%s", r.code, r.errOut)
	}

	// release-test runs the chart's test hook.
	r = runPlateNow(t, "", false, append([]string{"release-test", "vta", "-n", e.ns}, kc...)...)
	mustRun(t, r, "release-test")
	if !strings.Contains(r.out, "vta in "+e.ns+" on ") || !strings.Contains(r.out, "rev 3: 1 test hook passed") || !strings.Contains(r.out, "Job/vta-hook  Succeeded") {
		t.Errorf("release-test:\n%s", r.out)
	}

	// uninstall: --dry-run and a refused confirmation write nothing.
	m = e.mutations(t, func() {
		r = runPlateNow(t, "", false, append([]string{"uninstall", "vtb", "-n", e.ns, "--dry-run"}, kc...)...)
	})
	if r.code != 0 || !strings.Contains(r.out, "would uninstall rev 1 (1 object)") || !strings.Contains(r.out, "ConfigMap/"+e.ns+"/vtb") || len(m) != 0 {
		t.Errorf("uninstall --dry-run: exit %d, %d writes\n%s%s", r.code, len(m), r.out, r.errOut)
	}
	m = e.mutations(t, func() {
		r = runPlateNow(t, "", false, append([]string{"uninstall", "vtb", "-n", e.ns}, kc...)...)
	})
	if r.code != exit.Aborted || !strings.Contains(r.errOut, "pass --yes") || len(m) != 0 {
		t.Errorf("uninstall without --yes: exit %d, %d writes\n%s", r.code, len(m), r.errOut)
	}
	r = runPlateNow(t, "", false, append([]string{"uninstall", "vtb", "-n", e.ns, "--yes"}, kc...)...)
	mustRun(t, r, "uninstall --yes")
	if !strings.Contains(r.out, "vtb in "+e.ns+": uninstall rev 1") {
		t.Errorf("uninstall:\n%s", r.out)
	}
	r = runPlateNow(t, "", false, append([]string{"list", "-n", e.ns}, kc...)...)
	if strings.Contains(r.out, "vtb") || !strings.Contains(r.out, "vta") {
		t.Errorf("list after the uninstall:\n%s", r.out)
	}
	// Nothing left to uninstall: exit 0, nothing asked.
	r = runPlateNow(t, "", false, append([]string{"uninstall", "vtb", "-n", e.ns}, kc...)...)
	if r.code != 0 || !strings.Contains(r.out, "vtb in "+e.ns+" on ") || !strings.Contains(r.out, ": absent") {
		t.Errorf("uninstall of an absent release: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
