package plantest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// T is the `t` value a test function receives.
type T struct {
	name     string
	plan     *interp.Plan // the test file
	opts     Options
	pre      starlark.StringDict
	failures []string
	// harness are the runs that could not start (no such plan, a bad
	// parameter): a test that never looks at their error or code fails.
	harness []*runResult
}

func newT(name string, plan *interp.Plan, o Options, pre starlark.StringDict) *T {
	return &T{name: name, plan: plan, opts: o, pre: pre}
}

var _ starlark.HasAttrs = (*T)(nil)

func (t *T) String() string        { return "<t " + t.name + ">" }
func (t *T) Type() string          { return "t" }
func (t *T) Freeze()               {}
func (t *T) Truth() starlark.Bool  { return true }
func (t *T) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: t") }

var tMethods = []string{"before", "contains", "eq", "fails", "index", "name", "run", "true"}

// AttrNames lists t's methods.
func (t *T) AttrNames() []string { return tMethods }

// Attr returns a method.
func (t *T) Attr(name string) (starlark.Value, error) {
	var fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)
	switch name {
	case "name":
		return starlark.String(t.name), nil
	case "run":
		fn = t.run
	case "eq":
		fn = t.eq
	case "true":
		fn = t.isTrue
	case "contains":
		fn = t.contains
	case "index":
		fn = t.index
	case "before":
		fn = t.before
	case "fails":
		fn = t.fails
	default:
		return nil, nil
	}
	return starlark.NewBuiltin("t."+name, fn), nil
}

// errorf records a failure at pos (the assertion's position).
func (t *T) errorf(pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if pos != "" {
		msg = pos + ": " + msg
	}
	t.failures = append(t.failures, msg)
}

func callerPos(thread *starlark.Thread) string {
	fr := thread.CallFrame(1)
	return fmt.Sprintf("%s:%d", fr.Pos.Filename(), fr.Pos.Line)
}

// run executes a plan against a scripted cluster:
// t.run(plan, params={}, cluster={}) → struct(effects, error, code, output).
func (t *T) run(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var planPath string
	var params *starlark.Dict
	var cluster starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "plan", &planPath, "params?", &params, "cluster?", &cluster); err != nil {
		return nil, err
	}
	file := thread.CallFrame(1).Pos.Filename()
	abs := builtins.ResolvePath(t.plan.Root, file, planPath)
	script, err := scriptOf(cluster)
	if err != nil {
		return nil, fmt.Errorf("%s: cluster: %v", b.Name(), err)
	}
	var kvs []interp.KV
	if params != nil {
		for _, item := range params.Items() {
			k, ok := starlark.AsString(item[0])
			if !ok {
				return nil, fmt.Errorf("%s: params keys must be strings", b.Name())
			}
			kvs = append(kvs, interp.KV{Name: k, Value: plainString(item[1])})
		}
	}
	var out strings.Builder
	var events []trace.Event
	var openErr error
	runErr := func() error {
		p, err := runner.Open(abs, t.plan.Root, t.pre, kvs)
		if err != nil {
			openErr = err
			return err
		}
		return runner.New(p, runner.Options{
			Script: script,
			Now:    testClock(),
			Sinks: []trace.Sink{
				trace.SinkFunc(func(e trace.Event) { events = append(events, e) }),
				trace.NewText(&out, trace.TextOptions{}),
			},
		}).Pass(context.Background(), trace.DryRun)
	}()
	effects := make([]starlark.Value, 0)
	for _, ev := range events {
		v, err := builtins.FromGo(effectOf(ev))
		if err != nil {
			return nil, err
		}
		effects = append(effects, v)
	}
	list := starlark.NewList(effects)
	list.Freeze()
	var errVal starlark.Value = starlark.None
	code := 0
	if runErr != nil {
		code = exit.Code(runErr)
		var xe *exit.Error
		if errors.As(runErr, &xe) {
			errVal = starlark.String(xe.Error())
		} else {
			errVal = starlark.String(runErr.Error())
		}
	}
	r := &runResult{Struct: starlarkstruct.FromStringDict(starlark.String("run"), starlark.StringDict{
		"effects": list,
		"error":   errVal,
		"code":    starlark.MakeInt(code),
		"output":  starlark.String(out.String()),
		"plan":    starlark.String(filepath.ToSlash(planPath)),
	})}
	if openErr != nil {
		r.pos, r.plan, r.err = callerPos(thread), planPath, openErr
		t.harness = append(t.harness, r)
	}
	return r, nil
}

