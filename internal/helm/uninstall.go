package helm

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// UninstallRequest asks for a release to be uninstalled.
type UninstallRequest struct {
	Release   string
	Namespace string
	// KeepHistory keeps the release's revisions (status uninstalled), so
	// that it can be rolled back; otherwise they are deleted.
	KeepHistory bool
	// Timeout bounds the uninstall, hooks included (default DefaultTimeout).
	Timeout time.Duration
	// BeforeWrite, when set, is called in a writing pass right before a
	// release that is found is uninstalled; an error stops it before any
	// write.
	BeforeWrite func(*UninstallResult) error
}

// UninstallResult says what an uninstall did (or would do).
type UninstallResult struct {
	Planned bool `json:"planned,omitempty"`
	// Offline is true in an offline dry run: the release was not read.
	Offline bool `json:"offline,omitempty"`
	// Scripted is true in a plan test: the scripted cluster said whether
	// the release exists; its objects are not known.
	Scripted bool `json:"scripted,omitempty"`
	// Found is true when an installed release was (or would be) removed.
	Found bool `json:"found"`
	// Purged is true when only the history of an already uninstalled
	// release was deleted.
	Purged bool `json:"purged,omitempty"`
	// Release is the release as it was before the uninstall (zero when
	// there was none).
	Release Release `json:"release,omitzero"`
	// Kept counts the revisions left in the history.
	Kept int `json:"kept,omitempty"`
}

// Summary is "uninstall rev 3 (5 objects)", "would uninstall rev 3 (…)",
// "absent", …
func (r *UninstallResult) Summary() string {
	would := ""
	if r.Planned {
		would = "would "
	}
	switch {
	case r.Offline:
		return fmt.Sprintf("would uninstall %s (offline: the release was not read)", r.Release.Name)
	case r.Scripted && r.Found:
		return fmt.Sprintf("would uninstall rev %d (scripted)", r.Release.Revision)
	case r.Found:
		s := fmt.Sprintf("%suninstall rev %d (%s", would, r.Release.Revision, plural(len(r.Release.Objects), "object"))
		if r.Kept > 0 {
			s += fmt.Sprintf("; history of %s kept", plural(r.Kept, "revision"))
		}
		return s + ")"
	case r.Purged:
		return fmt.Sprintf("%spurge the history of uninstalled rev %d", would, r.Release.Revision)
	case r.Kept > 0:
		return fmt.Sprintf("absent (uninstalled at rev %d; history of %s kept)", r.Release.Revision, plural(r.Kept, "revision"))
	}
	return "absent"
}

// Uninstall removes a release and its objects (except those with
// helm.sh/resource-policy: keep). An absent release is not an error. It
// does not wait for the objects to be gone.
func (c *Client) Uninstall(ctx context.Context, req UninstallRequest) (_ *UninstallResult, err error) {
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
	res := &UninstallResult{Planned: !c.Writes()}
	if len(hist) == 0 {
		res.Planned = false
		return res, nil
	}
	last := hist[len(hist)-1]
	res.Release = c.summarize(last, kc.Mapper)
	if last.Info.Status == release.StatusUninstalled {
		if req.KeepHistory {
			res.Planned = false
			res.Kept = len(hist)
			return res, nil
		}
		res.Purged = true
	} else {
		res.Found = true
		if req.KeepHistory {
			res.Kept = len(hist)
		}
	}
	if !c.Writes() {
		return res, nil
	}
	if req.BeforeWrite != nil && res.Found {
		if err := req.BeforeWrite(res); err != nil {
			return nil, err
		}
	}
	un := action.NewUninstall(cfg)
	un.KeepHistory = req.KeepHistory
	un.Timeout = req.Timeout
	what := fmt.Sprintf("uninstall of %s in namespace %s", req.Release, req.Namespace)
	if err := runWithContext(ctx, req.Timeout, func() error { _, err := un.Run(req.Release); return err }); err != nil {
		return nil, c.runErr(kc, what, req.Timeout, err)
	}
	return res, nil
}
