package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
)

// fakePrompter answers the questions of the flow's tests.
type fakePrompter struct {
	tty    bool
	answer bool
	err    error
	// onAsk runs when a question is asked, before the answer (a test
	// interrupts there).
	onAsk func()
	// block, if set, holds the answer until it is closed.
	block chan struct{}
	asked []string
}

func (p *fakePrompter) CanPrompt() bool { return p.tty }

func (p *fakePrompter) Confirm(message string, def bool) (bool, error) {
	p.asked = append(p.asked, message)
	if p.onAsk != nil {
		p.onAsk()
	}
	if p.block != nil {
		<-p.block
	}
	return p.answer, p.err
}

// flowRecord is what a test change did.
type flowRecord struct {
	planned, applied bool
	connects         []bool // readOnly of each connect
	applyCtxErr      error
}

type testPlan struct{ Would string }
type testResult struct{ Did string }

// testChange is a change over no cluster that records its steps. plan and
// apply, when set, replace the default steps.
func testChange(rec *flowRecord, plan func(ctx context.Context) (*testPlan, error), apply func(ctx context.Context, interrupted func() bool) (*testResult, error)) change[*testPlan, *testResult] {
	return change[*testPlan, *testResult]{
		Plan: func(ctx context.Context, dry *releaseClients) (*testPlan, error) {
			rec.planned = true
			if plan != nil {
				return plan(ctx)
			}
			return &testPlan{Would: "would change web"}, nil
		},
		Show: func(w io.Writer, dry *releaseClients, p *testPlan) {
			fmt.Fprintf(w, "web in %s: %s\n", dry.namespace, p.Would)
		},
		Question: func(dry *releaseClients, p *testPlan) string {
			if p.Would == "" {
				return ""
			}
			return "Change web in namespace " + dry.namespace + "?"
		},
		Apply: func(ctx context.Context, live *releaseClients, p *testPlan, interrupted func() bool) (*testResult, error) {
			rec.applied = true
			rec.applyCtxErr = ctx.Err()
			if apply != nil {
				return apply(ctx, interrupted)
			}
			return &testResult{Did: "changed web"}, nil
		},
		Report: func(w io.Writer, live *releaseClients, r *testResult) {
			fmt.Fprintf(w, "web in %s: %s\n", live.namespace, r.Did)
		},
		connect: func(g *GlobalOptions, readOnly bool) (*releaseClients, error) {
			rec.connects = append(rec.connects, readOnly)
			return &releaseClients{namespace: "shop"}, nil
		},
	}
}

// runFlow runs c as a command would and returns the exit code, stdout and
// stderr as Main would print them.
func runFlow(ctx context.Context, c change[*testPlan, *testResult], output string, rule ask.Rule) (int, string, string) {
	io, out, errOut := iostreams.Test("")
	f := &Factory{IO: io, Now: fixedClock()}
	err := c.run(ctx, f, &GlobalOptions{Output: output}, rule)
	if err != nil {
		printError(f, err)
	}
	return exit.Code(err), out.String(), errOut.String()
}

