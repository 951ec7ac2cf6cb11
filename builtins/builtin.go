// Package builtins is the Starlark surface of plate: the types every builtin
// family uses, the central wrapper that turns each call into a trace step,
// and value conversion between Starlark and Go.
//
// A family lives in its own subpackage (builtins/core, builtins/kube, …) and
// exposes a Plugin. builtins/registry lists every plugin in one place and
// refuses duplicate names.
package builtins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// Builtin describes one plate builtin: its name, parameters, documentation,
// effect and implementation. Params and Doc are the single source of the
// reference (docs/builtins.md, `plate help BUILTIN`), of the names the trace
// gives positional arguments, and of the list Call.Unpack unpacks.
type Builtin struct {
	Name string
	// Params declare the parameters once, in order, as the signature shows
	// them: "release" (required), "namespace=None" or `timeout="5m"`
	// (optional, with the default the signature shows), "*targets" (the
	// positional arguments, which the builtin takes itself). Parameters
	// after a "*x" are keyword-only. A Concurrent builtin declares
	// "needs=None" too; the wrapper takes it, Fn never sees it.
	Params []string
	// Doc is the reference text (Markdown). It names every parameter.
	Doc    string
	Effect engine.Effect
	// Pure builtins build values (secret) and emit no trace event; they
	// are still wrapped so that a panic becomes a positioned error.
	Pure bool
	// Concurrent builtins take needs=: a call whose needs= names values of
	// earlier steps (or plan_start) is a concurrent step that starts once
	// its needs (and any pending step values among its arguments) are done,
	// and returns a Future at once. needs=None and needs=[] (the default,
	// and what a helper forwards when its caller passed nothing) leave the
	// call in sequence. The wrapper handles needs=; Fn never sees it.
	Concurrent bool
	// Fn implements the builtin. It unpacks its arguments with c.Unpack,
	// sets c.Report.Summary, and returns its value.
	Fn func(c *Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)
}

// Param is one declared parameter.
type Param struct {
	Name string
	// Default is the default as the signature shows it; "" for a
	// required parameter.
	Default  string
	Variadic bool
}

// Optional reports whether the parameter may be left out.
func (p Param) Optional() bool { return p.Default != "" }

// ParseParam parses one entry of Builtin.Params.
func ParseParam(s string) Param {
	if name, ok := strings.CutPrefix(s, "*"); ok {
		return Param{Name: name, Variadic: true}
	}
	name, def, _ := strings.Cut(s, "=")
	return Param{Name: name, Default: def}
}

// Parameters returns the declared parameters.
func (b Builtin) Parameters() []Param {
	out := make([]Param, len(b.Params))
	for i, s := range b.Params {
		out[i] = ParseParam(s)
	}
	return out
}

// Signature is the Python-style signature shown in docs:
// `helm_install(release, chart, namespace=None, …)`.
func (b Builtin) Signature() string {
	return b.Name + "(" + strings.Join(b.Params, ", ") + ")"
}

// declaration is what a builtin's Params say, parsed once when the builtin
// is wrapped (not on every call).
type declaration struct {
	params []Param
	// unpack is the UnpackArgs list: optional parameters take "??" (None
	// means not given); the variadic one and the wrapper's needs= are
	// left out.
	unpack []string
	// variadic is true when the builtin takes its positional arguments
	// itself.
	variadic bool
}

func (b Builtin) declare() *declaration {
	d := &declaration{params: b.Parameters()}
	for _, p := range d.params {
		switch {
		case p.Variadic:
			d.variadic = true
		case b.Concurrent && p.Name == "needs":
		case p.Optional():
			d.unpack = append(d.unpack, p.Name+"??")
		default:
			d.unpack = append(d.unpack, p.Name)
		}
	}
	return d
}

// Plugin is a family of builtins.
type Plugin interface {
	// Name is the family name ("helm", "kube", "core").
	Name() string
	Builtins() []Builtin
}

// Run is the per-pass state builtins reach through the thread.
type Run struct {
	Ctx    context.Context
	Engine *engine.Engine
	// Root is the absolute project root; plan files are named relative to it.
	Root string

	mu     sync.Mutex
	values map[starlark.Value]string
}

