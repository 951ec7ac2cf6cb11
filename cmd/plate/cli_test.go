package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
	"github.com/plate-dev/plate/internal/runner/runnertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixedClock ticks one second per reading, so durations are deterministic.
func fixedClock() func() time.Time { return runnertest.Clock() }

type result struct {
	code        int
	out, errOut string
}

func runPlate(t *testing.T, stdin string, tty bool, args ...string) result {
	t.Helper()
	io, out, errOut := iostreams.Test(stdin)
	io.SetTTY(tty, tty)
	f := &Factory{IO: io, Now: fixedClock(), Plugins: registry.Plugins}
	code := Main(args, f)
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

// apiRecorder is a 127.0.0.1 server standing in for an API server: it
// records every request, and answers 404. Tests use it to prove that a run
// made no request, or no write.
type apiRecorder struct {
	mu   sync.Mutex
	reqs []string
	srv  *httptest.Server
}

func newAPIRecorder(t *testing.T) (*apiRecorder, string) {
	r := &apiRecorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.String())
		r.mu.Unlock()
		http.NotFound(w, req)
	}))
	t.Cleanup(r.srv.Close)
	kc := recorderKubeconfig(t, r.srv.URL, "default")
	return r, kc
}

// recorderKubeconfig writes a kubeconfig whose one context points at server
// with namespace as its default.
func recorderKubeconfig(t *testing.T, server, namespace string) string {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: rec
  cluster: {server: %q}
contexts:
- name: rec
  context: {cluster: rec, user: rec, namespace: %s}
current-context: rec
users:
- name: rec
  user: {token: t}
`, server, namespace)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}

func (r *apiRecorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		tty     bool
		code    int
		errWant string
	}{
		{"no plan", []string{"run"}, "", false, exit.Usage, "accepts 1 arg"},
		{"unknown command", []string{"deploy"}, "", false, exit.Usage, "unknown command"},
		{"unknown flag", []string{"run", "--bogus", "x.star"}, "", false, exit.Usage, "unknown flag: --bogus"},
		{"bad output", []string{"run", "--output", "yaml", "testdata/plans/ask.star"}, "", false, exit.Usage, "--output: want text or json"},
		{"missing plan", []string{"run", "testdata/plans/nope.star"}, "", false, exit.Usage, "no such file"},
		{"syntax error", []string{"check", "testdata/plans/syntax.star"}, "", false, exit.Usage, "plate: plans/syntax.star:2:13: syntax error: got ':', want ')'"},
		{"param without =", []string{"run", "--dry-run", "-p", "env", "../../testdata/plans/sample.star"}, "", false, exit.Usage, "-p/--param: parameter \"env\": want name=value"},
		{"unknown param", []string{"run", "--dry-run", "--offline", "-p", "enviroment=production", "../../testdata/plans/sample.star"}, "", false, exit.Usage, "unknown parameter \"enviroment\"; did you mean \"env\"?\nparameters of testdata/plans/sample.star:"},
		{"param wrong type", []string{"run", "--dry-run", "--offline", "-p", "replicas=three", "../../testdata/plans/sample.star"}, "", false, exit.Usage, "parameter replicas: want an int, got \"three\""},
		{"param not a choice", []string{"run", "--dry-run", "--offline", "-p", "env=prod", "../../testdata/plans/sample.star"}, "", false, exit.Usage, "\"prod\" is not one of staging|production; did you mean \"production\"?"},
		{"offline without dry-run", []string{"run", "--offline", "testdata/plans/ask.star"}, "", false, exit.Usage, "--offline goes with --dry-run"},
		{"fail()", []string{"run", "--dry-run", "testdata/plans/fails.star"}, "", false, exit.PlanFailed, "Traceback (most recent call last):\n  plans/fails.star:5:6: in <toplevel>\n  plans/fails.star:3:13: in check\n  in fail\nplate: plans/fails.star:3:13: fail: x must not be negative, got -1\n"},
		{"confirm declined", []string{"run", "testdata/plans/ask.star"}, "n\n", true, exit.Aborted, "plate: plans/ask.star:1:8: aborted by user\n"},
		{"confirm accepted", []string{"run", "testdata/plans/ask.star"}, "y\n", true, exit.OK, ""},
		{"confirm end of input", []string{"run", "testdata/plans/ask.star"}, "", true, exit.Aborted, "no answer"},
		{"dry-run never asks", []string{"run", "--dry-run", "testdata/plans/ask.star"}, "", false, exit.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlate(t, tt.stdin, tt.tty, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.out, r.errOut)
			}
			if !strings.Contains(r.errOut, tt.errWant) {
				t.Errorf("stderr does not contain %q:\n%s", tt.errWant, r.errOut)
			}
			if tt.code == exit.Aborted && strings.Contains(r.errOut, "Traceback") {
				t.Errorf("an abort shows a stack trace:\n%s", r.errOut)
			}
			if strings.Contains(r.errOut, "goroutine ") || strings.Contains(r.errOut, ".go:") {
				t.Errorf("stderr shows a Go stack:\n%s", r.errOut)
			}
		})
	}
}

// A plan that must confirm, run without a terminal and without --yes, stops
// in the preflight with exit 4 and sends no request at all to the cluster:
// no write, not even the dry-run render of the write that follows confirm.
func TestConfirmWithoutTTYWritesNothing(t *testing.T) {
	rec, kubeconfig := newAPIRecorder(t)
	r := runPlate(t, "", false, "run", "--kubeconfig", kubeconfig, "testdata/plans/guarded.star")
	if r.code != exit.Aborted {
		t.Fatalf("exit code %d, want %d\n%s%s", r.code, exit.Aborted, r.out, r.errOut)
	}
	if want := "pass --yes"; !strings.Contains(r.errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
	}
	if !strings.Contains(r.out, "preflight failed: nothing was written") {
		t.Errorf("stdout does not say nothing was written:\n%s", r.out)
	}
	if strings.Contains(r.out, "== run of") {
		t.Errorf("the real pass started:\n%s", r.out)
	}
	if reqs := rec.requests(); len(reqs) != 0 {
		t.Errorf("the run sent %d requests to the cluster, want none: %v", len(reqs), reqs)
	}
}

// A dry run's kube_apply reaches the cluster only through the read-only
// transport: the recorder sees reads, and no request that would write.
func TestDryRunSendsNoWrite(t *testing.T) {
	rec, kubeconfig := newAPIRecorder(t)
	r := runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", kubeconfig, "testdata/plans/guarded.star")
	// The stand-in server knows no kinds, so the apply fails at discovery;
	// what matters is which requests were sent.
	if r.code == exit.OK {
		t.Fatalf("want the apply to fail against the stand-in server\n%s", r.out)
	}
	reqs := rec.requests()
	if len(reqs) == 0 {
		t.Fatal("no request reached the stand-in server; the test proves nothing")
	}
	for _, q := range reqs {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("dry run sent %s", q)
		}
	}
}

func TestGoldenTraces(t *testing.T) {
	for _, tc := range []struct{ name, output string }{
		{"sample_dryrun.txt", "text"},
		{"sample_dryrun.jsonl", "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", tc.output, "-p", "env=production", "../../testdata/plans/sample.star")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.errOut)
			}
			golden(t, tc.name, r.out)
		})
	}
}

func TestVerboseTraceShowsStackAndRedactsSecrets(t *testing.T) {
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "-v", "testdata/plans/secrets.star")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	golden(t, "secrets_verbose.txt", r.out)
	rj := runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", "json", "testdata/plans/secrets.star")
	for _, out := range []string{r.out, r.errOut, rj.out, rj.errOut} {
		if strings.Contains(out, "s3cr3t-canary") {
			t.Errorf("secret value leaked:\n%s", out)
		}
	}
	if !strings.Contains(r.out, `"mode":"visible"`) || strings.Contains(r.out, "also-hidden") {
		t.Errorf("plain values should stay visible and Secret data hidden:\n%s", r.out)
	}
}

func TestJSONLines(t *testing.T) {
	r := runPlate(t, "", false, "run", "--dry-run", "--offline", "-o", "json", "../../testdata/plans/sample.star")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	sc := bufio.NewScanner(strings.NewReader(r.out))
	n := 0
	for sc.Scan() {
		n++
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", n, err, sc.Text())
		}
		if _, ok := ev["outcome"]; ok {
			// The outcome ends the stream (TestJSONEverywhere).
			if sc.Scan() {
				t.Errorf("a line after the outcome: %s", sc.Text())
			}
			break
		}
		for _, k := range []string{"v", "seq", "step", "time", "pass", "phase", "builtin", "pos"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("line %d lacks %q: %s", n, k, sc.Text())
			}
		}
		if ev["v"] != float64(1) {
			t.Errorf("line %d: schema version %v, want 1", n, ev["v"])
		}
	}
	if n < 3 {
		t.Fatalf("want at least 3 events, got %d:\n%s", n, r.out)
	}
}

func TestCheckListsParameters(t *testing.T) {
	r := runPlate(t, "", false, "check", "../../testdata/plans/sample.star", "testdata/plans/ask.star")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errOut)
	}
	golden(t, "check_sample.txt", r.out)
}

// plate check warns, on stderr and with exit code 0, about a helper whose
// needs parameter defaults to something that makes its steps concurrent.
func TestCheckWarnsAboutSchedulingDefault(t *testing.T) {
	plan := planFile(t, `
def deploy(name, needs = [plan_start]):
    return helm_install(name, "//c", needs = needs)
`)
	r := runPlate(t, "", false, "check", plan, plan)
	if r.code != 0 || !strings.HasPrefix(r.out, "ok  plan.star\n") {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	want := "plate: warning: plan.star:2:26: deploy(): parameter needs defaults to [plan_start] and is passed to needs= at line 3: " +
		"every call that leaves it out becomes a concurrent step; default it to None (in sequence) and let the callers that want concurrency pass needs = [plan_start]\n"
	if r.errOut != want {
		t.Errorf("stderr (once, though the plan is checked twice):\n%s\nwant:\n%s", r.errOut, want)
	}
}

func TestVersion(t *testing.T) {
	r := runPlate(t, "", false, "version")
	if r.code != 0 {
		t.Fatal(r.errOut)
	}
	for _, want := range []string{"plate ", "helm SDK ", "client-go "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.out)
		}
	}
}

func TestCompletionOfParams(t *testing.T) {
	r := runPlate(t, "", false, "__complete", "run", "../../testdata/plans/sample.star", "-p", "env=")
	want := []string{"env=staging", "env=production"}
	got := strings.Split(strings.TrimSpace(r.out), "\n")
	if len(got) < len(want) || !cmp.Equal(got[:len(want)], want) {
		t.Errorf("completion of -p env=: got %q, want %q first", got, want)
	}
	r = runPlate(t, "", false, "__complete", "run", "../../testdata/plans/sample.star", "-p", "")
	for _, name := range []string{"env=", "replicas=", "skip_libraries="} {
		if !strings.Contains(r.out, name) {
			t.Errorf("completion of -p lacks %s:\n%s", name, r.out)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(strings.ReplaceAll(string(want), "\r\n", "\n"), got); d != "" {
		t.Errorf("%s differs from golden file (-want +got):\n%s", name, d)
	}
}

func iostreamsTest() (*iostreams.IOStreams, *strings.Builder, *strings.Builder) {
	io, out, errOut := iostreams.Test("")
	o, e := &strings.Builder{}, &strings.Builder{}
	io.Out, io.ErrOut = &syncWriter{w: o}, &syncWriter{w: e}
	_ = out
	_ = errOut
	return io, o, e
}

// syncWriter lets a test read output that another goroutine writes.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func runPlateWith(t *testing.T, plugins func() []builtins.Plugin, args ...string) result {
	t.Helper()
	io, out, errOut := iostreams.Test("")
	f := &Factory{IO: io, Now: fixedClock(), Plugins: plugins}
	code := Main(args, f)
	return result{code: code, out: out.String(), errOut: errOut.String()}
}

func jsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		evs = append(evs, ev)
	}
	return evs
}
