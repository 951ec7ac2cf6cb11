package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A plan in a fresh directory outside any repository, with a helper module
// that takes paths from its callers: relative paths resolve against the
// module whose top-level code is running (the plan), not the helper's file;
// // paths name the project root; a path that is not found says where
// relative paths resolve and where the file is.
func TestHelperTakesCallerRelativePaths(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		".plateroot":          "",
		"lib/deploy.star":     "def deploy(name, values):\n    return read_yaml(values)[name]\n",
		"teams/a/plan.star":   "load(\"//lib/deploy.star\", \"deploy\")\nprint(\"replicas\", deploy(\"web\", \"values.yaml\"))\n",
		"teams/a/values.yaml": "web: 3\n",
		"teams/b/plan.star":   "load(\"//lib/deploy.star\", \"deploy\")\nprint(deploy(\"web\", \"shared.yaml\"))\n",
		"lib/shared.yaml":     "web: 1\n",
		"teams/c/plan.star":   "load(\"//lib/deploy.star\", \"deploy\")\nprint(\"root\", deploy(\"web\", \"//lib/shared.yaml\"))\n",
		"teams/a/unused.star": "",
		"lib/values.yaml":     "web: 99\n",
	})
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", filepath.Join(root, "teams/a/plan.star"))
	if r.code != 0 || !strings.Contains(r.out, "replicas 3") {
		t.Fatalf("caller-relative path: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// The trace line shows the plan's own call; -v adds the helper's line.
	if !strings.Contains(r.out, "done     read_yaml  read values.yaml  teams/a/plan.star:2\n") {
		t.Errorf("read_yaml line does not show the plan's call:\n%s", r.out)
	}
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", "-v", filepath.Join(root, "teams/a/plan.star"))
	if !strings.Contains(r.out, "teams/a/plan.star:2\n         in a helper at lib/deploy.star:2:21\n") {
		t.Errorf("-v does not show the helper's frame:\n%s", r.out)
	}
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", filepath.Join(root, "teams/c/plan.star"))
	if r.code != 0 || !strings.Contains(r.out, "root 1") {
		t.Fatalf("// path: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", filepath.Join(root, "teams/b/plan.star"))
	if r.code != 2 || !strings.Contains(r.errOut, "read_yaml: shared.yaml: no such file or directory") ||
		!strings.Contains(r.errOut, "relative paths resolve against teams/b/plan.star, the file whose top-level code is running; it exists at //lib/shared.yaml") {
		t.Errorf("missing path: exit %d\n%s", r.code, r.errOut)
	}
	// A "//" path that is not found says where the root is and why.
	bare := t.TempDir()
	writeTree(t, bare, map[string]string{"plans/p.star": "read_yaml(\"//values/x.yaml\")\n"})
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", filepath.Join(bare, "plans/p.star"))
	if r.code != 2 || !strings.Contains(r.errOut, "// paths start at the project root "+filepath.Join(bare, "plans")+" (the plan's own directory: no .plateroot or .git above the plan); put an empty .plateroot file at your project's top, or pass --root") {
		t.Errorf("missing // path: exit %d\n%s", r.code, r.errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "teams/b/shared.yaml")); err == nil {
		t.Fatal("test setup")
	}
}
