package builtins

import (
	"fmt"
	"math"
	"strings"
	"time"

	sttime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

// The argument types every builtin family shares. Each is a
// starlark.Unpacker; None means "not given" for all of them, because every
// optional parameter is unpacked with starlark's "??" suffix (see Param), so
// passing the documented default None is the same as leaving it out.

var (
	_ starlark.Unpacker = (*Duration)(nil)
	_ starlark.Unpacker = (*Count)(nil)
	_ starlark.Unpacker = (*Revision)(nil)
	_ starlark.Unpacker = (*StringList)(nil)
)

// Duration is a duration argument: a Go duration string ("90s", "5m",
// "1m30s"), a time.duration (time.minute * 5), or a number of seconds. It
// is never negative; Set tells whether it was given.
type Duration struct {
	D   time.Duration
	Set bool
}

// Unpack implements starlark.Unpacker.
func (d *Duration) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.String:
		x, err := time.ParseDuration(strings.TrimSpace(string(v)))
		if err != nil {
			return fmt.Errorf("want a duration like \"5m\" or \"90s\", got %q", string(v))
		}
		d.D = x
	case sttime.Duration:
		d.D = time.Duration(v)
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return fmt.Errorf("want a duration, got %s seconds (out of range)", v)
		}
		d.D = time.Duration(n) * time.Second
	case starlark.Float:
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1e9 {
			return fmt.Errorf("want a duration, got %s seconds", v)
		}
		d.D = time.Duration(float64(v) * float64(time.Second))
	default:
		return fmt.Errorf("got %s, want a duration like \"5m\", a time.duration or a number of seconds", v.Type())
	}
	if d.D < 0 {
		return fmt.Errorf("want a duration that is not negative, got %s", d.D)
	}
	d.Set = true
	return nil
}

// Or returns the duration, or def when none was given.
func (d Duration) Or(def time.Duration) time.Duration {
	if !d.Set {
		return def
	}
	return d.D
}

// Grace returns the duration in the form of a grace option: 0 (not given)
// means the default, an explicit 0 means no grace at all (-1).
func (d Duration) Grace() time.Duration {
	switch {
	case !d.Set:
		return 0
	case d.D == 0:
		return -1
	}
	return d.D
}

// Count is an optional count (an int from 0); Set tells whether it was
// given.
type Count struct {
	N   int32
	Set bool
}

// Unpack implements starlark.Unpacker.
func (c *Count) Unpack(v starlark.Value) error {
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
	c.N, c.Set = int32(n), true
	return nil
}

// Threshold returns the count in the form of a threshold option: 0 (not
// given) means the default, an explicit 0 turns the check off (-1).
func (c Count) Threshold() int32 {
	switch {
	case !c.Set:
		return 0
	case c.N == 0:
		return -1
	}
	return c.N
}

// Revision is an optional release revision number (from 1); 0 means not
// given.
type Revision struct{ N int }

// Unpack implements starlark.Unpacker.
func (r *Revision) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 1 || n > math.MaxInt32 {
			return fmt.Errorf("want a revision number ≥ 1, got %s", v)
		}
		r.N = int(n)
		return nil
	}
	return fmt.Errorf("got %s, want int or None", v.Type())
}

// StringList is a list (or tuple) of strings, or one string.
type StringList []string

// Unpack implements starlark.Unpacker.
func (l *StringList) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		return nil
	case starlark.String:
		*l = []string{string(v)}
		return nil
	case *starlark.List, starlark.Tuple:
		it := v.(starlark.Iterable).Iterate()
		defer it.Done()
		var x starlark.Value
		for i := 0; it.Next(&x); i++ {
			s, ok := starlark.AsString(x)
			if !ok {
				return fmt.Errorf("got a list holding %s (element %d), want strings", x.Type(), i)
			}
			*l = append(*l, s)
		}
		return nil
	}
	return fmt.Errorf("got %s, want a string or a list of strings", v.Type())
}
