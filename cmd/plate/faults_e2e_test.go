package main

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server restarts while wait_ready watches a rollout: the watches
// are established again, the wait ends ready, and Helm's history holds the
// one revision the run made (no duplicate, none lost).
func TestE2EWaitRidesOutAnAPIServerRestart(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
rel = helm_install("slowweb", "`+webChartPath(t)+`", namespace = ns, set = {"podAnnotations": {"plate.dev/ready-delay": "6s"}})
wait_ready(rel, timeout = "120s")
`)
	done := make(chan result, 1)
	go func() {
		done <- runPlate(t, "", false, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	}()
	// Once the release is stored, the run is in its wait: restart the API
	// server under it.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := e.c.Clientset().CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=slowweb,status=deployed"})
		if err == nil && len(l.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the release was never stored")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := e.c.RestartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 {
		t.Fatalf("exit %d across an API server restart\n%s%s", r.code, r.out, r.errOut)
	}
	if !strings.Contains(r.out, "ready in") {
		t.Errorf("the wait did not end ready:\n%s", r.out)
	}
	info, err := e.helmClient(t).Get(context.Background(), "slowweb", e.ns)
	if err != nil || info == nil || len(info.History) != 1 || info.History[0].Status != "deployed" {
		t.Errorf("history after the restart: %+v %v", info, err)
	}
}
