package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/localcluster"
)

// hookedPlan is a plan of a chart whose pre-upgrade hook Job never
// completes with -p slow=true (its pod stays running on the local
// cluster), so that a test can interrupt or kill an upgrade in the middle.
func hookedPlan(t *testing.T, e *e2e) string {
	t.Helper()
	chart := hookChart(t, "hooked", "pre-upgrade", "slow: false\n", `
        plate.dev/hook: migrate
        {{- if .Values.slow }}
        plate.dev/simulate: never-ready
        {{- end }}`)
	return e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
msg = param("msg", "a")
slow = param("slow", False)
helm_install("hooked", %q, namespace = ns, set = {"msg": msg, "slow": slow}, timeout = "3m")
`, chart))
}

// hookChart writes a chart named name: a ConfigMap with .Values.msg, and a
// Job hook of phase whose pod carries podAnnotations (a YAML mapping body
// under "annotations:", in flow or block style). values is added to
// "msg: a".
func hookChart(t *testing.T, name, phase, values, podAnnotations string) string {
	t.Helper()
	chart := t.TempDir()
	writeTree(t, chart, map[string]string{
		"Chart.yaml":        "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\nappVersion: \"1.0\"\n",
		"values.yaml":       "msg: a\n" + values,
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {msg: {{ .Values.msg | quote }}}\n",
		"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: ` + name + `-hook
  annotations: {"helm.sh/hook": ` + phase + `, "helm.sh/hook-delete-policy": before-hook-creation}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:` + podAnnotations + `
    spec:
      restartPolicy: Never
      containers: [{name: m, image: registry.example/migrate:1}]
`,
	})
	return chart
}

// writeTree writes files (slash-separated paths) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitStatus waits until release name has a stored revision with status.
func waitStatus(t *testing.T, e *e2e, name, status string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := e.c.Clientset().CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name + ",status=" + status})
		if err == nil && len(l.Items) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("release %s never reached %s", name, status)
}

func (e *e2e) history(t *testing.T, name string) []helm.Revision {
	t.Helper()
	info, err := e.helmClient(t).Get(context.Background(), name, e.ns)
	if err != nil || info == nil {
		t.Fatalf("release %s: %v", name, err)
	}
	return info.History
}

func statuses(h []helm.Revision) string {
	var out []string
	for _, r := range h {
		out = append(out, fmt.Sprintf("%d:%s", r.Revision, r.Status))
	}
	return strings.Join(out, " ")
}

