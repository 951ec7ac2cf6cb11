package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/lock"
)

// lock takes the run lock of the plan in its environment, so that a
// second run of it against the same cluster is refused while this one
// runs. The returned function releases it.
func (r *Runner) lock(ctx context.Context) (func(), error) {
	cl, err := kube.Connect(r.o.Kube, false)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, env := lock.Key(r.plan.Name, cl.Namespace, r.o.Params)
	l, err := lock.Acquire(ctx, cl.Clientset, lock.Options{
		Namespace: r.o.LockNamespace,
		Name:      name,
		Holder:    lock.Me(r.plan.Name, env, r.o.Now()),
	})
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, &exit.Error{Code: exit.PlanFailed, Msg: err.Error(), Err: err,
			Hint: "wait for that run to finish; a lock whose run was killed expires after " + lock.DefaultTTL.String()}
	}
	if err != nil {
		return nil, exit.Wrap(exit.PlanFailed, err)
	}
	if l.TookOver != nil {
		r.out.note(fmt.Sprintf("lock %s: took over an expired lock of %s", l.Name(), l.TookOver))
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			fmt.Fprintf(r.o.ErrOut, "plate: releasing the run lock %s: %v\n", l.Name(), err)
		}
	}, nil
}
