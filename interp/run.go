package interp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// DefaultMaxSteps bounds the Starlark computation of one module; raise it
// with --max-steps.
const DefaultMaxSteps = 50_000_000

// RunOptions configure one evaluation of a plan.
type RunOptions struct {
	Engine *engine.Engine
	// Predeclared are plate's builtins (builtins/registry.Predeclared).
	Predeclared starlark.StringDict
	// Params are the bound parameter values (Plan.Bind).
	Params map[string]starlark.Value
	// MaxSteps bounds the execution steps per module (0: DefaultMaxSteps).
	MaxSteps uint64
	// MaxMemory bounds the memory the evaluation may hold, in bytes (0:
	// DefaultMaxMemory).
	MaxMemory uint64
	// ThreadInit, if set, prepares every thread (the plan's and each
	// loaded module's): tests attach reporters here.
	ThreadInit func(*starlark.Thread)
}

// Exec evaluates the plan once, as one pass of the engine. Loaded modules
// are evaluated once per call. The returned error is an *exit.Error naming
// the plan position.
func (p *Plan) Exec(ctx context.Context, opts RunOptions) error {
	_, err := p.ExecModule(ctx, opts)
	return err
}

// ExecModule evaluates the plan as Exec does and returns its globals (plate
// test reads a test file's test_* functions from them).
func (p *Plan) ExecModule(ctx context.Context, opts RunOptions) (starlark.StringDict, error) {
	l := &loader{
		plan:        p,
		ctx:         ctx,
		opts:        opts,
		predeclared: withStandard(opts.Predeclared),
		cache:       map[string]*module{},
	}
	l.mem = guardMemory(opts.MaxMemory, p.Name)
	defer l.mem.close()
	thread := l.newThread(p.Name)
	stop := context.AfterFunc(ctx, func() { thread.Cancel("interrupted") })
	defer stop()
	thread.SetLocal(paramsKey, &boundParams{plan: p.Name, values: opts.Params})
	globals, err := execFile(thread, p.Name, p.src, l.predeclared)
	// Concurrent steps still in flight run to their end (or are skipped),
	// whatever happened to the plan; their failures are summarized.
	var drainErr error
	if opts.Engine != nil {
		drainErr = opts.Engine.Drain()
	}
	if ctx.Err() != nil {
		return nil, &exit.Error{Code: exit.Interrupted, Msg: "interrupted", Err: ctx.Err()}
	}
	if drainErr != nil {
		return nil, drainErr
	}
	if err != nil {
		if why := l.mem.tripped(); why != "" {
			// Where the plan was when it was stopped, in the guard's words.
			xe := &exit.Error{Code: exit.PlanFailed, Msg: why, Err: err}
			var ce *exit.Error
			if errors.As(Convert(err), &ce) {
				xe.Pos, xe.Backtrace = ce.Pos, ce.Backtrace
			}
			return nil, xe
		}
		return nil, Convert(err)
	}
	return globals, nil
}

// NewThread returns a thread set up like the plan's own (loader, print,
// step limit, run state) for calling the plan's functions from Go, as
// plate test calls test_* functions.
func (p *Plan) NewThread(ctx context.Context, opts RunOptions, name string) *starlark.Thread {
	l := &loader{plan: p, ctx: ctx, opts: opts, predeclared: withStandard(opts.Predeclared), cache: map[string]*module{}}
	return l.newThread(name)
}

// execFile runs a file with recovery: a Go panic anywhere in evaluation
// becomes an error instead of a crash.
func execFile(thread *starlark.Thread, name string, src []byte, predeclared starlark.StringDict) (g starlark.StringDict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &exit.Error{Code: exit.PlanFailed, Msg: fmt.Sprintf("internal error while running %s: %v", name, r)}
		}
	}()
	return starlark.ExecFileOptions(fileOptions, thread, name, src, predeclared)
}

type module struct {
	globals starlark.StringDict
	err     error
	loading bool
}

type loader struct {
	plan        *Plan
	ctx         context.Context
	opts        RunOptions
	predeclared starlark.StringDict
	cache       map[string]*module
	stack       []string
	// mem stops every thread when the evaluation holds too much memory
	// (nil: no guard).
	mem *memoryGuard
}

func (l *loader) newThread(name string) *starlark.Thread {
	t := &starlark.Thread{Name: name, Load: l.load}
	max := l.opts.MaxSteps
	if max == 0 {
		max = DefaultMaxSteps
	}
	t.SetMaxExecutionSteps(max)
	l.mem.add(t)
	t.Print = l.print
	builtins.SetRun(t, &builtins.Run{Ctx: l.ctx, Engine: l.opts.Engine, Root: l.plan.Root})
	builtins.SetClock(t, l.opts.Engine)
	if l.opts.ThreadInit != nil {
		l.opts.ThreadInit(t)
	}
	return t
}

