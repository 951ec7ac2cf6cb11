package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// complete runs cobra's hidden __complete command, as a shell does, and
// returns the candidates (without the trailing directive line).
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r := runPlate(t, "", false, append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s%s", args, r.code, r.out, r.errOut)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.out), "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		out = append(out, l)
	}
	return out
}

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: x}
contexts:
- name: plate-local
  context: {cluster: c, user: u}
- name: plate-prod
  context: {cluster: c, user: u, namespace: plate-prod}
- name: other
  context: {cluster: c, user: u}
current-context: plate-local
`

// Contexts come from the kubeconfig, builtin names from the registry,
// backup IDs from the backups directory: none needs a cluster.
func TestCompletionWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(complete(t, "status", "--kubeconfig", kc, "--context", "plate-"), " "); got != "plate-local plate-prod" {
		t.Errorf("contexts: %q", got)
	}
	if got := strings.Join(complete(t, "help", "helm_"), " "); got != "helm_install helm_release helm_rollback helm_template helm_uninstall" {
		t.Errorf("builtins: %q", got)
	}
	if got := complete(t, "help", "wait"); len(got) != 1 || got[0] != "wait_ready" {
		t.Errorf("help wait<TAB>: %q", got)
	}
	if got := complete(t, "help", "un"); len(got) != 1 || got[0] != "uninstall" {
		t.Errorf("help un<TAB> (a command): %q", got)
	}
	backups := filepath.Join(dir, "backups")
	for _, id := range []string{"20260102T030405Z-deploy_prod", "20260103T030405Z-deploy_stg"} {
		if err := os.MkdirAll(filepath.Join(backups, id), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(complete(t, "backup", "restore", "--dir", backups, "2026010"), " "); got != "20260102T030405Z-deploy_prod 20260103T030405Z-deploy_stg" {
		t.Errorf("backup IDs: %q", got)
	}
	if got := complete(t, "backup", "show", "--dir", backups, "20260102T030405Z-deploy_prod", ""); len(got) != 0 {
		t.Errorf("a second ID: %q", got)
	}
	// An unreachable cluster completes nothing, and the shell gets no
	// file names either.
	r := runPlate(t, "", false, "__complete", "rollback", "--kubeconfig", kc, "")
	if r.code != 0 || strings.TrimSpace(r.out) != ":4" {
		t.Errorf("release names from an unreachable cluster: exit %d %q", r.code, r.out)
	}
	r = runPlate(t, "", false, "__complete", "list", "--kubeconfig", kc, "-n", "")
	if r.code != 0 || strings.TrimSpace(r.out) != ":4" {
		t.Errorf("namespaces from an unreachable cluster: exit %d %q", r.code, r.out)
	}
}
