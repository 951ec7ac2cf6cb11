package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// bigValues writes, next to plan, a values file whose one value is 1.5 MB
// of random bytes in hex: Helm's record of a release with it would be
// about 2 MB after gzip and base64, more than a Secret holds.
func bigValues(t *testing.T, plan string) {
	t.Helper()
	b := make([]byte, 1500*1000)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(filepath.Dir(plan), "big.yaml"), []byte("blob: "+hex.EncodeToString(b)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

const bigPlan = `
ns = param("ns", "default")
helm_install("big", "%s", namespace = ns + "-big", values = ["big.yaml"])
`

func checkTooLarge(t *testing.T, r result) {
	t.Helper()
	if r.code != exit.Usage {
		t.Fatalf("exit %d, want 2\n%s%s", r.code, r.out, r.errOut)
	}
	for _, want := range []string{"plan.star:3:13: helm_install: release big in namespace", "its stored record would be", "more than the 1.00 MiB"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
}

// An offline dry run refuses a release whose stored record would be too
// large for Helm's Secret storage, naming the release and the position.
func TestRecordTooLargeOffline(t *testing.T) {
	plan := planFile(t, strings.Replace(bigPlan, "%s", webChartPath(t), 1))
	bigValues(t, plan)
	checkTooLarge(t, runPlate(t, "", false, "run", "--dry-run", "--offline", plan))
}

// The preflight refuses it before any write: the run makes no request that
// changes the cluster (not even the namespace the install would create).
func TestE2ERecordTooLargeRefusedBeforeAnyWrite(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, strings.Replace(bigPlan, "%s", webChartPath(t), 1))
	bigValues(t, plan)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	checkTooLarge(t, r)
	if !strings.Contains(r.out, "preflight failed: nothing was written") {
		t.Errorf("the preflight did not stop the run:\n%s", r.out)
	}
	if len(muts) != 0 {
		t.Errorf("%d writes, want none: %v", len(muts), muts)
	}
	if _, err := e.c.Clientset().CoreV1().Namespaces().Get(t.Context(), e.ns+"-big", metav1.GetOptions{}); err == nil {
		t.Errorf("namespace %s-big was created", e.ns)
	}
}

// A plan that holds more memory than --max-memory is stopped with an error
// that names the plan and the bound, at the line it was running; the
// default bound lets an ordinary plan run.
func TestMaxMemory(t *testing.T) {
	plan := planFile(t, "x = \"a\" * (1 << 24)\nkeep = [x + str(i) for i in range(200)]\n")
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "--max-memory", "256Mi", plan)
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.errOut, "plate: plan.star:2:") || !strings.Contains(r.errOut, "plan plan.star holds more than 256Mi of memory") {
		t.Errorf("stderr:\n%s", r.errOut)
	}
	if stress() {
		// The case: a two-line plan that would hold 6 GiB,
		// under the default bound.
		r := runPlate(t, "", false, "run", "--dry-run", "--offline", planFile(t, "x = \"a\" * (1 << 29)\nkeep = [x + str(i) for i in range(12)]\n"))
		if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "holds more than 2Gi of memory") {
			t.Errorf("default bound: exit %d\n%s", r.code, r.errOut)
		}
	}
	if r := runPlate(t, "", false, "run", "--dry-run", "--offline", planFile(t, "x = [str(i) for i in range(100000)]\n")); r.code != 0 {
		t.Errorf("the default bound is too low: exit %d %s", r.code, r.errOut)
	}
	if r := runPlate(t, "", false, "run", "--dry-run", "--max-memory", "lots", plan); r.code != exit.Usage || !strings.Contains(r.errOut, "--max-memory") {
		t.Errorf("a bad --max-memory: exit %d %s", r.code, r.errOut)
	}
}

// After a first install that failed before it created its objects, the
// next run's summary counts every object it creates as added (it said
// "0 added" while it created them all), in the preflight and the run.
func TestE2ECountsAfterFailedFirstInstall(t *testing.T) {
	e := newE2E(t)
	chart := t.TempDir()
	writeTree(t, chart, map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: counted\nversion: 0.1.0\n",
		"values.yaml":      "hook: false\n",
		"templates/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: counted-a}\ndata: {k: v}\n",
		"templates/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: counted-b}\ndata: {k: v}\n",
		"templates/hook.yaml": `{{ if .Values.hook }}
apiVersion: batch/v1
kind: Job
metadata:
  name: counted-hook
  annotations: {"helm.sh/hook": pre-install, "helm.sh/hook-delete-policy": before-hook-creation}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {"plate.dev/ready-delay": "600s"}
    spec:
      restartPolicy: Never
      containers: [{name: m, image: registry.example/migrate:1}]
{{ end }}
`,
	})
	first := e.plan(t, `
ns = param("ns", "default")
helm_install("counted", "`+chart+`", namespace = ns, set = {"hook": True}, timeout = "3s")
`)
	if r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, first); r.code != exit.Timeout {
		t.Fatalf("first run: exit %d, want 3\n%s%s", r.code, r.out, r.errOut)
	}
	if h := e.history(t, "counted"); len(h) != 1 || h[0].Status != "failed" {
		t.Fatalf("history after the failed install: %+v", h)
	}
	second := e.plan(t, `
ns = param("ns", "default")
helm_install("counted", "`+chart+`", namespace = ns)
`)
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, second)
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if n := strings.Count(r.out, "upgrade rev 1→2 (0 changed, 2 added, 0 removed"); n != 2 {
		t.Errorf("the preflight and the run should each count 2 added:\n%s", r.out)
	}
	for _, name := range []string{"counted-a", "counted-b"} {
		if _, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A plan stopped by the memory bound in its preflight writes nothing, also
// what it asked for before the line that took the memory.
func TestE2EMaxMemoryWritesNothing(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "before-hog"}, "data": {"k": "v"}}, namespace = ns)
x = "a" * (1 << 24)
keep = [x + str(i) for i in range(200)]
`)
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--yes", "--max-memory", "256Mi", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	})
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "plate: plan.star:5:") || !strings.Contains(r.errOut, "holds more than 256Mi of memory") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "preflight failed: nothing was written") {
		t.Errorf("the preflight did not stop the run:\n%s", r.out)
	}
	if len(muts) != 0 {
		t.Errorf("%d writes, want none: %v", len(muts), muts)
	}
}
