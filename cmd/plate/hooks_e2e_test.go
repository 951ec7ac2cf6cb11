package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/exit"
)

// A post-install hook whose image cannot be pulled fails the install within
// seconds (not at the install timeout), naming the hook, its phase and its
// pod's reason.
func TestE2EFailingHookFailsFast(t *testing.T) {
	e := newE2E(t)
	chart := hookChart(t, "badhook", "post-install", "", ` {"plate.dev/simulate": "image-pull-backoff"}`)
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
helm_install("badhook", %q, namespace = ns, timeout = "5m")
`, chart))
	start := time.Now()
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	took := time.Since(start)
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exit.PlanFailed, r.out, r.errOut)
	}
	for _, want := range []string{"the post-install hook Job/badhook-hook (weight 0) failed", "ImagePullBackOff"} {
		if !strings.Contains(r.out+r.errOut, want) {
			t.Errorf("output lacks %q:\n%s%s", want, r.out, r.errOut)
		}
	}
	if took > 2*time.Minute {
		t.Errorf("the failing hook took %s to fail the install (timeout 5m)", took.Round(time.Second))
	}
	t.Logf("failing hook reported after %s:\n%s", took.Round(time.Millisecond), r.errOut)
}

// A hook that never finishes: the timeout names the hook and its phase.
func TestE2EHookTimeoutNamesHook(t *testing.T) {
	e := newE2E(t)
	chart := hookChart(t, "slowhook", "pre-install", "", ` {"plate.dev/simulate": "never-ready"}`)
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
helm_install("slowhook", %q, namespace = ns, timeout = "5s")
`, chart))
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	if r.code != exit.Timeout {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exit.Timeout, r.out, r.errOut)
	}
	if !strings.Contains(r.out+r.errOut, "during the pre-install hook Job/slowhook-hook (weight 0)") {
		t.Errorf("the timeout does not name the hook:\n%s%s", r.out, r.errOut)
	}
}

// webhookChart writes a chart like MetalLB's: a controller Deployment that
// serves a validating webhook (failurePolicy Fail) for the ConfigMaps of
// its namespace labelled plate.dev/validated, through a Service. Its pod
// turns ready only after readyDelay.
func webhookChart(t *testing.T, readyDelay string) string {
	t.Helper()
	chart := t.TempDir()
	writeTree(t, chart, map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: guard\nversion: 0.1.0\n",
		"templates/controller.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: guard-controller}
spec:
  replicas: 1
  selector: {matchLabels: {app: guard}}
  template:
    metadata:
      labels: {app: guard}
      annotations: {"plate.dev/ready-delay": "` + readyDelay + `"}
    spec:
      containers:
      - name: controller
        image: registry.example/guard:1
        ports: [{name: webhook-server, containerPort: 9443}]
---
apiVersion: v1
kind: Service
metadata: {name: guard-webhook}
spec:
  selector: {app: guard}
  ports: [{port: 443, targetPort: webhook-server}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: {{ .Release.Namespace }}-guard}
webhooks:
- name: configmaps.guard.plate.dev
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    service: {name: guard-webhook, namespace: {{ .Release.Namespace }}, path: /validate}
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: {{ .Release.Namespace }}}}
  objectSelector: {matchLabels: {plate.dev/validated: "yes"}}
  rules:
  - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["configmaps"]}
`,
	})
	return chart
}

// Configuration applied right after its validating webhook's chart, before
// the webhook's pod is ready, is retried until the webhook answers; a
// webhook's denial fails at once.
func TestE2EApplyRetriedUntilWebhookReady(t *testing.T) {
	e := newE2E(t)
	chart := webhookChart(t, "4s")
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
deny = param("deny", False)
helm_install("guard", %q, namespace = ns)
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pool", "labels": {"plate.dev/validated": "yes"},
            "annotations": {"plate.dev/webhook": "deny" if deny else "allow"}}, "data": {"addresses": "127.240.0.0/24"}}, namespace = ns)
`, chart))
	start := time.Now()
	r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if took < 3*time.Second {
		t.Errorf("the run took %s: the webhook's pod was ready before the apply, nothing was retried", took)
	}
	recs, err := e.c.AdmissionReviews()
	if err != nil {
		t.Fatal(err)
	}
	admitted := false
	for _, rec := range recs {
		if rec.Namespace == e.ns && rec.Name == "pool" && rec.Allowed && !rec.DryRun {
			admitted = true
		}
	}
	if !admitted {
		t.Errorf("the ConfigMap was not admitted by the webhook: %+v", recs)
	}

	// Denied by the webhook: fails at once, nothing retried.
	start = time.Now()
	r = runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "deny=true", plan)
	if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "denied the request") {
		t.Fatalf("denied apply: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("a denial took %s to fail", d.Round(time.Second))
	}
}

// The dry run lists a release's hooks (kind, name, phase, weight) and
// shows how they change.
func TestE2EDryRunListsAndDiffsHooks(t *testing.T) {
	e := newE2E(t)
	plan := hookedPlan(t, e)
	if r := runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan); r.code != 0 {
		t.Fatalf("install: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	var r result
	muts := e.mutations(t, func() {
		r = runPlate(t, "", false, "run", "--dry-run", "-v", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "slow=true", plan)
	})
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("the dry run wrote: %+v", muts)
	}
	for _, want := range []string{
		"hooks changed",
		"Job/hooked-hook (pre-upgrade, weight 0)",
		"~ Job/" + e.ns + "/hooked-hook changed",
		"+        plate.dev/simulate: never-ready",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.out)
		}
	}
}