// SIGINT during an upgrade (in its pre-upgrade hook) cancels the run's
// context: Helm marks the revision failed, nothing is left pending, plate
// prints what was done and how to roll back, exits 130; the next run
// succeeds.
func TestE2EInterruptDuringUpgrade(t *testing.T) {
	e := newE2E(t)
	plan := hookedPlan(t, e)
	base := []string{"run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns=" + e.ns}
	mustRun(t, runPlateNow(t, "", false, append(base, plan)...), "install")

	io, out, errOut := iostreamsTest()
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: time.Now, Plugins: registry.Plugins,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int)
	go func() { done <- Main(append(base, "-p", "msg=b", "-p", "slow=true", plan), f) }()
	waitStatus(t, e, "hooked", helm.StatusPendingUpgrade, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // well inside the hook
	start := time.Now()
	close(intr)
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted run did not stop")
	}
	if code != exit.Interrupted {
		t.Fatalf("exit %d, want 130\n%s%s", code, out, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to stop after the interrupt", d)
	}
	if got := statuses(e.history(t, "hooked")); got != "1:deployed 2:failed" {
		t.Errorf("history after the interrupt: %s", got)
	}
	for _, want := range []string{
		"plate: interrupted; what this run did before it stopped:",
		e.ns + "/hooked  interrupted  s1 helm_install",
		"upgrade of hooked in namespace " + e.ns + " to rev 2: interrupted",
		"not run: the rest of the plan",
		"plate rollback hooked -n " + e.ns,
		"hooked in " + e.ns + ": helm_install interrupted; now: rev 2 (failed), made by the helm_install that did not finish",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("interrupt report lacks %q:\n%s", want, errOut)
		}
	}
	r := runPlateNow(t, "", false, append(base, "-p", "msg=c", plan)...)
	mustRun(t, r, "rerun")
	if got := statuses(e.history(t, "hooked")); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history after the rerun: %s", got)
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// plateBinary builds the plate binary once per test binary.
func plateBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plate-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "plate")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// A plate process killed (SIGKILL) in the middle of an upgrade leaves the
// release in pending-upgrade: plate history and plate status show it, the
// next run is refused with the recover hint and writes nothing, plate
// recover needs a confirmation (exit 4 and no write without one), then
// marks the revision failed and rolls back; the plan then succeeds.
func TestE2ERecoverKilledUpgrade(t *testing.T) {
	e := newE2E(t)
	bin := plateBinary(t)
	plan := hookedPlan(t, e)
	base := []string{"run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns=" + e.ns}
	mustRun(t, runPlateNow(t, "", false, append(base, plan)...), "install")

	cmd := exec.Command(bin, append(base, "-p", "msg=b", "-p", "slow=true", plan)...)
	var sub strings.Builder
	cmd.Stdout, cmd.Stderr = &sub, &sub
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, "hooked", helm.StatusPendingUpgrade, 90*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if got := statuses(e.history(t, "hooked")); got != "1:deployed 2:pending-upgrade" {
		t.Fatalf("history after the kill: %s\n%s", got, sub.String())
	}

	r := runPlateNow(t, "", false, "history", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig)
	mustRun(t, r, "history")
	for _, want := range []string{"REVISION  UPDATED", "STATUS", "APP VERSION", "DESCRIPTION", "pending-upgrade", "hooked-0.1.0",
		"release hooked in namespace " + e.ns + " is pending-upgrade at rev 2: an install, upgrade or rollback is in progress or was interrupted, started ",
		"once no plate or helm process works on it any more: plate recover hooked -n " + e.ns} {
		if !strings.Contains(r.out, want) {
			t.Errorf("history lacks %q:\n%s", want, r.out)
		}
	}
	rj := runPlateNow(t, "", false, "history", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig, "-o", "json")
	var hist historyReport
	if err := json.Unmarshal([]byte(rj.out), &hist); err != nil || !hist.Pending || len(hist.History) != 2 || !strings.Contains(hist.Hint, "plate recover") {
		t.Errorf("history -o json: %v %+v", err, hist)
	}
	r = runPlateNow(t, "", false, "status", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig)
	if !strings.Contains(r.out, "pending-upgrade") {
		t.Errorf("status does not show the pending release:\n%s%s", r.out, r.errOut)
	}

	// The next run is refused, with the hint, before any write.
	muts := e.mutations(t, func() {
		r = runPlateNow(t, "", false, append(base, "-p", "msg=c", plan)...)
	})
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "is pending-upgrade at rev 2: an install, upgrade or rollback is in progress or was interrupted, started ") ||
		!strings.Contains(r.errOut, ", holder ") || !strings.Contains(r.errOut, "(its process no longer runs on this host)") || !strings.Contains(r.errOut, "plate recover hooked -n "+e.ns) {
		t.Errorf("run on a pending release: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("the refused run made %d mutating requests: %+v", len(muts), muts)
	}

	// recover without a terminal and without --yes: exit 4, no write.
	muts = e.mutations(t, func() {
		r = runPlateNow(t, "", false, "recover", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns)
	})
	if r.code != exit.Aborted || !strings.Contains(r.errOut, "pass --yes") || len(muts) != 0 {
		t.Fatalf("unconfirmed recover: exit %d, %d mutations\n%s%s", r.code, len(muts), r.out, r.errOut)
	}
	for _, want := range []string{"rev 2 is pending-upgrade, started", "would mark rev 2 (pending-upgrade) failed; would roll back rev 2→3 (restores rev 1;",
		"run lock: ", "(its process no longer runs on this host)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("recover preview lacks %q:\n%s", want, r.out)
		}
	}
	r = runPlateNow(t, "", false, "recover", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig, "--yes")
	mustRun(t, r, "recover")
	if !strings.Contains(r.out, "marked rev 2 (pending-upgrade) failed; rollback rev 2→3 (restores rev 1;") || !strings.Contains(r.out, "the next run can proceed") {
		t.Errorf("recover output:\n%s", r.out)
	}
	if got := statuses(e.history(t, "hooked")); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history after recover: %s", got)
	}
	r = runPlateNow(t, "", false, "recover", "hooked", "-n", e.ns, "--kubeconfig", e.kubeconfig)
	if r.code != 0 || !strings.Contains(r.out, "nothing to recover: rev 3 is deployed") {
		t.Errorf("second recover: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	mustRun(t, runPlateNow(t, "", false, append(base, "-p", "msg=c", plan)...), "run after recover")
	if got := statuses(e.history(t, "hooked")); got != "1:superseded 2:failed 3:superseded 4:deployed" {
		t.Errorf("history after the rerun: %s", got)
	}
}

// plate rollback shows what it would do, is confirmed (exit 4 and no write
// without --yes and a terminal), restores the last good revision or --to;
// plate history lists the revisions.
func TestE2ERollbackAndHistory(t *testing.T) {
	e := newE2E(t)
	plan, _ := shopPlan(t, e)
	kc := []string{"--kubeconfig", e.kubeconfig}
	mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, plan}, kc...)...), "install")
	mustRun(t, runPlateNow(t, "", false, append([]string{"run", "-p", "ns=" + e.ns, "-p", "msg=v2", plan}, kc...)...), "upgrade")

	r := runPlateNow(t, "", false, append([]string{"history", "shop", "-n", e.ns}, kc...)...)
	mustRun(t, r, "history")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "superseded") || !strings.Contains(lines[2], "deployed") || !strings.Contains(lines[2], "Upgrade complete") || !strings.Contains(lines[2], "web-0.1.0  1.0.0") {
		t.Errorf("history:\n%s", r.out)
	}

	var rr result
	muts := e.mutations(t, func() {
		rr = runPlateNow(t, "", false, append([]string{"rollback", "shop", "-n", e.ns, "-v"}, kc...)...)
	})
	if rr.code != exit.Aborted || len(muts) != 0 || !strings.Contains(rr.errOut, "pass --yes") {
		t.Fatalf("unconfirmed rollback: exit %d, %d mutations\n%s%s", rr.code, len(muts), rr.out, rr.errOut)
	}
	for _, want := range []string{"would roll back rev 2→3 (restores rev 1; 2 changed, 0 added, 0 removed)", "~ ConfigMap/" + e.ns + "/shop-web changed", "-  MESSAGE: v2", "+  MESSAGE: good"} {
		if !strings.Contains(rr.out, want) {
			t.Errorf("rollback preview lacks %q:\n%s", want, rr.out)
		}
	}
	if strings.Contains(rr.out, "S3CRET") {
		t.Errorf("a secret in the rollback preview:\n%s", rr.out)
	}
	r = runPlateNow(t, "y\n", true, append([]string{"rollback", "shop", "-n", e.ns}, kc...)...)
	mustRun(t, r, "rollback")
	if !strings.Contains(r.out, "shop in "+e.ns+": rollback rev 2→3 (restores rev 1;") {
		t.Errorf("rollback output:\n%s", r.out)
	}
	r = runPlateNow(t, "", false, append([]string{"rollback", "shop", "-n", e.ns, "--to", "2", "--yes", "-o", "json"}, kc...)...)
	mustRun(t, r, "rollback --to 2")
	var res helm.RollbackResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || res.Restores != 2 || res.Release.Revision != 4 {
		t.Errorf("rollback -o json: %v %+v\n%s", err, res, r.out)
	}
	if got := statuses(e.history(t, "shop")); got != "1:superseded 2:superseded 3:superseded 4:deployed" {
		t.Errorf("history: %s", got)
	}
	r = runPlateNow(t, "", false, append([]string{"history", "nope", "-n", e.ns}, kc...)...)
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "no release nope in namespace "+e.ns) {
		t.Errorf("history of a missing release: exit %d %s", r.code, r.errOut)
	}
	r = runPlateNow(t, "", false, append([]string{"rollback", "shop", "-n", e.ns, "--to", "9", "--yes"}, kc...)...)
	if r.code != exit.Usage || !strings.Contains(r.errOut, "revision 9 is not in the release history") {
		t.Errorf("rollback to a missing revision: exit %d %s", r.code, r.errOut)
	}
}

