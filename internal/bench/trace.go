package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Event is the part of a JSON trace line (docs/trace.md, schema 1) that
// the benchmarks read.
type Event struct {
	Seq     int       `json:"seq"`
	Step    string    `json:"step"`
	Time    time.Time `json:"time"`
	Pass    string    `json:"pass"`
	Phase   string    `json:"phase"`
	Builtin string    `json:"builtin"`
	Pos     struct {
		File string `json:"file"`
		Line int    `json:"line"`
	} `json:"pos"`
	Summary    string   `json:"summary"`
	Needs      []string `json:"needs"`
	Concurrent bool     `json:"concurrent"`
	DurationMS int64    `json:"duration_ms"`
}

// ParseTrace reads the JSON lines of `plate run -o json`.
func ParseTrace(out []byte) ([]Event, error) {
	var evs []Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("trace line %q: %w", line, err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// Span is the first and last event time of a pass.
type Span struct {
	Start, End time.Time
	Events     int
}

// Duration is End − Start.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// PassSpan returns the span of pass's events.
func PassSpan(evs []Event, pass string) Span {
	var s Span
	for _, e := range evs {
		if e.Pass != pass {
			continue
		}
		if s.Events == 0 || e.Time.Before(s.Start) {
			s.Start = e.Time
		}
		if e.Time.After(s.End) {
			s.End = e.Time
		}
		s.Events++
	}
	return s
}

// StepTime is one step of a pass: when it started and ended relative to
// the pass' first event.
type StepTime struct {
	Step, Builtin, Pos, Summary string
	Needs                       []string
	Concurrent                  bool
	Start, End                  time.Duration
}

// Steps returns the steps of pass in the order they started. A step
// without a "started" event (every step of a dry pass, where steps run one
// at a time; reads and prints) is taken to start at the pass' previous
// event.
func Steps(evs []Event, pass string) []StepTime {
	span := PassSpan(evs, pass)
	by := map[string]*StepTime{}
	var order []string
	prev := span.Start
	for _, e := range evs {
		if e.Pass != pass || e.Step == "" {
			continue
		}
		st := by[e.Step]
		if st == nil {
			st = &StepTime{Step: e.Step, Builtin: e.Builtin, Pos: fmt.Sprintf("%s:%d", e.Pos.File, e.Pos.Line), Start: prev.Sub(span.Start)}
			by[e.Step] = st
			order = append(order, e.Step)
		}
		if e.Time.After(prev) {
			prev = e.Time
		}
		if e.Needs != nil {
			st.Needs = e.Needs
		}
		st.Concurrent = st.Concurrent || e.Concurrent
		if e.Summary != "" {
			st.Summary = e.Summary
		}
		if e.Phase == "started" {
			st.Start = e.Time.Sub(span.Start)
		}
		st.End = e.Time.Sub(span.Start)
	}
	out := make([]StepTime, 0, len(order))
	for _, id := range order {
		out = append(out, *by[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}

// WriteTimeline prints the steps of a pass as a table: start, end and
// duration (ms from the pass' first event), builtin, position and summary.
func WriteTimeline(w io.Writer, steps []StepTime) {
	fmt.Fprintf(w, "%8s %8s %8s  %-5s %-14s %-34s %s\n", "start", "end", "took", "step", "builtin", "position", "summary")
	for _, s := range steps {
		sum := s.Summary
		if len(sum) > 70 {
			sum = sum[:70] + "…"
		}
		pos := s.Pos
		if i := strings.LastIndex(pos, "/"); i >= 0 && len(pos) > 34 {
			pos = pos[i+1:]
		}
		fmt.Fprintf(w, "%8d %8d %8d  %-5s %-14s %-34s %s\n", s.Start.Milliseconds(), s.End.Milliseconds(), (s.End - s.Start).Milliseconds(), s.Step, s.Builtin, pos, sum)
	}
}
