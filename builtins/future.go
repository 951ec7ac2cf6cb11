package builtins

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/internal/engine"
)

// Future is the value a concurrent step (a call with needs=) returns at
// once: it stands for the step's result. Reading it (an attribute, its
// string, passing it to a sequential builtin) waits until the step is done;
// if the step failed or was skipped, reading an attribute is an error that
// names the step.
type Future struct {
	task    *engine.Task
	builtin string
	val     starlark.Value
}

var (
	_ starlark.HasAttrs = (*Future)(nil)
	_ StepValue         = (*Future)(nil)
	_ ObjectSet         = (*Future)(nil)
)

// Resolve waits for the step and returns its value.
func (f *Future) Resolve() (starlark.Value, error) {
	if err := f.task.Wait(); err != nil {
		st := f.task.Step
		return nil, fmt.Errorf("%s (step %s at %s) did not succeed: %v", f.builtin, st.ID, st.Pos, err)
	}
	if f.val == nil {
		return starlark.None, nil
	}
	return f.val, nil
}

func (f *Future) resolved() starlark.Value {
	v, err := f.Resolve()
	if err != nil {
		return nil
	}
	return v
}

// StepID is the id of the step the future stands for.
func (f *Future) StepID() string { return f.task.Step.ID }

func (f *Future) String() string {
	if v := f.resolved(); v != nil {
		return v.String()
	}
	return fmt.Sprintf("<failed %s %s>", f.builtin, f.task.Step.ID)
}

// Type is the type of the step's value (waiting for it).
func (f *Future) Type() string {
	if v := f.resolved(); v != nil {
		return v.Type()
	}
	return "failed_step"
}

func (f *Future) Freeze() {}

func (f *Future) Truth() starlark.Bool {
	if v := f.resolved(); v != nil {
		return v.Truth()
	}
	return starlark.False
}

func (f *Future) Hash() (uint32, error) {
	v, err := f.Resolve()
	if err != nil {
		return 0, err
	}
	return v.Hash()
}

// Attr waits for the step and reads an attribute of its value.
func (f *Future) Attr(name string) (starlark.Value, error) {
	v, err := f.Resolve()
	if err != nil {
		return nil, err
	}
	if ha, ok := v.(starlark.HasAttrs); ok {
		return ha.Attr(name)
	}
	return nil, nil
}

// AttrNames lists the attributes of the step's value.
func (f *Future) AttrNames() []string {
	if ha, ok := f.resolved().(starlark.HasAttrs); ok {
		return ha.AttrNames()
	}
	return nil
}

// Objects waits for the step and lists the objects of its value.
func (f *Future) Objects() []ObjectRef {
	if os, ok := f.resolved().(ObjectSet); ok {
		return os.Objects()
	}
	return nil
}

// Release waits for the step and names the release of its value, if any.
func (f *Future) Release() string {
	if os, ok := f.resolved().(ObjectSet); ok {
		return os.Release()
	}
	return ""
}

// ReleaseRevision waits for the step and names the release revision of its
// value; ok is false when the value is no release revision.
func (f *Future) ReleaseRevision() (name, namespace string, revision int) {
	if rr, ok := f.resolved().(ReleaseRevision); ok {
		return rr.ReleaseRevision()
	}
	return "", "", 0
}

// Describe names the step.
func (f *Future) Describe() string {
	return fmt.Sprintf("the result of %s (step %s at %s)", f.builtin, f.task.Step.ID, f.task.Step.Pos)
}

// ToGo converts the step's value.
func (f *Future) ToGo(reveal bool) (any, error) {
	v, err := f.Resolve()
	if err != nil {
		return nil, err
	}
	return convert(v, reveal, 0)
}

// resolveArgs replaces futures among a call's arguments (and in lists and
// tuples directly among them) by their values, waiting for them.
func resolveArgs(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Tuple, []starlark.Tuple, error) {
	var err error
	one := func(v starlark.Value) starlark.Value {
		switch x := v.(type) {
		case *Future:
			r, e := x.Resolve()
			if e != nil && err == nil {
				err = e
			}
			return r
		case *starlark.List:
			if !hasFuture(x) {
				return v
			}
			out := make([]starlark.Value, x.Len())
			for i := range out {
				out[i] = x.Index(i)
				if f, ok := out[i].(*Future); ok {
					r, e := f.Resolve()
					if e != nil && err == nil {
						err = e
					}
					out[i] = r
				}
			}
			return starlark.NewList(out)
		}
		return v
	}
	nargs := make(starlark.Tuple, len(args))
	for i, a := range args {
		nargs[i] = one(a)
	}
	nkw := make([]starlark.Tuple, len(kwargs))
	for i, kv := range kwargs {
		nkw[i] = starlark.Tuple{kv[0], one(kv[1])}
	}
	return nargs, nkw, err
}

func hasFuture(l *starlark.List) bool {
	for i := 0; i < l.Len(); i++ {
		if _, ok := l.Index(i).(*Future); ok {
			return true
		}
	}
	return false
}
