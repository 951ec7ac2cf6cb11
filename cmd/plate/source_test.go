package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
)

// A NUL byte can no longer cut a plan silently: plate check and plate run
// refuse it with its file:line:col; a loaded module likewise. A leading
// byte-order mark is accepted.
func TestPlanBytesAreChecked(t *testing.T) {
	cut := planFile(t, "print(\"before\")\x00\nfail(\"after the NUL\")\n")
	for _, args := range [][]string{{"check", cut}, {"run", "--dry-run", "--offline", cut}} {
		r := runPlate(t, "", false, args...)
		if r.code != exit.Usage || !strings.Contains(r.errOut, "plan.star:1:16: the file holds a NUL byte") {
			t.Errorf("%s: exit %d\n%s%s", args[0], r.code, r.out, r.errOut)
		}
	}
	dir := filepath.Dir(cut)
	if err := os.WriteFile(filepath.Join(dir, "lib.star"), []byte("x = 1\x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loads := filepath.Join(dir, "loads.star")
	if err := os.WriteFile(loads, []byte("load(\"lib.star\", \"x\")\nprint(x)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runPlate(t, "", false, "run", "--dry-run", "--offline", loads); r.code != exit.Usage || !strings.Contains(r.errOut, "lib.star:1:6: the file holds a NUL byte") {
		t.Errorf("module with a NUL: exit %d\n%s", r.code, r.errOut)
	}
	bom := planFile(t, "\xEF\xBB\xBFprint(\"with a byte-order mark\")\n")
	if r := runPlate(t, "", false, "run", "--dry-run", "--offline", bom); r.code != 0 || !strings.Contains(r.out, "with a byte-order mark") {
		t.Errorf("byte-order mark: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
