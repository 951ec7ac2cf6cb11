// Package runner runs a plan the way `plate run` does: it prepares the plan
// (open, check, bind the -p values), builds one engine per pass, runs the
// preflight, takes the run lock, runs the real pass and, when that pass
// stops, reports what it did and how to roll back. Its output hooks put the
// trace of each pass (text with live progress, JSON lines, or the step
// graph), the headers and the footers on the command's output, and hand
// every event to extra sinks.
//
// cmd/plate turns flags into Options and calls Run; plate test
// (internal/plantest) runs its scripted passes through a Runner; the
// builtin tests run plans through it with internal/runner/runnertest.
//
// The runner installs no signal handler: the caller's context carries
// interrupts (Main cancels it on the first SIGINT or SIGTERM).
package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/internal/selector"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// Options configure a run. The zero value of each field is a sensible
// default; cmd/plate fills them from its flags.
type Options struct {
	// Plan is the plan file; Root the project root (empty: the nearest
	// .plateroot or .git above the plan).
	Plan string
	Root string
	// Params are the -p name=value arguments as given: Run binds them to
	// the plan's parameters, and they name the run lock.
	Params []string
	// Plugins are the builtin families (default registry.Plugins).
	Plugins func() []builtins.Plugin
	// Predeclared adds names to the builtins' (tests add assert).
	Predeclared starlark.StringDict

	// DryRun runs the dry-run pass alone; Graph, with it, prints the step
	// graph as a Mermaid flowchart instead of the trace.
	DryRun bool
	Graph  bool
	// Offline contacts no cluster (dry runs); KubeVersion is the
	// Kubernetes version an offline render assumes.
	Offline     bool
	KubeVersion string
	// Script answers the reads of a plan test's scripted pass (an offline
	// dry run).
	Script *engine.Script
	// Selector picks the releases the run acts on (-l); the steps of the
	// other releases are skipped (internal/selector).
	Selector selector.Set
	// Kube says which cluster the passes talk to.
	Kube kube.Settings
	// Yes answers every confirmation with yes; Prompter asks otherwise.
	Yes      bool
	Prompter engine.Prompter
	// Strict makes a values key a chart does not have an error (--strict).
	Strict bool
	// Concurrency bounds concurrent steps (0: the engine's default);
	// MaxSteps bounds the Starlark steps per module (0: interp's default).
	Concurrency int
	MaxSteps    uint64
	// MaxMemory bounds the memory a pass's evaluation may hold, in bytes
	// (0: interp's default).
	MaxMemory uint64
	// LockNamespace holds the run lock's Lease (default "default"). NoLock
	// runs without the lock (tests that count writes or run in parallel).
	LockNamespace string
	NoLock        bool
	// RollbackOnFailure: when the run pass fails (or is interrupted),
	// roll back every release it changed (--rollback-on-failure; a plan
	// asks for it with rollback_on_failure()).
	RollbackOnFailure bool

	// Out receives the trace, the headers and footers and print() output;
	// nil: the runner prints nothing of its own (tests read Sinks).
	Out io.Writer
	// ErrOut receives the stop report and the lock's complaints; nil:
	// discarded.
	ErrOut io.Writer
	// JSON prints the trace as JSON lines, without headers and footers;
	// otherwise Text configures the text trace. TTY says Out is a
	// terminal (waits then draw a live progress view).
	JSON bool
	Text trace.TextOptions
	TTY  bool
	// Now is the clock of the trace and the lock (default time.Now).
	Now func() time.Time
	// Sinks receive every event of every pass, besides Out.
	Sinks []trace.Sink
	// ThreadInit prepares every Starlark thread (tests attach reporters).
	ThreadInit func(*starlark.Thread)

	// Checked, when set, is called after a dry pass (the dry run, or the
	// preflight) succeeds, with the plan and the pass's engine; after a
	// preflight, before the run lock is taken and again once it is held,
	// before the run pass. An error stops the run there (a saved plan is
	// written, or checked, there).
	Checked func(ctx context.Context, p *Plan, eng *engine.Engine) error
	// Check is asked before every write of the run pass (a saved plan's
	// effects, internal/planfile); nil: none.
	Check engine.WriteCheck
}

// Plan is a plan ready to run: opened, checked and with its parameters
// bound.
type Plan struct {
	*interp.Plan
	// Predeclared are the names the plan runs with.
	Predeclared starlark.StringDict
	// Params are the bound parameter values.
	Params map[string]starlark.Value
}

// Predeclared returns the builtins of o.Plugins with o.Predeclared added.
func Predeclared(o Options) (starlark.StringDict, error) {
	plugins := o.Plugins
	if plugins == nil {
		plugins = registry.Plugins
	}
	pre, err := registry.Predeclared(plugins())
	if err != nil {
		return nil, exit.Wrap(exit.PlanFailed, err)
	}
	for name, v := range o.Predeclared {
		pre[name] = v
	}
	return pre, nil
}

