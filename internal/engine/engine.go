// Package engine executes the effects that plan builtins ask for.
//
// Builtins never call Helm or client-go themselves: they describe a step and
// hand the engine a function that uses the pass's adapters (world.go:
// Releases, Objects, Waits, Cluster, Asker, Backups, Files). The engine
// numbers the step, emits its trace events, and chooses the adapters once,
// by its pass: live, dry (dry-run and preflight), offline or scripted
// (plate test). Builtins never ask which. In the dry-run and preflight
// passes every adapter is built over a Kubernetes transport that refuses
// writes (see internal/kube.ReadOnly) and local files go through a
// localfs.Plan that writes nothing, so "dry-run writes nothing" holds by
// construction, not by a flag each builtin checks.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/selector"
	"github.com/plate-dev/plate/internal/trace"
)

// Effect says what a builtin does to the world.
type Effect int

const (
	// Read builtins only read; they run in every pass.
	Read Effect = iota
	// Write builtins change the cluster (or local files); in dry passes
	// they run against adapters that cannot write and end as Planned.
	Write
	// Ask builtins interact with the user (confirm).
	Ask
)

// Prompter asks the user a yes/no question (internal/ask).
type Prompter = ask.Prompter

// Options configure an Engine.
type Options struct {
	Pass     trace.Pass
	Recorder *trace.Recorder
	Prompter Prompter
	// Yes answers every confirmation with yes (--yes).
	Yes bool
	// Strict makes a values key a chart does not have an error
	// (--strict), not a warning.
	Strict bool
	// Kube says which cluster the adapters talk to.
	Kube kube.Settings
	// Offline forbids contacting any cluster (dry-run --offline): builtins
	// render and validate locally.
	Offline bool
	// KubeVersion is the Kubernetes version an offline render assumes
	// (--kube-version); default kube.DefaultVersion.
	KubeVersion string
	// Concurrency bounds concurrent steps (--concurrency); default
	// DefaultConcurrency.
	Concurrency int
	// Script, for `plate test`, answers the pass's reads; a pass with a
	// script is offline.
	Script *Script
	// Fence, in a run pass, is called before each write to the cluster
	// (the live adapters' one check point): an error stops that write and
	// fails its step. The runner checks there that the run still holds its
	// locks.
	Fence func(ctx context.Context) error
	// LockHolder describes the plate run that holds (or held) the run
	// lock of release name in namespace, for the refusal of a release
	// whose latest revision is pending ("" when not known).
	LockHolder func(ctx context.Context, name, namespace string) string
	// Check, in a run pass, is asked before every write that records a
	// change (see WriteCheck); nil: none.
	Check WriteCheck
	// NoRefCheck turns the reference check of dry passes off (the
	// benchmark that measures what it costs).
	NoRefCheck bool
	// Selector picks the releases the pass acts on (-l); the steps of
	// other releases are skipped (Selects).
	Selector selector.Set
}

// Selects reports whether the pass acts on release name in namespace
// (-l); when it does not, why is the trace summary of the skipped step.
func (e *Engine) Selects(name, namespace string) (ok bool, why string) {
	if e.opts.Selector.Match(name, namespace) {
		return true, ""
	}
	return false, "not selected by " + e.opts.Selector.String() + ": left as it is"
}

// Engine runs the steps of one pass of a plan.
type Engine struct {
	opts Options

	kubeOnce sync.Once
	kube     *kube.Client
	kubeErr  error

	helmOnce sync.Once
	helm     *helm.Client
	helmErr  error

	schedOnce sync.Once
	sched     *sched

	// world holds the pass's adapters, chosen once by New.
	world world
	// planned is the pass's planned world, shared by the Kubernetes and
	// Helm adapters.
	planned *kube.Planned

	stateMu sync.Mutex
	state   map[any]any
	// changes are the changes to releases the pass's steps recorded.
	changes []trace.Change
	// rollbackOnFailure is set by the plan (rollback_on_failure()).
	rollbackOnFailure bool
	// checksOver is set once the write check is no longer asked.
	checksOver bool
	// refChecks is the pass's reference checker (refcheck.go).
	refChecks refChecks
}

