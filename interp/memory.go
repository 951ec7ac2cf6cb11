package interp

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// DefaultMaxMemory bounds the memory a plan's evaluation may hold; raise it
// with --max-memory. The step limit does not bound memory: one step of
// Starlark can allocate a gigabyte ("x" * (1 << 30)).
const DefaultMaxMemory = 2 << 30

// memoryCheckEvery is how often the memory guard reads the heap.
const memoryCheckEvery = 20 * time.Millisecond

// memoryGuard stops the threads of one evaluation when the process's heap
// holds more than limit bytes of live objects. While it runs, the Go
// runtime's soft memory limit is set near the bound, so that garbage is
// collected before it counts.
type memoryGuard struct {
	limit uint64
	plan  string

	mu      sync.Mutex
	threads []*starlark.Thread
	reason  string
	stop    chan struct{}
	done    chan struct{}
	prev    int64
}

// guardMemory starts a guard of limit bytes (0: DefaultMaxMemory) for the
// evaluation of plan.
func guardMemory(limit uint64, plan string) *memoryGuard {
	if limit == 0 {
		limit = DefaultMaxMemory
	}
	g := &memoryGuard{limit: limit, plan: plan, stop: make(chan struct{}), done: make(chan struct{})}
	soft := int64(math.MaxInt64)
	if limit < math.MaxInt64/2 {
		soft = int64(limit) + int64(limit)/4
	}
	g.prev = debug.SetMemoryLimit(soft)
	go g.watch()
	return g
}

// add puts a thread under the guard (the plan's, and each loaded module's).
func (g *memoryGuard) add(t *starlark.Thread) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.threads = append(g.threads, t)
	if g.reason != "" {
		t.Cancel(g.reason)
	}
}

// Tripped says why the guard stopped the evaluation ("" when it did not).
func (g *memoryGuard) tripped() string {
	if g == nil {
		return ""
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reason
}

// close stops the guard and restores the runtime's memory limit.
func (g *memoryGuard) close() {
	if g == nil {
		return
	}
	close(g.stop)
	<-g.done
	debug.SetMemoryLimit(g.prev)
}

func (g *memoryGuard) watch() {
	defer close(g.done)
	tick := time.NewTicker(memoryCheckEvery)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() <= g.limit {
			continue
		}
		// Over the bound, garbage included: count live objects only.
		runtime.GC()
		metrics.Read(sample)
		if used := sample[0].Value.Uint64(); used > g.limit {
			g.trip(fmt.Sprintf("plan %s holds more than %s of memory (%s in use); raise --max-memory if it needs more", g.plan, size(g.limit), size(used)))
			return
		}
	}
}

func (g *memoryGuard) trip(reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reason = reason
	for _, t := range g.threads {
		t.Cancel(reason)
	}
}

// size formats a byte count as --max-memory takes it.
func size(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGi", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGi", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%dMi", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
