package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/lock"
)

// change is the one write workflow of the commands that change releases
// (rollback, recover, backup restore). Its steps, in order:
//
//  1. Plan, with clients whose transport refuses every write: check what is
//     there and compute what would change, diffs included (for -v).
//  2. Show the plan (text output).
//  3. Confirm by the rule of internal/ask: --yes answers yes; without a
//     terminal, on "no" or on input that ends, nothing is written (exit 4).
//  4. Apply the plan, with clients that write.
//  5. Report what was done (text output), or print it as JSON (-o json).
//
// P is the plan, R the result. Plan and Apply may return a partial value
// with their error (restore's releases before the one that failed): Show
// and Report then get it, so that what was planned or done before the
// failure is still printed. A zero value is not shown.
//
// Interrupts (the first SIGINT/SIGTERM cancels the context, see Main): up
// to the answer of the confirmation, an interrupt stops the change with
// exit code 130 and "interrupted: nothing was changed", even while the
// question waits for its answer. Once the writes have begun, an interrupt
// does not cancel them: Apply gets a context that an interrupt does not
// cancel, because Helm's SDK rollback takes no context and would go on in the
// background of a process about to exit, leaving the release
// pending-rollback. The write under way finishes (bounded by its timeout);
// Apply checks interrupted() between writes and stops there; the flow
// reports what was done and exits 130.
type change[P, R any] struct {
	// Plan computes what the change would do, with read-only clients.
	Plan func(ctx context.Context, dry *releaseClients) (P, error)
	// Show prints the plan (text output only; -v adds the diff).
	Show func(w io.Writer, dry *releaseClients, plan P)
	// Question is the question to confirm. Empty means there is nothing
	// to change: the flow ends after Show, and -o json prints the plan.
	Question func(dry *releaseClients, plan P) string
	// Apply makes the change. ctx is not cancelled by an interrupt;
	// interrupted tells whether one came, for Apply to stop between
	// writes, never in the middle of one.
	Apply func(ctx context.Context, live *releaseClients, plan P, interrupted func() bool) (R, error)
	// Report prints the result (text output only); -o json prints R.
	Report func(w io.Writer, live *releaseClients, res R)
	// Releases names the releases Apply changes (namespace, name): their
	// run locks are taken after the confirmation and before the first
	// write, the same Leases a plate run takes, so that the change is
	// refused while a run changes one of them (and a run is refused while
	// the change lasts).
	Releases func(live *releaseClients, plan P) []lock.Target
	// Name is the command, for the lock's holder record ("plate rollback").
	Name string
	// LockNamespace holds the leases of releases whose namespace did not
	// exist when their run began (default "default").
	LockNamespace string
	// DryRun ends the flow after Show: nothing is asked and nothing is
	// written (-o json prints the plan).
	DryRun bool
	// Wait, when set, runs after Report with the command's context (an
	// interrupt stops it): --wait waits for the release to be ready.
	Wait func(ctx context.Context, w io.Writer, live *releaseClients, res R) error

	// connect makes the clients; nil means connectRelease. Tests put
	// clients that reach no cluster here.
	connect func(g *GlobalOptions, readOnly bool) (*releaseClients, error)
}

// errNothingChanged is the error of an interrupt before any write.
func errNothingChanged() error {
	return &exit.Error{Code: exit.Interrupted, Msg: "interrupted: nothing was changed", Err: context.Canceled}
}

// errLetFinish is the error of an interrupt during the writes, which were
// let finish.
func errLetFinish() error {
	return &exit.Error{Code: exit.Interrupted, Err: context.Canceled,
		Msg: "interrupted while changing the cluster: the change under way was let finish, so that no release is left pending"}
}

// run runs the change with the options of the command and its
// confirmation rule (ask.Rule{Yes: --yes, Prompter: f.IO}).
func (c change[P, R]) run(ctx context.Context, f *Factory, g *GlobalOptions, rule ask.Rule) error {
	connect := c.connect
	if connect == nil {
		connect = connectRelease
	}
	asJSON := g.Output == "json"
	out := f.IO.Out
	if ctx.Err() != nil {
		return errNothingChanged()
	}
	dry, err := connect(g, true)
	if err != nil {
		return err
	}
	plan, err := c.Plan(ctx, dry)
	if ctx.Err() != nil {
		// What failed, failed because of the interrupt.
		return errNothingChanged()
	}
	if !asJSON && !isZero(plan) {
		c.Show(out, dry, plan)
	}
	if err != nil {
		return err
	}
	q := c.Question(dry, plan)
	if c.DryRun {
		if asJSON {
			return writeJSON(out, plan)
		}
		if q != "" {
			fmt.Fprintln(out, "dry run: nothing was changed")
		}
		return nil
	}
	if q == "" {
		if asJSON {
			return writeJSON(out, plan)
		}
		return nil
	}
	if err := confirmChange(ctx, f.IO.ErrOut, rule, q); err != nil {
		return err
	}
	live, err := connect(g, false)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errNothingChanged()
	}
	if c.Releases != nil {
		release, err := c.lock(ctx, f, live, plan)
		if err != nil {
			return err
		}
		defer release()
	}
	interrupted := func() bool { return ctx.Err() != nil }
	res, err := c.Apply(context.WithoutCancel(ctx), live, plan, interrupted)
	if !asJSON && !isZero(res) {
		c.Report(out, live, res)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(out, res); err != nil {
			return err
		}
	}
	if interrupted() {
		return errLetFinish()
	}
	if c.Wait != nil {
		w := out
		if asJSON {
			w = io.Discard
		}
		return c.Wait(ctx, w, live, res)
	}
	return nil
}

