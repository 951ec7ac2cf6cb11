package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/trace"
)

func runEngine(concurrency int) (*Engine, *trace.Recorder) {
	rec := trace.NewRecorder(nil)
	return New(Options{Pass: trace.Run, Recorder: rec, Concurrency: concurrency}), rec
}

func sleepStep(d time.Duration, err error) func(context.Context, *Report) error {
	return func(ctx context.Context, r *Report) error {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		return err
	}
}

// Concurrency never exceeds the limit, counted in the executor.
func TestConcurrencyLimit(t *testing.T) {
	e, _ := runEngine(2)
	var now, peak atomic.Int32
	for i := 0; i < 8; i++ {
		e.Go(context.Background(), &Step{Builtin: "x"}, nil, func(ctx context.Context, r *Report) error {
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			now.Add(-1)
			return nil
		})
	}
	if err := e.Drain(); err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 2 || e.PeakConcurrency() != 2 {
		t.Errorf("peak concurrency %d (executor says %d), want 2", peak.Load(), e.PeakConcurrency())
	}
}

// A failing step's dependents are skipped with the cause; an unrelated
// branch runs to its end; Drain summarizes.
func TestFailureSkipsDependentsOnly(t *testing.T) {
	e, rec := runEngine(4)
	ctx := context.Background()
	bad := e.Go(ctx, &Step{Builtin: "helm_install", Pos: trace.Pos{File: "p.star", Line: 1}}, nil, sleepStep(10*time.Millisecond, errors.New("boom")))
	dep := e.Go(ctx, &Step{Builtin: "wait_ready", Pos: trace.Pos{File: "p.star", Line: 2}}, []*Task{bad}, sleepStep(0, nil))
	dep2 := e.Go(ctx, &Step{Builtin: "helm_install", Pos: trace.Pos{File: "p.star", Line: 3}}, []*Task{dep}, sleepStep(0, nil))
	other := e.Go(ctx, &Step{Builtin: "helm_install", Pos: trace.Pos{File: "p.star", Line: 4}}, nil, sleepStep(30*time.Millisecond, nil))
	err := e.Drain()
	if err == nil {
		t.Fatal("Drain returned no error")
	}
	var sk *SkippedError
	if !errors.As(dep.Err(), &sk) || sk.Cause != bad.Step {
		t.Errorf("dependent: %v, want skipped because of %s", dep.Err(), bad.Step.ID)
	}
	if !errors.As(dep2.Err(), &sk) || sk.Cause != dep.Step {
		t.Errorf("transitive dependent: %v", dep2.Err())
	}
	if other.Err() != nil {
		t.Errorf("unrelated branch: %v", other.Err())
	}
	msg := err.Error()
	for _, want := range []string{"1 concurrent step(s) failed", "failed:  s1 (helm_install at p.star:1): boom", "skipped: s2 (wait_ready at p.star:2): skipped: needs s1", "skipped: s3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("summary lacks %q:\n%s", want, msg)
		}
	}
	phases := map[string]trace.Phase{}
	for _, ev := range rec.Events() {
		phases[ev.Step] = ev.Phase
	}
	if phases["s2"] != trace.Skipped || phases["s3"] != trace.Skipped || phases["s4"] != trace.Done || phases["s1"] != trace.Failed {
		t.Errorf("final phases %v", phases)
	}
}

// A slow branch does not delay an unrelated one: compare the trace's
// timestamps.
func TestSlowBranchDoesNotDelayOthers(t *testing.T) {
	e, rec := runEngine(4)
	ctx := context.Background()
	slow := e.Go(ctx, &Step{Builtin: "slow"}, nil, sleepStep(300*time.Millisecond, nil))
	e.Go(ctx, &Step{Builtin: "after-slow"}, []*Task{slow}, sleepStep(0, nil))
	fast := e.Go(ctx, &Step{Builtin: "fast"}, nil, sleepStep(10*time.Millisecond, nil))
	e.Go(ctx, &Step{Builtin: "after-fast"}, []*Task{fast}, sleepStep(10*time.Millisecond, nil))
	if err := e.Drain(); err != nil {
		t.Fatal(err)
	}
	done := map[string]time.Time{}
	for _, ev := range rec.Events() {
		if ev.Phase == trace.Done {
			done[ev.Builtin] = ev.Time
		}
	}
	if !done["after-fast"].Before(done["slow"]) {
		t.Errorf("the fast branch finished at %v, after the slow step at %v", done["after-fast"], done["slow"])
	}
	if !done["after-slow"].After(done["slow"]) {
		t.Errorf("a dependent finished before its need")
	}
}

// Barrier waits for everything and reports an earlier failure.
func TestBarrier(t *testing.T) {
	e, _ := runEngine(4)
	ctx := context.Background()
	ok := e.Go(ctx, &Step{Builtin: "a"}, nil, sleepStep(20*time.Millisecond, nil))
	if err := e.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ok.Done():
	default:
		t.Fatal("Barrier returned before the task ended")
	}
	bad := e.Go(ctx, &Step{Builtin: "b"}, nil, sleepStep(0, errors.New("no")))
	err := e.Barrier(ctx)
	var sk *SkippedError
	if !errors.As(err, &sk) || sk.Cause != bad.Step {
		t.Errorf("Barrier after a failure: %v", err)
	}
}

// In a dry pass Go runs in plan order, so the trace is deterministic, and
// still records what each step waits for.
func TestDryPassRunsInOrder(t *testing.T) {
	rec := trace.NewRecorder(nil)
	e := New(Options{Pass: trace.DryRun, Recorder: rec})
	ctx := context.Background()
	a := e.Go(ctx, &Step{Builtin: "a", Effect: Write}, nil, sleepStep(0, nil))
	e.Go(ctx, &Step{Builtin: "b", Effect: Write}, []*Task{a}, sleepStep(0, nil))
	var got []string
	for _, ev := range rec.Events() {
		got = append(got, ev.Builtin+":"+string(ev.Phase)+":"+strings.Join(ev.Needs, ","))
	}
	if strings.Join(got, " ") != "a:planned: b:planned:s1" {
		t.Errorf("dry pass events %v", got)
	}
}

// Cancelling the context skips tasks that have not started.
func TestInterruptSkipsPending(t *testing.T) {
	e, _ := runEngine(1)
	ctx, cancel := context.WithCancel(context.Background())
	first := e.Go(ctx, &Step{Builtin: "a"}, nil, sleepStep(time.Second, nil))
	second := e.Go(ctx, &Step{Builtin: "b"}, []*Task{first}, sleepStep(0, nil))
	time.Sleep(20 * time.Millisecond)
	cancel()
	e.Drain()
	if !errors.Is(first.Err(), context.Canceled) {
		t.Errorf("running task: %v", first.Err())
	}
	var sk *SkippedError
	if !errors.As(second.Err(), &sk) {
		t.Errorf("pending task: %v", second.Err())
	}
}
