package wait

import (
	"fmt"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/builtins"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
)

// targetsOf turns wait_ready's positional arguments into watcher targets:
// release values (any ObjectSet: every object of the release), "kind/name"
// strings, and lists of either.
func targetsOf(args starlark.Tuple) ([]kwait.Target, []string, error) {
	var out []kwait.Target
	var described []string
	var walk func(v starlark.Value, depth int) error
	walk = func(v starlark.Value, depth int) error {
		switch x := v.(type) {
		case builtins.ObjectSet:
			described = append(described, x.Describe())
			rel := x.Release()
			for _, ref := range x.Objects() {
				gv, err := schema.ParseGroupVersion(ref.APIVersion)
				if err != nil {
					return fmt.Errorf("%s: object %s/%s: %v", x.Describe(), ref.Kind, ref.Name, err)
				}
				out = append(out, kwait.Target{GVK: gv.WithKind(ref.Kind), Namespace: ref.Namespace, Name: ref.Name, Release: rel})
			}
			return nil
		case starlark.String:
			t, err := kwait.ParseRef(string(x))
			if err != nil {
				return err
			}
			described = append(described, string(x))
			out = append(out, t)
			return nil
		case *starlark.List, starlark.Tuple:
			if depth > 0 {
				return fmt.Errorf("got a nested list; want release values and \"kind/name\" strings")
			}
			it := x.(starlark.Iterable).Iterate()
			defer it.Done()
			var e starlark.Value
			for it.Next(&e) {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("got %s, want a release value or a \"kind/name\" string such as \"deployment/api\"", v.Type())
	}
	for _, a := range args {
		if err := walk(a, 0); err != nil {
			return nil, nil, err
		}
	}
	return out, described, nil
}
