package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

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
	shipped, _ := filepath.Glob(repoRoot + "/plans/*.star")
	for _, s := range shipped {
		if !strings.HasSuffix(s, "_test.star") && !seen[s[strings.LastIndex(s, "/")+1:]] {
			t.Errorf("shipped plan %s has no fidelity case", s)
		}
	}
}