// runResult is what t.run returns: a struct that remembers whether the
// test looked at its error or code.
type runResult struct {
	*starlarkstruct.Struct
	checked bool
	// pos, plan and err describe a run that could not start.
	pos, plan string
	err       error
}

var _ starlark.HasAttrs = (*runResult)(nil)

// Attr reads a field; reading error or code counts as checking them.
func (r *runResult) Attr(name string) (starlark.Value, error) {
	if name == "error" || name == "code" {
		r.checked = true
	}
	return r.Struct.Attr(name)
}

// uncheckedHarnessErrors fails the test for each run that could not start
// (a plan that does not exist, a parameter the plan does not declare or
// refuses) and whose error or code the test never read: such a run is a
// mistake in the test, not something it checks.
func (t *T) uncheckedHarnessErrors() {
	for _, r := range t.harness {
		if !r.checked {
			t.errorf(r.pos, "t.run(%q) could not run the plan: %s (check r.error or r.code if the test expects that)", r.plan, firstLineOf(r.err))
		}
	}
}

func firstLineOf(err error) string {
	msg := err.Error()
	var xe *exit.Error
	if errors.As(err, &xe) {
		msg = xe.Error()
	}
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

// effectOf is the dict a test sees for one trace event.
func effectOf(ev trace.Event) map[string]any {
	m := map[string]any{
		"builtin": ev.Builtin,
		"phase":   string(ev.Phase),
		"pos":     ev.Pos.String(),
		"summary": ev.Summary,
		"step":    ev.Step,
		"args":    map[string]any{},
		"needs":   []any{},
	}
	if ev.Args != nil {
		m["args"] = jsonish(ev.Args)
	}
	for _, n := range ev.Needs {
		m["needs"] = append(m["needs"].([]any), n)
	}
	return m
}

// jsonish turns recorded argument values into the plain data FromGo takes.
func jsonish(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = jsonish(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = jsonish(x)
		}
		return out
	case nil, bool, int64, float64, string:
		return v
	}
	return fmt.Sprint(v)
}

func plainString(v starlark.Value) string {
	switch v := v.(type) {
	case starlark.String:
		return string(v)
	case starlark.Bool:
		if v {
			return "true"
		}
		return "false"
	}
	return v.String()
}

// scriptOf reads a scripted cluster:
//
//	{"context": "...", "server": "...", "uid": "...",
//	 "releases": [{"name", "namespace", "revision", "status", "chart", "chart_version"}],
//	 "objects": [k8s objects], "ready": {"plate-web": "failed: CrashLoopBackOff"},
//	 "health": "ok", "confirm": [True, False]}
func scriptOf(v starlark.Value) (*engine.Script, error) {
	s := &engine.Script{Context: "plate-test", Server: "https://plate-test.invalid", UID: "00000000-0000-0000-0000-000000000000"}
	if v == starlark.None {
		return s, nil
	}
	g, err := builtins.ToGo(v)
	if err != nil {
		return nil, err
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a dict, got %s", v.Type())
	}
	known := map[string]bool{"context": true, "server": true, "uid": true, "releases": true, "objects": true, "ready": true, "health": true, "confirm": true}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			return nil, fmt.Errorf("unknown key %q (known: context, server, uid, releases, objects, ready, health, confirm)", k)
		}
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	if c := str("context"); c != "" {
		s.Context = c
	}
	if c := str("server"); c != "" {
		s.Server = c
	}
	if c := str("uid"); c != "" {
		s.UID = c
	}
	s.Health = str("health")
	if rs, ok := m["releases"].([]any); ok {
		for i, r := range rs {
			rm, ok := r.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("releases[%d]: want a dict", i)
			}
			get := func(k string) string { s, _ := rm[k].(string); return s }
			rev, _ := rm["revision"].(int64)
			if rev == 0 {
				rev = 1
			}
			st := get("status")
			if st == "" {
				st = "deployed"
			}
			s.Releases = append(s.Releases, engine.ScriptRelease{Name: get("name"), Namespace: get("namespace"), Status: st, Chart: get("chart"), ChartVersion: get("chart_version"), AppVersion: get("app_version"), Revision: int(rev)})
		}
	}
	if os, ok := m["objects"].([]any); ok {
		for i, o := range os {
			om, ok := o.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("objects[%d]: want a dict", i)
			}
			s.Objects = append(s.Objects, om)
		}
	}
	if rd, ok := m["ready"].(map[string]any); ok {
		s.Ready = map[string]string{}
		for k, x := range rd {
			s.Ready[k] = fmt.Sprint(x)
		}
	}
	if cs, ok := m["confirm"].([]any); ok {
		for _, c := range cs {
			b, _ := c.(bool)
			s.Confirms = append(s.Confirms, b)
		}
	}
	return s, s.Validate()
}

