package trace

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	in := map[string]any{
		"name":     "api",
		"password": "p",
		"nested":   map[string]any{"apiToken": "t", "list": []any{map[string]any{"secretKey": "k", "ok": 1}}},
		"marked":   Secret{Value: "s"},
		"nil_key":  nil,
		"secret":   nil,
		"obj":      map[string]any{"kind": "Secret", "data": map[string]any{"a": "YQ=="}, "stringData": map[string]any{"b": "c"}},
		"cm":       map[string]any{"kind": "ConfigMap", "data": map[string]any{"a": "visible"}},
	}
	want := map[string]any{
		"name":     "api",
		"password": Redacted,
		"nested":   map[string]any{"apiToken": Redacted, "list": []any{map[string]any{"secretKey": Redacted, "ok": 1}}},
		"marked":   Redacted,
		"nil_key":  nil,
		"secret":   nil,
		"obj":      map[string]any{"kind": "Secret", "data": map[string]any{"a": Redacted}, "stringData": map[string]any{"b": Redacted}},
		"cm":       map[string]any{"kind": "ConfigMap", "data": map[string]any{"a": "visible"}},
	}
	if d := cmp.Diff(want, Redact(in)); d != "" {
		t.Errorf("Redact (-want +got):\n%s", d)
	}
	if in["password"] != "p" {
		t.Error("Redact changed its input")
	}
}

// Events emitted from many goroutines keep unique, gap-free sequence
// numbers, arrive whole at the sink, and each step's duration is measured
// from its own start.
func TestRecorderConcurrent(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Millisecond); return clock }
	r := NewRecorder(now, NewJSON(&buf))
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := r.NewStep()
			r.Emit(Event{Step: id, Phase: Started, Builtin: "x"})
			r.Emit(Event{Step: id, Phase: Done, Builtin: "x"})
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 100 {
		t.Fatalf("got %d lines, want 100", len(lines))
	}
	seen := map[float64]bool{}
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		seen[ev["seq"].(float64)] = true
		if ev["phase"] == "done" && ev["duration_ms"].(float64) <= 0 {
			t.Errorf("done event without a duration: %s", l)
		}
	}
	for i := 1; i <= 100; i++ {
		if !seen[float64(i)] {
			t.Errorf("sequence number %d missing", i)
		}
	}
}

func TestTextRenderer(t *testing.T) {
	var buf bytes.Buffer
	tx := NewText(&buf, TextOptions{Verbose: 1, Namespace: "default"})
	// A call inside a helper: the line shows the plan's own call (the
	// outermost frame), -v the helper's frames.
	tx.Emit(Event{Phase: Done, Builtin: "helm_install", Pos: Pos{File: "plans/lib/a.star", Line: 3, Col: 1},
		Stack: []Frame{
			{Func: "<toplevel>", Pos: Pos{File: "plans/b.star", Line: 9, Col: 5}},
			{Func: "deploy_service", Pos: Pos{File: "plans/lib/a.star", Line: 7, Col: 3}},
		},
		Subject: &Subject{Release: "api", Namespace: "default"},
		Summary: "install rev 1", Duration: 1500 * time.Millisecond, Args: map[string]any{"release": "api"}})
	// Another namespace than the run's is named; an object follows the
	// release.
	tx.Emit(Event{Phase: Done, Builtin: "wait_ready", Pos: Pos{File: "plans/b.star", Line: 10, Col: 1},
		Subject: &Subject{Release: "api", Object: "deployment/api", Namespace: "stg"}, Summary: "1 ready"})
	tx.Emit(Event{Phase: Done, Builtin: "kube_apply", Pos: Pos{File: "plans/b.star", Line: 11, Col: 1},
		Subject: &Subject{Object: "ConfigMap/settings", Namespace: "stg"}, Summary: "applied"})
	want := "done     api  helm_install  install rev 1  plans/b.star:9  (1.5s)\n" +
		"         in a helper at plans/lib/a.star:3:1\n" +
		"         called from plans/lib/a.star:7:3 in deploy_service\n" +
		"         release=\"api\"\n" +
		"done     stg/api deployment/api  wait_ready  1 ready  plans/b.star:10\n" +
		"done     ConfigMap/stg/settings  kube_apply  applied  plans/b.star:11\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	buf.Reset()
	NewText(&buf, TextOptions{Color: true}).Emit(Event{Phase: Failed, Builtin: "x", Summary: "boom"})
	if !strings.Contains(buf.String(), "\x1b[31m") {
		t.Errorf("a failed event on a colour terminal is not red: %q", buf.String())
	}
}

