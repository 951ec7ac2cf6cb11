package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
)

// stepPlugin has a concurrent builtin step(name, ms=0, fail=False,
// gate=None, opens=None) that, in a run pass, opens the gate named by opens,
// waits until the gate named by gate is open, takes ms milliseconds, and
// returns struct(name=name).
type stepPlugin struct {
	mu      sync.Mutex
	running int
	peak    int
	gates   map[string]chan struct{}
}

// gate returns the channel of a gate, closed once the gate is open.
func (p *stepPlugin) gate(name string) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gates == nil {
		p.gates = map[string]chan struct{}{}
	}
	if p.gates[name] == nil {
		p.gates[name] = make(chan struct{})
	}
	return p.gates[name]
}

func (p *stepPlugin) Name() string { return "steptest" }
func (p *stepPlugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{{
		Name: "step", Params: []string{"name", "ms=0", "fail=False", "gate=None", "opens=None", "needs=None"}, Effect: engine.Write, Concurrent: true,
		Fn: func(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name, gate, opens string
			var ms int
			var fail bool
			if err := c.Unpack(args, kwargs, &name, &ms, &fail, &gate, &opens); err != nil {
				return nil, err
			}
			c.Report.Summary = name
			if c.Engine.Writes() {
				if opens != "" {
					close(p.gate(opens))
				}
				if gate != "" {
					// Only a step that runs alongside the one that opens
					// the gate gets through; the limit turns a hang into
					// a failure.
					select {
					case <-p.gate(gate):
					case <-time.After(30 * time.Second):
						return nil, exit.Errorf(exit.PlanFailed, "%s: gate %s never opened", name, gate)
					}
				}
				p.mu.Lock()
				p.running++
				p.peak = max(p.peak, p.running)
				p.mu.Unlock()
				time.Sleep(time.Duration(ms) * time.Millisecond)
				p.mu.Lock()
				p.running--
				p.mu.Unlock()
				if fail {
					return nil, exit.Errorf(exit.PlanFailed, "%s broke", name)
				}
			}
			return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{"name": starlark.String(name)}), nil
		},
	}}
}

func runConcurrent(t *testing.T, p *stepPlugin, now func() time.Time, args ...string) result {
	t.Helper()
	io, out, errOut := iostreams.Test("")
	f := &Factory{IO: io, Now: now, Plugins: func() []builtins.Plugin { return append(registry.Plugins(), p) }}
	code := Main(args, f)
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

const diamond = `
cache = step("cache")
slow = step("slow", ms = 400, needs = [cache])
api = step("api", ms = 50, needs = [cache])
web = step("web", ms = 50, needs = [api])
print("web is", web.name)
after_slow = step("after-slow", needs = [slow])
step("last")
`

// An unrelated branch is not delayed by a slow one: the trace's own
// timestamps show web done before slow, and after-slow after slow.
func TestConcurrentBranches(t *testing.T) {
	p := &stepPlugin{}
	r := runConcurrent(t, p, time.Now, "run", "-o", "json", planFile(t, diamond))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	done := map[string]time.Time{}
	for _, ev := range jsonEvents(t, r.out) {
		if ev["pass"] == "run" && ev["phase"] == "done" && ev["builtin"] == "step" {
			ts, _ := time.Parse(time.RFC3339Nano, ev["time"].(string))
			done[ev["summary"].(string)] = ts
		}
	}
	if !done["web"].Before(done["slow"]) {
		t.Errorf("web (unrelated to slow) finished at %v, not before slow at %v", done["web"], done["slow"])
	}
	if !done["after-slow"].After(done["slow"]) || !done["last"].After(done["after-slow"]) {
		t.Errorf("order broken: %v", done)
	}
	if p.peak < 2 {
		t.Errorf("steps never ran concurrently (peak %d)", p.peak)
	}
}

// The dry-run trace is deterministic and says what each step waits for.
func TestConcurrentDryRunGolden(t *testing.T) {
	r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", planFile(t, diamond))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.errOut)
	}
	golden(t, "concurrent_dryrun.txt", r.out)
}

// A failing branch: its dependents are skipped with the cause, the unrelated
// branch completes, the sequential step after them does not run, and the
// run exits 1 with a summary.
func TestConcurrentFailure(t *testing.T) {
	p := &stepPlugin{}
	r := runConcurrent(t, p, time.Now, "run", planFile(t, `
base = step("base")
bad = step("bad", ms = 20, fail = True, needs = [base])
dep = step("dep", needs = [bad])
dep2 = step("dep2", needs = [dep])
ok = step("ok", ms = 100, needs = [base])
step("final")
`))
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	run := r.out[strings.Index(r.out, "== run of"):]
	for _, want := range []string{
		"failed   step  bad broke  plan.star:3",
		"skipped  step  skipped: needs s2 (step at plan.star:3:11)  plan.star:4",
		"skipped  step  skipped: needs s3 (step at plan.star:4:11)  plan.star:5",
		"done     step  ok  plan.star:6",
		"skipped  step  skipped: needs s2 (step at plan.star:3:11)  plan.star:7",
	} {
		if !strings.Contains(run, want) {
			t.Errorf("run trace lacks %q:\n%s", want, run)
		}
	}
	for _, want := range []string{"1 concurrent step(s) failed", "failed:  s2 (step at plan.star:3:11): bad broke", "skipped: s3 (step at plan.star:4:11)"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.errOut)
		}
	}
}