// plate recover does not break an operation that is still running: while a
// plate run upgrades a release (in a pre-upgrade hook that does not end,
// the revision pending-upgrade, the run's lock live) recover refuses, exit
// 1, naming the run, and writes nothing (audit log), --yes or not;
// --force recovers it, taking over the run's lock; the run, interrupted
// then, leaves the release as recover made it.
func TestE2ERecoverRefusesALiveOperation(t *testing.T) {
	e := newE2E(t)
	const other = "plate-e2e-recover"
	kc2 := filepath.Join(t.TempDir(), "kubeconfig")
	if err := e.c.WriteKubeconfigAs(kc2, other, "system:masters"); err != nil {
		t.Fatal(err)
	}
	plan := hookedPlan(t, e)
	base := []string{"run", "--kubeconfig", e.kubeconfig, "--lock-namespace", e.ns, "-p", "ns=" + e.ns}
	mustRun(t, runPlateNow(t, "", false, append(base, plan)...), "install")

	io, out, errOut := iostreamsTest()
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: time.Now, Plugins: registry.Plugins,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	done := make(chan int)
	go func() { done <- Main(append(base, "-p", "msg=b", "-p", "slow=true", plan), f) }()
	waitStatus(t, e, "hooked", helm.StatusPendingUpgrade, 60*time.Second)

	recoverArgs := []string{"recover", "hooked", "-n", e.ns, "--kubeconfig", kc2, "--lock-namespace", e.ns}
	for _, yes := range []bool{false, true} {
		args := recoverArgs
		if yes {
			args = append(args, "--yes")
		}
		var r result
		w := e.c.BeginAudit()
		r = runPlateNow(t, "", false, args...)
		muts, err := w.Mutations(context.Background(), localcluster.AuditFilter{Users: []string{other}})
		if err != nil {
			t.Fatal(err)
		}
		if r.code != exit.PlanFailed || len(muts) != 0 {
			t.Fatalf("recover (yes=%v) of a live operation: exit %d, %d writes %+v\n%s%s", yes, r.code, len(muts), muts, r.out, r.errOut)
		}
		for _, want := range []string{
			"rev 2 is pending-upgrade, started ",
			"run lock: ",
			"(a live plate run: its lock " + e.ns + "/plate-release-hooked is renewed)",
		} {
			if !strings.Contains(r.out, want) {
				t.Errorf("recover preview lacks %q:\n%s", want, r.out)
			}
		}
		for _, want := range []string{
			"recover hooked refused: a plate run holds the release's lock and may still be working on rev 2: ",
			"less than 5 minutes ago",
			"nothing was changed",
			"plate recover --force",
		} {
			if !strings.Contains(r.errOut, want) {
				t.Errorf("refusal lacks %q:\n%s", want, r.errOut)
			}
		}
	}
	if got := statuses(e.history(t, "hooked")); got != "1:deployed 2:pending-upgrade" {
		t.Fatalf("history after the refusals: %s", got)
	}

	r := runPlateNow(t, "", false, append(recoverArgs, "--yes", "--force")...)
	mustRun(t, r, "recover --force")
	for _, want := range []string{"warning: --force: a plate run holds the release's lock", "marked rev 2 (pending-upgrade) failed; rollback rev 2→3 (restores rev 1;"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("recover --force output lacks %q:\n%s", want, r.out)
		}
	}
	if !strings.Contains(r.errOut, "took over the run lock "+e.ns+"/plate-release-hooked of a live run (--force)") {
		t.Errorf("recover --force does not say it took the lock:\n%s", r.errOut)
	}

	close(intr)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the run did not stop\n%s%s", out, errOut)
	}
	if got := statuses(e.history(t, "hooked")); got != "1:superseded 2:failed 3:deployed" {
		t.Errorf("history after recover --force and the run's end: %s\n%s", got, errOut)
	}
	for _, want := range []string{
		"plate: interrupted, and this run had lost its lock; what this run did before it stopped:",
		"hooked in " + e.ns + ": helm_install interrupted; now: rev 3 (deployed) belongs to another run\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("the run's stop report lacks %q:\n%s", want, errOut)
		}
	}
}