// print turns print() into a trace event at the caller's position.
func (l *loader) print(thread *starlark.Thread, msg string) {
	eng := l.opts.Engine
	if eng == nil {
		return
	}
	// Positioned as every step is: the call, and the enclosing frames
	// when it is made inside a function.
	pos, stack := builtins.Position(thread)
	rec := eng.Recorder()
	rec.Emit(trace.Event{
		Step:    rec.NewStep(),
		Pass:    eng.Pass(),
		Phase:   trace.Done,
		Builtin: "print",
		Pos:     pos,
		Stack:   stack,
		Summary: msg,
	})
}

// ResolveModule turns a load() module string into an absolute path: "//x"
// is relative to root, anything else to the loading file's directory.
func ResolveModule(root, from, module string) (string, error) {
	if !strings.HasSuffix(module, ".star") {
		return "", fmt.Errorf("load(%q): module names end in .star", module)
	}
	return builtins.ResolvePath(root, from, module), nil
}

func (l *loader) load(thread *starlark.Thread, moduleName string) (starlark.StringDict, error) {
	from := thread.CallFrame(0).Pos.Filename()
	abs, err := ResolveModule(l.plan.Root, from, moduleName)
	if err != nil {
		return nil, err
	}
	name := displayName(l.plan.Root, abs)
	if m, ok := l.cache[abs]; ok {
		if m.loading {
			return nil, fmt.Errorf("load cycle: %s", strings.Join(append(l.cycleFrom(name), name), " -> "))
		}
		return m.globals, m.err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load(%q): no file %s", moduleName, name)
		}
		return nil, fmt.Errorf("load(%q): %v", moduleName, err)
	}
	if src, err = cleanSource(name, src); err != nil {
		return nil, err
	}
	m := &module{loading: true}
	l.cache[abs] = m
	l.stack = append(l.stack, name)
	t := l.newThread(name)
	g, err := execFile(t, name, src, l.predeclared)
	l.stack = l.stack[:len(l.stack)-1]
	m.loading = false
	if err != nil {
		m.err = &loadError{module: name, err: err}
	}
	m.globals = g
	return m.globals, m.err
}

func (l *loader) cycleFrom(name string) []string {
	chain := append([]string{l.plan.Name}, l.stack...)
	for i, n := range chain {
		if n == name {
			return chain[i:]
		}
	}
	return chain
}

// loadError marks an error raised while a loaded module ran, so that the
// message shows the load chain.
type loadError struct {
	module string
	err    error
}

func (e *loadError) Error() string { return fmt.Sprintf("in module %s: %v", e.module, e.err) }
func (e *loadError) Unwrap() error { return e.err }

// Convert turns an evaluation error into an *exit.Error with the innermost
// plan position, the Starlark backtrace (never a Go stack) and the exit code
// of the builtin error that caused it (1 when none). A secret() formatted
// into its message (fail("bad " + url), a value quoted by a builtin) shows
// as <redacted>.
func Convert(err error) error {
	out := convert(err)
	var xe *exit.Error
	if !errors.As(out, &xe) || xe != out {
		return out
	}
	if !trace.HasToken(xe.Msg) && !trace.HasToken(xe.Hint) && !trace.HasToken(xe.Backtrace) {
		return out
	}
	cp := *xe
	cp.Msg, cp.Hint, cp.Backtrace = trace.RedactTokens(xe.Msg), trace.RedactTokens(xe.Hint), trace.RedactTokens(xe.Backtrace)
	return &cp
}

func convert(err error) error {
	if err == nil {
		return nil
	}
	var xe *exit.Error
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		if errors.As(err, &xe) {
			return xe
		}
		if se, ok := err.(syntax.Error); ok {
			return convertStaticError(se)
		}
		return exit.Wrap(exit.PlanFailed, err)
	}
	out := &exit.Error{Code: exit.PlanFailed, Msg: ee.Msg, Err: err}
	// The innermost error decides the code and message; the outermost
	// stack (the plan's) decides the backtrace, with the load chain.
	var inner *starlark.EvalError = ee
	var chain []string
	for cur := error(ee); cur != nil; {
		var e2 *starlark.EvalError
		if errors.As(cur, &e2) {
			inner = e2
			var le *loadError
			if errors.As(e2.Unwrap(), &le) {
				chain = append(chain, fmt.Sprintf("%s (loaded at %s)", le.module, framePos(e2.CallStack)))
				cur = le.err
				continue
			}
		}
		break
	}
	if errors.As(inner.Unwrap(), &xe) {
		out.Code, out.Hint = xe.Code, xe.Hint
		out.Msg = xe.Msg
		if xe.Backtrace != "" {
			out.Hint = strings.TrimSpace(xe.Backtrace + "\n" + out.Hint)
		}
	} else {
		out.Msg = inner.Msg
		var se syntax.Error
		if errors.As(inner.Unwrap(), &se) {
			out.Code = exit.Usage
		}
	}
	out.Pos = framePos(inner.CallStack)
	var bt []string
	if len(chain) > 0 {
		bt = append(bt, "load chain: "+strings.Join(chain, " -> "))
	}
	bt = append(bt, backtrace(ee.CallStack)...)
	if inner != ee {
		bt = append(bt, backtrace(inner.CallStack)...)
	}
	out.Backtrace = strings.Join(bt, "\n")
	return out
}