// Each outcome of the confirmation: only a yes (--yes or the terminal's)
// applies; every other stops before the write with the message and exit
// code of the commands.
func TestChangeConfirmation(t *testing.T) {
	const (
		plan   = "web in shop: would change web\n"
		report = "web in shop: changed web\n"
	)
	tests := []struct {
		name     string
		rule     ask.Rule
		code     int
		applied  bool
		out, err string
	}{
		{"--yes", ask.Rule{Yes: true}, exit.OK, true, plan + report, ""},
		{"--yes without a terminal", ask.Rule{Yes: true, Prompter: &fakePrompter{}}, exit.OK, true, plan + report, ""},
		{"terminal yes", ask.Rule{Prompter: &fakePrompter{tty: true, answer: true}}, exit.OK, true, plan + report, ""},
		{"terminal no", ask.Rule{Prompter: &fakePrompter{tty: true}}, exit.Aborted, false, plan,
			"plate: aborted by user: nothing was changed\n"},
		{"end of input", ask.Rule{Prompter: &fakePrompter{tty: true, err: iostreams.ErrNoAnswer}}, exit.Aborted, false, plan,
			"plate: no answer: nothing was changed\n"},
		{"prompt error", ask.Rule{Prompter: &fakePrompter{tty: true, err: errors.New("read /dev/stdin: i/o error")}}, exit.Aborted, false, plan,
			"plate: no answer: nothing was changed\n"},
		{"no terminal", ask.Rule{Prompter: &fakePrompter{}}, exit.Aborted, false, plan,
			"plate: Change web in namespace shop: cannot ask for confirmation without a terminal; pass --yes\n"},
		{"no prompter", ask.Rule{}, exit.Aborted, false, plan,
			"plate: Change web in namespace shop: cannot ask for confirmation without a terminal; pass --yes\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &flowRecord{}
			code, out, errOut := runFlow(context.Background(), testChange(rec, nil, nil), "text", tc.rule)
			if code != tc.code || out != tc.out || errOut != tc.err {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.out, tc.err)
			}
			if rec.applied != tc.applied {
				t.Errorf("applied %v, want %v", rec.applied, tc.applied)
			}
			// Clients that write are made only for the write.
			wantConnects := "[true]"
			if tc.applied {
				wantConnects = "[true false]"
			}
			if got := fmt.Sprint(rec.connects); got != wantConnects {
				t.Errorf("connects (readOnly) %s, want %s", got, wantConnects)
			}
			if p, ok := tc.rule.Prompter.(*fakePrompter); ok && p.tty && !tc.rule.Yes {
				if len(p.asked) != 1 || p.asked[0] != "Change web in namespace shop?" {
					t.Errorf("asked %q", p.asked)
				}
			}
		})
	}
}

// A plan with nothing to change (no question) asks nothing and writes
// nothing; -o json prints the plan.
func TestChangeNothingToDo(t *testing.T) {
	rec := &flowRecord{}
	p := &fakePrompter{tty: true, answer: true}
	empty := func(ctx context.Context) (*testPlan, error) { return &testPlan{}, nil }
	code, out, errOut := runFlow(context.Background(), testChange(rec, empty, nil), "json", ask.Rule{Prompter: p})
	if code != exit.OK || out != "{\n  \"Would\": \"\"\n}\n" || errOut != "" || rec.applied || len(p.asked) != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q, applied %v, asked %q", code, out, errOut, rec.applied, p.asked)
	}
}

