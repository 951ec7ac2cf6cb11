package runner_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/runner/runnertest"
	"github.com/plate-dev/plate/internal/trace"
)

// planFile writes src as plan.star of a runnertest project.
func planFile(t *testing.T, src string) string {
	t.Helper()
	return filepath.Join(runnertest.NewProject(t, map[string]string{"plan.star": src}).Root, "plan.star")
}

// A dry run prints its header, trace and footer on Out and hands every
// event to the sinks too.
func TestDryRunOutputAndSinks(t *testing.T) {
	var out bytes.Buffer
	var events []trace.Event
	err := runner.Run(context.Background(), runner.Options{
		Plan:    planFile(t, "msg = param(\"msg\", \"hi\")\nprint(msg)\n"),
		Params:  []string{"msg=hello"},
		DryRun:  true,
		Offline: true,
		Out:     &out,
		Now:     runnertest.Clock(),
		Sinks:   []trace.Sink{trace.SinkFunc(func(e trace.Event) { events = append(events, e) })},
	})
	if err != nil {
		t.Fatal(err)
	}
	runnertest.Contains(t, "output", out.String(), "== dry-run of plan.star: nothing will be written\n", "hello", "== dry-run ok: ")
	if len(events) != 1 || events[0].Builtin != "print" || events[0].Summary != "hello" || events[0].Pass != trace.DryRun {
		t.Errorf("events: %+v", events)
	}
}

// Without Out the runner prints nothing of its own; JSON drops headers
// and footers; a bad -p is a usage error before the plan is opened.
func TestOutputModes(t *testing.T) {
	plan := planFile(t, "print('x')\n")
	var sunk int
	o := runner.Options{Plan: plan, DryRun: true, Offline: true, Sinks: []trace.Sink{trace.SinkFunc(func(trace.Event) { sunk++ })}}
	if err := runner.Run(context.Background(), o); err != nil || sunk != 1 {
		t.Fatalf("no output: %v, %d events", err, sunk)
	}
	var out bytes.Buffer
	o.Out, o.JSON = &out, true
	if err := runner.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); strings.Contains(s, "==") || !strings.HasPrefix(s, `{"v":`) {
		t.Errorf("JSON output:\n%s", s)
	}
	o.Params = []string{"nope"}
	if err := runner.Run(context.Background(), o); exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "-p/--param") {
		t.Errorf("bad -p: %v", err)
	}
}

// A run pass that stops is followed by the stop report on ErrOut.
func TestStopReportAfterFailedRunPass(t *testing.T) {
	o := runner.Options{
		Plan:    planFile(t, "print('before')\nx = {}['missing']\n"),
		Offline: true,
		Kube:    kube.Settings{Namespace: "shop"},
	}
	p, err := runner.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	o.Out, o.ErrOut = &out, &errOut
	err = runner.New(p, o).Pass(context.Background(), trace.Run)
	if exit.Code(err) != exit.PlanFailed {
		t.Fatalf("exit code %d (%v)", exit.Code(err), err)
	}
	runnertest.Contains(t, "stop report", errOut.String(),
		"plate: stopped: plan failed; what this run did before it stopped:", "not run: the rest of the plan", "no Helm release was changed")
	runnertest.Contains(t, "output", out.String(), "== run stopped: plan failed: ")
}

// --graph prints the step graph instead of the trace.
func TestGraph(t *testing.T) {
	var out bytes.Buffer
	err := runner.Run(context.Background(), runner.Options{
		Plan: planFile(t, "print('a')\n"), DryRun: true, Graph: true, Offline: true, Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.HasPrefix(s, "flowchart") || strings.Contains(s, "==") {
		t.Errorf("graph:\n%s", s)
	}
}

// blockPlugin's block() waits until its context is cancelled.
type blockPlugin struct{ started chan struct{} }

func (blockPlugin) Name() string { return "block" }
func (b blockPlugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{{Name: "block", Effect: engine.Read, Fn: func(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		close(b.started)
		<-c.Ctx.Done()
		return nil, c.Ctx.Err()
	}}}
}

// The context cancels a run (Main cancels it on an interrupt; the runner
// installs no handler of its own).
func TestInterrupts(t *testing.T) {
	plan := planFile(t, "block()\nprint('not reached')\n")
	b := blockPlugin{started: make(chan struct{})}
	var out bytes.Buffer
	o := runner.Options{Plan: plan, DryRun: true, Offline: true, Out: &out,
		Plugins: func() []builtins.Plugin { return append(registry.Plugins(), b) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- runner.Run(ctx, o) }()
	<-b.started
	cancel()
	err := <-done
	if exit.Code(err) != exit.Interrupted || strings.Contains(out.String(), "not reached") {
		t.Errorf("cancelled context: %v\n%s", err, out.String())
	}
}