// lock takes the run locks of the releases the change makes.
func (c change[P, R]) lock(ctx context.Context, f *Factory, live *releaseClients, plan P) (func(), error) {
	lockNS := c.LockNamespace
	if lockNS == "" {
		lockNS = "default"
	}
	var targets []lock.Target
	for _, t := range c.Releases(live, plan) {
		// The release exists, so its namespace does: the lease lives
		// there; a run that created the namespace holds the fallback one.
		rt := lock.ReleaseTargets(t.Namespace, t.Name, true, lockNS)
		rt.Force = t.Force
		targets = append(targets, rt)
	}
	if len(targets) == 0 {
		return func() {}, nil
	}
	holder := lock.Me(c.Name, lock.Env(live.namespace, nil), f.Now())
	set, err := lock.AcquireAll(ctx, live.kube.Clientset, targets, holder, 0, nil)
	if err != nil {
		return nil, lock.Refused(err, "nothing was changed")
	}
	for _, l := range set.Locks {
		if l.TookOver != nil && l.TookOverLive {
			fmt.Fprintf(f.IO.ErrOut, "plate: took over the run lock %s of a live run (--force): %s; that run stops before its next write\n", l.Name(), l.TookOver)
		}
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := set.Release(rctx); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "plate: releasing the run locks: %v\n", err)
		}
	}, nil
}

// confirmChange asks question before a command changes the cluster, by the
// rule of internal/ask: --yes answers yes; without a terminal (and without
// --yes), on "no" and on input that ends it stops with exit code 4. An
// interrupt while the question waits stops with exit code 130 (and ends
// the prompt's line on w).
func confirmChange(ctx context.Context, w io.Writer, rule ask.Rule, question string) error {
	answer := make(chan error, 1)
	go func() {
		_, err := rule.Confirm(question, false)
		answer <- err
	}()
	var err error
	select {
	case err = <-answer:
	case <-ctx.Done():
		// The question goes unanswered; the process ends soon.
		if !rule.Yes && rule.CanAsk() == nil {
			fmt.Fprintln(w)
		}
		return errNothingChanged()
	}
	if ctx.Err() != nil {
		return errNothingChanged()
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ask.ErrNoTerminal):
		return &exit.Error{Code: exit.Aborted, Err: err,
			Msg: fmt.Sprintf("%s: cannot ask for confirmation without a terminal; pass --yes", strings.TrimSuffix(question, "?"))}
	case errors.Is(err, ask.ErrDeclined):
		return &exit.Error{Code: exit.Aborted, Msg: "aborted by user: nothing was changed", Err: err}
	case errors.Is(err, ask.ErrNoAnswer):
		return &exit.Error{Code: exit.Aborted, Msg: "no answer: nothing was changed", Err: err}
	}
	return exit.Wrap(exit.Aborted, err)
}

// isZero reports whether v is its type's zero value (a nil plan or
// result).
func isZero[T any](v T) bool {
	return reflect.ValueOf(&v).Elem().IsZero()
}

// releaseClients are the clients of a command that reads or changes one
// release: the cluster, Helm over it, and the namespace (kube.Settings.
// Namespaced: -n, else the context's, else "default").
type releaseClients struct {
	kube      *kube.Client
	helm      *helm.Client
	namespace string
}

// kubeSettings are the cluster settings of the global flags.
func (g *GlobalOptions) kubeSettings() kube.Settings {
	return kube.Settings{Kubeconfig: g.Kubeconfig, Context: g.Context, Namespace: g.Namespace}
}

// namespace is the namespace of a command that takes none as an argument:
// -n, else the context's, else "default" (kube.Settings.Namespaced).
func (g *GlobalOptions) namespace() (string, error) {
	ns, err := g.kubeSettings().Namespaced("")
	if err != nil {
		return "", exit.Wrap(exit.Usage, err)
	}
	return ns, nil
}

// connectRelease connects to the cluster of g. With readOnly the clients'
// transport refuses every write, as in a dry run.
func connectRelease(g *GlobalOptions, readOnly bool) (*releaseClients, error) {
	ns, err := g.namespace()
	if err != nil {
		return nil, err
	}
	kc, err := kube.Connect(g.kubeSettings(), readOnly)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, fmt.Errorf("cluster: %w", err))
	}
	hc, err := helm.New(helm.Options{Kube: kc})
	if err != nil {
		return nil, err
	}
	return &releaseClients{kube: kc, helm: hc, namespace: ns}, nil
}