// -o json prints the result, and neither the plan nor the report.
func TestChangeJSON(t *testing.T) {
	rec := &flowRecord{}
	code, out, errOut := runFlow(context.Background(), testChange(rec, nil, nil), "json", ask.Rule{Yes: true})
	if code != exit.OK || out != "{\n  \"Did\": \"changed web\"\n}\n" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A plan that fails part way shows what it planned before the failure.
func TestChangePartialPlan(t *testing.T) {
	rec := &flowRecord{}
	partial := func(ctx context.Context) (*testPlan, error) {
		return &testPlan{Would: "would change web"}, errors.New("db in shop: no such revision")
	}
	code, out, errOut := runFlow(context.Background(), testChange(rec, partial, nil), "text", ask.Rule{Yes: true})
	if code != exit.PlanFailed || out != "web in shop: would change web\n" || errOut != "plate: db in shop: no such revision\n" || rec.applied {
		t.Errorf("exit %d, stdout %q, stderr %q, applied %v", code, out, errOut, rec.applied)
	}
}

// An interrupt at any point before the write stops the change: exit 130,
// "nothing was changed", Apply is never called and no client that writes
// is made.
func TestChangeInterruptBeforeApply(t *testing.T) {
	const msg = "plate: interrupted: nothing was changed\n"
	t.Run("before the plan", func(t *testing.T) {
		rec := &flowRecord{}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		code, out, errOut := runFlow(ctx, testChange(rec, nil, nil), "text", ask.Rule{Yes: true})
		if code != exit.Interrupted || out != "" || errOut != msg || rec.planned || rec.applied || len(rec.connects) != 0 {
			t.Errorf("exit %d, stdout %q, stderr %q, %+v", code, out, errOut, rec)
		}
	})
	t.Run("during the plan", func(t *testing.T) {
		rec := &flowRecord{}
		ctx, cancel := context.WithCancel(context.Background())
		plan := func(pctx context.Context) (*testPlan, error) {
			cancel()
			return nil, fmt.Errorf("reading the history of web: %w", pctx.Err())
		}
		code, out, errOut := runFlow(ctx, testChange(rec, plan, nil), "text", ask.Rule{Yes: true})
		if code != exit.Interrupted || out != "" || errOut != msg || rec.applied || len(rec.connects) != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q, %+v", code, out, errOut, rec)
		}
	})
	t.Run("while the question waits", func(t *testing.T) {
		rec := &flowRecord{}
		ctx, cancel := context.WithCancel(context.Background())
		// The user never answers; the interrupt comes while asking.
		p := &fakePrompter{tty: true, answer: true, block: make(chan struct{}), onAsk: cancel}
		defer close(p.block)
		code, out, errOut := runFlow(ctx, testChange(rec, nil, nil), "text", ask.Rule{Prompter: p})
		if code != exit.Interrupted || out != "web in shop: would change web\n" || errOut != "\n"+msg || rec.applied || len(rec.connects) != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q, %+v", code, out, errOut, rec)
		}
	})
	t.Run("with the answer yes", func(t *testing.T) {
		rec := &flowRecord{}
		ctx, cancel := context.WithCancel(context.Background())
		// The interrupt and the yes arrive together: no write.
		p := &fakePrompter{tty: true, answer: true, onAsk: cancel}
		code, _, errOut := runFlow(ctx, testChange(rec, nil, nil), "text", ask.Rule{Prompter: p})
		if code != exit.Interrupted || !strings.HasSuffix(errOut, msg) || rec.applied || len(rec.connects) != 1 {
			t.Errorf("exit %d, stderr %q, %+v", code, errOut, rec)
		}
	})
}

// An interrupt during the write does not cancel it: Apply's context stays
// live (Helm's SDK rollback takes no context; cut short, the process
// would exit with the release pending), the result is reported, and the
// exit code is 130 with a message that says the write was let finish.
func TestChangeInterruptDuringApply(t *testing.T) {
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			rec := &flowRecord{}
			ctx, cancel := context.WithCancel(context.Background())
			var sawInterrupt bool
			apply := func(actx context.Context, interrupted func() bool) (*testResult, error) {
				cancel() // the first SIGINT, in the middle of the write
				sawInterrupt = interrupted()
				if actx.Err() != nil {
					return nil, actx.Err()
				}
				return &testResult{Did: "changed web"}, nil
			}
			code, out, errOut := runFlow(ctx, testChange(rec, nil, apply), output, ask.Rule{Yes: true})
			if code != exit.Interrupted || rec.applyCtxErr != nil || !sawInterrupt {
				t.Fatalf("exit %d, apply context %v, interrupted() %v\n%s%s", code, rec.applyCtxErr, sawInterrupt, out, errOut)
			}
			wantOut := "web in shop: would change web\nweb in shop: changed web\n"
			if output == "json" {
				wantOut = "{\n  \"Did\": \"changed web\"\n}\n"
			}
			if out != wantOut {
				t.Errorf("stdout %q, want %q", out, wantOut)
			}
			if errOut != "plate: interrupted while changing the cluster: the change under way was let finish, so that no release is left pending\n" {
				t.Errorf("stderr %q", errOut)
			}
		})
	}
}