type table string

func (t table) Text() string { return string(t) }

// A step whose detail is its output (status) prints it under its line
// without -v; other details, and planned steps, wait for -v.
func TestTextShowDetail(t *testing.T) {
	var buf bytes.Buffer
	tx := NewText(&buf, TextOptions{})
	tx.Emit(Event{Phase: Done, Builtin: "status", Summary: "stg: 1 release(s)", ShowDetail: true, Detail: table("namespace stg\n\nRELEASE  REVISION\napi      2\n")})
	tx.Emit(Event{Phase: Planned, Builtin: "status", Summary: "would read", ShowDetail: true, Detail: table("not shown")})
	tx.Emit(Event{Phase: Done, Builtin: "wait_ready", Summary: "ready", Detail: table("not shown either")})
	want := "done     status  stg: 1 release(s)\n" +
		"  namespace stg\n" +
		"\n" +
		"  RELEASE  REVISION\n" +
		"  api      2\n" +
		"planned  status  would read\n" +
		"done     wait_ready  ready\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A concurrent step's line says what it waited for, in every phase that
// closes or plans it; plan_start when it waited for no other step. Steps in
// sequence and skipped steps (whose summary says why) carry no mark.
func TestTextMarksConcurrentSteps(t *testing.T) {
	var buf bytes.Buffer
	tx := NewText(&buf, TextOptions{ShowStarted: true})
	pos := Pos{File: "p.star", Line: 1, Col: 1}
	for _, e := range []Event{
		{Phase: Planned, Builtin: "helm_install", Pos: pos, Summary: "would install", Concurrent: true, Needs: []string{"s1", "s3"}},
		{Phase: Started, Builtin: "helm_install", Pos: pos, Concurrent: true},
		{Phase: Done, Builtin: "helm_install", Pos: pos, Summary: "install rev 1", Concurrent: true, Needs: []string{"s2"}, Duration: 1500 * time.Millisecond},
		{Phase: Failed, Builtin: "wait_ready", Pos: pos, Summary: "boom", Concurrent: true},
		{Phase: Skipped, Builtin: "wait_ready", Pos: pos, Summary: "skipped: needs s4", Concurrent: true, Needs: []string{"s4"}},
		{Phase: Done, Builtin: "kube_apply", Pos: pos, Summary: "applied", Duration: time.Second},
	} {
		tx.Emit(e)
	}
	want := "planned  helm_install  would install  p.star:1  (after s1, s3)\n" +
		"started  helm_install  p.star:1  (after plan_start)\n" +
		"done     helm_install  install rev 1  p.star:1  (after s2)  (1.5s)\n" +
		"failed   wait_ready  boom  p.star:1  (after plan_start)\n" +
		"skipped  wait_ready  skipped: needs s4  p.star:1\n" +
		"done     kube_apply  applied  p.star:1  (1.0s)\n"
	if d := cmp.Diff(want, buf.String()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	buf.Reset()
	NewText(&buf, TextOptions{Verbose: 1}).Emit(Event{Phase: Planned, Builtin: "x", Pos: pos, Concurrent: true})
	if !strings.Contains(buf.String(), "\n         needs plan_start\n") {
		t.Errorf("-v of a concurrent step without needs: %q", buf.String())
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		350 * time.Millisecond:  "350ms",
		1200 * time.Millisecond: "1.2s",
		123 * time.Second:       "2m3s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
