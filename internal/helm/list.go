package helm

import (
	"context"
	"fmt"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"

	"github.com/plate-dev/plate/internal/exit"
)

// ListEntry is one release as `plate list` shows it: its latest revision.
type ListEntry struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision
}

// List reads the releases of namespace ("" means every namespace), the
// latest revision of each, sorted by namespace and name. Like `helm list`
// it leaves out uninstalled releases and superseded revisions; unlike it,
// it shows releases stuck in a pending state, which block every operation.
func (c *Client) List(ctx context.Context, namespace string) ([]ListEntry, error) {
	cfg, kc, done, err := c.config(ctx, namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	l := action.NewList(cfg)
	l.AllNamespaces = namespace == ""
	l.StateMask = action.ListDeployed | action.ListFailed | action.ListPendingInstall | action.ListPendingUpgrade | action.ListPendingRollback | action.ListUninstalling
	var rels []*release.Release
	if err := runWithContext(ctx, time.Minute, func() error { var err error; rels, err = l.Run(); return err }); err != nil {
		return nil, c.clusterErr(kc, err)
	}
	out := make([]ListEntry, 0, len(rels))
	for _, r := range rels {
		out = append(out, ListEntry{Name: r.Name, Namespace: r.Namespace, Revision: revisionOf(r)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// TestRequest asks to run the test hooks of a release (helm test).
type TestRequest struct {
	Release   string
	Namespace string
	// Timeout bounds each test hook (default DefaultTimeout).
	Timeout time.Duration
}

// TestHook is the outcome of one test hook.
type TestHook struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Phase string `json:"phase"`
	// Started and Completed are when the hook last ran.
	Started   time.Time `json:"started,omitzero"`
	Completed time.Time `json:"completed,omitzero"`
}

// TestResult says what the test hooks of a release did.
type TestResult struct {
	Release  string     `json:"release"`
	Revision int        `json:"revision"`
	Hooks    []TestHook `json:"hooks"`
}

// Summary is "2 test hooks passed", "no test hooks", "1 of 2 test hooks failed".
func (r *TestResult) Summary() string {
	failed := 0
	for _, h := range r.Hooks {
		if h.Phase != string(release.HookPhaseSucceeded) {
			failed++
		}
	}
	switch {
	case len(r.Hooks) == 0:
		return fmt.Sprintf("rev %d has no test hooks", r.Revision)
	case failed > 0:
		return fmt.Sprintf("rev %d: %d of %s failed", r.Revision, failed, plural(len(r.Hooks), "test hook"))
	}
	return fmt.Sprintf("rev %d: %s passed", r.Revision, plural(len(r.Hooks), "test hook"))
}

// Test runs the test hooks of the latest revision of a release (the hooks
// annotated helm.sh/hook: test), as `helm test` does, and reads how each
// ended. A failed hook is an error (exit code 1) that names it; the result
// is returned with it.
func (c *Client) Test(ctx context.Context, req TestRequest) (*TestResult, error) {
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	if !c.Writes() {
		return nil, fmt.Errorf("helm test needs a client that writes")
	}
	cfg, kc, hist, done, err := c.openRelease(ctx, req.Release, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(hist) == 0 || hist[len(hist)-1].Info.Status == release.StatusUninstalled {
		return nil, exit.Errorf(exit.PlanFailed, "no release %s in namespace %s to test", req.Release, req.Namespace)
	}
	rt := action.NewReleaseTesting(cfg)
	rt.Namespace = req.Namespace
	rt.Timeout = req.Timeout
	var rel *release.Release
	what := fmt.Sprintf("test of %s in namespace %s", req.Release, req.Namespace)
	runErr := runWithContext(ctx, req.Timeout, func() error { var err error; rel, err = rt.Run(req.Release); return err })
	if rel == nil {
		return nil, c.runErr(kc, what, req.Timeout, runErr)
	}
	res := &TestResult{Release: rel.Name, Revision: rel.Version}
	for _, h := range rel.Hooks {
		isTest := false
		for _, e := range h.Events {
			if e == release.HookTest {
				isTest = true
			}
		}
		if !isTest {
			continue
		}
		th := TestHook{Name: h.Name, Kind: h.Kind, Phase: string(h.LastRun.Phase)}
		th.Started, th.Completed = h.LastRun.StartedAt.Time, h.LastRun.CompletedAt.Time
		res.Hooks = append(res.Hooks, th)
	}
	if runErr != nil {
		return res, c.runErr(kc, what, req.Timeout, runErr)
	}
	return res, nil
}
