package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// DefaultConcurrency bounds how many concurrent steps run at once.
const DefaultConcurrency = 4

// Task is a step scheduled with Go: it runs once its needs are done.
type Task struct {
	Step *Step
	done chan struct{}
	err  error
}

// Done is closed when the task has finished, failed or been skipped.
func (t *Task) Done() <-chan struct{} { return t.done }

// Wait blocks until the task is over and returns its error.
func (t *Task) Wait() error {
	<-t.done
	return t.err
}

// Err returns the task's error; call it only after Done.
func (t *Task) Err() error { return t.err }

// SkippedError is the error of a step that never started because a step it
// needs failed or was skipped.
type SkippedError struct {
	Step  *Step
	Cause *Step
}

func (e *SkippedError) Error() string {
	return fmt.Sprintf("skipped: needs %s", describe(e.Cause))
}

func describe(s *Step) string {
	return fmt.Sprintf("%s (%s at %s)", s.ID, s.Builtin, s.Pos)
}

// sched is the engine's scheduler state.
type sched struct {
	mu       sync.Mutex
	tasks    []*Task
	byID     map[string]*Task
	sem      chan struct{}
	running  int
	peak     int
	failures []*Task
}

func (e *Engine) schedState() *sched {
	e.schedOnce.Do(func() {
		n := e.opts.Concurrency
		if n <= 0 {
			n = DefaultConcurrency
		}
		e.sched = &sched{byID: map[string]*Task{}, sem: make(chan struct{}, n)}
	})
	return e.sched
}

// Task returns the task of a step id, or nil for a step that ran in
// sequence.
func (e *Engine) Task(id string) *Task {
	s := e.schedState()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// Go schedules step st to run fn once every task in needs is done, and
// returns at once. A need that failed or was skipped makes st skipped, with
// the cause recorded. At most Options.Concurrency tasks run at a time.
//
// In dry passes Go runs the step at once, in plan order, so that a dry-run
// trace is deterministic; the trace still records what each step waits for.
func (e *Engine) Go(ctx context.Context, st *Step, needs []*Task, fn func(ctx context.Context, r *Report) error) *Task {
	s := e.schedState()
	if st.ID == "" {
		st.ID = e.opts.Recorder.NewStep()
	}
	st.Concurrent = true
	for _, n := range needs {
		st.Needs = append(st.Needs, n.Step.ID)
	}
	sort.Strings(st.Needs)
	t := &Task{Step: st, done: make(chan struct{})}
	s.mu.Lock()
	s.tasks = append(s.tasks, t)
	s.byID[st.ID] = t
	s.mu.Unlock()
	run := func() {
		defer close(t.done)
		for _, n := range needs {
			select {
			case <-n.done:
			case <-ctx.Done():
				t.err = &SkippedError{Step: st, Cause: &Step{ID: "-", Builtin: "interrupt", Pos: st.Pos}}
				e.emit(st, trace.Skipped, "skipped: interrupted", nil)
				s.fail(t)
				return
			}
			if n.err != nil {
				t.err = &SkippedError{Step: st, Cause: n.Step}
				e.emit(st, trace.Skipped, t.err.Error(), nil)
				s.fail(t)
				return
			}
		}
		if ctx.Err() != nil {
			t.err = &SkippedError{Step: st, Cause: &Step{ID: "-", Builtin: "interrupt", Pos: st.Pos}}
			e.emit(st, trace.Skipped, "skipped: interrupted", nil)
			s.fail(t)
			return
		}
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			t.err = ctx.Err()
			e.emit(st, trace.Skipped, "skipped: interrupted", nil)
			s.fail(t)
			return
		}
		s.enter()
		t.err = e.Do(ctx, st, fn)
		s.leave()
		<-s.sem
		if t.err != nil {
			s.fail(t)
		}
	}
	if !e.Writes() {
		run()
		return t
	}
	go run()
	return t
}

func (s *sched) enter() {
	s.mu.Lock()
	s.running++
	if s.running > s.peak {
		s.peak = s.running
	}
	s.mu.Unlock()
}

func (s *sched) leave() {
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
}

func (s *sched) fail(t *Task) {
	s.mu.Lock()
	s.failures = append(s.failures, t)
	s.mu.Unlock()
}

// PeakConcurrency returns the most tasks that ran at the same time.
func (e *Engine) PeakConcurrency() int {
	s := e.schedState()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Barrier waits for every task scheduled so far. A step that runs in
// sequence implicitly needs everything before it, so it calls Barrier
// first; when an earlier concurrent step failed, Barrier returns an error
// that names it and the sequential step must not run.
func (e *Engine) Barrier(ctx context.Context) error {
	s := e.schedState()
	s.mu.Lock()
	tasks := append([]*Task(nil), s.tasks...)
	s.mu.Unlock()
	var failed []*Task
	for _, t := range tasks {
		select {
		case <-t.done:
		case <-ctx.Done():
			return exit.Wrap(exit.Interrupted, ctx.Err())
		}
		if t.err != nil {
			var sk *SkippedError
			if !errors.As(t.err, &sk) {
				failed = append(failed, t)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &SkippedError{Cause: failed[0].Step}
}

// Drain waits for every scheduled task, so that branches unrelated to a
// failure run to their end, and returns an error that summarizes what
// failed and what was skipped (nil when nothing did).
func (e *Engine) Drain() error {
	s := e.schedState()
	s.mu.Lock()
	tasks := append([]*Task(nil), s.tasks...)
	s.mu.Unlock()
	var failed, skipped []*Task
	for _, t := range tasks {
		<-t.done
		if t.err == nil {
			continue
		}
		var sk *SkippedError
		if errors.As(t.err, &sk) {
			skipped = append(skipped, t)
		} else {
			failed = append(failed, t)
		}
	}
	if len(failed) == 0 && len(skipped) == 0 {
		return nil
	}
	var b strings.Builder
	code := exit.PlanFailed
	if len(failed) > 0 {
		first := failed[0]
		code = exit.Code(first.err)
		fmt.Fprintf(&b, "%d concurrent step(s) failed", len(failed))
		for _, t := range failed {
			fmt.Fprintf(&b, "\n  failed:  %s: %s", describe(t.Step), firstLine(t.err))
		}
	} else {
		b.WriteString("concurrent steps were skipped")
	}
	for _, t := range skipped {
		fmt.Fprintf(&b, "\n  skipped: %s: %s", describe(t.Step), t.err)
	}
	msg := b.String()
	var pos string
	if len(failed) > 0 {
		pos = failed[0].Step.Pos.String()
	}
	return &exit.Error{Code: code, Pos: pos, Msg: msg, Err: errors.Join(errsOf(failed)...)}
}

func errsOf(ts []*Task) []error {
	var out []error
	for _, t := range ts {
		out = append(out, t.err)
	}
	return out
}

// Skip records that a step in sequence did not run because an earlier
// concurrent step failed (err comes from Barrier).
func (e *Engine) Skip(st *Step, err error) {
	if st.ID == "" {
		st.ID = e.opts.Recorder.NewStep()
	}
	e.emit(st, trace.Skipped, firstLine(err), nil)
}
