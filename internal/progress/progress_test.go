package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plate-dev/plate/internal/trace"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func board(state, text string, el time.Duration) Board {
	return Board{Items: []Item{
		{Name: "plate-api", Kind: "Deployment", State: state, Text: text, Elapsed: el},
		{Name: "db", Kind: "StatefulSet", State: "Ready", Elapsed: time.Second, Done: true},
	}}
}

type recorder struct{ events []trace.Event }

func (r *recorder) Emit(e trace.Event) { r.events = append(r.events, e) }

func TestPlainPrintsChangesOnly(t *testing.T) {
	var out bytes.Buffer
	inner := &recorder{}
	s := NewSink(&out, inner, Options{Namespace: "default"})
	// Each line names the step's subject (the release), then the object.
	subj := &trace.Subject{Release: "plate-api", Namespace: "default"}
	s.Emit(trace.Event{Step: "s1", Phase: trace.Progress, Time: t0, Subject: subj, Detail: board("Progressing", "1/3 replicas available", 0)})
	s.Emit(trace.Event{Step: "s1", Phase: trace.Progress, Time: t0.Add(time.Second), Subject: subj, Detail: board("Progressing", "1/3 replicas available", time.Second)})
	s.Emit(trace.Event{Step: "s1", Phase: trace.Progress, Time: t0.Add(2 * time.Second), Subject: subj, Detail: board("Ready", "", 2*time.Second)})
	s.Emit(trace.Event{Step: "s1", Phase: trace.Done, Time: t0.Add(2 * time.Second)})
	s.Close()
	want := `03:04:05  plate-api  Deployment/plate-api      0s  Progressing  1/3 replicas available
03:04:05  plate-api  StatefulSet/db          1.0s  Ready
03:04:07  plate-api  Deployment/plate-api    2.0s  Ready
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s", diff)
	}
	if len(inner.events) != 4 {
		t.Errorf("inner got %d events; want every event passed on", len(inner.events))
	}
}

func TestLiveRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	now := t0
	s := NewSink(&out, trace.SinkFunc(func(e trace.Event) {
		if e.Phase == trace.Done {
			out.WriteString("done line\n")
		}
	}), Options{Live: true, Tick: -1, Now: func() time.Time { return now }, Width: func() int { return 40 }})
	subj := &trace.Subject{Release: "plate-api", Namespace: "stg"}
	s.Emit(trace.Event{Step: "s1", Phase: trace.Progress, Builtin: "wait_ready", Subject: subj, Summary: "1/2 ready", Detail: board("Progressing", "1/3 replicas available", 0)})
	now = now.Add(3 * time.Second)
	s.Emit(trace.Event{Step: "s1", Phase: trace.Progress, Builtin: "wait_ready", Subject: subj, Summary: "1/2 ready", Detail: board("Progressing", "2/3 replicas available", 3*time.Second)})
	s.Emit(trace.Event{Step: "s1", Phase: trace.Done})
	s.Close()
	got := out.String()
	want := "stg/plate-api  wait_ready  1/2 ready\n" +
		"  Deployment/plate-api      0s  Progre…\n" +
		"  StatefulSet/db          1.0s  Ready\n" +
		"\x1b[3A\r\x1b[J" +
		"stg/plate-api  wait_ready  1/2 ready\n" +
		"  Deployment/plate-api    3.0s  Progre…\n" +
		"  StatefulSet/db          1.0s  Ready\n" +
		"\x1b[3A\r\x1b[J" +
		"done line\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output mismatch (-want +got):\n%s", diff)
	}
	for _, l := range strings.Split(got, "\n") {
		if n := len([]rune(strings.TrimPrefix(l, "\x1b[3A\r\x1b[J"))); n > 39 {
			t.Errorf("line longer than the width: %q", l)
		}
	}
}

func TestBoardText(t *testing.T) {
	got := board("Failed", "ImagePullBackOff", 2*time.Second).Text()
	want := "  Deployment/plate-api    2.0s  Failed  ImagePullBackOff\n  StatefulSet/db          1.0s  Ready\n"
	if got != want {
		t.Errorf("Text() = %q; want %q", got, want)
	}
}

func TestForOutputWithoutTerminal(t *testing.T) {
	var out bytes.Buffer
	s := ForOutput(&out, nil, false, "default")
	defer s.Close()
	if s.opts.Live {
		t.Error("live view without a terminal")
	}
	t.Setenv("CI", "true")
	if UseLive(true) {
		t.Error("live view with CI=true")
	}
}
