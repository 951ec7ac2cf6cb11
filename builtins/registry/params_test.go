package registry

import (
	"context"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/trace"
)

// TestParamsDeclaredOnce checks that each builtin's one declaration of its
// parameters agrees with its documentation and with the list it unpacks:
// every parameter is named in the doc, and a call with an unknown keyword
// is refused by the unpacking of exactly the declared list (a builtin that
// unpacked more or fewer parameters than it declares fails with an
// internal error instead).
func TestParamsDeclaredOnce(t *testing.T) {
	all, err := All(Plugins())
	if err != nil {
		t.Fatal(err)
	}
	pre, err := Predeclared(Plugins())
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Pass: trace.DryRun, Offline: true})
	for _, b := range all {
		t.Run(b.Name, func(t *testing.T) {
			if got := b.Signature(); got != b.Name+"("+strings.Join(b.Params, ", ")+")" {
				t.Errorf("signature %q", got)
			}
			seen := map[string]bool{}
			for i, p := range b.Parameters() {
				if p.Name == "" || seen[p.Name] {
					t.Errorf("parameter %d: empty or repeated name %q", i, p.Name)
				}
				seen[p.Name] = true
				if !strings.Contains(b.Doc, "`"+p.Name+"`") {
					t.Errorf("parameter %s is not named in the doc (as `%s`)", p.Name, p.Name)
				}
				if p.Name == "needs" && !b.Concurrent {
					t.Errorf("declares needs= but is not a concurrent builtin")
				}
				if p.Name == "needs" && p.Default != "None" {
					t.Errorf("declares needs=%s; every concurrent builtin declares needs=None (None and [] mean in sequence)", p.Default)
				}
			}
			if b.Concurrent && !seen["needs"] {
				t.Errorf("a concurrent builtin must declare needs=")
			}
			th := &starlark.Thread{Name: "params test"}
			builtins.SetRun(th, &builtins.Run{Ctx: context.Background(), Engine: eng, Root: t.TempDir()})
			_, err := starlark.Call(th, pre[b.Name], nil, []starlark.Tuple{{starlark.String("plate_probe"), starlark.MakeInt(1)}})
			if err == nil || !strings.Contains(err.Error(), "unexpected keyword argument \"plate_probe\"") {
				t.Errorf("a call with an unknown keyword: %v; want the unpacking of the declared parameters to refuse it", err)
			}
		})
	}
}
