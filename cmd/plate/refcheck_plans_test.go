package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// findingsOf returns the reference check's findings in a JSON trace.
func findingsOf(t *testing.T, out string) []map[string]any {
	t.Helper()
	var fs []map[string]any
	for _, ev := range jsonEvents(t, out) {
		if l, ok := ev["findings"].([]any); ok {
			for _, f := range l {
				fs = append(fs, f.(map[string]any))
			}
		}
	}
	return fs
}

// The shipped plans raise no false finding on the local control plane: not
// in their dry runs before the platform is deployed (the preflight of `make
// demo` is one), and not once it is (the preflight of every later run
// checks upgrades against what exists). Production's deploy_all over
// staging's libraries raises a true one.
func TestPlansRaiseNoFalseFinding(t *testing.T) {
	p := newPlatformCluster(t)
	p.ensureProductionSecrets(t)
	type planRun struct {
		kubeconfig string
		args       []string
	}
	plans := []planRun{
		{p.kubeconfig, []string{"deploy_all.star", "-p", "mirror=" + p.mirror, "-p", "placeholder_secrets=true"}},
		{p.kubeconfig, []string{"deploy_libraries.star", "-p", "mirror=" + p.mirror}},
		{p.kubeconfig, []string{"deploy_stg.star", "-p", "placeholder_secrets=true"}},
		{p.prodKubeconfig, []string{"deploy_prod.star", "--yes"}},
	}
	dryRuns := func(when string, plans []planRun) {
		for _, tc := range plans {
			r := p.run(t, tc.kubeconfig, tc.args[0], append([]string{"--dry-run", "-o", "json"}, tc.args[1:]...)...)
			if r.code != 0 {
				t.Fatalf("%s, %s: exit %d\n%s%s", when, tc.args, r.code, r.out, r.errOut)
			}
			if fs := findingsOf(t, r.out); len(fs) != 0 {
				b, _ := json.MarshalIndent(fs, "", "  ")
				t.Errorf("%s, %s: findings:\n%s", when, tc.args, b)
			}
		}
	}
	// The package's control plane may already hold what earlier tests
	// deployed.
	dryRuns("before the demo deploy", plans)
	// make demo's run: deploy_all to staging from the mirror, with
	// placeholder Secrets.
	r := p.run(t, p.kubeconfig, "deploy_all.star", "-p", "mirror="+p.mirror, "-p", "placeholder_secrets=true", "--yes")
	if r.code != exit.OK {
		t.Fatalf("demo run: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// Once staging's libraries run, production's deploy_all would change
	// the jenkins StatefulSet's claim template (8Gi standard → 50Gi
	// openebs-hostpath): a true finding, which the API server confirms.
	dryRuns("after the demo deploy", plans)
	r = p.run(t, p.prodKubeconfig, "deploy_all.star", "--dry-run", "-p", "env=production", "-p", "mirror="+p.mirror, "--yes")
	if r.code != exit.Usage || !strings.Contains(r.errOut, "immutable StatefulSet/jenkins/jenkins spec.volumeClaimTemplates[0].spec.resources.requests.storage") {
		t.Errorf("production over staging's libraries: exit %d\n%s", r.code, r.errOut)
	}
	ctx := context.Background()
	sts, err := p.c.Clientset().AppsV1().StatefulSets("jenkins").Get(ctx, "jenkins", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("50Gi")
	_, err = p.c.Clientset().AppsV1().StatefulSets("jenkins").Update(ctx, sts, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.volumeClaimTemplates") {
		t.Errorf("the API server took the claim template change: %v", err)
	}
}
