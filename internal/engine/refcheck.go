package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/trace"
)

// The reference check (internal/refcheck) runs in the dry passes that read
// the cluster: the Helm adapter checks a release's rendered objects, the
// Kubernetes adapter kube_apply's objects, each against the cluster (read
// once per pass) and the planned world of earlier steps. A step reports
// what was found with Report.Findings, which stops the pass at an error.

// refChecks is the pass's checker state.
type refChecks struct {
	once    sync.Once
	checker *refcheck.Checker
	live    *refcheck.Live
	err     error
	// offlineNoted: the offline note was given.
	offlineNoted bool
}

// checker returns the pass's reference checker: nil in a writing pass
// (the preflight checked) and in offline passes (no cluster is read).
func (e *Engine) checker() (*refcheck.Checker, error) {
	if e.Writes() || e.opts.Offline || e.opts.NoRefCheck {
		return nil, nil
	}
	e.refChecks.once.Do(func() {
		cl, err := e.kubeClient()
		if err != nil {
			e.refChecks.err = err
			return
		}
		live, err := refcheck.NewLive(cl.Config, cl.Mapper, cl.Dynamic, func(ctx context.Context, name string) error {
			_, err := cl.Clientset.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			return err
		})
		if err != nil {
			e.refChecks.err = err
			return
		}
		e.refChecks.live = live
		e.refChecks.checker = refcheck.New(live, e.planned)
	})
	return e.refChecks.checker, e.refChecks.err
}

// RefCheckLists is the number of list requests the pass's reference check
// sent (the benchmark reports it).
func (e *Engine) RefCheckLists() int {
	if l := e.refChecks.live; l != nil {
		return l.Requests()
	}
	return 0
}

// Findings records what the reference check found about the step's
// objects on its closing event, and stops the step (exit 2, before any
// write) when one is an error. In an offline pass the first step that
// would have been checked says that nothing was.
func (r *Report) Findings(fs []trace.Finding) error {
	e := r.eng
	if e.opts.Offline && e.opts.Script == nil {
		e.stateMu.Lock()
		first := !e.refChecks.offlineNoted
		e.refChecks.offlineNoted = true
		e.stateMu.Unlock()
		if first {
			fs = append(fs, trace.Finding{Severity: trace.SeverityNote,
				Message: "reference checks skipped: an offline dry run reads no cluster (docs/checks.md)"})
		}
	}
	r.findings = append(r.findings, fs...)
	errs := refcheck.Errors(fs)
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "reference check found %s (the deploy would fail or get stuck): %s", plural(len(errs), "error"), errs[0].Message)
	for _, f := range errs {
		b.WriteString("\n  " + f.String())
	}
	return &exit.Error{Code: exit.Usage, Msg: b.String(),
		Hint: "nothing was written; fix the plan or the cluster, or silence a finding for one object (annotation " + refcheck.IgnoreAnnotation + ", or helm_install(ignore_checks=…)): see docs/checks.md"}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
