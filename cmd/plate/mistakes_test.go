package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The mistakes a new user makes, each with the message plate answers and
// its exit code, in one golden file: testdata/mistakes/*.star, run as an
// offline dry run (and -p mistakes for the parameter cases).
func TestMistakeMessages(t *testing.T) {
	files, err := filepath.Glob("testdata/mistakes/*.star")
	if err != nil || len(files) < 20 {
		t.Fatalf("want at least 20 mistakes, found %d (%v)", len(files), err)
	}
	sort.Strings(files)
	var b strings.Builder
	add := func(title, src string, args ...string) {
		r := runPlate(t, "", false, args...)
		fmt.Fprintf(&b, "=== %s\n", title)
		if src != "" {
			for _, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
				fmt.Fprintf(&b, "| %s\n", l)
			}
		}
		fmt.Fprintf(&b, "exit %d\n%s\n", r.code, strings.TrimRight(r.errOut, "\n"))
		if r.code == 0 {
			t.Errorf("%s: the mistake was accepted", title)
		}
		if strings.Contains(r.errOut, "goroutine") || strings.Contains(r.errOut, ".go:") {
			t.Errorf("%s: a Go stack reached the user:\n%s", title, r.errOut)
		}
	}
	for _, f := range files {
		src, _ := os.ReadFile(f)
		add(filepath.Base(f), string(src), "run", "--dry-run", "--offline", f)
	}
	params := filepath.Join("..", "..", "plans", "deploy_all.star")
	add("misspelt parameter", "", "run", "--dry-run", "--offline", "-p", "enviroment=production", params)
	add("value not among the choices", "", "run", "--dry-run", "--offline", "-p", "env=prod", params)
	add("bool parameter given a word", "", "run", "--dry-run", "--offline", "-p", "skip_libraries=maybe", params)
	add("parameter without a value", "", "run", "--dry-run", "--offline", "-p", "env", params)
	add("misspelt flag", "", "run", "--dry-runn", params)
	add("misspelt command", "", "rn", params)
	// Messages may name absolute paths (where plate looked for a chart);
	// the golden file names them from the test's own directory.
	abs, _ := filepath.Abs("testdata/mistakes")
	golden(t, "mistakes.txt", strings.ReplaceAll(b.String(), abs, "<testdata/mistakes>"))
}
