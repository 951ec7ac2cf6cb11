package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/plate-dev/plate/builtins/docs"
	"github.com/plate-dev/plate/builtins/registry"
)

// docs/builtins.md is generated from the builtins' source; this test fails
// when the checked-in file is stale. Regenerate with `make docs`.
func TestBuiltinsReferenceIsCurrent(t *testing.T) {
	want := docs.Markdown(registry.Plugins())
	got, err := os.ReadFile("../../docs/builtins.md")
	if err != nil {
		t.Fatalf("%v (run `make docs`)", err)
	}
	if d := cmp.Diff(want, string(got)); d != "" {
		t.Errorf("docs/builtins.md is stale; run `make docs` (-want +got):\n%s", d)
	}
}

func TestEveryBuiltinIsDocumented(t *testing.T) {
	all, err := registry.All(registry.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		if strings.TrimSpace(b.Doc) == "" || !strings.HasPrefix(b.Signature(), b.Name+"(") {
			t.Errorf("builtin %s lacks a doc or a signature starting with its name (%q)", b.Name, b.Signature())
		}
	}
}

func TestHelpBuiltins(t *testing.T) {
	r := runPlate(t, "", false, "help", "builtins")
	if r.code != 0 || !strings.Contains(r.out, "confirm") || !strings.Contains(r.out, "kube_apply") {
		t.Errorf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	r = runPlate(t, "", false, "help", "confirm")
	if r.code != 0 || !strings.HasPrefix(r.out, "confirm(message, default=False)\n") {
		t.Errorf("exit %d:\n%s%s", r.code, r.out, r.errOut)
	}
	r = runPlate(t, "", false, "help", "confrim")
	if r.code != 2 || !strings.Contains(r.errOut, `did you mean "confirm"?`) {
		t.Errorf("exit %d:\n%s", r.code, r.errOut)
	}
	r = runPlate(t, "", false, "help", "run")
	if r.code != 0 || !strings.Contains(r.out, "--dry-run") {
		t.Errorf("help run: exit %d:\n%s", r.code, r.out)
	}
}
