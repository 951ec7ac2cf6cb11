package builtins

import (
	"go.starlark.net/starlark"
)

// PlanStartName is the predeclared name of PlanStart.
const PlanStartName = "plan_start"

// PlanStart is the predeclared value plan_start: it stands for the start of
// the plan, a step that is always done. `needs = [plan_start]` is how a plan
// asks for a concurrent step that waits for no other step.
//
// It is a value a plan must name, not a default: None and [] (what a helper
// forwards when its caller passed nothing) mean "in sequence", so no helper
// that forwards its own default can make a step concurrent by accident.
var PlanStart starlark.Value = planStart{}

type planStart struct{}

func (planStart) String() string        { return PlanStartName }
func (planStart) Type() string          { return PlanStartName }
func (planStart) Freeze()               {}
func (planStart) Truth() starlark.Bool  { return starlark.True }
func (planStart) Hash() (uint32, error) { return starlark.String(PlanStartName).Hash() }

// wantsConcurrency reports whether a call's needs= asks for a concurrent
// step. None (or no needs= at all) and an empty list or tuple mean "in
// sequence": they are the defaults the signatures show, and what a helper
// forwards when its caller passed nothing. Anything else is a concurrent
// step, and needTasks checks it.
func wantsConcurrency(needs starlark.Value) bool {
	if needs == nil || needs == starlark.None {
		return false
	}
	if s, ok := needs.(starlark.Sequence); ok && s.Len() == 0 {
		return false
	}
	return true
}
