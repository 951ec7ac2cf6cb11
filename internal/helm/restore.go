package helm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// RestoreRequest asks for a release to be brought back to a backed-up
// revision.
type RestoreRequest struct {
	Release   string
	Namespace string
	// Storage are the backed-up storage Secrets of the release (see
	// Snapshot.Storage).
	Storage []*corev1.Secret
	// Target is the backed-up revision to bring back.
	Target int
	// Backup names the backup, for the descriptions Helm stores.
	Backup string
	// Timeout bounds the rollback, hooks included (default DefaultTimeout).
	Timeout time.Duration
	// Secrets are strings that diffs must not show.
	Secrets []string
}

// RestoreResult says what a restore did (or would do).
type RestoreResult struct {
	Planned bool `json:"planned,omitempty"`
	// CreatesNamespace is true when the namespace was (or would be) created.
	CreatesNamespace bool `json:"creates_namespace,omitempty"`
	// Written are the backed-up revisions written back to Helm's storage
	// as they were (their storage Secrets were missing).
	Written []int `json:"written,omitempty"`
	// Present are the backed-up revisions the cluster still stores
	// unchanged.
	Present []int `json:"present,omitempty"`
	// Diverged is true when the cluster stores other releases under the
	// backed-up revision numbers (the release was uninstalled and
	// installed again since): the history is left as it is and the target
	// is stored as the new revision StoredAs.
	Diverged bool `json:"diverged,omitempty"`
	StoredAs int  `json:"stored_as,omitempty"`
	// FromRevision is the latest revision before the restore (0: none).
	FromRevision int `json:"from_revision,omitempty"`
	// BackedUp is the backed-up revision brought back; Restores is the
	// stored revision the rollback restores (BackedUp, or StoredAs).
	BackedUp int `json:"backed_up"`
	Restores int `json:"restores"`
	// Release is the new revision: a copy of the backed-up one.
	Release Release `json:"release"`
	Diff    Diff    `json:"diff"`
}

// Summary is "restore rev 5→6 (backed-up rev 3; 1 changed, 0 added, 0
// removed)", or "restore backed-up rev 3 as rev 4 (3 revisions written
// back; …)" when the release had no revision left; "would restore" in dry
// passes.
func (r *RestoreResult) Summary() string {
	verb := "restore"
	if r.Planned {
		verb = "would restore"
	}
	var notes []string
	if r.FromRevision > 0 {
		notes = append(notes, fmt.Sprintf("backed-up rev %d", r.BackedUp))
	}
	if r.CreatesNamespace {
		if r.Planned {
			notes = append(notes, "would create namespace "+r.Release.Namespace)
		} else {
			notes = append(notes, "namespace "+r.Release.Namespace+" created")
		}
	}
	switch {
	case r.Diverged:
		notes = append(notes, fmt.Sprintf("history replaced since the backup: stored as rev %d, then rolled back to", r.StoredAs))
	case len(r.Written) > 0:
		notes = append(notes, plural(len(r.Written), "revision")+" written back")
	}
	notes = append(notes, r.Diff.Counts())
	if r.FromRevision > 0 {
		return fmt.Sprintf("%s rev %d→%d (%s)", verb, r.FromRevision, r.Release.Revision, strings.Join(notes, "; "))
	}
	return fmt.Sprintf("%s backed-up rev %d as rev %d (%s)", verb, r.BackedUp, r.Release.Revision, strings.Join(notes, "; "))
}

// Text is the diff between the live and the restored manifest.
func (r *RestoreResult) Text() string { return r.Diff.Text() }

