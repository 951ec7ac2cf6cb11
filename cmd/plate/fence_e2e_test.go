package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/lock"
)

// pausePlugin's pause() stands for a run that stops moving (a laptop that
// sleeps, a paused CI machine): in a run pass it says so on paused and
// waits for resume.
type pausePlugin struct{ paused, resume chan struct{} }

func (pausePlugin) Name() string { return "pause" }
func (p pausePlugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{{Name: "pause", Effect: engine.Read, Fn: func(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if !c.Engine.Writes() {
			return starlark.None, nil
		}
		close(p.paused)
		select {
		case <-p.resume:
		case <-c.Ctx.Done():
			return nil, c.Ctx.Err()
		}
		return starlark.None, nil
	}}}
}

// pausedRun starts plate with args (and pause()) in the background and
// returns once the plan's pause() waits; resume lets it go on and returns
// its result.
func pausedRun(t *testing.T, args ...string) (resume func() result) {
	t.Helper()
	p := pausePlugin{paused: make(chan struct{}), resume: make(chan struct{})}
	io, out, errOut := iostreamsTest()
	f := &Factory{IO: io, Now: time.Now, Plugins: func() []builtins.Plugin { return append(registry.Plugins(), p) }}
	done := make(chan int)
	go func() { done <- Main(args, f) }()
	select {
	case <-p.paused:
	case code := <-done:
		t.Fatalf("the run ended before its pause: exit %d\n%s%s", code, out, errOut)
	}
	return func() result {
		close(p.resume)
		code := <-done
		return result{code: code, out: out.String(), errOut: errOut.String()}
	}
}

// A run whose lock another run takes while it is paused stops before its
// next write: exit 1, the lost lock named, and the audit log shows no write
// of it after the takeover. The other run (a process of this host that
// holds the lease, then a real plate run that upgrades the release) wins;
// the stop report reads the release and says that its latest revision
// belongs to another run, with no rollback line.
func TestE2ELostLockStopsBeforeNextWrite(t *testing.T) {
	e := newE2E(t)
	const second = "plate-e2e-second"
	kc2 := filepath.Join(t.TempDir(), "kubeconfig")
	if err := e.c.WriteKubeconfigAs(kc2, second, "system:masters"); err != nil {
		t.Fatal(err)
	}
	chart := webChartPath(t)
	first := e.plan(t, `
ns = param("ns", "default")
helm_install("shop", "`+chart+`", namespace = ns, set = {"message": "first"})
pause()
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after-pause"}, "data": {"by": "first"}}, namespace = ns)
helm_install("shop", "`+chart+`", namespace = ns, set = {"message": "first again"})
`)
	other := e.plan(t, `
ns = param("ns", "default")
helm_install("shop", "`+chart+`", namespace = ns, set = {"message": "other"})
pause()
`)
	resume := pausedRun(t, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, first)

	// While the first run is paused, its lease passes to a run of this
	// host whose process has gone (as a run that took it over and was
	// killed leaves it)...
	ctx := context.Background()
	leases := e.c.Clientset().CoordinationV1().Leases(e.ns)
	cur, err := leases.Get(ctx, "plate-release-shop", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the first run's lease: %v", err)
	}
	audit := e.c.BeginAudit()
	host, _ := os.Hostname()
	id := host + "/999999/1"
	cur.Spec.HolderIdentity = &id
	cur.Annotations[lock.HolderAnnotation] = `{"user":"killed","host":"` + host + `","pid":999999,"plan":"other.star"}`
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// ... and a real plate run takes it over, upgrades the release and
	// is still running when the first one wakes up.
	resumeOther := pausedRun(t, "run", "--yes", "--kubeconfig", kc2, "-p", "ns="+e.ns, other)
	defer func() {
		if r2 := resumeOther(); r2.code != 0 || !strings.Contains(r2.errOut+r2.out, "took over an expired lock of killed@"+host) {
			t.Errorf("the other run: exit %d\n%s%s", r2.code, r2.out, r2.errOut)
		}
	}()

	r := resume()
	muts, err := audit.Mutations(ctx, localcluster.AuditFilter{Users: []string{plateUser}})
	if err != nil {
		t.Fatal(err)
	}
	if r.code != exit.PlanFailed {
		t.Fatalf("the run that lost its lock: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if len(muts) != 0 {
		t.Errorf("the run wrote %d times after it lost its lock: %+v", len(muts), muts)
	}
	for _, want := range []string{
		"this run lost its lock " + e.ns + "/plate-release-shop: another run took it: ",
		"@" + host + " (pid " + strconv.Itoa(os.Getpid()) + "), running plan.star -n default -p ns=#",
		"stopped before this write",
		"plate: stopped: this run lost its lock; what this run did before it stopped:",
		"failed  s3 kube_apply",
		"shop in " + e.ns + ": install rev 1; now: rev 2 (deployed) belongs to another run\n",
	} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.errOut)
		}
	}
	if strings.Contains(r.errOut, "plate rollback shop") {
		t.Errorf("a rollback line for a release another run changed:\n%s", r.errOut)
	}
	if _, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(ctx, "after-pause", metav1.GetOptions{}); err == nil {
		t.Error("the write after the pause happened")
	}
	if got := statuses(e.history(t, "shop")); got != "1:superseded 2:deployed" {
		t.Errorf("history: %s", got)
	}
}
