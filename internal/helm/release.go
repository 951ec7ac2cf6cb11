package helm

import (
	"context"
	"errors"
	"fmt"
	"github.com/plate-dev/plate/internal/kube"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/plate-dev/plate/internal/exit"
)

// Release describes one revision of a release.
type Release struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	Revision     int    `json:"revision"`
	Status       string `json:"status"`
	Chart        string `json:"chart"`
	ChartVersion string `json:"chart_version"`
	AppVersion   string `json:"app_version,omitempty"`
	Description  string `json:"description,omitempty"`
	// Updated is when the revision was deployed (zero for a planned one).
	Updated time.Time `json:"updated,omitzero"`
	// Objects are the objects of the revision's manifest, in install order
	// (hooks are not part of it).
	Objects []ObjectRef `json:"objects"`
	// Manifest is the revision's manifest, for backups; never in the trace.
	Manifest string `json:"-"`
}

// Revision is one entry of a release's history.
type Revision struct {
	Revision     int       `json:"revision"`
	Status       string    `json:"status"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chart_version"`
	AppVersion   string    `json:"app_version,omitempty"`
	Description  string    `json:"description,omitempty"`
	Updated      time.Time `json:"updated,omitzero"`
}

// ReleaseInfo is a release's latest revision with its history, oldest
// first.
type ReleaseInfo struct {
	Release
	History []Revision `json:"history"`
}

// Status values of a release, as Helm stores them.
const (
	StatusDeployed        = string(release.StatusDeployed)
	StatusSuperseded      = string(release.StatusSuperseded)
	StatusFailed          = string(release.StatusFailed)
	StatusUninstalled     = string(release.StatusUninstalled)
	StatusPendingInstall  = string(release.StatusPendingInstall)
	StatusPendingUpgrade  = string(release.StatusPendingUpgrade)
	StatusPendingRollback = string(release.StatusPendingRollback)
)

func revisionOf(r *release.Release) Revision {
	rv := Revision{Revision: r.Version}
	if r.Info != nil {
		rv.Status = string(r.Info.Status)
		rv.Description = scrubDescription(r)
		rv.Updated = r.Info.LastDeployed.Time
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		rv.Chart = r.Chart.Metadata.Name
		rv.ChartVersion = r.Chart.Metadata.Version
		rv.AppVersion = r.Chart.Metadata.AppVersion
	}
	return rv
}

// summarize describes r, with the objects of its manifest.
func (c *Client) summarize(r *release.Release, mapper meta.RESTMapper) Release {
	objs, err := parseManifest(r.Manifest, c.scope(mapper, crdKinds(r.Chart, nil)), r.Namespace)
	if err != nil {
		objs = nil
	}
	return summarizeParsed(r, objs)
}

// summarizeParsed describes r with objs, its manifest's objects parsed
// already.
func summarizeParsed(r *release.Release, objs []*object) Release {
	rv := revisionOf(r)
	out := Release{
		Name: r.Name, Namespace: r.Namespace, Revision: r.Version,
		Status: rv.Status, Chart: rv.Chart, ChartVersion: rv.ChartVersion, AppVersion: rv.AppVersion,
		Description: rv.Description, Updated: rv.Updated, Manifest: r.Manifest,
		Objects: refs(objs),
	}
	return out
}

// history returns every stored revision of name, oldest first; nil when
// there is none.
func history(cfg *action.Configuration, name string) ([]*release.Release, error) {
	hist, err := cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(hist, func(i, j int) bool { return hist[i].Version < hist[j].Version })
	return hist, nil
}

// RecoverWindow is how long after a revision became pending plate
// recover refuses to touch it without --force: an operation that started
// that recently may still be running (Helm's own default timeout).
const RecoverWindow = 5 * time.Minute

// PendingError is the refusal of an operation on a release whose latest
// revision is pending: another install, upgrade or rollback is in progress,
// or was interrupted (a killed process leaves that state behind). It does
// not say which: that depends on whether a process still works on it.
type PendingError struct {
	Release, Namespace, Status string
	Revision                   int
	// Started is when the pending revision was made.
	Started time.Time
	// Holder describes the plate run that holds (or held) the release's
	// lock; empty: not known (set by the caller that can read the lock).
	Holder string
	// Now is the clock "started N ago" is read with (zero: time.Now).
	Now time.Time
}

