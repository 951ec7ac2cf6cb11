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

// A planned step's diff shows under its line without -v: in full, the
// unified diffs and the values' contents; in summary, one line per object
// and the values' keys; in none, nothing. Done steps (the run pass) show
// no diff: their preflight did. Warnings show whatever the mode.
func TestTextDiffModes(t *testing.T) {
	ev := Event{Phase: Planned, Builtin: "helm_install", Pos: Pos{File: "p.star", Line: 2, Col: 1},
		Summary:  "would upgrade rev 1→2 (1 changed, 0 added, 0 removed; values changed)",
		Warnings: []string{"set=: replicaCont: not a value of the chart; did you mean replicaCount?"},
		Diff: &Diff{
			Objects: []ObjectDiff{{Object: "ConfigMap/shop/web", Change: DiffChanged,
				Diff: "--- live ConfigMap/shop/web\n+++ new  ConfigMap/shop/web\n@@ -1,3 +1,3 @@\n data:\n-  MESSAGE: hello\n+  MESSAGE: bonjour\n"}},
			Unchanged: 2,
			Values: []ValueDiff{{Key: "message", Change: DiffChanged, From: "hello", To: "bonjour"},
				{Key: "password", Change: DiffChanged, From: Redacted, To: "<redacted, changed>"},
				{Key: "extra", Change: DiffAdded, To: 1}},
		}}
	line := "planned  helm_install  would upgrade rev 1→2 (1 changed, 0 added, 0 removed; values changed)  p.star:2\n" +
		"         warning: set=: replicaCont: not a value of the chart; did you mean replicaCount?\n"
	want := map[DiffMode]string{
		DiffFull: line +
			"         ~ ConfigMap/shop/web changed\n" +
			"             --- live ConfigMap/shop/web\n" +
			"             +++ new  ConfigMap/shop/web\n" +
			"             @@ -1,3 +1,3 @@\n" +
			"              data:\n" +
			"             -  MESSAGE: hello\n" +
			"             +  MESSAGE: bonjour\n" +
			"         = 2 unchanged\n" +
			"         values:\n" +
			"           ~ message: \"hello\" → \"bonjour\"\n" +
			"           ~ password: \"<redacted>\" → \"<redacted, changed>\"\n" +
			"           + extra: 1\n",
		DiffSummary: line +
			"         ~ ConfigMap/shop/web changed\n" +
			"         = 2 unchanged\n" +
			"         values: ~ message, ~ password, + extra\n",
		DiffNone: line,
	}
	for _, mode := range []DiffMode{DiffFull, DiffSummary, DiffNone} {
		var buf bytes.Buffer
		NewText(&buf, TextOptions{Diff: mode}).Emit(ev)
		if d := cmp.Diff(want[mode], buf.String()); d != "" {
			t.Errorf("%s (-want +got):\n%s", mode, d)
		}
	}
	var buf bytes.Buffer
	NewText(&buf, TextOptions{}).Emit(ev)
	if buf.String() != want[DiffFull] {
		t.Errorf("the zero mode is not full:\n%s", buf.String())
	}
	buf.Reset()
	done := ev
	done.Phase = Done
	NewText(&buf, TextOptions{Diff: DiffFull}).Emit(done)
	if strings.Contains(buf.String(), "MESSAGE") {
		t.Errorf("a done step shows its diff:\n%s", buf.String())
	}
	buf.Reset()
	NewText(&buf, TextOptions{Color: true}).Emit(ev)
	for _, c := range []string{"         " + ansiRed + "    -  MESSAGE: hello" + ansiReset, "         " + ansiGreen + "    +  MESSAGE: bonjour" + ansiReset} {
		if !strings.Contains(buf.String(), c) {
			t.Errorf("colour diff lacks %q:\n%q", c, buf.String())
		}
	}
	if _, err := ParseDiffMode("all"); err == nil {
		t.Error("ParseDiffMode accepts all")
	}
}

// The JSON event carries the diff as data.
func TestJSONCarriesDiff(t *testing.T) {
	d := &Diff{Objects: []ObjectDiff{{Object: "ConfigMap/shop/web", Change: DiffChanged, Diff: "--- a\n+++ b\n"}},
		Values: []ValueDiff{{Key: "replicaCount", Change: DiffChanged, From: 1, To: 2}}}
	var buf bytes.Buffer
	NewJSON(&buf).Emit(Event{Phase: Planned, Builtin: "helm_install", Diff: d})
	var ev struct {
		Diff Diff `json:"diff"`
	}
	if err := json.Unmarshal(buf.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Diff.Objects[0].Diff != "--- a\n+++ b\n" || ev.Diff.Values[0].Key != "replicaCount" || ev.Diff.Values[0].To != float64(2) {
		t.Errorf("JSON diff %+v\n%s", ev.Diff, buf.String())
	}
}