// framePos is the position of the innermost Starlark (non-builtin) frame.
func framePos(stack starlark.CallStack) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i].Pos.Filename() != "<builtin>" {
			return posString(stack[i].Pos)
		}
	}
	return ""
}

func backtrace(stack starlark.CallStack) []string {
	var out []string
	for _, fr := range stack {
		if fr.Pos.Filename() == "<builtin>" {
			out = append(out, "  in "+fr.Name)
			continue
		}
		out = append(out, fmt.Sprintf("  %s: in %s", posString(fr.Pos), fr.Name))
	}
	return out
}

// Check parses and resolves the plan and every module it loads,
// transitively, without running anything: syntax errors, unknown names,
// missing modules, load cycles and names a module does not define are all
// reported with file:line:col.
func (p *Plan) Check(predeclared starlark.StringDict) error {
	_, err := p.CheckWithWarnings(predeclared)
	return err
}

// CheckWithWarnings is Check that also returns warnings: findings in the
// plan and the modules it loads that do not stop it, such as a helper
// parameter whose default would make the steps it forwards it to
// concurrent. Warnings found before an error are returned with it.
func (p *Plan) CheckWithWarnings(predeclared starlark.StringDict) ([]Warning, error) {
	c := &checker{root: p.Root, predeclared: withStandard(predeclared), done: map[string]map[string]bool{}}
	err := c.check(p.Abs, p.file, []string{p.Name})
	return c.warnings, err
}

type checker struct {
	root        string
	predeclared starlark.StringDict
	done        map[string]map[string]bool
	warnings    []Warning
}

func (c *checker) check(abs string, f *syntax.File, chain []string) error {
	name := displayName(c.root, abs)
	c.warnings = append(c.warnings, schedulingDefaults(f)...)
	for _, stmt := range f.Stmts {
		ld, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		mod := ld.ModuleName()
		pos := posString(ld.Module.TokenPos)
		target, err := ResolveModule(c.root, name, mod)
		if err != nil {
			return &exit.Error{Code: exit.Usage, Pos: pos, Msg: err.Error()}
		}
		tname := displayName(c.root, target)
		for _, n := range chain {
			if n == tname {
				return &exit.Error{Code: exit.Usage, Pos: pos, Msg: "load cycle: " + strings.Join(append(cycleFrom(chain, tname), tname), " -> ")}
			}
		}
		g, ok := c.done[target]
		if !ok {
			src, err := os.ReadFile(target)
			if err != nil {
				return &exit.Error{Code: exit.Usage, Pos: pos, Msg: fmt.Sprintf("load(%q): no file %s", mod, tname)}
			}
			if src, err = cleanSource(tname, src); err != nil {
				return err
			}
			tf, err := parseAndResolve(tname, src, c.predeclared)
			if err != nil {
				return err
			}
			if err := c.check(target, tf, append(chain, tname)); err != nil {
				return err
			}
			g = globals(tf)
			c.done[target] = g
		}
		for _, from := range ld.From {
			if !g[from.Name] || strings.HasPrefix(from.Name, "_") {
				var names []string
				for n := range g {
					if !strings.HasPrefix(n, "_") {
						names = append(names, n)
					}
				}
				return &exit.Error{Code: exit.Usage, Pos: posString(from.NamePos), Msg: fmt.Sprintf("load: %s does not define %q%s", tname, from.Name, didYouMean(from.Name, names))}
			}
		}
	}
	return nil
}

func cycleFrom(chain []string, name string) []string {
	for i, n := range chain {
		if n == name {
			return chain[i:]
		}
	}
	return chain
}

// Modules returns the absolute paths of every module the plan loads,
// transitively, sorted (a saved plan binds their digests).
func (p *Plan) Modules(predeclared starlark.StringDict) ([]string, error) {
	c := &checker{root: p.Root, predeclared: withStandard(predeclared), done: map[string]map[string]bool{}}
	if err := c.check(p.Abs, p.file, []string{p.Name}); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(c.done))
	for abs := range c.done {
		out = append(out, abs)
	}
	sort.Strings(out)
	return out, nil
}
