package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
)

// Bounds of the hang tests. They are behavioural bounds, not speed goals:
// a run must end within its deadline plus what plate allows itself after
// it (kube.DefaultGrace for Helm to record the failure, the lock release's
// 10 s) plus slack for a loaded machine. Before the timeouts were bound to
// every request, the same runs took 45 s and more after their deadline
// (client-go's HTTP/2 health check was what ended them).
const (
	installDeadline = 8 * time.Second
	hangSlack       = 22 * time.Second
)

// stress reports whether the longer variants of the fault and limit
// tests run (PLATE_STRESS=1, as `make stress` sets it).
func stress() bool { return os.Getenv("PLATE_STRESS") == "1" }

// rounds is how many times a fault test repeats its case: once, or three
// times under stress.
func rounds() int {
	if stress() {
		return 3
	}
	return 1
}

// freezeAPIServer stops the API server process (SIGSTOP): its connections
// stay open and nothing answers, as on a hung or partitioned server. The
// returned function (also a cleanup) lets it go on.
func freezeAPIServer(t *testing.T, e *e2e) (thaw func()) {
	t.Helper()
	pid := e.c.Pids()[localcluster.ProcAPIServer]
	if pid == 0 {
		t.Fatal("no API server pid")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw = func() {
		if thawed {
			return
		}
		thawed = true
		syscall.Kill(pid, syscall.SIGCONT)
		// Wait until it answers again, so that later tests find it well.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := e.c.Clientset().Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			cancel()
			if err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Cleanup(thaw)
	return thaw
}

// startRun runs plate in the background with an interrupt channel of its
// own (what Main's SIGINT/SIGTERM handler feeds) and returns the channel
// of its result.
func startRun(args ...string) (interrupt func(), done <-chan result) {
	io, out, errOut := iostreamsTest()
	intr := make(chan struct{})
	f := &Factory{IO: io, Now: fixedClock(), Plugins: registry.Plugins,
		Interrupts: func() (<-chan struct{}, func()) { return intr, func() {} }}
	ch := make(chan result, 1)
	go func() {
		code := Main(args, f)
		ch <- result{code: code, out: out.String(), errOut: errOut.String()}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(intr)
		}
	}, ch
}

// hangingInstall starts a run whose helm_install (timeout 8s) is held by a
// pre-install hook, and returns once Helm stored the pending-install
// revision: the install's requests are under way.
func hangingInstall(t *testing.T, e *e2e, name string) (interrupt func(), done <-chan result, started time.Time) {
	t.Helper()
	chart := hookChart(t, name, "pre-install", "", ` {"plate.dev/ready-delay": "600s"}`)
	plan := e.plan(t, `
ns = param("ns", "default")
rel = helm_install("`+name+`", "`+chart+`", namespace = ns, timeout = "`+installDeadline.String()+`")
`)
	interrupt, done = startRun("run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case r := <-done:
			t.Fatalf("the run ended before its install started: exit %d\n%s%s", r.code, r.out, r.errOut)
		default:
		}
		l, err := e.c.Clientset().CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name + ",status=pending-install"})
		if err == nil && len(l.Items) > 0 {
			return interrupt, done, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("release %s never reached pending-install", name)
	return nil, nil, time.Time{}
}

func waitResult(t *testing.T, done <-chan result, within time.Duration) (result, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case r := <-done:
		return r, time.Since(start)
	case <-time.After(within + 60*time.Second):
		t.Fatalf("the run did not end within %s (and a minute more)", within)
	}
	return result{}, 0
}

// helm_install(timeout="8s") ends at its deadline when the API server
// hangs in the middle of the install: a timeout (exit 3) that names the
// release, within the deadline and the stated slack.
func TestE2EInstallTimeoutHoldsWhenAPIServerHangs(t *testing.T) {
	for i := range rounds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { installTimeoutOnHungServer(t, fmt.Sprintf("hangto%d", i)) })
	}
}

func installTimeoutOnHungServer(t *testing.T, name string) {
	e := newE2E(t)
	_, done, started := hangingInstall(t, e, name)
	thaw := freezeAPIServer(t, e)
	r, _ := waitResult(t, done, installDeadline+hangSlack)
	took := time.Since(started)
	thaw()
	t.Logf("the run ended %s after the install started (deadline %s)", took.Round(100*time.Millisecond), installDeadline)
	if r.code != exit.Timeout {
		t.Fatalf("exit %d, want %d (timeout)\n%s%s", r.code, exit.Timeout, r.out, r.errOut)
	}
	if took > installDeadline+hangSlack {
		t.Errorf("the run ended %s after the install started, more than its deadline %s + %s", took, installDeadline, hangSlack)
	}
	if !strings.Contains(r.errOut, name+" in namespace "+e.ns) || !strings.Contains(r.errOut, "timed out after 8s") {
		t.Errorf("the error does not name the release and its timeout:\n%s", r.errOut)
	}
}

