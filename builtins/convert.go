package builtins

import (
	"fmt"
	"math"
	"math/big"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/internal/trace"
)

// Secret is a Starlark string value that is never printed: the trace, print
// and error messages show <redacted>. Builtins that need the value (values
// for a chart, a Secret's data) reveal it with ToGo.
type Secret struct{ value string }

var _ starlark.Value = (*Secret)(nil)

// NewSecret wraps s.
func NewSecret(s string) *Secret { return &Secret{value: s} }

// Reveal returns the secret string.
func (s *Secret) Reveal() string { return s.value }

func (s *Secret) String() string        { return trace.Redacted }
func (s *Secret) Type() string          { return "secret" }
func (s *Secret) Freeze()               {}
func (s *Secret) Truth() starlark.Bool  { return s.value != "" }
func (s *Secret) Hash() (uint32, error) { return starlark.String(s.value).Hash() }

// ForTrace converts v to plain Go data for the trace, keeping secrets
// marked so that redaction replaces them.
func ForTrace(v starlark.Value) any {
	out, err := convert(v, false, 0)
	if err != nil {
		return v.String()
	}
	return out
}

// ToGo converts v to plain Go data (nil, bool, int64, float64, string,
// []any, map[string]any), revealing secrets. Dicts need string keys.
func ToGo(v starlark.Value) (any, error) { return convert(v, true, 0) }

func convert(v starlark.Value, reveal bool, depth int) (any, error) {
	if depth > 100 {
		return nil, fmt.Errorf("value nested too deeply")
	}
	switch v := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.Bool:
		return bool(v), nil
	case starlark.Int:
		if i, ok := v.Int64(); ok {
			return i, nil
		}
		return v.BigInt().String(), nil
	case starlark.Float:
		return float64(v), nil
	case starlark.String:
		return string(v), nil
	case *Secret:
		if reveal {
			return v.value, nil
		}
		return trace.Secret{}, nil
	case *starlark.List:
		return convertIter(v, v.Len(), reveal, depth)
	case starlark.Tuple:
		return convertIter(v, v.Len(), reveal, depth)
	case *starlark.Dict:
		out := make(map[string]any, v.Len())
		for _, item := range v.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("dict key %s is not a string", item[0])
			}
			x, err := convert(item[1], reveal, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		v.ToStringDict(d)
		out := make(map[string]any, len(d))
		for k, x := range d {
			g, err := convert(x, reveal, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = g
		}
		return out, nil
	case *Future:
		if !reveal {
			// The trace records a pending step's value by name: waiting
			// for it here would serialize concurrent steps.
			return fmt.Sprintf("<result of %s %s>", v.builtin, v.StepID()), nil
		}
		return v.ToGo(reveal)
	case Goer:
		return v.ToGo(reveal)
	}
	return nil, fmt.Errorf("cannot use a %s here", v.Type())
}

// Goer is implemented by plate's own Starlark values (release handles, …)
// that convert to plain data.
type Goer interface {
	ToGo(reveal bool) (any, error)
}

func convertIter(it starlark.Iterable, n int, reveal bool, depth int) (any, error) {
	out := make([]any, 0, n)
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		g, err := convert(x, reveal, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// FromGo converts plain Go data (as JSON or YAML decoding produces) to
// frozen Starlark values: maps become dicts with sorted keys.
func FromGo(v any) (starlark.Value, error) {
	switch v := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(v), nil
	case int:
		return starlark.MakeInt(v), nil
	case int32:
		return starlark.MakeInt64(int64(v)), nil
	case int64:
		return starlark.MakeInt64(v), nil
	case uint64:
		return starlark.MakeUint64(v), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return starlark.MakeInt64(int64(v)), nil
		}
		return starlark.Float(v), nil
	case *big.Int:
		return starlark.MakeBigInt(v), nil
	case string:
		return starlark.String(v), nil
	case []string:
		l := make([]starlark.Value, len(v))
		for i, s := range v {
			l[i] = starlark.String(s)
		}
		list := starlark.NewList(l)
		list.Freeze()
		return list, nil
	case []any:
		l := make([]starlark.Value, len(v))
		for i, x := range v {
			sv, err := FromGo(x)
			if err != nil {
				return nil, err
			}
			l[i] = sv
		}
		list := starlark.NewList(l)
		list.Freeze()
		return list, nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(v))
		for _, k := range keys {
			sv, err := FromGo(v[k])
			if err != nil {
				return nil, err
			}
			if err := d.SetKey(starlark.String(k), sv); err != nil {
				return nil, err
			}
		}
		d.Freeze()
		return d, nil
	case starlark.Value:
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %T to a Starlark value", v)
}

// SecretsIn collects the revealed strings of every secret() in v.
func SecretsIn(v starlark.Value) []string {
	var out []string
	var walk func(starlark.Value, int)
	walk = func(v starlark.Value, depth int) {
		if depth > 100 {
			return
		}
		switch x := v.(type) {
		case *Secret:
			out = append(out, x.Reveal())
		case *starlark.Dict:
			for _, kv := range x.Items() {
				walk(kv[1], depth+1)
			}
		case starlark.Iterable:
			it := x.Iterate()
			defer it.Done()
			var e starlark.Value
			for it.Next(&e) {
				walk(e, depth+1)
			}
		}
	}
	walk(v, 0)
	return out
}
