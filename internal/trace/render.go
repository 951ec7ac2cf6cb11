package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// TextOptions control the human renderer.
type TextOptions struct {
	// Color adds ANSI colours (only on a terminal, and never with NO_COLOR).
	Color bool
	// Verbose prints arguments, call stacks and details under each line.
	Verbose int
	// ShowStarted prints started events too; otherwise only their closing
	// event is printed (the live progress view shows what is running).
	ShowStarted bool
	// Diff says how much of a planned step's diff is shown under its
	// line (zero: DiffFull). The run pass's lines show none: its
	// preflight showed them before the first write.
	Diff DiffMode
	// Namespace is the run's default namespace: subjects in it are named
	// without theirs.
	Namespace string
}

// Text renders events as lines that start with what they are about:
//
//	done     plate-api  helm_install  install rev 1 (3 objects)  plans/deploy.star:20  (1.2s)
//
// after the phase come the subject (the release, then the object; the
// namespace only when it is not the run's), the builtin, its summary, the
// position of the plan's own call (for a call inside a helper function, the
// line that called the helper; -v adds the helper's frames) and the
// duration. A concurrent step's line ends with what it waited for, "(after
// s3)" or "(after plan_start)", before its duration.
type Text struct {
	w    io.Writer
	opts TextOptions
}

// NewText returns a human renderer writing to w.
func NewText(w io.Writer, opts TextOptions) *Text { return &Text{w: w, opts: opts} }

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func phaseColor(p Phase) string {
	switch p {
	case Done:
		return ansiGreen
	case Failed:
		return ansiRed + ansiBold
	case Planned:
		return ansiYellow
	case Started, Progress:
		return ansiCyan
	case Skipped:
		return ansiDim
	}
	return ""
}

func (t *Text) paint(color, s string) string {
	if !t.opts.Color || color == "" {
		return s
	}
	return color + s + ansiReset
}

// LinePos prints a trace line's position: file:line of the plan's own
// call (Event.Site).
func LinePos(e Event) string {
	p := e.Site()
	if p.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Emit writes one event.
func (t *Text) Emit(e Event) {
	if e.Phase == Started && !t.opts.ShowStarted {
		return
	}
	if e.Phase == Progress && t.opts.Verbose == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(t.paint(phaseColor(e.Phase), fmt.Sprintf("%-8s", e.Phase)))
	b.WriteString(" ")
	if subj := e.Subject.Text(t.opts.Namespace); subj != "" {
		b.WriteString(t.paint(ansiBold, subj))
		b.WriteString("  ")
	}
	b.WriteString(e.Builtin)
	if e.Summary != "" {
		b.WriteString("  ")
		b.WriteString(e.Summary)
	}
	if p := LinePos(e); p != "" {
		b.WriteString("  ")
		b.WriteString(t.paint(ansiDim, p))
	}
	if after := afterMark(e); after != "" && e.Phase != Skipped && e.Phase != Progress {
		b.WriteString(t.paint(ansiDim, "  ("+after+")"))
	}
	if e.Duration > 0 && (e.Phase == Done || e.Phase == Failed) {
		b.WriteString(t.paint(ansiDim, "  ("+FormatDuration(e.Duration)+")"))
	}
	line := strings.TrimRight(b.String(), " ")
	fmt.Fprintln(t.w, line)
	for _, f := range e.Findings {
		color := ansiDim
		switch f.Severity {
		case SeverityError:
			color = ansiRed
		case SeverityWarning:
			color = ansiYellow
		}
		fmt.Fprintf(t.w, "         %s\n", t.paint(color, f.String()))
	}
	for _, w := range e.Warnings {
		fmt.Fprintf(t.w, "         %s\n", t.paint(ansiYellow, "warning: "+w))
	}
	if e.Phase == Planned {
		mode := t.opts.Diff
		if mode == "" {
			mode = DiffFull
		}
		for _, l := range e.Diff.lines(mode) {
			fmt.Fprintf(t.w, "         %s\n", t.paint(l.color, l.text))
		}
	}
	if t.opts.Verbose > 0 {
		if len(e.Stack) > 0 {
			fmt.Fprintf(t.w, "         %s\n", t.paint(ansiDim, "in a helper at "+e.Pos.String()))
			for i := len(e.Stack) - 1; i >= 1; i-- {
				fmt.Fprintf(t.w, "         %s\n", t.paint(ansiDim, "called from "+e.Stack[i].String()))
			}
		}
		if e.Concurrent {
			fmt.Fprintf(t.w, "         needs %s\n", strings.Join(needsOf(e), ", "))
		}
		for _, k := range sortedKeys(e.Args) {
			fmt.Fprintf(t.w, "         %s=%s\n", k, compactJSON(e.Args[k]))
		}
		if d := detailText(e.Detail); d != "" {
			for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
				fmt.Fprintf(t.w, "         %s\n", l)
			}
		}
	} else if e.ShowDetail && (e.Phase == Done || e.Phase == Failed) {
		// Without -v, a step whose detail is its output prints it.
		if d := detailText(e.Detail); d != "" {
			for _, l := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
				fmt.Fprintln(t.w, strings.TrimRight("  "+l, " "))
			}
		}
	}
}

