package trace

import (
	"strconv"
	"sync"
	"time"
)

// Sink receives events in order. Emit is called with the recorder's lock
// held, so a sink sees one event at a time even when steps run concurrently.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// Recorder numbers events, stamps them with its clock and fans them out to
// its sinks. It is safe for concurrent use: events from parallel steps
// interleave whole, each keeping its own step id and position.
type Recorder struct {
	mu     sync.Mutex
	now    func() time.Time
	seq    int
	steps  int
	sinks  []Sink
	events []Event
	starts map[string]time.Time
}

// NewRecorder returns a recorder that reads time from now (time.Now when nil).
func NewRecorder(now func() time.Time, sinks ...Sink) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, sinks: sinks, starts: map[string]time.Time{}}
}

// AddSink adds a sink that receives every later event.
func (r *Recorder) AddSink(s Sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sinks = append(r.sinks, s)
}

// Now returns the recorder's clock reading.
func (r *Recorder) Now() time.Time { return r.now() }

// NewStep returns a fresh step id, stable within a run: s1, s2, …
func (r *Recorder) NewStep() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps++
	return "s" + strconv.Itoa(r.steps)
}

// Emit stamps e with the next sequence number and the time, fills in the
// step's duration on its closing event, and hands it to every sink.
func (r *Recorder) Emit(e Event) Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	e.Seq = r.seq
	// A secret() value formatted into text shows as <redacted> (see
	// RedactTokens), whichever builtin or message quotes it.
	e.Summary = RedactTokens(e.Summary)
	e.Time = r.now()
	switch e.Phase {
	case Started:
		r.starts[e.Step] = e.Time
	case Done, Failed:
		if t, ok := r.starts[e.Step]; ok {
			e.Duration = e.Time.Sub(t)
			delete(r.starts, e.Step)
		}
	}
	r.events = append(r.events, e)
	for _, s := range r.sinks {
		s.Emit(e)
	}
	return e
}

// Events returns a copy of every event emitted so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}