// eq: t.eq(got, want, msg="")
func (t *T) eq(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var got, want starlark.Value
	var msg string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "got", &got, "want", &want, "msg?", &msg); err != nil {
		return nil, err
	}
	if ok, err := starlark.Equal(got, want); err == nil && ok {
		return starlark.None, nil
	}
	g, _ := builtins.ToGo(got)
	w, _ := builtins.ToGo(want)
	t.errorf(callerPos(thread), "%snot equal (-want +got):\n%s", prefix(msg), cmp.Diff(w, g))
	return starlark.None, nil
}

func prefix(msg string) string {
	if msg == "" {
		return ""
	}
	return msg + ": "
}

// isTrue: t.true(cond, msg="")
func (t *T) isTrue(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cond starlark.Value
	var msg string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cond", &cond, "msg?", &msg); err != nil {
		return nil, err
	}
	if !cond.Truth() {
		if msg == "" {
			msg = "condition is false"
		}
		t.errorf(callerPos(thread), "%s", msg)
	}
	return starlark.None, nil
}

// effectsOf accepts a run result or a list of effects.
func effectsOf(v starlark.Value) ([]map[string]any, error) {
	if r, ok := v.(*runResult); ok {
		v = r.Struct
	}
	if s, ok := v.(*starlarkstruct.Struct); ok {
		e, err := s.Attr("effects")
		if err != nil {
			return nil, fmt.Errorf("want a t.run result or a list of effects")
		}
		v = e
	}
	g, err := builtins.ToGo(v)
	if err != nil {
		return nil, err
	}
	list, ok := g.([]any)
	if !ok {
		return nil, fmt.Errorf("want a t.run result or a list of effects, got %s", v.Type())
	}
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out, nil
}

// match reports whether effect matches pattern: every key of the pattern
// must match; dicts match as subsets, lists element-wise (each pattern
// element must match some element), strings exactly or, with a "re:"
// prefix, as a regular expression.
func match(pattern, actual any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		a, ok := actual.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !match(pv, a[k]) {
				return false
			}
		}
		return true
	case []any:
		a, ok := actual.([]any)
		if !ok {
			return false
		}
		for _, pe := range p {
			found := false
			for _, ae := range a {
				if match(pe, ae) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case string:
		if re, ok := strings.CutPrefix(p, "re:"); ok {
			s, isStr := actual.(string)
			m, err := regexp.MatchString(re, s)
			return isStr && err == nil && m
		}
		return p == actual
	}
	return cmp.Equal(pattern, actual)
}

func indexOf(effects []map[string]any, pattern map[string]any) int {
	for i, e := range effects {
		if match(pattern, e) {
			return i
		}
	}
	return -1
}

// nearest explains a miss with a diff against the closest effect.
func nearest(effects []map[string]any, pattern map[string]any) string {
	best, score := -1, -1
	for i, e := range effects {
		if s := similarity(pattern, e); s > score {
			best, score = i, s
		}
	}
	if best < 0 {
		return "there are no effects"
	}
	proj := map[string]any{}
	for k := range pattern {
		proj[k] = effects[best][k]
	}
	return fmt.Sprintf("nearest effect (#%d at %v), -want +got:\n%s", best, effects[best]["pos"], cmp.Diff(pattern, proj))
}