// recordValue remembers which step returned v, so that needs=[v] can name
// it. Only values with identity (pointers) are recorded.
func (r *Run) recordValue(v starlark.Value, step string) {
	if v == nil || step == "" || reflect.ValueOf(v).Kind() != reflect.Pointer {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.values == nil {
		r.values = map[starlark.Value]string{}
	}
	r.values[v] = step
}

func (r *Run) stepOf(v starlark.Value) (string, bool) {
	if sv, ok := v.(StepValue); ok && sv.StepID() != "" {
		return sv.StepID(), true
	}
	if reflect.ValueOf(v).Kind() != reflect.Pointer {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.values[v]
	return id, ok
}

const runKey = "plate.run"

// SetRun attaches r to thread.
func SetRun(thread *starlark.Thread, r *Run) { thread.SetLocal(runKey, r) }

// RunOf returns the run attached to thread.
func RunOf(thread *starlark.Thread) *Run {
	r, _ := thread.Local(runKey).(*Run)
	return r
}

// Call is one invocation of a builtin.
type Call struct {
	Thread *starlark.Thread
	Ctx    context.Context
	Engine *engine.Engine
	Step   *engine.Step
	// Report is the step's report; set its Summary and Detail.
	Report *engine.Report
	Name   string
	run    *Run
	// file is the module whose top-level code is running (the plan, or
	// the module being loaded): relative paths resolve against it.
	file string
	// site is the file of the call itself, for hints.
	site string
	// decl is the declaration of the called builtin.
	decl *declaration
}

// Unpack unpacks the call's arguments into dst, one pointer per declared
// parameter in declaration order (the variadic parameter and needs= left
// out: a builtin with "*x" takes args itself). A None argument for an
// optional parameter leaves it as not given. Errors name the builtin.
func (c *Call) Unpack(args starlark.Tuple, kwargs []starlark.Tuple, dst ...any) error {
	names := c.decl.unpack
	if len(names) != len(dst) {
		return fmt.Errorf("internal error: %s declares %d parameters but unpacks %d", c.Name, len(names), len(dst))
	}
	if c.decl.variadic {
		args = nil
	}
	pairs := make([]any, 0, 2*len(dst))
	for i, n := range names {
		pairs = append(pairs, n, dst[i])
	}
	if err := starlark.UnpackArgs(c.Name, args, kwargs, pairs...); err != nil {
		return err
	}
	// A string made from a secret() (see Secret) carries it as a token:
	// only values and manifests reveal it. A name, a namespace, a path or
	// a message would show it, or use the token itself.
	for i, d := range dst {
		if p, ok := d.(*string); ok && trace.HasToken(*p) {
			return fmt.Errorf("%s: for parameter %q: a secret() value (or a string made from one) cannot be used here: "+
				"it would be shown or used as is; secret() values go into set= values and kube_apply manifests", c.Name, strings.TrimSuffix(names[i], "??"))
		}
	}
	return nil
}

// Namespace resolves a namespace argument ("" when none was given) by
// plate's one rule: -n, else the kube context's, else "default"; an invalid
// name is a usage error naming the builtin.
func (c *Call) Namespace(arg string) (string, error) {
	ns, err := c.Engine.Namespace(arg)
	if err != nil {
		return "", exit.Errorf(exit.Usage, "%s: %v", c.Name, err)
	}
	return ns, nil
}

// Fail prefixes an error with the builtin's name, keeping its exit code
// (plan failed when it has none).
func (c *Call) Fail(err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		cp := *xe
		cp.Msg = c.Name + ": " + xe.Msg
		return &cp
	}
	return exit.Wrap(exit.PlanFailed, fmt.Errorf("%s: %w", c.Name, err))
}

// Path resolves a path written in a plan: "//x" is relative to the project
// root, an absolute path stays, anything else is relative to the directory
// of the module whose top-level code is running: the plan being run, or the
// module being loaded. A helper function defined in a loaded module and
// called from the plan resolves its callers' relative paths against the
// plan, so a team's deploy_service(name, chart, values) helper can take
// paths from its callers (Tilt's rule; Bazel resolves labels passed to a
// macro against the calling package likewise).
func (c *Call) Path(p string) string {
	return ResolvePath(c.run.Root, c.file, p)
}

// PathHint explains a path that does not exist: which file relative paths
// resolve against, and where else the path exists (relative to the file of
// the call itself, or to the project root), written as it would work. ""
// when the path exists or is absolute.
func (c *Call) PathHint(p string) string {
	if p == "" {
		return ""
	}
	if _, err := os.Stat(c.Path(p)); err == nil {
		return ""
	}
	if strings.HasPrefix(p, "//") {
		return RootHint(c.run.Root)
	}
	if filepath.IsAbs(p) {
		return ""
	}
	hint := fmt.Sprintf("relative paths resolve against %s, the file whose top-level code is running", c.file)
	for _, base := range []string{c.site, ""} {
		var abs string
		if base == "" {
			abs = filepath.Join(c.run.Root, filepath.FromSlash(p))
		} else if base != c.file {
			abs = ResolvePath(c.run.Root, base, p)
		} else {
			continue
		}
		if _, err := os.Stat(abs); err == nil {
			if rel, err := filepath.Rel(c.run.Root, abs); err == nil && !strings.HasPrefix(rel, "..") {
				return hint + fmt.Sprintf("; it exists at //%s (write that to name it from anywhere)", filepath.ToSlash(rel))
			}
		}
	}
	return hint
}

// RootHint says, for a "//" path that is not found, where the project root
// is, why it is there and how to move it, when the root was guessed (no
// .plateroot marks it, no PLATE_ROOT names it); "" otherwise.
func RootHint(root string) string {
	why := "the plan's own directory: no .plateroot or .git above the plan"
	switch {
	case os.Getenv("PLATE_ROOT") != "", exists(filepath.Join(root, ".plateroot")):
		return ""
	case exists(filepath.Join(root, ".git")):
		why = "the nearest directory above the plan with .git (there is no .plateroot above it)"
	}
	return fmt.Sprintf("// paths start at the project root %s (%s); put an empty .plateroot file at your project's top, or pass --root", root, why)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// topFile is the module whose top-level code makes a call at pos with the
// enclosing frames stack (outermost first).
func topFile(pos trace.Pos, stack []trace.Frame) string {
	if len(stack) > 0 && stack[0].Pos.File != "" {
		return stack[0].Pos.File
	}
	return pos.File
}

// ResolvePath resolves p as Call.Path does, for a call in file (relative to
// root).
func ResolvePath(root, file, p string) string {
	switch {
	case strings.HasPrefix(p, "//"):
		return filepath.Join(root, filepath.FromSlash(p[2:]))
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	dir := filepath.Dir(filepath.FromSlash(file))
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return filepath.Join(dir, filepath.FromSlash(p))
}

// Wrap turns b into a Starlark builtin whose every call is a step of the
// engine: position and redacted arguments recorded, events emitted, panics
// recovered into errors at the call's position.
func Wrap(b Builtin) *starlark.Builtin {
	d := b.declare()
	return starlark.NewBuiltin(b.Name, func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		run := RunOf(thread)
		if run == nil {
			return nil, fmt.Errorf("%s: called outside a plate run", b.Name)
		}
		if b.Pure {
			c := &Call{Thread: thread, Ctx: run.Ctx, Engine: run.Engine, Name: b.Name, run: run, Report: &engine.Report{}, decl: d}
			return callPure(b, c, args, kwargs)
		}
		pos, stack := Position(thread)
		var needs starlark.Value
		if b.Concurrent {
			needs, kwargs = splitNeeds(kwargs)
		}
		step := &engine.Step{
			Builtin: b.Name,
			Effect:  b.Effect,
			Pos:     pos,
			Stack:   stack,
			Args:    trace.RedactArgs(namedArgs(d.params, args, kwargs)),
		}
		if wantsConcurrency(needs) {
			return goConcurrent(thread, run, b, d, step, needs, args, kwargs)
		}
		// A step in sequence needs everything before it.
		if err := run.Engine.Barrier(run.Ctx); err != nil {
			run.Engine.Skip(step, err)
			return nil, err
		}
		args, kwargs, err := resolveArgs(args, kwargs)
		if err != nil {
			return nil, err
		}
		c := &Call{Thread: thread, Ctx: run.Ctx, Engine: run.Engine, Step: step, Name: b.Name, run: run, file: topFile(pos, stack), site: pos.File, decl: d}
		var result starlark.Value
		err = run.Engine.Do(run.Ctx, step, func(ctx context.Context, r *engine.Report) error {
			c.Ctx, c.Report = ctx, r
			v, err := b.Fn(c, args, kwargs)
			result = v
			return err
		})
		if err != nil {
			return nil, err
		}
		if result == nil {
			result = starlark.None
		}
		run.recordValue(result, step.ID)
		return result, nil
	})
}

// splitNeeds takes needs= out of a call's keyword arguments.
func splitNeeds(kwargs []starlark.Tuple) (starlark.Value, []starlark.Tuple) {
	var needs starlark.Value
	out := kwargs[:0:0]
	for _, kv := range kwargs {
		if k, _ := starlark.AsString(kv[0]); k == "needs" {
			needs = kv[1]
			continue
		}
		out = append(out, kv)
	}
	return needs, out
}

// goConcurrent schedules a call whose needs= asks for concurrency as a
// concurrent step.
func goConcurrent(thread *starlark.Thread, run *Run, b Builtin, d *declaration, step *engine.Step, needs starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	tasks, done, err := run.needTasks(b.Name, needs, args, kwargs)
	if err != nil {
		return nil, err
	}
	step.Needs = done
	// The plan goes on while the step waits: its arguments must not change.
	args.Freeze()
	for _, kv := range kwargs {
		kv[1].Freeze()
	}
	fut := &Future{builtin: b.Name}
	fut.task = run.Engine.Go(run.Ctx, step, tasks, func(ctx context.Context, r *engine.Report) error {
		a, k, err := resolveArgs(args, kwargs)
		if err != nil {
			return err
		}
		th := &starlark.Thread{Name: "step " + step.ID, Print: thread.Print, Load: thread.Load}
		SetRun(th, run)
		SetClock(th, run.Engine)
		c := &Call{Thread: th, Ctx: ctx, Engine: run.Engine, Step: step, Report: r, Name: b.Name, run: run, file: topFile(step.Pos, step.Stack), site: step.Pos.File, decl: d}
		v, err := b.Fn(c, a, k)
		fut.val = v
		return err
	})
	if !run.Engine.Writes() {
		// Dry passes run steps in plan order: the step is over.
		if err := fut.task.Err(); err != nil {
			return nil, err
		}
		v, _ := fut.Resolve()
		run.recordValue(v, step.ID)
		return v, nil
	}
	return fut, nil
}

// needTasks resolves needs= (plus pending step values among the
// arguments) into the tasks to wait for, and the ids of needed steps that
// are already done.
func (r *Run) needTasks(name string, needs starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) ([]*engine.Task, []string, error) {
	var tasks []*engine.Task
	var done []string
	seen := map[string]bool{}
	add := func(v starlark.Value) (bool, error) {
		if v == PlanStart {
			// The start of the plan is always done.
			return true, nil
		}
		if f, ok := v.(*Future); ok {
			if !seen[f.StepID()] {
				seen[f.StepID()] = true
				tasks = append(tasks, f.task)
			}
			return true, nil
		}
		id, ok := r.stepOf(v)
		if !ok {
			return false, nil
		}
		if t := r.Engine.Task(id); t != nil {
			if !seen[id] {
				seen[id] = true
				tasks = append(tasks, t)
			}
		} else if !seen[id] {
			seen[id] = true
			done = append(done, id)
		}
		return true, nil
	}
	if needs != starlark.None {
		it, ok := needs.(starlark.Iterable)
		if !ok {
			return nil, nil, exit.Errorf(exit.Usage, "%s: needs: got %s, want a list of values returned by earlier steps (or [plan_start])", name, needs.Type())
		}
		iter := it.Iterate()
		defer iter.Done()
		var x starlark.Value
		for i := 0; iter.Next(&x); i++ {
			ok, err := add(x)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				return nil, nil, exit.Errorf(exit.Usage, "%s: needs[%d]: got %s, want a release value or another value returned by an earlier step of this plan", name, i, x.Type())
			}
		}
	}
	for _, a := range args {
		if f, ok := a.(*Future); ok {
			add(f)
		}
	}
	for _, kv := range kwargs {
		if f, ok := kv[1].(*Future); ok {
			add(f)
		}
	}
	return tasks, done, nil
}

func callPure(b Builtin, c *Call, args starlark.Tuple, kwargs []starlark.Tuple) (v starlark.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, fmt.Errorf("internal error in %s: %v", b.Name, p)
		}
	}()
	v, err = b.Fn(c, args, kwargs)
	if err == nil && v == nil {
		v = starlark.None
	}
	return v, err
}