func (e *PendingError) Error() string {
	s := fmt.Sprintf("release %s in namespace %s is %s at rev %d: an install, upgrade or rollback is in progress or was interrupted",
		e.Release, e.Namespace, e.Status, e.Revision)
	if !e.Started.IsZero() {
		now := e.Now
		if now.IsZero() {
			now = time.Now()
		}
		s += fmt.Sprintf(", started %s ago", formatAgo(now.Sub(e.Started)))
	}
	if e.Holder != "" {
		s += ", holder " + e.Holder
	}
	return s
}

// Exit is the error with its exit code and the recover hint.
func (e *PendingError) Exit() *exit.Error {
	return (&exit.Error{Code: exit.PlanFailed, Msg: e.Error(), Err: e}).
		WithHint("once no plate or helm process works on it any more: plate recover %s -n %s (it refuses while a plate run holds the release's lock, or for %d minutes after the operation started)",
			e.Release, e.Namespace, int(RecoverWindow/time.Minute))
}

// formatAgo rounds a duration for "started N ago": seconds under a
// minute, minutes under an hour, else hours and minutes.
func formatAgo(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	}
	return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// pendingError refuses an operation on release r, whose latest revision is
// pending.
func pendingError(r *release.Release) error {
	return (&PendingError{Release: r.Name, Namespace: r.Namespace, Status: string(r.Info.Status), Revision: r.Version,
		Started: r.Info.LastDeployed.Time}).Exit()
}

// Get reads release name in namespace: its latest revision and history.
// It returns nil, nil when there is no such release.
func (c *Client) Get(ctx context.Context, name, namespace string) (*ReleaseInfo, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	cfg, kc, done, err := c.config(ctx, namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	hist, err := history(cfg, name)
	if err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("reading release %s in namespace %s: %w", name, namespace, err))
	}
	if len(hist) == 0 {
		return nil, nil
	}
	info := &ReleaseInfo{Release: c.summarize(hist[len(hist)-1], kc.Mapper)}
	for _, r := range hist {
		info.History = append(info.History, revisionOf(r))
	}
	return info, nil
}

// RollbackTarget chooses the revision a rollback restores. With want > 0
// that revision must exist and differ from the current one. With want == 0
// it is the last revision before the current one that was deployed or
// superseded: a failed revision is never a target (Helm's "previous" may
// be one). hist is sorted oldest first.
func RollbackTarget(hist []Revision, want int) (int, error) {
	if len(hist) == 0 {
		return 0, fmt.Errorf("no revisions")
	}
	cur := hist[len(hist)-1]
	if want > 0 {
		if want == cur.Revision {
			return 0, exit.Errorf(exit.Usage, "revision %d is the current revision", want)
		}
		for _, r := range hist {
			if r.Revision == want {
				return want, nil
			}
		}
		var have []string
		for _, r := range hist {
			have = append(have, fmt.Sprintf("%d (%s)", r.Revision, r.Status))
		}
		return 0, exit.Errorf(exit.Usage, "revision %d is not in the release history (revisions: %s)", want, listSome(have, 10))
	}
	for i := len(hist) - 2; i >= 0; i-- {
		switch hist[i].Status {
		case StatusDeployed, StatusSuperseded:
			return hist[i].Revision, nil
		}
	}
	return 0, exit.Errorf(exit.PlanFailed, "no revision before rev %d was deployed successfully: nothing to roll back to", cur.Revision)
}

// openRelease checks a release name, opens the Configuration of its
// namespace and reads its history: the start that rollback, uninstall and
// recover share. Call done when finished with the Configuration.
func (c *Client) openRelease(ctx context.Context, name, namespace string) (*action.Configuration, *kube.Client, []*release.Release, func(), error) {
	if err := validName(name); err != nil {
		return nil, nil, nil, nil, err
	}
	cfg, kc, done, err := c.config(ctx, namespace)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	hist, err := history(cfg, name)
	if err != nil {
		done()
		return nil, nil, nil, nil, c.clusterErr(kc, fmt.Errorf("reading the history of release %s in namespace %s: %w", name, namespace, err))
	}
	return cfg, kc, hist, done, nil
}