// --concurrency bounds the steps running at once.
func TestConcurrencyFlag(t *testing.T) {
	p := &stepPlugin{}
	plan := planFile(t, `
base = step("base")
for i in range(6):
    step("s%d" % i, ms = 60, needs = [base])
`)
	r := runConcurrent(t, p, time.Now, "run", "--concurrency", "2", plan)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.errOut)
	}
	if p.peak != 2 {
		t.Errorf("peak concurrency %d, want 2", p.peak)
	}
	if r := runConcurrent(t, p, time.Now, "run", "--concurrency", "0", plan); r.code != exit.Usage {
		t.Errorf("--concurrency 0: exit %d", r.code)
	}
}

// needs= takes values returned by earlier steps only.
func TestNeedsValidation(t *testing.T) {
	r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", planFile(t, `step("a", needs = ["x"])`))
	if r.code != exit.Usage || !strings.Contains(r.errOut, `step: needs[0]: got string, want a release value or another value returned by an earlier step`) {
		t.Errorf("exit %d\n%s", r.code, r.errOut)
	}
	r = runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", planFile(t, `confirm("x", needs = [])`))
	if r.code != exit.Usage || !strings.Contains(r.errOut, "unexpected keyword argument") {
		t.Errorf("confirm with needs=: exit %d\n%s", r.code, r.errOut)
	}
}

// --graph prints the step graph as Mermaid: the diamond's edges follow
// needs= for concurrent steps and plan order for the rest.
func TestGraphMermaid(t *testing.T) {
	r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", "--graph", planFile(t, diamond))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.errOut)
	}
	golden(t, "concurrent_graph.mmd", r.out)
	for _, edge := range []string{"s1 --> s2", "s1 --> s3", "s3 --> s4", "s2 --> s6", "s4 --> s7", "s6 --> s7"} {
		if !strings.Contains(r.out, edge+"\n") {
			t.Errorf("graph lacks edge %s:\n%s", edge, r.out)
		}
	}
	if r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--graph", planFile(t, diamond)); r.code != exit.Usage {
		t.Errorf("--graph without --dry-run: exit %d", r.code)
	}
}

// needs=None and needs=[] (the defaults the signatures show, and what a
// helper forwards when its caller passed nothing) keep a call in sequence:
// it waits for every step before it, so after a failed concurrent step it is
// skipped instead of run. A concurrent step with no needs would run.
func TestNeedsDefaultsRunInSequence(t *testing.T) {
	for _, call := range []string{
		`step("after", needs = None)`,
		`step("after", needs = [])`,
		`step("after", needs = ())`,
		`forward("after")`,
		`forward("after", needs = None)`,
		`forward("after", needs = [])`,
	} {
		t.Run(call, func(t *testing.T) {
			r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", planFile(t, `
def forward(name, needs = None):
    return step(name, needs = needs)

base = step("base")
bad = step("bad", fail = True, needs = [base])
`+call+`
`))
			if r.code != exit.PlanFailed {
				t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
			}
			run := r.out[strings.Index(r.out, "== run of"):]
			if !strings.Contains(run, "skipped: needs s2 (step at plan.star:6:11)") || strings.Contains(run, "step           after") {
				t.Errorf("%s did not wait for the failed step before it:\n%s", call, run)
			}
			if !strings.Contains(r.errOut, "not run: s3 step, and the rest of the plan") {
				t.Errorf("stop report:\n%s", r.errOut)
			}
		})
	}
}

// needs = [plan_start] is the explicit way to a concurrent step with no
// dependency: it runs alongside the steps before and after it (the gate
// only opens when "b" runs while "a" waits), is not held back by an
// unrelated failure, and its trace lines say "(after plan_start)".
func TestPlanStartRunsConcurrently(t *testing.T) {
	r := runConcurrent(t, &stepPlugin{}, fixedClock(), "run", planFile(t, `
a = step("a", gate = "g", needs = [plan_start])
b = step("b", opens = "g", needs = [plan_start])
print("a is", a.name)
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	run := r.out[strings.Index(r.out, "== run of"):]
	for _, want := range []string{"a  plan.star:2  (after plan_start)", "b  plan.star:3  (after plan_start)"} {
		if !strings.Contains(run, want) {
			t.Errorf("run trace lacks %q:\n%s", want, run)
		}
	}

	r = runConcurrent(t, &stepPlugin{}, fixedClock(), "run", planFile(t, `
base = step("base")
bad = step("bad", fail = True, needs = [base])
free = step("free", needs = [plan_start])
`))
	if r.code != exit.PlanFailed {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	run = r.out[strings.Index(r.out, "== run of"):]
	if !strings.Contains(run, "done     step  free  plan.star:4  (after plan_start)") {
		t.Errorf("the step with needs = [plan_start] did not run:\n%s", run)
	}

	// The dry run marks it too, and needs= wants a list.
	r = runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", planFile(t, `step("x", needs = [plan_start])`))
	if r.code != 0 || !strings.Contains(r.out, "x  plan.star:1  (after plan_start)") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = runConcurrent(t, &stepPlugin{}, fixedClock(), "run", "--dry-run", planFile(t, `step("x", needs = plan_start)`))
	if r.code != exit.Usage || !strings.Contains(r.errOut, "step: needs: got plan_start, want a list of values returned by earlier steps (or [plan_start])") {
		t.Errorf("exit %d\n%s", r.code, r.errOut)
	}
}
