// Package progress shows what a running step is waiting for: on a terminal
// a live block with one line per waited object, redrawn in place; elsewhere
// (pipes, files, CI=true) plain timestamped lines, printed only when an
// object's state changes.
//
// A step reports progress with a Board as the detail of its progress trace
// events (engine.Report.Progress), so the same information reaches the JSON
// lines and `-v` text output; Sink is a trace.Sink that draws the boards
// and hands every event on to the renderer it wraps.
//
// # Why plain ANSI and no terminal library
//
// The live view needs three escape sequences — cursor up (CSI n A), carriage
// return and erase to the end of the screen (CSI J) — that every terminal
// plate runs in understands (xterm, VT100 descendants, Windows Terminal and
// the Windows 10+ console with virtual terminal processing). Terminal
// detection and the width come from golang.org/x/term, which plate already
// uses (internal/iostreams). A TUI framework (bubbletea, tview) would take
// over the screen and the input, which a deploy log must not do, and a
// progress-bar library (mpb, uiprogress) draws bars for byte counts, not
// per-object states; either would add a dependency tree to the binary for
// some forty lines of drawing code. Lines are cut to the terminal width so
// that wrapping never breaks the redraw.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/plate-dev/plate/internal/trace"
)

// Item is one waited-for object.
type Item struct {
	// Name and Kind identify the object ("plate-api", "Deployment").
	Name      string `json:"name"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// State is "Ready", "Progressing", "Failed", "NotFound" or "Unknown".
	State string `json:"state"`
	// Text is the short status shown after the kind ("2/3 replicas
	// available", "ImagePullBackOff: pod api-x container app ...").
	Text string `json:"text,omitempty"`
	// Elapsed is how long the object took to be ready or to fail, or how
	// long it has been waited for so far.
	Elapsed time.Duration `json:"elapsed"`
	// Done is true once the object is Ready or Failed: its elapsed time no
	// longer ticks.
	Done bool `json:"done,omitempty"`
}

// Board is the progress detail of a waiting step.
type Board struct {
	// Title names the wait ("wait_ready: 3 objects").
	Title string `json:"title,omitempty"`
	Items []Item `json:"items"`
}

// Text renders the board for the -v text trace.
func (b Board) Text() string {
	var s strings.Builder
	for _, l := range b.lines(0, 0) {
		s.WriteString(l)
		s.WriteString("\n")
	}
	return s.String()
}

// Ref names the object the way kubectl does: "Deployment/plate-api" (the
// name alone when the kind is unknown).
func (it Item) Ref() string {
	if it.Kind == "" {
		return it.Name
	}
	return it.Kind + "/" + it.Name
}

// lines renders the items as aligned lines, each naming its object
// (Item.Ref) first; extra is added to the elapsed time of items not done;
// width > 0 cuts lines to that many columns.
func (b Board) lines(extra time.Duration, width int) []string {
	nw := 0
	for _, it := range b.Items {
		nw = max(nw, utf8.RuneCountInString(it.Ref()))
	}
	out := make([]string, 0, len(b.Items))
	for _, it := range b.Items {
		el := it.Elapsed
		if !it.Done {
			el += extra
		}
		text := it.State
		if it.Text != "" {
			text += "  " + it.Text
		}
		l := fmt.Sprintf("  %-*s  %6s  %s", nw, it.Ref(), trace.FormatDuration(el.Round(100*time.Millisecond)), text)
		out = append(out, cut(strings.TrimRight(l, " "), width))
	}
	return out
}

func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	if width <= 1 {
		return string(r[:width])
	}
	return string(r[:width-1]) + "…"
}

// UseLive reports whether the live view should be drawn: on a terminal,
// unless CI=true or TERM=dumb.
func UseLive(tty bool) bool {
	if !tty {
		return false
	}
	if os.Getenv("CI") == "true" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return true
}

// ForOutput returns the sink a command puts in front of its text renderer:
// live on a terminal (see UseLive), with lines cut to the terminal's width
// when w is one; plain change lines otherwise. Close it when the pass ends.
func ForOutput(w io.Writer, inner trace.Sink, tty bool, namespace string) *Sink {
	opts := Options{Live: UseLive(tty), Namespace: namespace}
	if f, ok := w.(*os.File); ok && opts.Live {
		fd := int(f.Fd())
		opts.Width = func() int {
			if cols, _, err := term.GetSize(fd); err == nil {
				return cols
			}
			return 0
		}
	}
	return NewSink(w, inner, opts)
}

// Options configure a Sink.
type Options struct {
	// Live redraws boards in place (a terminal); otherwise changes are
	// printed as timestamped lines.
	Live bool
	// Width returns the terminal width for cutting lines (0: no cut).
	Width func() int
	// Tick is how often the live view redraws to advance elapsed times
	// (default 1s; negative: never, for tests).
	Tick time.Duration
	// Now is the clock for the live elapsed times (time.Now when nil).
	Now func() time.Time
	// Namespace is the run's default namespace: a board's title names its
	// step's subject without it (trace.Subject.Text).
	Namespace string
}

// Sink draws progress boards to w and passes every event to inner.
type Sink struct {
	w     io.Writer
	inner trace.Sink
	opts  Options

	mu     sync.Mutex
	boards map[string]*drawn // by step
	order  []string
	height int // lines of the live block on screen
	stop   chan struct{}
	closed bool
}

type drawn struct {
	board Board
	at    time.Time
	last  map[string]string // plain mode: item key → last printed status
}

// NewSink returns a sink drawing to w in front of inner.
func NewSink(w io.Writer, inner trace.Sink, opts Options) *Sink {
	if opts.Tick == 0 {
		opts.Tick = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sink{w: w, inner: inner, opts: opts, boards: map[string]*drawn{}, stop: make(chan struct{})}
	if opts.Live && opts.Tick > 0 {
		go s.tick()
	}
	return s
}

func (s *Sink) tick() {
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if len(s.boards) > 0 {
				s.erase()
				s.draw()
			}
			s.mu.Unlock()
		}
	}
}

// Close stops the redraw timer and clears the live block.
func (s *Sink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.stop)
	s.erase()
}

// Emit draws progress events that carry a Board and hands every event to
// the inner sink.
func (s *Sink) Emit(e trace.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, isBoard := boardOf(e.Detail)
	if s.opts.Live {
		s.erase()
	}
	switch {
	case e.Phase == trace.Progress && isBoard:
		d := s.boards[e.Step]
		if d == nil {
			d = &drawn{last: map[string]string{}}
			s.boards[e.Step] = d
			s.order = append(s.order, e.Step)
		}
		if b.Title == "" {
			// The title says whose objects these are: the step's
			// subject (its release), builtin and progress summary.
			b.Title = strings.TrimSpace(strings.Join([]string{e.Subject.Text(s.opts.Namespace), e.Builtin, e.Summary}, "  "))
		}
		d.board, d.at = b, s.opts.Now()
		if !s.opts.Live {
			s.printChanges(e, d)
		}
	case e.Phase == trace.Done || e.Phase == trace.Failed || e.Phase == trace.Skipped || e.Phase == trace.Planned:
		s.forget(e.Step)
	}
	if s.inner != nil {
		s.inner.Emit(e)
	}
	if s.opts.Live && !s.closed {
		s.draw()
	}
}

func boardOf(d any) (Board, bool) {
	switch b := d.(type) {
	case Board:
		return b, true
	case *Board:
		if b != nil {
			return *b, true
		}
	}
	return Board{}, false
}

func (s *Sink) forget(step string) {
	if _, ok := s.boards[step]; !ok {
		return
	}
	delete(s.boards, step)
	for i, id := range s.order {
		if id == step {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

// printChanges prints, in plain mode, one timestamped line per item whose
// state or text changed, after the step's subject when it has one.
func (s *Sink) printChanges(e trace.Event, d *drawn) {
	ts := e.Time.Format("15:04:05")
	if subj := e.Subject.Text(s.opts.Namespace); subj != "" {
		ts += "  " + subj
	}
	lines := d.board.lines(0, 0)
	for i, it := range d.board.Items {
		key := it.Kind + "/" + it.Namespace + "/" + it.Name
		status := it.State + "\x00" + it.Text
		if d.last[key] == status {
			continue
		}
		d.last[key] = status
		fmt.Fprintf(s.w, "%s%s\n", ts, lines[i])
	}
}

// erase removes the live block from the screen.
func (s *Sink) erase() {
	if s.height == 0 {
		return
	}
	fmt.Fprintf(s.w, "\x1b[%dA\r\x1b[J", s.height)
	s.height = 0
}

// draw writes the live block below the current line.
func (s *Sink) draw() {
	width := 0
	if s.opts.Width != nil {
		// One column spare: some terminals wrap on writing the last one.
		width = s.opts.Width() - 1
	}
	now := s.opts.Now()
	var b strings.Builder
	n := 0
	for _, step := range s.order {
		d := s.boards[step]
		if d.board.Title != "" {
			b.WriteString(cut(d.board.Title, width))
			b.WriteString("\n")
			n++
		}
		for _, l := range d.board.lines(now.Sub(d.at), width) {
			b.WriteString(l)
			b.WriteString("\n")
			n++
		}
	}
	_, _ = io.WriteString(s.w, b.String())
	s.height = n
}
