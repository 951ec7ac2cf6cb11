package wait

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/builtins"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
)

// duration is a Starlark argument holding a duration: a Go duration string
// ("90s", "5m", "1m30s") or a number of seconds.
type duration struct {
	d   time.Duration
	set bool
}

var _ starlark.Unpacker = (*duration)(nil)

func (d *duration) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.String:
		x, err := time.ParseDuration(strings.TrimSpace(string(v)))
		if err != nil {
			return fmt.Errorf("got %q, want a duration such as \"90s\" or \"5m\"", string(v))
		}
		d.d, d.set = x, true
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n > math.MaxInt64/int64(time.Second) {
			return fmt.Errorf("got %s, want a duration", v)
		}
		d.d, d.set = time.Duration(n)*time.Second, true
	case starlark.Float:
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1e9 {
			return fmt.Errorf("got %s, want a duration", v)
		}
		d.d, d.set = time.Duration(float64(v)*float64(time.Second)), true
	default:
		return fmt.Errorf("got %s, want a duration string such as \"90s\" or a number of seconds", v.Type())
	}
	if d.d < 0 {
		return fmt.Errorf("got %s, want a duration that is not negative", v)
	}
	return nil
}

// or returns the duration, or def when none was given.
func (d duration) or(def time.Duration) time.Duration {
	if !d.set {
		return def
	}
	return d.d
}

// grace returns the duration in readiness.Options form: 0 (not given) means
// the default, an explicit 0 means no grace at all (negative).
func (d duration) grace() time.Duration {
	switch {
	case !d.set:
		return 0
	case d.d == 0:
		return -1
	}
	return d.d
}

// count is an optional non-negative integer argument.
type count struct {
	n   int32
	set bool
}

var _ starlark.Unpacker = (*count)(nil)

func (c *count) Unpack(v starlark.Value) error {
	if v == starlark.None {
		return nil
	}
	i, ok := v.(starlark.Int)
	if !ok {
		return fmt.Errorf("got %s, want an int", v.Type())
	}
	n, ok := i.Int64()
	if !ok || n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("got %s, want a count from 0", v)
	}
	c.n, c.set = int32(n), true
	return nil
}

// threshold returns the count in readiness.Options form: 0 (not given)
// means the default, an explicit 0 disables the check (negative).
func (c count) threshold() int32 {
	switch {
	case !c.set:
		return 0
	case c.n == 0:
		return -1
	}
	return c.n
}

// stringList is a list of strings, or one string.
type stringList []string

func (l *stringList) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.String:
		*l = []string{string(v)}
		return nil
	case starlark.Iterable:
		it := v.Iterate()
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			s, ok := starlark.AsString(x)
			if !ok {
				return fmt.Errorf("got a list holding %s, want strings", x.Type())
			}
			*l = append(*l, s)
		}
		return nil
	}
	return fmt.Errorf("got %s, want a list of strings", v.Type())
}

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
			for _, ref := range x.Objects() {
				gv, err := schema.ParseGroupVersion(ref.APIVersion)
				if err != nil {
					return fmt.Errorf("%s: object %s/%s: %v", x.Describe(), ref.Kind, ref.Name, err)
				}
				out = append(out, kwait.Target{GVK: gv.WithKind(ref.Kind), Namespace: ref.Namespace, Name: ref.Name})
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
