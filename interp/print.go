package interp

import (
	"fmt"
	"os"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/internal/trace"
)

// printBuiltin is Starlark's print(*args, sep=" ") with plate's redaction
// rules applied to what it shows, as the trace applies them to arguments:
// secret() values (and strings made from them) show <redacted>, and so do
// the values under secret-looking keys of dicts and structs (password,
// token, key, …) and the data and stringData values of Secret objects,
// such as kube_get and kube_apply return. The printed values themselves
// are not changed.
func printBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	sep := " "
	if err := starlark.UnpackArgs("print", nil, kwargs, "sep?", &sep); err != nil {
		return nil, err
	}
	var buf strings.Builder
	for i, v := range args {
		if i > 0 {
			buf.WriteString(sep)
		}
		v = forPrint(v, 0)
		if s, ok := v.(starlark.String); ok {
			buf.WriteString(string(s))
		} else {
			buf.WriteString(v.String())
		}
	}
	msg := trace.RedactTokens(buf.String())
	if thread.Print != nil {
		thread.Print(thread, msg)
	} else {
		fmt.Fprintln(os.Stderr, msg)
	}
	return starlark.None, nil
}

// redacted prints as <redacted>, without quotes, as a secret() does.
type redacted struct{}

func (redacted) String() string        { return trace.Redacted }
func (redacted) Type() string          { return "redacted" }
func (redacted) Freeze()               {}
func (redacted) Truth() starlark.Bool  { return true }
func (redacted) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable") }

// forPrint returns a copy of v in which the values print must not show
// are replaced (see printBuiltin); values with nothing to hide are
// returned as they are.
func forPrint(v starlark.Value, depth int) starlark.Value {
	if depth > 100 {
		return v
	}
	switch x := v.(type) {
	case *starlark.Dict:
		kind, _, _ := x.Get(starlark.String("kind"))
		isSecret := kind == starlark.String("Secret")
		d := starlark.NewDict(x.Len())
		for _, kv := range x.Items() {
			_ = d.SetKey(kv[0], forPrintEntry(kv[0], kv[1], isSecret, depth))
		}
		return d
	case *starlark.List:
		out := make([]starlark.Value, x.Len())
		for i := range out {
			out[i] = forPrint(x.Index(i), depth+1)
		}
		return starlark.NewList(out)
	case starlark.Tuple:
		out := make(starlark.Tuple, len(x))
		for i, e := range x {
			out[i] = forPrint(e, depth+1)
		}
		return out
	case *starlarkstruct.Struct:
		d := starlark.StringDict{}
		x.ToStringDict(d)
		for k, e := range d {
			d[k] = forPrintEntry(starlark.String(k), e, false, depth)
		}
		return starlarkstruct.FromStringDict(x.Constructor(), d)
	}
	return v
}

func forPrintEntry(k, v starlark.Value, inSecret bool, depth int) starlark.Value {
	name, ok := starlark.AsString(k)
	if !ok || v == starlark.None {
		return forPrint(v, depth+1)
	}
	if inSecret && (name == "data" || name == "stringData") {
		if d, ok := v.(*starlark.Dict); ok {
			out := starlark.NewDict(d.Len())
			for _, kv := range d.Items() {
				_ = out.SetKey(kv[0], redacted{})
			}
			return out
		}
		return redacted{}
	}
	if trace.SecretName(name) {
		return redacted{}
	}
	return forPrint(v, depth+1)
}