// A change of several writes stops between them: what was done is
// reported, with Apply's error.
func TestChangeInterruptBetweenWrites(t *testing.T) {
	rec := &flowRecord{}
	ctx, cancel := context.WithCancel(context.Background())
	apply := func(actx context.Context, interrupted func() bool) (*testResult, error) {
		cancel() // during the first write, which finishes
		if interrupted() {
			return &testResult{Did: "changed web"}, &exit.Error{Code: exit.Interrupted, Msg: "interrupted: db was not changed"}
		}
		return &testResult{Did: "changed web and db"}, nil
	}
	code, out, errOut := runFlow(ctx, testChange(rec, nil, apply), "text", ask.Rule{Yes: true})
	if code != exit.Interrupted || out != "web in shop: would change web\nweb in shop: changed web\n" || errOut != "plate: interrupted: db was not changed\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Main hands every command the context that an interrupt cancels: the
// commands that change releases stop before any request to the cluster,
// with exit code 130 and "nothing was changed".
func TestMainInterruptStopsChanges(t *testing.T) {
	api, kubeconfig := newAPIRecorder(t)
	intr := make(chan struct{})
	close(intr)
	for _, args := range [][]string{
		{"rollback", "web", "--yes"},
		{"recover", "web", "--yes"},
	} {
		io, out, errOut := iostreams.Test("")
		f := &Factory{IO: io, Now: fixedClock(), Plugins: withTestPlugin,
			Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
		code := Main(append(args, "--kubeconfig", kubeconfig), f)
		if code != exit.Interrupted || errOut.String() != "plate: interrupted: nothing was changed\n" {
			t.Errorf("%s: exit %d, want 130\n%s%s", args[0], code, out, errOut)
		}
	}
	if reqs := api.requests(); len(reqs) != 0 {
		t.Errorf("%d requests after the interrupt: %v", len(reqs), reqs)
	}
}

// The commands resolve their namespace by kube.Settings.Namespaced: a bad
// -n is refused (exit 2) before any request.
func TestChangeCommandsCheckNamespace(t *testing.T) {
	api, kubeconfig := newAPIRecorder(t)
	for _, args := range [][]string{
		{"rollback", "web", "--yes"},
		{"recover", "web", "--yes"},
		{"history", "web"},
		{"status"},
	} {
		r := runPlate(t, "", false, append(args, "--kubeconfig", kubeconfig, "-n", "Not_A_Namespace")...)
		if r.code != exit.Usage || !strings.Contains(r.errOut, `namespace "Not_A_Namespace" is not a valid name`) {
			t.Errorf("%s: exit %d\n%s", args[0], r.code, r.errOut)
		}
	}
	if reqs := api.requests(); len(reqs) != 0 {
		t.Errorf("%d requests: %v", len(reqs), reqs)
	}
}

// Without -n the commands use the namespace of the kube context.
func TestChangeCommandsContextNamespace(t *testing.T) {
	api, _ := newAPIRecorder(t)
	kubeconfig := recorderKubeconfig(t, api.srv.URL, "team-a")
	// The clients of rollback, recover, restore and history.
	for _, tc := range []struct{ flag, want string }{{"", "team-a"}, {"web", "web"}} {
		cl, err := connectRelease(&GlobalOptions{Kubeconfig: kubeconfig, Namespace: tc.flag}, true)
		if err != nil || cl.namespace != tc.want {
			t.Errorf("-n %q: namespace %v %v, want %s", tc.flag, cl, err, tc.want)
		}
	}
	// plate status.
	r := runPlate(t, "", false, "status", "--kubeconfig", kubeconfig)
	reqs := api.requests()
	if r.code == exit.OK || len(reqs) == 0 {
		t.Fatalf("status: exit %d, %d requests\n%s", r.code, len(reqs), r.errOut)
	}
	for _, req := range reqs {
		if !strings.Contains(req, "/namespaces/team-a/") {
			t.Errorf("status: request outside the context's namespace: %s", req)
		}
	}
}
