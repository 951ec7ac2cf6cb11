// Package engine executes the effects that plan builtins ask for.
//
// Builtins never call Helm or client-go themselves: they describe a step and
// hand the engine a function that uses the engine's adapters. The engine
// numbers the step, emits its trace events and decides, by its pass, which
// adapters the step gets. In the dry-run and preflight passes every adapter
// is built over a Kubernetes transport that refuses writes (see
// internal/kube.ReadOnly), so "dry-run writes nothing" holds by
// construction, not by a flag each builtin checks.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
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

// Prompter asks the user a yes/no question.
type Prompter interface {
	// CanPrompt reports whether a question can be asked (stdin and stdout
	// are terminals).
	CanPrompt() bool
	// Confirm asks message and returns the answer; def is what an empty
	// answer means.
	Confirm(message string, def bool) (bool, error)
}

// Options configure an Engine.
type Options struct {
	Pass     trace.Pass
	Recorder *trace.Recorder
	Prompter Prompter
	// Yes answers every confirmation with yes (--yes).
	Yes bool
	// Kube says which cluster the adapters talk to.
	Kube kube.Settings
	// Stdout receives print() output that is not part of the trace.
	Stdout io.Writer
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
}

// ErrOffline is returned by Kube in an offline dry run.
var ErrOffline = errors.New("offline: no cluster is contacted (--offline)")

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
}

// New returns an engine for one pass.
func New(opts Options) *Engine {
	if opts.Script != nil {
		opts.Offline = true
	}
	if opts.Recorder == nil {
		opts.Recorder = trace.NewRecorder(nil)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	return &Engine{opts: opts}
}

// Pass returns the engine's pass.
func (e *Engine) Pass() trace.Pass { return e.opts.Pass }

// Writes reports whether this pass makes changes. Builtins use it only to
// choose the words of a summary ("install" or "would install"); the
// adapters they get cannot write when it is false.
func (e *Engine) Writes() bool { return e.opts.Pass == trace.Run }

// Recorder returns the trace recorder.
func (e *Engine) Recorder() *trace.Recorder { return e.opts.Recorder }

// UsedCluster reports whether any step of this pass connected to the cluster.
func (e *Engine) UsedCluster() bool { return e.kube != nil }

// Offline reports whether this is an offline dry run.
func (e *Engine) Offline() bool { return e.opts.Offline }

// KubeVersion is the Kubernetes version an offline render assumes.
func (e *Engine) KubeVersion() string {
	if e.opts.KubeVersion == "" {
		return kube.DefaultVersion
	}
	return e.opts.KubeVersion
}

// Yes reports whether --yes was given.
func (e *Engine) Yes() bool { return e.opts.Yes }

// Prompter returns the prompter, or nil.
func (e *Engine) Prompter() Prompter { return e.opts.Prompter }

// KubeSettings returns the cluster settings of the run.
func (e *Engine) KubeSettings() kube.Settings { return e.opts.Kube }

// Kube returns the Kubernetes client of this pass, connecting on first use.
// In dry passes the client's transport refuses every write that is not a
// server-side dry run.
func (e *Engine) Kube() (*kube.Client, error) {
	e.kubeOnce.Do(func() {
		if e.opts.Offline {
			e.kubeErr = ErrOffline
			return
		}
		e.kube, e.kubeErr = kube.Connect(e.opts.Kube, !e.Writes())
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

	step *Step
	eng  *Engine
}

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
		e.emit(s, phase, r.Summary, r.Detail)
	}()
	if err := ctx.Err(); err != nil {
		return exit.Wrap(exit.Interrupted, fmt.Errorf("interrupted before %s", s.Builtin))
	}
	return fn(ctx, r)
}

func (e *Engine) emit(s *Step, phase trace.Phase, summary string, detail any) {
	e.opts.Recorder.Emit(trace.Event{
		Step:       s.ID,
		Pass:       e.opts.Pass,
		Phase:      phase,
		Builtin:    s.Builtin,
		Pos:        s.Pos,
		Stack:      s.Stack,
		Args:       s.Args,
		Needs:      s.Needs,
		Concurrent: s.Concurrent,
		Summary:    summary,
		Detail:     detail,
	})
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