// SetRollbackOnFailure records that the plan asks for its changes to be
// rolled back if the run fails.
func (e *Engine) SetRollbackOnFailure() {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	e.rollbackOnFailure = true
}

// RollbackOnFailure reports whether the plan asked for rollback on failure.
func (e *Engine) RollbackOnFailure() bool {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	return e.rollbackOnFailure
}

// New returns an engine for one pass.
func New(opts Options) *Engine {
	if opts.Script != nil {
		opts.Offline = true
	}
	if opts.Recorder == nil {
		opts.Recorder = trace.NewRecorder(nil)
	}
	e := &Engine{opts: opts, planned: kube.NewPlanned(), state: map[any]any{}}
	e.world = e.newWorld()
	return e
}

// State returns the pass's state of a builtin family under key, made by
// init on first use. A family keeps what must last across its calls within
// one pass here (as Tilt's plugins keep theirs in the model), so that no
// state outlives its pass or leaks between passes.
func (e *Engine) State(key any, init func() any) any {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	if v, ok := e.state[key]; ok {
		return v
	}
	v := init()
	e.state[key] = v
	return v
}

// Pass returns the engine's pass.
func (e *Engine) Pass() trace.Pass { return e.opts.Pass }

// Writes reports whether this pass makes changes. The central wrapper and
// the scheduler use it (dry passes run concurrent steps at once, in plan
// order, so dry traces stay deterministic); builtin families never do: the
// adapters they get cannot write when it is false, and their results say
// what was planned.
func (e *Engine) Writes() bool { return e.opts.Pass == trace.Run }

// Strict reports whether a values key a chart does not have is an error
// (--strict) rather than a warning.
func (e *Engine) Strict() bool { return e.opts.Strict }

// Recorder returns the trace recorder.
func (e *Engine) Recorder() *trace.Recorder { return e.opts.Recorder }

// UsedCluster reports whether any step of this pass connected to the cluster.
func (e *Engine) UsedCluster() bool { return e.kube != nil }

// KubeVersion is the Kubernetes version an offline render assumes.
func (e *Engine) KubeVersion() string {
	if e.opts.KubeVersion == "" {
		return kube.DefaultVersion
	}
	return e.opts.KubeVersion
}

// kubeClient returns the Kubernetes client of this pass, connecting on
// first use. In dry passes the client's transport refuses every write that
// is not a server-side dry run. Only the adapters use it.
func (e *Engine) kubeClient() (*kube.Client, error) {
	e.kubeOnce.Do(func() {
		if e.opts.Offline {
			e.kubeErr = errors.New("offline: no cluster is contacted (--offline)")
			return
		}
		e.kube, e.kubeErr = kube.Connect(e.opts.Kube, !e.Writes())
		if e.kube != nil {
			e.kube.Planned = e.planned
		}
	})
	return e.kube, e.kubeErr
}

// Step describes one builtin call.
type Step struct {
	ID      string
	Builtin string
	Effect  Effect
	Pos     trace.Pos
	Stack   []trace.Frame
	Args    map[string]any
	Needs   []string
	// Concurrent marks a step scheduled with Go.
	Concurrent bool
	// Subject is what the step acts on, as the builtin resolved it; set
	// it before the step's first event (the builtin sets it through
	// Report.Subject).
	Subject *trace.Subject
}

// Report is what a step tells the trace about itself.
type Report struct {
	// Summary is the one-line summary shown on the trace line.
	Summary string
	// Detail is structured detail (a diff, a readiness report).
	Detail any
	// Phase overrides the closing phase (e.g. Skipped); zero means the
	// engine's default.
	Phase trace.Phase
	// ShowDetail prints Detail under the trace line without -v (the
	// status table: the step's detail is its output).
	ShowDetail bool

	// Changes are the changes to releases the step made (would make).
	Changes []trace.Change
	// Diff is what the step changes (would change), object by object.
	Diff *trace.Diff
	// Warnings are mistakes that did not stop the step.
	Warnings []string
	// findings are the reference check's findings (Findings).
	findings []trace.Finding

	step *Step
	eng  *Engine
}

