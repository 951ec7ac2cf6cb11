package interp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/interp"
)

// Check warns about a helper parameter whose default would make the steps
// it is forwarded to (through needs=) concurrent: in the plan and in the
// modules it loads, and only there.
func TestCheckWarnsAboutSchedulingDefaults(t *testing.T) {
	root := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write(".plateroot", "")
	write("lib.star", `
def deploy(name, needs = [plan_start]):
    return helm_install(name, "//c", needs = needs)

def later(name, deps = ()):
    return wait_ready(name, needs = deps + [])
`)
	plan := write("plan.star", `
load("//lib.star", "deploy")

def fine(name, needs = None):
    return helm_install(name, "//c", needs = needs)

def fine_list(name, needs = []):
    return helm_install(name, "//c", needs = needs)

def unrelated(name, extra = [1], needs = None):
    return kube_apply(file = name, needs = needs)

def nested(name, deps = [plan_start]):
    def inner():
        return wait_ready(name, needs = [deps[0]])
    return inner()

x = deploy("a")
`)
	pre, err := registry.Predeclared(registry.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	p, err := interp.Open(plan, root, pre)
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := p.CheckWithWarnings(pre)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warnings {
		got = append(got, w.String())
	}
	want := []string{
		"plan.star:13:25: nested(): parameter deps defaults to [plan_start] and is passed to needs= at line 15",
		"lib.star:2:26: deploy(): parameter needs defaults to [plan_start] and is passed to needs= at line 3",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) || !strings.Contains(got[i], "default it to None (in sequence)") {
			t.Errorf("warning %d: %s\nwant it to start with %s", i, got[i], want[i])
		}
	}
	if err := p.Check(pre); err != nil {
		t.Errorf("a warning is not an error: %v", err)
	}
}
