package helm

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/plate-dev/plate/internal/exit"
)

// RollbackRequest asks for a release to be rolled back.
type RollbackRequest struct {
	Release   string
	Namespace string
	// Revision is the revision to restore; 0 means the last deployed or
	// superseded revision before the current one (see RollbackTarget).
	Revision int
	// Timeout bounds the rollback, hooks included (default DefaultTimeout).
	Timeout time.Duration
	// Secrets are strings that diffs must not show.
	Secrets []string
	// BeforeWrite, when set, is called in a writing pass right before the
	// rollback is sent; an error stops it before any write.
	BeforeWrite func(*RollbackResult) error
}

// RollbackResult says what a rollback did (or would do).
type RollbackResult struct {
	Planned bool `json:"planned,omitempty"`
	// Offline is true in an offline dry run: the history was not read.
	Offline bool `json:"offline,omitempty"`
	// Scripted is true in a plan test: the revisions come from the
	// scripted cluster; the objects were not compared.
	Scripted bool `json:"scripted,omitempty"`
	// Release is the new revision, a copy of the restored one.
	Release Release `json:"release"`
	// FromRevision is the revision that was current.
	FromRevision int `json:"from_revision"`
	// Restores is the revision whose chart, values and manifest return.
	Restores int  `json:"restores"`
	Diff     Diff `json:"diff"`
}

// Summary is "rollback rev 5→6 (restores rev 3; 1 changed, 0 added,
// 0 removed)", with "would roll back" in dry passes.
func (r *RollbackResult) Summary() string {
	if r.Offline {
		return fmt.Sprintf("would roll back %s (offline: the history was not read)", r.Release.Name)
	}
	if r.Scripted {
		return fmt.Sprintf("would roll back rev %d→%d (restores rev %d; scripted)", r.FromRevision, r.Release.Revision, r.Restores)
	}
	verb := "rollback"
	if r.Planned {
		verb = "would roll back"
	}
	return fmt.Sprintf("%s rev %d→%d (restores rev %d; %s)", verb, r.FromRevision, r.Release.Revision, r.Restores, r.Diff.Counts())
}

// Text is the verbose trace's rendering of the result: nothing, since
// the diff between the current and the restored manifest is the event's
// (shown with --diff); `plate rollback -v` prints Diff.Text().
func (r *RollbackResult) Text() string { return "" }

// Rollback restores an earlier revision of a release as a new revision. It
// does not wait for readiness. In a dry pass it reports the revision it
// would restore and the diff.
func (c *Client) Rollback(ctx context.Context, req RollbackRequest) (_ *RollbackResult, err error) {
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	// The timeout bounds the whole request, also when the API server
	// hangs (see Client.config).
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	defer func() {
		if err != nil {
			err = ended(parent, ctx, fmt.Sprintf("release %s in namespace %s", req.Release, req.Namespace), req.Timeout, err)
		}
	}()
	cfg, kc, hist, done, err := c.openRelease(ctx, req.Release, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(hist) == 0 {
		return nil, exit.Errorf(exit.PlanFailed, "no release %s in namespace %s to roll back", req.Release, req.Namespace)
	}
	cur := hist[len(hist)-1]
	if cur.Info.Status.IsPending() {
		return nil, pendingError(cur)
	}
	revs := make([]Revision, len(hist))
	var target *release.Release
	for i, r := range hist {
		revs[i] = revisionOf(r)
	}
	n, err := RollbackTarget(revs, req.Revision)
	if err != nil {
		var xe *exit.Error
		if ok := asExit(err, &xe); ok {
			xe.Msg = fmt.Sprintf("cannot roll back %s in namespace %s: %s", req.Release, req.Namespace, xe.Msg)
			return nil, xe
		}
		return nil, err
	}
	for _, r := range hist {
		if r.Version == n {
			target = r
		}
	}
	scope := c.scope(kc.Mapper, crdKinds(target.Chart, nil))
	live, _ := parseManifest(cur.Manifest, scope, req.Namespace)
	if cur.Info.Status == release.StatusUninstalled {
		live = nil
	}
	next, _ := parseManifest(target.Manifest, scope, req.Namespace)
	secrets := append(append(append([]string(nil), req.Secrets...), configSecrets(cur)...), configSecrets(target)...)
	res := &RollbackResult{
		Planned:      !c.Writes(),
		FromRevision: cur.Version,
		Restores:     n,
		Diff:         diffObjects(live, next, secrets),
	}
	if !c.Writes() {
		res.Release = c.summarize(target, kc.Mapper)
		res.Release.Revision = cur.Version + 1
		res.Release.Status = StatusDeployed
		res.Release.Description = fmt.Sprintf("Rollback to %d", n)
		res.Release.Updated = time.Time{}
		return res, nil
	}
	if req.BeforeWrite != nil {
		if err := req.BeforeWrite(res); err != nil {
			return nil, err
		}
	}
	rb := action.NewRollback(cfg)
	rb.Version = n
	rb.Timeout = req.Timeout
	rb.MaxHistory = MaxHistory
	what := fmt.Sprintf("rollback of %s in namespace %s to rev %d", req.Release, req.Namespace, n)
	if err := runWithContext(ctx, req.Timeout, func() error { return rb.Run(req.Release) }); err != nil {
		c.scrubStored(ctx, req.Release, req.Namespace, secrets)
		return nil, scrubError(c.runErr(kc, what, req.Timeout, err), secrets)
	}
	after, err := cfg.Releases.Last(req.Release)
	if err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("%s: reading the new revision: %w", what, err))
	}
	res.Release = c.summarize(after, kc.Mapper)
	return res, nil
}

// runWithContext runs fn, an SDK call that takes no context, and returns
// early with the context's error when ctx ends or timeout passes first.
// The call goes on in the background then, as Helm's own RunWithContext
// calls do.
func runWithContext(ctx context.Context, timeout time.Duration, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func asExit(err error, target **exit.Error) bool {
	xe, ok := err.(*exit.Error)
	if ok {
		*target = xe
	}
	return ok
}