// ParseParams parses -p name=value arguments.
func ParseParams(raw []string) ([]interp.KV, error) {
	var kvs []interp.KV
	for _, s := range raw {
		kv, err := interp.ParseKV(s)
		if err != nil {
			return nil, exit.Errorf(exit.Usage, "-p/--param: %v", err)
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// Prepare opens o.Plan, checks it and binds o.Params.
func Prepare(o Options) (*Plan, error) {
	kvs, err := ParseParams(o.Params)
	if err != nil {
		return nil, err
	}
	pre, err := Predeclared(o)
	if err != nil {
		return nil, err
	}
	return Open(o.Plan, o.Root, pre, kvs)
}

// Open opens the plan at path, checks it against pre and binds kvs.
func Open(path, root string, pre starlark.StringDict, kvs []interp.KV) (*Plan, error) {
	plan, err := interp.Open(path, root, pre)
	if err != nil {
		return nil, err
	}
	if err := plan.Check(pre); err != nil {
		return nil, err
	}
	values, err := plan.Bind(kvs)
	if err != nil {
		return nil, err
	}
	return &Plan{Plan: plan, Predeclared: pre, Params: values}, nil
}

// Run prepares the plan of o and runs it (see Runner.Run).
func Run(ctx context.Context, o Options) error {
	p, err := Prepare(o)
	if err != nil {
		return err
	}
	return New(p, o).Run(ctx)
}

// Runner runs the passes of one prepared plan.
type Runner struct {
	plan *Plan
	o    Options
	out  *output
	// locks are the run's locks once taken; the run pass's writes are
	// fenced by them.
	locks *lock.Set
}

// New returns a runner of p.
func New(p *Plan, o Options) *Runner {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ErrOut == nil {
		o.ErrOut = io.Discard
	}
	// The lock's renewals write to ErrOut from their own goroutine.
	o.ErrOut = &syncWriter{w: o.ErrOut}
	if o.LockNamespace == "" {
		o.LockNamespace = "default"
	}
	if o.Text.Namespace == "" && o.Out != nil && !o.JSON {
		o.Text.Namespace = o.Kube.DefaultNamespace()
	}
	return &Runner{plan: p, o: o, out: &output{
		w:     o.Out,
		json:  o.JSON,
		text:  o.Text,
		tty:   o.TTY,
		now:   o.Now,
		sinks: o.Sinks,
		graph: o.Graph,
	}}
}

// Run runs the plan: with DryRun, the dry-run pass (or, with Graph, the
// step graph); otherwise the preflight, which writes nothing, then, if it
// succeeded, the run lock (when the preflight used the cluster) and the
// run pass. A run pass that stops is followed by the stop report.
func (r *Runner) Run(ctx context.Context) error {
	name := r.plan.Name
	if r.o.Graph {
		err := r.Pass(ctx, trace.DryRun)
		if err == nil && r.out.w != nil {
			g := trace.BuildGraph(r.out.events)
			g.Namespace = r.o.Kube.DefaultNamespace()
			g.WriteMermaid(r.out.w)
		}
		return err
	}
	if r.o.DryRun {
		r.out.header(fmt.Sprintf("dry-run of %s%s: nothing will be written", name, r.selected()))
		eng, err := r.pass(ctx, trace.DryRun)
		r.noteRollbackOnFailure(eng, err)
		if err == nil && r.o.Checked != nil {
			err = r.o.Checked(ctx, r.plan, eng)
		}
		return err
	}
	r.out.header(fmt.Sprintf("preflight of %s%s: nothing is written yet", name, r.selected()))
	preflight, err := r.pass(ctx, trace.Preflight)
	if err != nil {
		r.out.note("preflight failed: nothing was written")
		return err
	}
	r.noteRollbackOnFailure(preflight, nil)
	if r.o.Checked != nil {
		if err := r.o.Checked(ctx, r.plan, preflight); err != nil {
			return err
		}
	}
	if preflight.UsedCluster() && !r.o.NoLock {
		release, err := r.lock(ctx, preflight.Recorder().Events())
		if err != nil {
			return err
		}
		defer release()
		// Again under the lock: a run of the plan that ended while the
		// lock was taken is seen.
		if r.o.Checked != nil {
			if err := r.o.Checked(ctx, r.plan, preflight); err != nil {
				return err
			}
		}
	}
	r.out.header(fmt.Sprintf("run of %s%s", name, r.selected()))
	eng, err := r.pass(ctx, trace.Run)
	eng.EndChecks()
	if err != nil && (r.o.RollbackOnFailure || eng.RollbackOnFailure()) {
		if r.locks != nil && r.locks.Lost() != nil {
			fmt.Fprintln(r.o.ErrOut, "plate: rollback on failure skipped: this run lost its lock, and another run may be changing these releases")
			return err
		}
		r.rollbackOnFailure(ctx, eng)
	}
	return err
}

// selected names the selectors in a header: " (only the releases selected
// by -l name=api)".
func (r *Runner) selected() string {
	if r.o.Selector.Empty() {
		return ""
	}
	return " (only the releases selected by " + r.o.Selector.String() + ")"
}

// noteRollbackOnFailure says, after a dry pass, what the run would roll
// back if it failed, when rollback on failure is asked for.
func (r *Runner) noteRollbackOnFailure(eng *engine.Engine, err error) {
	if err != nil || eng == nil || !(r.o.RollbackOnFailure || eng.RollbackOnFailure()) {
		return
	}
	us := undos(eng.Recorder().Events())
	if len(us) == 0 {
		r.out.note("on failure: nothing to roll back (no Helm release would change)")
		return
	}
	r.out.note("on failure, the run would roll back, in this order: " + strings.Join(describeUndos(us), "; "))
}

// Pass runs one pass of the plan with its output: the trace, the footer
// and, after a run pass that stopped, the stop report.
func (r *Runner) Pass(ctx context.Context, ps trace.Pass) error {
	_, err := r.pass(ctx, ps)
	return err
}

func (r *Runner) pass(ctx context.Context, ps trace.Pass) (*engine.Engine, error) {
	rec, end := r.out.recorder()
	eng := r.engine(ps, rec)
	since := time.Now()
	err := r.plan.Exec(ctx, r.execOptions(eng))
	if ps == trace.Run && err == nil && r.locks != nil {
		// A run that lost its lock after its last write says so: what it
		// deployed and waited for may have been changed by the other run.
		err = lostErr(r.locks.Check(ctx), "another run may have changed what this run deployed")
	}
	end()
	r.out.footer(ps, rec.Events(), err)
	if ps == trace.Run && err != nil {
		why := "interrupted"
		if c := exit.Code(err); c != exit.Interrupted {
			why = "stopped: " + exit.Name(c)
		}
		// The run's locks are asked again (a run stopped by an interrupt
		// or a failure may have lost them since its last write) while the
		// releases are read: both are bounded, together by
		// stopReadTimeout.
		lost := make(chan bool, 1)
		go func() { lost <- r.locks != nil && r.locks.Check(context.WithoutCancel(ctx)) != nil }()
		st := Stop{Events: rec.Events(), Namespace: r.o.Kube.DefaultNamespace(), Since: since}
		if !r.o.Offline && r.o.Script == nil {
			st.Found = ReadReleases(ctx, eng.Releases(), st.Releases(), stopReadTimeout)
		}
		if <-lost {
			if exit.Code(err) == exit.Interrupted {
				why = "interrupted, and this run had lost its lock"
			} else {
				why = "stopped: this run lost its lock"
			}
		}
		st.Why = why
		st.Write(r.o.ErrOut)
	}
	return eng, err
}

// RunOptions returns what evaluating the plan as one pass needs, with a
// new engine whose events go to Sinks only: plate test evaluates its test
// files and calls their functions with it.
func (r *Runner) RunOptions(ps trace.Pass) interp.RunOptions {
	return r.execOptions(r.engine(ps, trace.NewRecorder(r.o.Now, r.o.Sinks...)))
}

func (r *Runner) execOptions(eng *engine.Engine) interp.RunOptions {
	return interp.RunOptions{
		Engine:      eng,
		Predeclared: r.plan.Predeclared,
		Params:      r.plan.Params,
		MaxSteps:    r.o.MaxSteps,
		MaxMemory:   r.o.MaxMemory,
		ThreadInit:  r.o.ThreadInit,
	}
}

// engine is the one place an engine is built: one per pass, from the
// run's options. The engine picks its adapters (live, dry, offline,
// scripted) from the pass and these options.
func (r *Runner) engine(ps trace.Pass, rec *trace.Recorder) *engine.Engine {
	var check engine.WriteCheck
	if ps == trace.Run {
		check = r.o.Check
	}
	return engine.New(engine.Options{
		Check:       check,
		Pass:        ps,
		Recorder:    rec,
		Prompter:    r.o.Prompter,
		Yes:         r.o.Yes,
		Strict:      r.o.Strict,
		Kube:        r.o.Kube,
		Offline:     r.o.Offline,
		KubeVersion: r.o.KubeVersion,
		Concurrency: r.o.Concurrency,
		Script:      r.o.Script,
		Fence:       r.fence,
		LockHolder:  r.lockHolder,
		Selector:    r.o.Selector,
	})
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