// The first interrupt ends a run whose API server hangs within a few
// seconds (exit 130).
func TestE2EInterruptActsWhenAPIServerHangs(t *testing.T) {
	for i := range rounds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { interruptOnHungServer(t, fmt.Sprintf("hangint%d", i)) })
	}
}

func interruptOnHungServer(t *testing.T, name string) {
	e := newE2E(t)
	interrupt, done, _ := hangingInstall(t, e, name)
	thaw := freezeAPIServer(t, e)
	// Past the requests already in flight when the server froze.
	time.Sleep(time.Second)
	at := time.Now()
	interrupt()
	r, _ := waitResult(t, done, hangSlack)
	took := time.Since(at)
	thaw()
	t.Logf("the run ended %s after the interrupt", took.Round(100*time.Millisecond))
	if r.code != exit.Interrupted {
		t.Fatalf("exit %d, want 130\n%s%s", r.code, r.out, r.errOut)
	}
	if took > hangSlack {
		t.Errorf("the run ended %s after the interrupt, more than %s", took, hangSlack)
	}
}

// An interrupt while the API server answers leaves no pending release:
// Helm records the cancelled install as failed before plate exits.
func TestE2EInterruptLeavesNoPendingRelease(t *testing.T) {
	e := newE2E(t)
	interrupt, done, _ := hangingInstall(t, e, "intok")
	at := time.Now()
	interrupt()
	r, _ := waitResult(t, done, hangSlack)
	took := time.Since(at)
	t.Logf("the run ended %s after the interrupt", took.Round(100*time.Millisecond))
	if r.code != exit.Interrupted {
		t.Fatalf("exit %d, want 130\n%s%s", r.code, r.out, r.errOut)
	}
	if took > hangSlack {
		t.Errorf("the run ended %s after the interrupt, more than %s", took, hangSlack)
	}
	hist := e.history(t, "intok")
	if len(hist) != 1 || hist[0].Status != "failed" {
		t.Errorf("history after the interrupt: %+v, want one failed revision", hist)
	}
}

// killAPIServer kills the API server (SIGKILL) and starts it again at
// cleanup, or when the returned function is called.
func killAPIServer(t *testing.T, e *e2e) (restart func()) {
	t.Helper()
	if err := e.c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	done := false
	restart = func() {
		if done {
			return
		}
		done = true
		if err := e.c.StartAPIServer(context.Background()); err != nil {
			t.Errorf("starting the API server again: %v", err)
		}
	}
	t.Cleanup(restart)
	return restart
}

// lostWait is the wait's timeout in TestE2ELostClusterMidRun: past the
// 30 s after which a wait calls the cluster lost, and far past it under
// stress (the wait must not last to its timeout).
func lostWait() string {
	if stress() {
		return "300s"
	}
	return "40s"
}

// A run that loses its cluster in the middle of a wait says so once, in its
// own words, and exits 1 (a failed run), not 2 (bad input).
func TestE2ELostClusterMidRun(t *testing.T) {
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
rel = helm_install("lostweb", "`+webChartPath(t)+`", namespace = ns, set = {"podAnnotations": {"plate.dev/ready-delay": "600s"}})
wait_ready(rel, timeout = "`+lostWait()+`")
`)
	_, done := startRun("run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, plan)
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := e.c.Clientset().CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=lostweb,status=deployed"})
		if err == nil && len(l.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the release was never stored")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	restart := killAPIServer(t, e)
	r, took := waitResult(t, done, 60*time.Second)
	restart()
	if took > 30*time.Second+hangSlack {
		t.Errorf("the run ended %s after the API server was killed, want within 30 s + %s", took, hangSlack)
	}
	t.Logf("exit %d\n%s%s", r.code, r.out, r.errOut)
	if r.code != exit.PlanFailed {
		t.Errorf("exit %d, want 1 (a failed run)", r.code)
	}
	// Once per place a failed step is shown (its trace line, the stop
	// report, the final error), never once per retry of a watch.
	all := r.out + r.errOut
	if n := strings.Count(all, "lost the cluster"); n < 1 || n > 3 {
		t.Errorf("%d lines say the cluster was lost, want one per place a failed step is shown:\n%s", n, all)
	}
	if !strings.Contains(r.errOut, "plate: plan.star:4:11: wait_ready: lost the cluster at "+e.c.Server()) {
		t.Errorf("the final error does not say the cluster was lost:\n%s", r.errOut)
	}
	if !strings.Contains(all, e.c.Server()) {
		t.Errorf("the message does not name the server %s", e.c.Server())
	}
}