// Subject records what the step acts on.
func (r *Report) Subject(release, namespace string) {
	r.step.Subject = &trace.Subject{Release: release, Namespace: namespace}
}

// Object records the object a step acts on ("Kind/name", or "N objects").
func (r *Report) Object(object, namespace string) {
	r.step.Subject = &trace.Subject{Object: object, Namespace: namespace}
}

// SetSubject records what the step acts on, in full.
func (r *Report) SetSubject(s trace.Subject) { r.step.Subject = &s }

// Change records a change the step made (in a dry pass: would make).
func (r *Report) Change(c trace.Change) { r.Changes = append(r.Changes, c) }

// Progress emits a progress event for the step.
func (r *Report) Progress(summary string, detail any) {
	r.eng.emit(r.step, trace.Progress, summary, detail)
}

// Do runs fn as step s: it emits the step's events around fn and returns
// fn's error, annotated with the step's builtin name.
func (e *Engine) Do(ctx context.Context, s *Step, fn func(ctx context.Context, r *Report) error) (err error) {
	if s.ID == "" {
		s.ID = e.opts.Recorder.NewStep()
	}
	if e.Writes() {
		e.emit(s, trace.Started, "", nil)
	}
	r := &Report{step: s, eng: e}
	defer func() {
		if p := recover(); p != nil {
			err = exit.Errorf(exit.PlanFailed, "internal error in %s: %v", s.Builtin, p)
		}
		interrupted := err != nil && (exit.Code(err) == exit.Interrupted || errors.Is(err, context.Canceled))
		phase := r.Phase
		switch {
		case err != nil:
			phase = trace.Failed
			r.Summary = firstLine(err)
		case phase != "":
		case e.Writes() || s.Effect == Read:
			phase = trace.Done
		default:
			phase = trace.Planned
		}
		e.emitClosing(s, phase, r, interrupted)
	}()
	if err := ctx.Err(); err != nil {
		return exit.Wrap(exit.Interrupted, fmt.Errorf("interrupted before %s", s.Builtin))
	}
	return fn(withStep(ctx, s), r)
}

func (e *Engine) emitClosing(s *Step, phase trace.Phase, r *Report, interrupted bool) {
	ev := e.event(s, phase, r.Summary, r.Detail)
	ev.Changes = r.Changes
	ev.Diff, ev.Warnings = r.Diff, r.Warnings
	ev.Findings = r.findings
	ev.Interrupted = interrupted
	ev.ShowDetail = r.ShowDetail
	if len(r.Changes) > 0 {
		e.stateMu.Lock()
		e.changes = append(e.changes, r.Changes...)
		e.stateMu.Unlock()
	}
	e.opts.Recorder.Emit(ev)
}

func (e *Engine) emit(s *Step, phase trace.Phase, summary string, detail any) {
	e.opts.Recorder.Emit(e.event(s, phase, summary, detail))
}

func (e *Engine) event(s *Step, phase trace.Phase, summary string, detail any) trace.Event {
	return trace.Event{
		Step:       s.ID,
		Pass:       e.opts.Pass,
		Phase:      phase,
		Builtin:    s.Builtin,
		Pos:        s.Pos,
		Stack:      s.Stack,
		Args:       s.Args,
		Needs:      s.Needs,
		Concurrent: s.Concurrent,
		Subject:    s.Subject,
		Summary:    summary,
		Detail:     detail,
	}
}

func firstLine(err error) string {
	var pe *exit.Error
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Msg
	}
	for i := 0; i < len(msg); i++ {
		if msg[i] == '\n' {
			return msg[:i]
		}
	}
	return msg
}
