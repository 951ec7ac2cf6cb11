package builtins

import (
	"strings"
	"testing"
	"time"

	sttime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
)

func TestArgumentTypes(t *testing.T) {
	list := func(xs ...starlark.Value) *starlark.List { return starlark.NewList(xs) }
	for _, tc := range []struct {
		name string
		v    starlark.Value
		dst  starlark.Unpacker
		want any
		err  string
	}{
		{name: "duration string", v: starlark.String("90s"), dst: &Duration{}, want: Duration{D: 90 * time.Second, Set: true}},
		{name: "duration with spaces", v: starlark.String(" 5m "), dst: &Duration{}, want: Duration{D: 5 * time.Minute, Set: true}},
		{name: "time.duration", v: sttime.Duration(time.Minute), dst: &Duration{}, want: Duration{D: time.Minute, Set: true}},
		{name: "seconds", v: starlark.MakeInt(30), dst: &Duration{}, want: Duration{D: 30 * time.Second, Set: true}},
		{name: "fractional seconds", v: starlark.Float(1.5), dst: &Duration{}, want: Duration{D: 1500 * time.Millisecond, Set: true}},
		{name: "zero", v: starlark.String("0s"), dst: &Duration{}, want: Duration{Set: true}},
		{name: "None is not given", v: starlark.None, dst: &Duration{}, want: Duration{}},
		{name: "bad duration", v: starlark.String("soon"), dst: &Duration{}, err: `want a duration like "5m" or "90s", got "soon"`},
		{name: "negative duration", v: starlark.String("-1s"), dst: &Duration{}, err: "not negative"},
		{name: "negative time.duration", v: sttime.Duration(-time.Second), dst: &Duration{}, err: "not negative"},
		{name: "huge seconds", v: starlark.MakeInt64(1 << 62), dst: &Duration{}, err: "out of range"},
		{name: "duration of a list", v: list(), dst: &Duration{}, err: "got list, want a duration"},
		{name: "count", v: starlark.MakeInt(3), dst: &Count{}, want: Count{N: 3, Set: true}},
		{name: "count zero", v: starlark.MakeInt(0), dst: &Count{}, want: Count{Set: true}},
		{name: "count None", v: starlark.None, dst: &Count{}, want: Count{}},
		{name: "negative count", v: starlark.MakeInt(-1), dst: &Count{}, err: "want a count from 0"},
		{name: "count of a string", v: starlark.String("3"), dst: &Count{}, err: "got string, want an int"},
		{name: "revision", v: starlark.MakeInt(4), dst: &Revision{}, want: Revision{N: 4}},
		{name: "revision None", v: starlark.None, dst: &Revision{}, want: Revision{}},
		{name: "revision zero", v: starlark.MakeInt(0), dst: &Revision{}, err: "want a revision number ≥ 1, got 0"},
		{name: "revision string", v: starlark.String("4"), dst: &Revision{}, err: "got string, want int or None"},
		{name: "one string", v: starlark.String("a"), dst: &StringList{}, want: StringList{"a"}},
		{name: "list of strings", v: list(starlark.String("a"), starlark.String("b")), dst: &StringList{}, want: StringList{"a", "b"}},
		{name: "tuple of strings", v: starlark.Tuple{starlark.String("a")}, dst: &StringList{}, want: StringList{"a"}},
		{name: "string list None", v: starlark.None, dst: &StringList{}, want: StringList(nil)},
		{name: "list holding an int", v: list(starlark.MakeInt(1)), dst: &StringList{}, err: "got a list holding int (element 0), want strings"},
		{name: "dict is no string list", v: starlark.NewDict(0), dst: &StringList{}, err: "got dict, want a string or a list of strings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dst.Unpack(tc.v)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Unpack(%s) = %v, want error %q", tc.v, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unpack(%s): %v", tc.v, err)
			}
			var got any
			switch d := tc.dst.(type) {
			case *Duration:
				got = *d
			case *Count:
				got = *d
			case *Revision:
				got = *d
			case *StringList:
				got = *d
			}
			if !equal(got, tc.want) {
				t.Errorf("Unpack(%s) = %#v, want %#v", tc.v, got, tc.want)
			}
		})
	}
}

func equal(a, b any) bool {
	if la, ok := a.(StringList); ok {
		lb := b.(StringList)
		return len(la) == len(lb) && strings.Join(la, "\x00") == strings.Join(lb, "\x00")
	}
	return a == b
}

func TestDurationOptions(t *testing.T) {
	var d Duration
	if d.Or(time.Minute) != time.Minute || d.Grace() != 0 {
		t.Errorf("not given: Or %s, Grace %s", d.Or(time.Minute), d.Grace())
	}
	d = Duration{Set: true}
	if d.Or(time.Minute) != 0 || d.Grace() != -1 {
		t.Errorf("explicit 0: Or %s, Grace %s", d.Or(time.Minute), d.Grace())
	}
	if (Count{}).Threshold() != 0 || (Count{Set: true}).Threshold() != -1 || (Count{N: 2, Set: true}).Threshold() != 2 {
		t.Error("Count.Threshold")
	}
}
