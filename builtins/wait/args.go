package wait

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
)

// targetsOf turns wait_ready's positional arguments into watcher targets:
// release values (any ObjectSet: every object of the release), "kind/name"
// strings, and lists of either.
// It also returns the release revisions among them, for the verdict a
// failed wait records.
func targetsOf(args starlark.Tuple) ([]kwait.Target, []string, []builtins.ReleaseRevision, error) {
	var out []kwait.Target
	var described []string
	var revs []builtins.ReleaseRevision
	var walk func(v starlark.Value, depth int) error
	walk = func(v starlark.Value, depth int) error {
		switch x := v.(type) {
		case builtins.ObjectSet:
			described = append(described, x.Describe())
			if rr, ok := v.(builtins.ReleaseRevision); ok {
				revs = append(revs, rr)
			}
			rel := x.Release()
			for _, ref := range x.Objects() {
				t, err := kwait.ObjectTarget(ref.APIVersion, ref.Kind, ref.Namespace, ref.Name, rel)
				if err != nil {
					return fmt.Errorf("%s: object %s/%s: %v", x.Describe(), ref.Kind, ref.Name, err)
				}
				out = append(out, t)
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
			return nil, nil, nil, err
		}
	}
	return out, described, revs, nil
}