// afterMark marks the line of a concurrent step (a call with needs=) with
// what it waited for: "after s3, s5", or "after plan_start" for one that
// waited for no other step. Steps in sequence get no mark: each waits for
// every step before it.
func afterMark(e Event) string {
	if !e.Concurrent {
		return ""
	}
	return "after " + strings.Join(needsOf(e), ", ")
}

// needsOf lists a concurrent step's needs, plan_start when it has none.
func needsOf(e Event) []string {
	if len(e.Needs) == 0 {
		return []string{"plan_start"}
	}
	return e.Needs
}

func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Texter is implemented by details that know how to print themselves.
type Texter interface{ Text() string }

func detailText(d any) string {
	switch d := d.(type) {
	case nil:
		return ""
	case string:
		return d
	case Texter:
		return d.Text()
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}

// FormatDuration prints a duration the way the trace shows it: 350ms, 1.2s, 2m3s.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.String()
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// JSON renders each event as one JSON object on its own line (schema in
// docs/trace.md).
type JSON struct {
	w   io.Writer
	enc *json.Encoder
}

// NewJSON returns a JSON lines renderer writing to w.
func NewJSON(w io.Writer) *JSON {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSON{w: w, enc: enc}
}

type jsonEvent struct {
	V int `json:"v"`
	Event
	Time       string `json:"time"`
	DurationMS *int64 `json:"duration_ms,omitempty"`
}

// Emit writes one event.
func (j *JSON) Emit(e Event) {
	je := jsonEvent{V: SchemaVersion, Event: e, Time: e.Time.UTC().Format(time.RFC3339Nano)}
	if e.Phase == Done || e.Phase == Failed {
		ms := e.Duration.Milliseconds()
		je.DurationMS = &ms
	}
	if err := j.enc.Encode(je); err != nil {
		fmt.Fprintf(j.w, "{\"v\":%d,\"error\":%q}\n", SchemaVersion, err.Error())
	}
}

// Counts tallies closing events per phase, for a run's summary line.
func Counts(events []Event) map[Phase]int {
	m := map[Phase]int{}
	for _, e := range events {
		switch e.Phase {
		case Planned, Done, Failed, Skipped:
			m[e.Phase]++
		}
	}
	return m
}

// SummaryLine prints counts in a fixed order: "3 done, 1 failed, 2 skipped".
func SummaryLine(m map[Phase]int) string {
	var parts []string
	order := []Phase{Planned, Done, Failed, Skipped}
	for _, p := range order {
		if m[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[p], p))
		}
	}
	if len(parts) == 0 {
		return "no steps"
	}
	return strings.Join(parts, ", ")
}

// Outcome is the last line of a run's JSON stream: how the command ended.
type Outcome struct {
	// Status is "ok", "changes pending" (--dry-run --detailed-exitcode) or
	// the name of the exit code ("plan failed", "timeout", …).
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	// Pass is the last pass that ran: "dry-run", "preflight" or "run".
	Pass Pass `json:"pass,omitempty"`
	// Changes counts the changes to releases and objects of that pass (in
	// a dry pass: that it would make); marking a revision failed is not
	// counted.
	Changes    int   `json:"changes"`
	DurationMS int64 `json:"duration_ms"`
}

// WriteOutcome writes the outcome line: {"v":1,"outcome":{…}}.
func WriteOutcome(w io.Writer, o Outcome) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		V       int     `json:"v"`
		Outcome Outcome `json:"outcome"`
	}{SchemaVersion, o})
}

// OutcomeCounter is a sink that follows the passes of a run and counts the
// changes of the last one, for the outcome line.
type OutcomeCounter struct {
	mu      sync.Mutex
	pass    Pass
	changes int
}

// Emit counts e's changes.
func (c *OutcomeCounter) Emit(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Pass != c.pass {
		c.pass, c.changes = e.Pass, 0
	}
	for _, ch := range e.Changes {
		if ch.Action != MarkedFailed {
			c.changes++
		}
	}
}

// Last returns the last pass seen and its change count.
func (c *OutcomeCounter) Last() (Pass, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pass, c.changes
}
