package builtins

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/internal/trace"
)

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
		if !trace.HasToken(string(v)) {
			return string(v), nil
		}
		if !reveal {
			return trace.RedactTokens(string(v)), nil
		}
		return Unseal(string(v))
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
				return nil, fmt.Errorf("dict key %s is not a string", trace.RedactTokens(item[0].String()))
			}
			if trace.HasToken(k) {
				return nil, fmt.Errorf("dict key %s: %s", trace.RedactTokens(k), errSecretKey)
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
// frozen Starlark values: maps become dicts with sorted keys. The values of
// a Secret object's data and stringData become secret() values: print()
// and the trace show them as <redacted>, and they still work wherever a
// secret() does (kube_apply, set=).
func FromGo(v any) (starlark.Value, error) { return fromGo(v, nil) }

// FromGoHiding is FromGo for data that may contain the secrets a call
// revealed (the objects kube_apply gets back, the manifests helm_template
// renders): every string that contains one of secrets becomes a secret()
// value too.
func FromGoHiding(v any, secrets []string) (starlark.Value, error) {
	var long []string
	for _, s := range secrets {
		// As diffs do: replacing one or two bytes would hide most text.
		if len(s) >= 3 {
			long = append(long, s)
		}
	}
	return fromGo(v, long)
}

func fromGo(v any, secrets []string) (starlark.Value, error) {
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
		for _, s := range secrets {
			if strings.Contains(v, s) {
				return NewSecret(v), nil
			}
		}
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
			sv, err := fromGo(x, secrets)
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
		isSecret := v["kind"] == "Secret"
		d := starlark.NewDict(len(v))
		for _, k := range keys {
			var sv starlark.Value
			var err error
			if isSecret && (k == "data" || k == "stringData") {
				sv, err = secretData(v[k])
			} else {
				sv, err = fromGo(v[k], secrets)
			}
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

// secretData converts a Secret's data or stringData: its keys stay
// visible, its string values become secret() values.
func secretData(v any) (starlark.Value, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return FromGo(v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := starlark.NewDict(len(m))
	for _, k := range keys {
		var sv starlark.Value = starlark.None
		switch x := m[k].(type) {
		case string:
			sv = NewSecret(x)
		case nil:
		default:
			return FromGo(v)
		}
		if err := d.SetKey(starlark.String(k), sv); err != nil {
			return nil, err
		}
	}
	d.Freeze()
	return d, nil
}
