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
