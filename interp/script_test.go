package interp_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// TestScripts runs testdata/script/*.star. Each file is split into chunks
// at lines "---"; each chunk runs as a plan (offline dry run) with the
// assert module. A chunk with a line `### "regex"` must fail with an error
// matching regex; any other chunk must succeed. Extra files a chunk loads
// are given as "--- name.star" sections after a line "=== files".
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.star")
	if err != nil || len(files) == 0 {
		t.Fatalf("no script tests found: %v", err)
	}
	pre, err := registry.Predeclared(registry.Plugins())
	if err != nil {
		t.Fatal(err)
	}
	assert, err := starlarktest.LoadAssertModule()
	if err != nil {
		t.Fatal(err)
	}
	pre["assert"] = assert["assert"]
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		body, extra := splitFiles(string(data))
		for i, chunk := range strings.Split(body, "\n---\n") {
			name := filepath.Base(file) + "#" + itoa(i+1)
			t.Run(name, func(t *testing.T) {
				runChunk(t, chunk, extra, pre)
			})
		}
	}
}

var wantErr = regexp.MustCompile(`(?m)^\s*### "(.*)"\s*$`)

func runChunk(t *testing.T, chunk string, extra map[string]string, pre starlark.StringDict) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, ".plateroot"), "")
	for name, src := range extra {
		write(t, filepath.Join(dir, name), src)
	}
	plan := filepath.Join(dir, "plan.star")
	write(t, plan, chunk)
	var want *regexp.Regexp
	if m := wantErr.FindStringSubmatch(chunk); m != nil {
		want = regexp.MustCompile(m[1])
	}
	p, err := interp.Open(plan, "", pre)
	if err == nil {
		err = p.Check(pre)
	}
	if err == nil {
		var values map[string]starlark.Value
		values, err = p.Bind(nil)
		if err == nil {
			eng := engine.New(engine.Options{Pass: trace.DryRun, Offline: true})
			err = p.Exec(context.Background(), interp.RunOptions{
				Engine: eng, Predeclared: pre, Params: values,
				ThreadInit: func(th *starlark.Thread) { starlarktest.SetReporter(th, t) },
			})
		}
	}
	switch {
	case want == nil && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Errorf("no error; want one matching %q", want)
	case want != nil && !want.MatchString(err.Error()):
		t.Errorf("error %q does not match %q", err, want)
	}
}

func splitFiles(s string) (string, map[string]string) {
	body, files, ok := strings.Cut(s, "\n=== files\n")
	extra := map[string]string{}
	if !ok {
		return s, extra
	}
	for _, sec := range strings.Split(files, "\n--- ")[1:] {
		name, src, _ := strings.Cut(sec, "\n")
		extra[strings.TrimSpace(name)] = src
	}
	// Allow the first section to start the block.
	if strings.HasPrefix(files, "--- ") {
		name, src, _ := strings.Cut(strings.TrimPrefix(files, "--- "), "\n")
		if i := strings.Index(src, "\n--- "); i >= 0 {
			src = src[:i]
		}
		extra[strings.TrimSpace(name)] = src
	}
	return body, extra
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
