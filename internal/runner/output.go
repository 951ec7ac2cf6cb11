package runner

import (
	"fmt"
	"io"
	"time"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/progress"
	"github.com/plate-dev/plate/internal/trace"
)

// output renders a run: the trace in text or JSON, plus headers and
// footers in text mode; extra sinks get every event.
type output struct {
	// w is nil when the runner prints nothing of its own.
	w    io.Writer
	json bool
	text trace.TextOptions
	tty  bool
	now  func() time.Time
	// sinks receive every event besides w.
	sinks []trace.Sink
	// graph collects events instead of printing them (--graph).
	graph  bool
	events []trace.Event
}

// recorder returns the recorder of one pass and a function that ends its
// output (the live progress view) when the pass is over.
func (o *output) recorder() (*trace.Recorder, func()) {
	sinks := make([]trace.Sink, 0, len(o.sinks)+1)
	end := func() {}
	switch {
	case o.graph:
		sinks = append(sinks, trace.SinkFunc(func(e trace.Event) { o.events = append(o.events, e) }))
	case o.w == nil:
	case o.json:
		sinks = append(sinks, trace.NewJSON(o.w))
	default:
		// Waits report progress: a live view on a terminal, change lines
		// elsewhere (internal/progress).
		ps := progress.ForOutput(o.w, trace.NewText(o.w, o.text), o.tty, o.text.Namespace)
		sinks = append(sinks, ps)
		end = ps.Close
	}
	return trace.NewRecorder(o.now, append(sinks, o.sinks...)...), end
}

func (o *output) header(s string) {
	if o.w != nil && !o.json && !o.graph {
		fmt.Fprintf(o.w, "== %s\n", s)
	}
}

func (o *output) note(s string) {
	if o.w != nil && !o.json {
		fmt.Fprintln(o.w, s)
	}
}

func (o *output) footer(ps trace.Pass, events []trace.Event, err error) {
	if o.w == nil || o.json || o.graph {
		return
	}
	status := "ok"
	if err != nil {
		status = "stopped: " + exit.Name(exit.Code(err))
	}
	fmt.Fprintf(o.w, "== %s %s: %s\n", ps, status, trace.SummaryLine(trace.Counts(events)))
}
