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
