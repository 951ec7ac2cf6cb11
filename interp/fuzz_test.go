package interp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/internal/exit"
)

// FuzzParseValue checks that -p values of every type either parse to a
// value of that type or fail with a message, and never panic.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"", "0", "-3", "0x1f", "1e9", "NaN", "true", "No", "staging", "a=b", "9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, typ := range []string{"string", "int", "float", "bool"} {
			v, err := ParseValue(typ, raw)
			if err != nil {
				if v != nil {
					t.Fatalf("%s %q: value %v with error %v", typ, raw, v, err)
				}
				continue
			}
			want := map[string]string{"string": "string", "int": "int", "float": "float", "bool": "bool"}[typ]
			if v.Type() != want {
				t.Fatalf("%s %q parsed to a %s", typ, raw, v.Type())
			}
		}
		if kv, err := ParseKV(raw); err == nil && kv.Name == "" {
			t.Fatalf("ParseKV(%q) accepted an empty name", raw)
		}
	})
}

// FuzzOpenPlan feeds arbitrary source to the plan loader: it must either
// accept the plan or return a usage error with a position, never panic.
func FuzzOpenPlan(f *testing.F) {
	for _, s := range []string{
		"x = 1\n",
		`env = param("env", "a", choices = ["a", "b"])` + "\n",
		"def f(:\n",
		`load("x.star", "y")` + "\n",
		`p = param("p", -1.5, help = "h")` + "\n",
		"if True:\n  x = param('x', 1)\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".plateroot"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		path := filepath.Join(dir, "plan.star")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Open(path, "", starlark.StringDict{})
		if err != nil {
			var xe *exit.Error
			if !errors.As(err, &xe) || xe.Code != exit.Usage {
				t.Fatalf("error is not a usage error: %#v", err)
			}
			return
		}
		if err := p.Check(starlark.StringDict{}); err != nil {
			var xe *exit.Error
			if !errors.As(err, &xe) || xe.Code != exit.Usage {
				t.Fatalf("check error is not a usage error: %#v", err)
			}
		}
		if _, err := p.Bind(nil); err != nil {
			t.Fatalf("defaults do not bind: %v", err)
		}
	})
}
