package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/planfile"
	"github.com/plate-dev/plate/internal/trace"
)

// passEffects reads the effects of one pass from a run's JSON lines: the
// same effect list a saved plan holds.
func passEffects(t *testing.T, out string, pass trace.Pass) []planfile.Effect {
	t.Helper()
	var events []trace.Event
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var ev trace.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		if ev.Pass == pass {
			events = append(events, ev)
		}
	}
	return planfile.Effects(events)
}

// Plan fidelity: every shipped plan, run with --dry-run and then for real
// on the local control plane (with the parameters their tests and the demo
// use, in an order that makes each of them change something), does what
// its dry run said: the same builtin, target and kind of change, in the
// same order within each step and for the steps in sequence (concurrent
// steps may interleave).
func TestE2EPlanFidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	p := newPlatformCluster(t)
	p.ensureProductionSecrets(t)
	// The package's tests share one control plane: leave production
	// without releases, as the other production tests expect it (staging
	// ends deleted by the last case; the libraries stay, as after
	// TestDeployAllFlags).
	t.Cleanup(func() { p.uninstallAll(t, "plate-prod") })
	backups := t.TempDir()
	seen := map[string]bool{}
	for _, tc := range []struct {
		name       string
		kubeconfig string
		args       []string
		// wants are effects the run must make, as "builtin action target"
		// prefixes: the comparison must not pass vacuously.
		wants []string
	}{
		{"libraries", p.kubeconfig, []string{"deploy_libraries.star", "-p", "mirror=" + p.mirror}, []string{"helm_install install release"}},
		{"staging", p.kubeconfig, []string{"deploy_stg.star", "-p", "placeholder_secrets=true"}, []string{"helm_install install release plate-stg/plate-api"}},
		{"all staging upgrade", p.kubeconfig, []string{"deploy_all.star", "-p", "mirror=" + p.mirror, "-p", "placeholder_secrets=true", "-p", "version=1.0.1"}, []string{"helm_install upgrade release plate-stg/plate-api"}},
		{"production", p.prodKubeconfig, []string{"deploy_prod.star", "--yes", "-p", "version=1.0.0", "-p", "backup_dir=" + backups}, []string{"helm_install install release plate-prod/plate-api"}},
		{"production upgrade", p.prodKubeconfig, []string{"deploy_prod.star", "--yes", "-p", "version=1.0.1", "-p", "backup_dir=" + backups}, []string{"helm_install upgrade release plate-prod/plate-api"}},
		{"production rollback", p.prodKubeconfig, []string{"deploy_prod.star", "--yes", "-p", "action=rollback"}, []string{"helm_rollback rollback release plate-prod/plate-api"}},
		{"staging delete", p.kubeconfig, []string{"deploy_stg.star", "--yes", "-p", "action=delete"}, []string{"helm_uninstall uninstall release plate-stg/plate-api"}},
	} {
		seen[tc.args[0]] = true
		t.Run(tc.name, func(t *testing.T) {
			dry := p.run(t, tc.kubeconfig, tc.args[0], append([]string{"--dry-run", "-o", "json"}, tc.args[1:]...)...)
			if dry.code != 0 {
				t.Fatalf("dry run: exit %d\n%s", dry.code, dry.errOut)
			}
			run := p.run(t, tc.kubeconfig, tc.args[0], append([]string{"-o", "json"}, tc.args[1:]...)...)
			if run.code != 0 {
				t.Fatalf("run: exit %d\n%s", run.code, run.errOut)
			}
			planned, done := passEffects(t, dry.out, trace.DryRun), passEffects(t, run.out, trace.Run)
			if m := planfile.Mismatches(planned, done); len(m) > 0 {
				t.Errorf("the run did not do what its dry run planned:\n  %s", strings.Join(m, "\n  "))
			}
			var got []string
			for _, e := range done {
				got = append(got, e.Builtin+" "+e.Action+" "+e.Target())
			}
			for _, w := range tc.wants {
				found := false
				for _, g := range got {
					found = found || strings.HasPrefix(g, w)
				}
				if !found {
					t.Errorf("the run made no %q; it made:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			t.Logf("%d effects planned and done", len(done))
		})
	}
	// The same production upgrade through a saved plan: every write of
	// the run is checked against the saved effects at the engine's write
	// seam, and the run makes them all.
	t.Run("production upgrade from a saved plan", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "prod.plan")
		args := []string{"--dry-run", "--save-plan", file, "-p", "version=1.0.2", "-p", "backup_dir=" + backups}
		if r := p.run(t, p.prodKubeconfig, "deploy_prod.star", args...); r.code != 0 {
			t.Fatalf("save: exit %d\n%s", r.code, r.errOut)
		}
		r := runPlate(t, "", false, "apply", file, "--kubeconfig", p.prodKubeconfig, "--yes", "--detailed-exitcode")
		if r.code != exit.ChangesPending {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		if got := p.releases(t, "plate-prod"); got["plate-api"] != "4" {
			t.Errorf("after the saved upgrade: %v", got)
		}
	})
	shipped, _ := filepath.Glob(repoRoot + "/plans/*.star")
	for _, s := range shipped {
		if !strings.HasSuffix(s, "_test.star") && !seen[s[strings.LastIndex(s, "/")+1:]] {
			t.Errorf("shipped plan %s has no fidelity case", s)
		}
	}
}

// uninstallAll uninstalls every release in namespace.
func (p *platformCluster) uninstallAll(t *testing.T, namespace string) {
	t.Helper()
	kc, err := kube.Connect(kube.Settings{Kubeconfig: p.kubeconfig}, false)
	if err != nil {
		t.Error(err)
		return
	}
	hc, err := helm.New(helm.Options{Kube: kc})
	if err != nil {
		t.Error(err)
		return
	}
	for name := range p.releases(t, namespace) {
		if _, err := hc.Uninstall(context.Background(), helm.UninstallRequest{Release: name, Namespace: namespace}); err != nil {
			t.Errorf("uninstalling %s: %v", name, err)
		}
	}
}
