package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/internal/trace"
)

// lockTargets are the leases a run takes: one per Helm release that its
// preflight says it will change (the subjects of the steps that ended
// planned: installs, upgrades, rollbacks, uninstalls, also those the
// preflight found unchanged, which the run may still change), each in the
// release's namespace. A run that changes no release locks its plan in its
// namespace, in lockNamespace.
func lockTargets(preflight []trace.Event, plan, namespace, lockNamespace string, exists func(ns string) bool) []lock.Target {
	var out []lock.Target
	for _, e := range preflight {
		if e.Subject == nil || e.Subject.Release == "" || e.Phase != trace.Planned || !changesReleases[e.Builtin] {
			continue
		}
		out = append(out, lock.ReleaseTargets(e.Subject.Namespace, e.Subject.Release, exists(e.Subject.Namespace), lockNamespace))
	}
	if len(out) == 0 {
		out = append(out, lock.Target{Namespace: lockNamespace, Name: lock.PlanKey(plan, namespace)})
	}
	return out
}

// changesReleases are the builtins whose subject is a release they may
// change; other steps name a release they only read or wait for.
var changesReleases = map[string]bool{"helm_install": true, "helm_uninstall": true, "helm_rollback": true}

// lock takes the run's leases (lockTargets), so that a second run that
// would change the same releases is refused while this one runs. The
// returned function releases them.
func (r *Runner) lock(ctx context.Context, preflight []trace.Event) (func(), error) {
	cl, err := kube.Connect(r.o.Kube, false)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	known := map[string]bool{}
	exists := func(ns string) bool {
		if e, ok := known[ns]; ok {
			return e
		}
		_, err := cl.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		// A user who may not read namespaces works in one that exists.
		e := err == nil || !apierrors.IsNotFound(err)
		known[ns] = e
		return e
	}
	targets := lockTargets(preflight, r.plan.Name, cl.Namespace, r.o.LockNamespace, exists)
	holder := lock.Me(r.plan.Name, lock.Env(cl.Namespace, r.o.Params), r.o.Now())
	set, err := lock.AcquireAll(ctx, cl.Clientset, targets, holder, 0, nil)
	if err != nil {
		return nil, lock.Refused(err, "nothing was written")
	}
	r.locks = set
	set.OnLost(func(lost *lock.LostError) {
		fmt.Fprintf(r.o.ErrOut, "plate: %v; the run stops before its next write\n", lost)
	}, func(err error) {
		fmt.Fprintf(r.o.ErrOut, "plate: warning: %v\n", err)
	})
	var names []string
	for _, l := range set.Locks {
		names = append(names, l.Name())
		if l.TookOver != nil {
			r.out.note(fmt.Sprintf("lock %s: took over an expired lock of %s", l.Name(), l.TookOver))
		}
	}
	if r.o.Text.Verbose > 0 {
		r.out.note("locked " + strings.Join(names, ", "))
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := set.Release(rctx); err != nil {
			fmt.Fprintf(r.o.ErrOut, "plate: releasing the run locks %s: %v\n", strings.Join(names, ", "), err)
		}
	}, nil
}

// fence is the run pass's check before each write (engine.Options.Fence):
// the run must still hold every lock it took. A lost lock fails the write
// with exit code 1 and the reason.
func (r *Runner) fence(ctx context.Context) error {
	if r.locks == nil {
		return nil
	}
	return lostErr(r.locks.Check(ctx), "stopped before this write")
}

// lostErr is the error of a run that lost its lock: exit code 1, what was
// not done, and what to look at before running again.
func lostErr(err error, what string) error {
	if err == nil {
		return nil
	}
	return &exit.Error{Code: exit.PlanFailed, Msg: err.Error() + "; " + what, Err: err,
		Hint: "another run may be changing these releases: see plate history and plate status before running again"}
}

// lockHolder describes the plate run that holds (or held) the lock of
// release name in namespace (engine.Options.LockHolder), for the refusal of
// a release whose latest revision is pending.
func (r *Runner) lockHolder(ctx context.Context, name, namespace string) string {
	cl, err := kube.Connect(r.o.Kube, true)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := lock.ReleaseTargets(namespace, name, true, r.o.LockNamespace)
	for _, tt := range []lock.Target{t, *t.Guard} {
		if st, err := lock.Inspect(ctx, cl.Clientset, tt, time.Now()); err == nil && st != nil {
			return st.String()
		}
	}
	return "unknown (no plate run lock on the release)"
}
