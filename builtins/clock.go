package builtins

import (
	"time"

	sttime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/internal/engine"
)

// SetClock makes time.now() on thread read eng's clock, the clock of its
// trace recorder (cmd/plate's Factory.Now; a fixed one in plan tests), so
// that what a plan computes from the time agrees with its trace and tests
// of it are deterministic. Every thread a run makes is set: the plan's and
// its modules' (interp), each concurrent step's and each ready_rule's.
// Without an engine time.now() reads the wall clock.
func SetClock(thread *starlark.Thread, eng *engine.Engine) {
	if eng == nil {
		return
	}
	rec := eng.Recorder()
	sttime.SetNow(thread, func() (time.Time, error) { return rec.Now(), nil })
}
