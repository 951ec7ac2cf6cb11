package helm

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
)

// RecoverRequest asks for a release stuck in a pending state to be
// recovered.
type RecoverRequest struct {
	Release   string
	Namespace string
	// Timeout bounds the rollback, hooks included (default DefaultTimeout).
	Timeout time.Duration
}

// RecoverResult says what a recovery did (or would do).
type RecoverResult struct {
	Planned bool `json:"planned,omitempty"`
	// Stuck is false when the latest revision is not pending: nothing to do.
	Stuck bool `json:"stuck"`
	// Latest is the latest revision as it was found.
	Latest Revision `json:"latest"`
	// MarkedFailed is true when the pending revision was (or would be)
	// marked failed.
	MarkedFailed bool `json:"marked_failed,omitempty"`
	// Rollback is the rollback to the last deployed or superseded revision;
	// nil when there is none (a pending first install).
	Rollback *RollbackResult `json:"rollback,omitempty"`
}

// Summary is "marked rev 3 (pending-upgrade) failed; rollback rev 3→4
// (restores rev 2; …)", "would mark …", or "nothing to recover: rev 2 is
// deployed".
func (r *RecoverResult) Summary() string {
	if !r.Stuck {
		return fmt.Sprintf("nothing to recover: rev %d is %s", r.Latest.Revision, r.Latest.Status)
	}
	verb := "marked"
	if r.Planned {
		verb = "would mark"
	}
	s := fmt.Sprintf("%s rev %d (%s) failed", verb, r.Latest.Revision, r.Latest.Status)
	if r.Rollback == nil {
		return s + "; no earlier deployed revision to roll back to: the next install upgrades the failed revision"
	}
	return s + "; " + r.Rollback.Summary()
}

// Text is the rollback's diff.
func (r *RecoverResult) Text() string {
	if r.Rollback == nil {
		return ""
	}
	return r.Rollback.Text()
}

// Recover gets a release out of pending-install, pending-upgrade or
// pending-rollback, the state a killed helm or plate process leaves behind
// (after which every operation says another one is in progress). The
// pending revision is marked failed; then, if an earlier revision was
// deployed or superseded, the release is rolled back to the last such
// revision, so that the objects match a revision that worked. Without one
// (a pending first install) the failed revision stays the latest, and the
// next install upgrades it. A release that is not pending is left alone.
//
// Recover does not know whether the pending operation is still running in
// another process: the caller must make sure it is not.
func (c *Client) Recover(ctx context.Context, req RecoverRequest) (*RecoverResult, error) {
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	cfg, kc, hist, done, err := c.openRelease(ctx, req.Release, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(hist) == 0 {
		return nil, exit.Errorf(exit.PlanFailed, "no release %s in namespace %s", req.Release, req.Namespace)
	}
	cur := hist[len(hist)-1]
	res := &RecoverResult{Planned: !c.Writes(), Latest: revisionOf(cur), Stuck: cur.Info.Status.IsPending()}
	if !res.Stuck {
		res.Planned = false
		return res, nil
	}
	res.MarkedFailed = true
	revs := make([]Revision, len(hist))
	for i, r := range hist {
		revs[i] = revisionOf(r)
	}
	revs[len(revs)-1].Status = StatusFailed
	target, terr := RollbackTarget(revs, 0)
	if !c.Writes() {
		if terr == nil {
			res.Rollback = c.plannedRollback(kc, hist, cur, target, req.Namespace)
		}
		return res, nil
	}
	was := cur.Info.Status
	cur.Info.Status = release.StatusFailed
	cur.Info.Description = fmt.Sprintf("Marked failed by plate recover: it was %s, and the operation never finished", was)
	if err := cfg.Releases.Update(cur); err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("marking rev %d of %s failed: %w", cur.Version, req.Release, err))
	}
	if terr != nil {
		return res, nil
	}
	rb, err := c.Rollback(ctx, RollbackRequest{Release: req.Release, Namespace: req.Namespace, Revision: target, Timeout: req.Timeout})
	if err != nil {
		var xe *exit.Error
		if asExit(err, &xe) {
			cp := *xe
			cp.Msg = fmt.Sprintf("marked rev %d failed, but %s", cur.Version, xe.Msg)
			return nil, &cp
		}
		return nil, fmt.Errorf("marked rev %d failed, but the rollback failed: %w", cur.Version, err)
	}
	res.Rollback = rb
	return res, nil
}

// plannedRollback describes the rollback a dry recovery would make.
func (c *Client) plannedRollback(kc *kube.Client, hist []*release.Release, cur *release.Release, target int, namespace string) *RollbackResult {
	var t *release.Release
	for _, r := range hist {
		if r.Version == target {
			t = r
		}
	}
	scope := c.scope(kc.Mapper, crdKinds(t.Chart, nil))
	live, _ := parseManifest(cur.Manifest, scope, namespace)
	next, _ := parseManifest(t.Manifest, scope, namespace)
	rel := c.summarize(t, kc.Mapper)
	rel.Revision = cur.Version + 1
	rel.Status = StatusDeployed
	rel.Description = fmt.Sprintf("Rollback to %d", target)
	rel.Updated = time.Time{}
	return &RollbackResult{
		Planned:      true,
		Release:      rel,
		FromRevision: cur.Version,
		Restores:     target,
		Diff:         diffObjects(live, next, append(configSecrets(cur), configSecrets(t)...)),
	}
}
