package main

import (
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// The new verbs' bad input: each is refused with exit code 2 and a message
// that names the flag or argument, before any cluster is contacted (the
// kubeconfig named here does not exist).
func TestVerbsBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rollback", "web", "0"}, `REVISION: want a positive revision number (see plate history), got "0"`},
		{[]string{"rollback", "web", "3", "--to", "2"}, "rollback: REVISION 3 and --to 2 disagree; give one"},
		{[]string{"rollback", "web", "1", "2"}, "accepts between 1 and 2 arg(s), received 3"},
		{[]string{"list", "web"}, `unknown command "web" for "plate list"`},
		{[]string{"uninstall"}, "accepts 1 arg(s), received 0"},
		{[]string{"release-test"}, "accepts 1 arg(s), received 0"},
		{[]string{"run", "--dry-run", "--offline", "-l", "tier=web", "plans/deploy_stg.star"}, `-l/--selector "tier=web": unknown key "tier"; want one of name, namespace`},
		{[]string{"run", "--dry-run", "--offline", "-l", "name", "plans/deploy_stg.star"}, `-l/--selector "name": want key=value or key!=value terms`},
	} {
		r := runPlate(t, "", false, append(tc.args, "--kubeconfig", "/nonexistent/kubeconfig")...)
		if r.code != exit.Usage || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.args, r.code, tc.want, r.errOut)
		}
	}
}
