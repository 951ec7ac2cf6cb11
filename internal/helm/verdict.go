package helm

import (
	"context"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/release"
)

// VerdictRequest asks to record that a revision a run installed or upgraded
// did not become ready.
type VerdictRequest struct {
	Release, Namespace string
	// Revision is the revision the run made.
	Revision int
	// Supersedes is the revision that was deployed before the run's
	// upgrade (0 for an install): it is deployed again, as `helm upgrade
	// --wait` leaves it when the wait fails.
	Supersedes int
	// Reason says why the revision is not ready (the wait's error).
	Reason string
}

// VerdictResult says what a verdict changed in Helm's storage.
type VerdictResult struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Planned is true in dry passes: nothing was written.
	Planned bool `json:"planned,omitempty"`
	// Marked is true when the revision is (or would be) marked failed.
	Marked bool `json:"marked"`
	// Redeployed is the superseded revision marked deployed again (0:
	// none).
	Redeployed int `json:"redeployed,omitempty"`
	// Skipped says why nothing was marked (the revision is no longer the
	// latest, or no longer deployed: another run changed the release).
	Skipped string `json:"skipped,omitempty"`
}

// Summary is "web rev 3 marked failed (rev 2 deployed again)".
func (r *VerdictResult) Summary() string {
	if !r.Marked {
		return fmt.Sprintf("%s rev %d not marked failed: %s", r.Release, r.Revision, r.Skipped)
	}
	verb := "marked"
	if r.Planned {
		verb = "would be marked"
	}
	s := fmt.Sprintf("%s rev %d %s failed in Helm's history", r.Release, r.Revision, verb)
	if r.Redeployed > 0 {
		s += fmt.Sprintf(" (rev %d deployed again)", r.Redeployed)
	}
	return s
}

// maxDescription bounds the description stored with a failed revision.
const maxDescription = 512

// MarkFailed records a readiness verdict in Helm's storage, as `helm
// upgrade --wait` does when its wait fails: the revision is marked failed
// with the reason as its description, and the revision it superseded is
// deployed again. `plate history`, the helm CLI and helm_release() then show
// it, and the default rollback target (the last deployed or superseded
// revision before the latest) skips it. A revision that is no longer the
// latest or no longer deployed is left alone: another run changed the
// release since.
func (c *Client) MarkFailed(ctx context.Context, req VerdictRequest) (*VerdictResult, error) {
	res := &VerdictResult{Release: req.Release, Namespace: req.Namespace, Revision: req.Revision, Planned: !c.Writes()}
	cfg, kc, hist, done, err := c.openRelease(ctx, req.Release, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(hist) == 0 {
		res.Skipped = "the release no longer exists"
		return res, nil
	}
	last := hist[len(hist)-1]
	switch {
	case last.Version != req.Revision:
		res.Skipped = fmt.Sprintf("rev %d is the latest now", last.Version)
		return res, nil
	case last.Info.Status != release.StatusDeployed:
		res.Skipped = fmt.Sprintf("it is %s now", last.Info.Status)
		return res, nil
	}
	res.Marked = true
	var prev *release.Release
	if req.Supersedes > 0 {
		for _, r := range hist {
			if r.Version == req.Supersedes && r.Info.Status == release.StatusSuperseded {
				prev = r
			}
		}
	}
	if prev != nil {
		res.Redeployed = prev.Version
	}
	if !c.Writes() {
		return res, nil
	}
	desc := "Not ready (plate wait_ready): " + strings.ReplaceAll(req.Reason, "\n", "; ")
	if len(desc) > maxDescription {
		desc = desc[:maxDescription-1] + "…"
	}
	last.SetStatus(release.StatusFailed, desc)
	if err := cfg.Releases.Update(last); err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("marking rev %d of %s failed: %w", last.Version, req.Release, err))
	}
	if prev != nil {
		prev.SetStatus(release.StatusDeployed, prev.Info.Description)
		if err := cfg.Releases.Update(prev); err != nil {
			return nil, c.clusterErr(kc, fmt.Errorf("marked rev %d of %s failed, but marking rev %d deployed again: %w", last.Version, req.Release, prev.Version, err))
		}
	}
	return res, nil
}