// Position returns the plan position of the current builtin call and the
// enclosing frames, outermost first.
func Position(thread *starlark.Thread) (trace.Pos, []trace.Frame) {
	stack := thread.CallStack()
	// stack[len-1] is the builtin itself; stack[len-2] holds the call site.
	n := len(stack)
	if n < 2 {
		return trace.Pos{}, nil
	}
	pos := toPos(stack[n-2].Pos.Filename(), int(stack[n-2].Pos.Line), int(stack[n-2].Pos.Col))
	var frames []trace.Frame
	for _, fr := range stack[:n-2] {
		frames = append(frames, trace.Frame{Func: fr.Name, Pos: toPos(fr.Pos.Filename(), int(fr.Pos.Line), int(fr.Pos.Col))})
	}
	return pos, frames
}

func toPos(file string, line, col int) trace.Pos {
	return trace.Pos{File: file, Line: line, Col: col}
}

// namedArgs names a call's arguments by the builtin's parameters, for the
// trace. Values are converted to plain Go data with secrets still marked.
func namedArgs(params []Param, args starlark.Tuple, kwargs []starlark.Tuple) map[string]any {
	out := map[string]any{}
	var variadic string
	var names []string
	for _, p := range params {
		if p.Variadic {
			variadic = p.Name
			continue
		}
		if variadic != "" {
			// Parameters after *args are keyword-only.
			break
		}
		names = append(names, p.Name)
	}
	var rest []any
	for i, a := range args {
		v := ForTrace(a)
		if i < len(names) {
			out[names[i]] = v
		} else if variadic != "" {
			rest = append(rest, v)
		} else {
			out[fmt.Sprintf("arg%d", i)] = v
		}
	}
	if rest != nil {
		out[variadic] = rest
	}
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		out[k] = ForTrace(kv[1])
	}
	return out
}

// Names returns the sorted names of builtins, for suggestions and docs.
func Names(bs []Builtin) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	sort.Strings(out)
	return out
}