// similarity counts the leaves of pattern that actual matches.
func similarity(pattern, actual any) int {
	p, ok := pattern.(map[string]any)
	if !ok {
		if match(pattern, actual) {
			return 1
		}
		return 0
	}
	a, _ := actual.(map[string]any)
	n := 0
	for k, pv := range p {
		n += similarity(pv, a[k])
	}
	return n
}

func patternOf(v starlark.Value) (map[string]any, error) {
	g, err := builtins.ToGo(v)
	if err != nil {
		return nil, err
	}
	m, ok := g.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a dict pattern such as {\"builtin\": \"helm_install\", \"args\": {\"release\": \"plate-api\"}}, got %s", v.Type())
	}
	return m, nil
}

// contains: t.contains(run_or_effects, pattern, msg="")
func (t *T) contains(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, pat starlark.Value
	var msg string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "effects", &src, "pattern", &pat, "msg?", &msg); err != nil {
		return nil, err
	}
	effects, err := effectsOf(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	p, err := patternOf(pat)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if indexOf(effects, p) < 0 {
		t.errorf(callerPos(thread), "%sno effect matches %s\n%s", prefix(msg), pat, nearest(effects, p))
	}
	return starlark.None, nil
}

// index: t.index(run_or_effects, pattern) → the first matching effect's
// index, or -1.
func (t *T) index(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, pat starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "effects", &src, "pattern", &pat); err != nil {
		return nil, err
	}
	effects, err := effectsOf(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	p, err := patternOf(pat)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.MakeInt(indexOf(effects, p)), nil
}

// before: t.before(run_or_effects, first, second, msg="") asserts that an
// effect matching first happened before one matching second.
func (t *T) before(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, first, second starlark.Value
	var msg string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "effects", &src, "first", &first, "second", &second, "msg?", &msg); err != nil {
		return nil, err
	}
	effects, err := effectsOf(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	p1, err := patternOf(first)
	if err != nil {
		return nil, err
	}
	p2, err := patternOf(second)
	if err != nil {
		return nil, err
	}
	i, j := indexOf(effects, p1), indexOf(effects, p2)
	switch {
	case i < 0:
		t.errorf(callerPos(thread), "%sno effect matches %s\n%s", prefix(msg), first, nearest(effects, p1))
	case j < 0:
		t.errorf(callerPos(thread), "%sno effect matches %s\n%s", prefix(msg), second, nearest(effects, p2))
	case i >= j:
		t.errorf(callerPos(thread), "%s%s (#%d at %v) did not happen before %s (#%d at %v)", prefix(msg), first, i, effects[i]["pos"], second, j, effects[j]["pos"])
	}
	return starlark.None, nil
}

// fails: t.fails(run_or_function, regex) asserts that a run stopped, or
// that calling the function fails, with an error matching regex.
func (t *T) fails(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	var pattern string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "run_or_fn", &x, "regex", &pattern); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: regex: %v", b.Name(), err)
	}
	var msg string
	if r, ok := x.(*runResult); ok {
		r.checked = true
		x = r.Struct
	}
	switch v := x.(type) {
	case *starlarkstruct.Struct:
		e, err := v.Attr("error")
		if err != nil {
			return nil, fmt.Errorf("%s: want a t.run result or a function", b.Name())
		}
		if e == starlark.None {
			t.errorf(callerPos(thread), "the run of %s succeeded; want it to fail with %q", mustAttr(v, "plan"), pattern)
			return starlark.None, nil
		}
		msg, _ = starlark.AsString(e)
	case starlark.Callable:
		_, err := starlark.Call(thread, v, nil, nil)
		if err == nil {
			t.errorf(callerPos(thread), "%s succeeded; want it to fail with %q", v.Name(), pattern)
			return starlark.None, nil
		}
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			msg = ee.Msg
		} else {
			msg = err.Error()
		}
	default:
		return nil, fmt.Errorf("%s: want a t.run result or a function, got %s", b.Name(), x.Type())
	}
	if !re.MatchString(msg) {
		t.errorf(callerPos(thread), "error does not match %q:\n%s", pattern, msg)
	}
	return starlark.None, nil
}

func mustAttr(s *starlarkstruct.Struct, name string) string {
	v, _ := s.Attr(name)
	if str, ok := starlark.AsString(v); ok {
		return str
	}
	return "the plan"
}
