package planfile

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// Effect is one change a step makes (in a dry pass: would make), read from
// the step's typed change records: which step and builtin, at which plan
// position, on which target, and what kind of change.
type Effect struct {
	Step    string `json:"step"`
	Builtin string `json:"builtin"`
	Pos     string `json:"pos"`
	// Concurrent marks a step started with needs=: its effects may
	// interleave with those of other concurrent steps.
	Concurrent bool   `json:"concurrent,omitempty"`
	Release    string `json:"release,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Object     string `json:"object,omitempty"`
	Action     string `json:"action"`
	From       int    `json:"from,omitempty"`
	To         int    `json:"to,omitempty"`
}

// Target is what the effect acts on: "release NS/NAME" or the object.
func (e Effect) Target() string {
	if e.Object != "" {
		return e.Object
	}
	return "release " + e.Namespace + "/" + e.Release
}

func (e Effect) String() string {
	return fmt.Sprintf("%s %s at %s: %s %s", e.Step, e.Builtin, e.Pos, e.Action, e.Target())
}

// same reports whether two effects are the same builtin, target and kind of
// change.
func (e Effect) same(o Effect) bool {
	return e.Builtin == o.Builtin && e.Target() == o.Target() && e.Action == o.Action
}

// Effects returns the effects the events record, in the order of their
// steps' closing events. Marking a revision failed (wait_ready after a
// failed readiness check) is not an effect: it records what happened.
func Effects(events []trace.Event) []Effect {
	var out []Effect
	for _, ev := range closing(events) {
		for _, c := range ev.Changes {
			if c.Action == trace.MarkedFailed {
				continue
			}
			out = append(out, Effect{Step: ev.Step, Builtin: ev.Builtin, Pos: ev.Pos.String(), Concurrent: ev.Concurrent,
				Release: c.Release, Namespace: c.Namespace, Object: c.Object, Action: string(c.Action), From: c.From, To: c.To})
		}
	}
	return out
}

// Branches groups effects by step, in step order: the effects of one step
// keep their order; steps run in sequence keep theirs; concurrent steps may
// interleave, which this grouping ignores.
func Branches(effs []Effect) map[string][]Effect {
	out := map[string][]Effect{}
	for _, e := range effs {
		out[e.Step] = append(out[e.Step], e)
	}
	return out
}

// Mismatches compares planned effects with done ones: the same builtin,
// target and kind of change, in the same order within each step, and the
// same order of the steps run in sequence. It returns one line per
// difference.
func Mismatches(planned, done []Effect) []string {
	return compare(planned, done, "planned", "done")
}

// compare is Mismatches with the words that name the two lists.
func compare(planned, done []Effect, a, b string) []string {
	var out []string
	p, d := Branches(planned), Branches(done)
	for _, step := range stepIDs(p, d) {
		pe, de := p[step], d[step]
		for i := 0; i < len(pe) || i < len(de); i++ {
			switch {
			case i >= len(de):
				out = append(out, fmt.Sprintf("%s but not %s: %s", a, b, pe[i]))
			case i >= len(pe):
				out = append(out, fmt.Sprintf("%s but not %s: %s", b, a, de[i]))
			case !pe[i].same(de[i]) || pe[i].Pos != de[i].Pos:
				out = append(out, fmt.Sprintf("%s %s; %s %s", a, pe[i], b, de[i]))
			}
		}
	}
	if len(out) == 0 {
		if seqA, seqB := sequential(planned), sequential(done); strings.Join(seqA, ",") != strings.Join(seqB, ",") {
			out = append(out, fmt.Sprintf("steps in sequence in another order: %s %v, %s %v", a, seqA, b, seqB))
		}
	}
	return out
}

// sequential lists the steps in sequence, in the order of their effects.
func sequential(effs []Effect) []string {
	var out []string
	for _, e := range effs {
		if !e.Concurrent && (len(out) == 0 || out[len(out)-1] != e.Step) {
			out = append(out, e.Step)
		}
	}
	return out
}

func stepIDs(ms ...map[string][]Effect) []string {
	seen := map[string]bool{}
	var ids []string
	for _, m := range ms {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return stepNum(ids[i]) < stepNum(ids[j]) })
	return ids
}

func stepNum(id string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "s"))
	if err != nil {
		return 1 << 30
	}
	return n
}

// Guard checks each write of a run pass against a saved plan's effects
// (an engine.WriteCheck): the k-th write of step s must be the k-th saved
// effect of s, with the same builtin, target and kind of change. Any
// other write is refused before it is made.
type Guard struct {
	mu       sync.Mutex
	expected map[string][]Effect
	done     map[string]int
	// Diverged is the first refused write, if any.
	Diverged string
}

// NewGuard returns a guard of the saved effects.
func NewGuard(effs []Effect) *Guard {
	return &Guard{expected: Branches(effs), done: map[string]int{}}
}

var _ engine.WriteCheck = (*Guard)(nil)

// BeforeWrite implements engine.WriteCheck.
func (g *Guard) BeforeWrite(ctx context.Context, w engine.PendingWrite) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	got := Effect{Action: string(w.Change.Action), Release: w.Change.Release, Namespace: w.Change.Namespace, Object: w.Change.Object}
	if w.Step != nil {
		got.Step, got.Builtin, got.Pos = w.Step.ID, w.Step.Builtin, w.Step.Pos.String()
	}
	exp := g.expected[got.Step]
	k := g.done[got.Step]
	var why string
	switch {
	case k >= len(exp):
		why = fmt.Sprintf("the saved plan has no such effect (%s %s at %s would %s %s)", got.Step, got.Builtin, got.Pos, got.Action, got.Target())
	case !exp[k].same(got):
		why = fmt.Sprintf("the saved plan has %s; the run would %s %s with %s", exp[k], got.Action, got.Target(), got.Builtin)
	}
	if why != "" {
		msg := "saved plan: " + why + "; stopped before this write"
		if g.Diverged == "" {
			g.Diverged = msg
		}
		return &exit.Error{Code: exit.PlanFailed, Msg: msg, Hint: "the cluster or the plan changed since the plan was saved: make the plan again (plate run --dry-run --save-plan)"}
	}
	g.done[got.Step] = k + 1
	return nil
}

// Missing returns the saved effects no write matched, in order.
func (g *Guard) Missing() []Effect {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Effect
	for _, id := range stepIDs(g.expected) {
		out = append(out, g.expected[id][g.done[id]:]...)
	}
	return out
}