// Restore brings a release back to a backed-up revision so that Helm sees a
// consistent history:
//
//   - the backed-up storage Secrets that the cluster lacks are written back
//     as they were (after an uninstall, say); revisions it still stores
//     unchanged are left alone;
//   - if the cluster stores other revisions under the same numbers (the
//     release was installed anew since), its history is kept and the
//     backed-up revision is stored as a new revision on top of it;
//   - then the release is rolled back to that revision: a new revision with
//     its chart, values, manifest and hooks, whose objects Helm applies
//     (creating the missing ones, patching the changed ones).
//
// In a dry pass it says what it would do and diffs the manifests. A
// release stuck in a pending state is refused (see Recover).
func (c *Client) Restore(ctx context.Context, req RestoreRequest) (*RestoreResult, error) {
	if err := validName(req.Release); err != nil {
		return nil, err
	}
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	byRev, bySecret, revs, err := validateStorage(req.Release, req.Storage)
	if err != nil {
		return nil, err
	}
	target, ok := byRev[req.Target]
	if !ok {
		return nil, exit.Errorf(exit.Usage, "the backup of %s holds no revision %d (it holds %v)", req.Release, req.Target, revs)
	}
	cfg, kc, done, err := c.config(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	exists, err := namespaceExists(ctx, kc, req.Namespace)
	if err != nil {
		return nil, c.clusterErr(kc, err)
	}
	res := &RestoreResult{Planned: !c.Writes(), CreatesNamespace: !exists, BackedUp: target.Version}
	var hist []*release.Release
	if exists {
		if hist, err = history(cfg, req.Release); err != nil {
			return nil, c.clusterErr(kc, fmt.Errorf("reading the history of release %s in namespace %s: %w", req.Release, req.Namespace, err))
		}
	}
	stored := map[int]*release.Release{}
	var cur *release.Release
	for _, r := range hist {
		stored[r.Version] = r
	}
	if len(hist) > 0 {
		cur = hist[len(hist)-1]
		if cur.Info.Status.IsPending() {
			return nil, pendingError(cur)
		}
		res.FromRevision = cur.Version
	}

	res.Restores = target.Version
	if s, ok := stored[target.Version]; ok && sameRevision(s, target) {
		// The history still holds the backed-up revision.
		for _, v := range revs {
			if s, ok := stored[v]; ok && sameRevision(s, byRev[v]) {
				res.Present = append(res.Present, v)
			}
		}
	} else {
		for _, v := range revs {
			if s, ok := stored[v]; ok && !sameRevision(s, byRev[v]) {
				res.Diverged = true
			}
		}
		if res.Diverged {
			res.StoredAs = cur.Version + 1
			res.Restores = res.StoredAs
		} else {
			for _, v := range revs {
				if _, ok := stored[v]; ok {
					res.Present = append(res.Present, v)
				} else {
					res.Written = append(res.Written, v)
				}
			}
		}
	}

	scope := c.scope(kc.Mapper, crdKinds(target.Chart, nil))
	var live []*object
	if cur != nil && cur.Info.Status != release.StatusUninstalled {
		live, _ = parseManifest(cur.Manifest, scope, req.Namespace)
	}
	next, _ := parseManifest(target.Manifest, scope, req.Namespace)
	secrets := append(append(append([]string(nil), req.Secrets...), configSecrets(target)...), configSecrets(cur)...)
	res.Diff = diffObjects(live, next, secrets)

	latest := 0
	if cur != nil {
		latest = cur.Version
	}
	if n := len(res.Written); n > 0 && res.Written[n-1] > latest {
		latest = res.Written[n-1]
	}
	if res.Diverged {
		latest = res.StoredAs
	}
	if !c.Writes() {
		res.Release = c.summarize(target, kc.Mapper)
		res.Release.Revision = latest + 1
		res.Release.Status = StatusDeployed
		res.Release.Description = fmt.Sprintf("Rollback to %d", res.Restores)
		res.Release.Updated = time.Time{}
		return res, nil
	}

	what := fmt.Sprintf("restore of %s in namespace %s", req.Release, req.Namespace)
	if !exists {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: req.Namespace}}
		if _, err := kc.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return nil, c.clusterErr(kc, fmt.Errorf("%s: creating the namespace: %w", what, err))
		}
	}
	storage := kc.Clientset.CoreV1().Secrets(req.Namespace)
	for _, v := range res.Written {
		s := bySecret[v]
		out := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: req.Namespace, Labels: s.Labels},
			Type:       s.Type,
			Data:       s.Data,
			Immutable:  s.Immutable,
		}
		if _, err := storage.Create(ctx, out, metav1.CreateOptions{}); err != nil {
			return nil, c.clusterErr(kc, fmt.Errorf("%s: writing back %s: %w", what, s.Name, err))
		}
	}
	if res.Diverged {
		cp := *target
		info := *target.Info
		cp.Info = &info
		cp.Version = res.StoredAs
		cp.Info.Status = release.StatusSuperseded
		cp.Info.Description = fmt.Sprintf("Restored from backup %s (rev %d there)", req.Backup, target.Version)
		if err := cfg.Releases.Create(&cp); err != nil {
			return nil, c.clusterErr(kc, fmt.Errorf("%s: storing backed-up rev %d as rev %d: %w", what, target.Version, res.StoredAs, err))
		}
	}
	rb := action.NewRollback(cfg)
	rb.Version = res.Restores
	rb.Timeout = req.Timeout
	rb.MaxHistory = MaxHistory
	if err := runWithContext(ctx, req.Timeout, func() error { return rb.Run(req.Release) }); err != nil {
		c.scrubStored(ctx, req.Release, req.Namespace, secrets)
		return nil, scrubError(c.runErr(kc, what+fmt.Sprintf(" (rollback to rev %d)", res.Restores), req.Timeout, err), secrets)
	}
	after, err := cfg.Releases.Last(req.Release)
	if err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("%s: reading the new revision: %w", what, err))
	}
	res.Release = c.summarize(after, kc.Mapper)
	return res, nil
}

// valueSecrets collects the strings of values under secret-looking keys
// (password, token, …), so that diffs of manifests rendered from stored
// values hide them too.
func valueSecrets(vals map[string]any) []string {
	var out []string
	var walk func(v any, secret bool, depth int)
	walk = func(v any, secret bool, depth int) {
		if depth > 100 {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				walk(y, secret || trace.SecretName(k), depth+1)
			}
		case []any:
			for _, y := range x {
				walk(y, secret, depth+1)
			}
		case string:
			if secret {
				out = append(out, x)
			}
		}
	}
	walk(vals, false, 0)
	sort.Strings(out)
	return out
}
