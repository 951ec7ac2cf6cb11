package helm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/trace"
)

// InstallRequest asks for a release to be installed or upgraded.
type InstallRequest struct {
	Release   string
	Namespace string
	Chart     ChartSource
	Values    Values
	// CreateNamespace creates the namespace when it does not exist;
	// otherwise a missing namespace is an error.
	CreateNamespace bool
	// Timeout bounds the whole operation, hooks included (default
	// DefaultTimeout).
	Timeout time.Duration
	// Atomic undoes a failed operation: a failed install is uninstalled, a
	// failed upgrade is rolled back to the last deployed or superseded
	// revision. It does not wait for readiness (that is wait_ready's job).
	Atomic bool
	// BeforeWrite, when set, is called in a writing pass right before the
	// install or upgrade is sent, with what it is about to do; an error
	// stops it before any write (a saved plan's check, internal/planfile).
	BeforeWrite func(*InstallResult) error `json:"-"`
	// Strict makes a values key the chart does not have an error
	// (--strict); otherwise it is a warning (InstallResult.Warnings).
	Strict bool
	// IgnoreChecks silences reference checks of a dry pass (refcheck.Step).
	IgnoreChecks []string
}

// Action is what an install request did, or would do in a dry pass.
type Action string

// The actions of an install request.
const (
	Install  Action = "install"
	Upgrade  Action = "upgrade"
	NoChange Action = "unchanged"
)

// InstallResult says what an install request did (or would do).
type InstallResult struct {
	Action Action `json:"action"`
	// Planned is true in dry passes: nothing was written.
	Planned bool `json:"planned,omitempty"`
	// Offline is true for a client-only render without the cluster: the
	// release history was not read, so Action is Install and Release's
	// revision 0.
	Offline bool `json:"offline,omitempty"`
	// Scripted is true in a plan test: the release history came from the
	// test's scripted cluster (Action Install or Upgrade, FromRevision),
	// the objects were rendered offline and not compared.
	Scripted bool `json:"scripted,omitempty"`
	// Release is the new revision (or the unchanged one).
	Release Release `json:"release"`
	// FromRevision is the revision an upgrade starts from.
	FromRevision int `json:"from_revision,omitempty"`
	// Supersedes is the deployed revision an upgrade supersedes (0: none;
	// the latest may have failed).
	Supersedes int `json:"supersedes,omitempty"`
	// Replaces is the uninstalled revision whose history an install
	// continues.
	Replaces int `json:"replaces,omitempty"`
	// CreatesNamespace is true when the namespace is (or would be) created.
	CreatesNamespace bool `json:"creates_namespace,omitempty"`
	ValuesChanged    bool `json:"values_changed,omitempty"`
	HooksChanged     bool `json:"hooks_changed,omitempty"`
	ChartChanged     bool `json:"chart_changed,omitempty"`
	// Diff is the change to each object; Values the values that change.
	// The trace carries both in the event's diff (TraceDiff), not in the
	// detail.
	Diff   Diff              `json:"-"`
	Values []trace.ValueDiff `json:"-"`
	// Hooks are the release's hooks (test hooks included), in the order
	// Helm runs them.
	Hooks []HookInfo `json:"hooks,omitempty"`
	// HookDiff compares the hooks (test hooks left out) with those of the
	// revision an upgrade starts from, when they changed.
	HookDiff *Diff `json:"hook_diff,omitempty"`
	// KubeVersion is the Kubernetes version an offline render assumed.
	KubeVersion string `json:"kube_version,omitempty"`
	// Notes are caveats of the render (kinds not yet in the cluster, …).
	Notes []string `json:"notes,omitempty"`
	// ChartDigest and ValuesDigest are sha256 digests of the chart as
	// loaded (every file, subcharts included) and of the merged values;
	// CurrentDigest is that of the manifest of the revision an upgrade
	// starts from. A saved plan binds them (internal/planfile); they never
	// reach the trace.
	ChartDigest   string `json:"-"`
	ValuesDigest  string `json:"-"`
	CurrentDigest string `json:"-"`
	// Warnings are mistakes that did not stop the install: values keys
	// the chart does not have ("set=: replicaCont: not a value of the
	// chart; did you mean replicaCount?").
	Warnings []string `json:"warnings,omitempty"`
	// Findings are the reference check's, in a dry pass that reads the
	// cluster (the trace event carries them).
	Findings []trace.Finding `json:"-"`
}

// Summary is the one-line trace summary: "install rev 1 (3 objects)",
// "upgrade rev 4→5 (2 changed, 1 added, 0 removed)", "unchanged rev 5",
// prefixed with "would " in dry passes.
func (r *InstallResult) Summary() string {
	if r.Scripted {
		what := fmt.Sprintf("%s %s (%d objects)", r.Release.Chart, r.Release.ChartVersion, len(r.Release.Objects))
		if r.Action == Upgrade {
			return fmt.Sprintf("would upgrade rev %d→%d: %s", r.FromRevision, r.Release.Revision, what)
		}
		return "would install rev 1: " + what
	}
	would := ""
	if r.Planned {
		would = "would "
	}
	var s string
	var extra []string
	switch r.Action {
	case NoChange:
		s = fmt.Sprintf("unchanged rev %d", r.Release.Revision)
	case Upgrade:
		s = fmt.Sprintf("%supgrade rev %d→%d (%s", would, r.FromRevision, r.Release.Revision, r.Diff.Counts())
		if r.ValuesChanged {
			extra = append(extra, "values changed")
		}
		if r.ChartChanged {
			extra = append(extra, "chart "+r.Release.ChartVersion)
		}
		if r.HooksChanged {
			extra = append(extra, "hooks changed")
		}
		if len(extra) > 0 {
			s += "; " + strings.Join(extra, ", ")
		}
		s += ")"
	default:
		if r.Offline {
			return fmt.Sprintf("would install or upgrade %s %s (offline: %s rendered for Kubernetes %s)",
				r.Release.Chart, r.Release.ChartVersion, plural(len(r.Release.Objects), "object"), r.KubeVersion)
		}
		s = fmt.Sprintf("%sinstall rev %d", would, r.Release.Revision)
		if r.Replaces > 0 {
			s += fmt.Sprintf(" over uninstalled rev %d", r.Replaces)
		}
		extra = append(extra, plural(len(r.Release.Objects), "object"))
		if r.CreatesNamespace {
			if r.Planned {
				extra = append(extra, "would create namespace "+r.Release.Namespace)
			} else {
				extra = append(extra, "namespace "+r.Release.Namespace+" created")
			}
		}
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return s
}

// TraceDiff is the diff the trace shows under the step's line: the
// objects that change and the values that change. Nil for an offline or
// scripted render, which has nothing to compare with.
func (r *InstallResult) TraceDiff() *trace.Diff {
	if r.Offline || r.Scripted {
		return nil
	}
	d := r.Diff.Trace()
	d.Values = r.Values
	return d
}

// Text is the verbose rendering of the result: its notes (the diff is
// the event's, shown with --diff).
func (r *InstallResult) Text() string {
	var b strings.Builder
	for _, n := range r.Notes {
		b.WriteString("note: " + n + "\n")
	}
	if r.Offline {
		for _, o := range r.Release.Objects {
			b.WriteString("  " + o.String() + "\n")
		}
		return b.String()
	}
	if len(r.Hooks) > 0 {
		b.WriteString("hooks (run by Helm around the objects; test hooks only by helm test):\n")
		for _, h := range r.Hooks {
			b.WriteString("  " + h.String() + "\n")
		}
	}
	if r.HookDiff != nil {
		b.WriteString("hooks changed:\n")
		for _, l := range strings.Split(strings.TrimRight(r.HookDiff.Text(), "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Install installs or upgrades a release ("upgrade --install"): with no
// release, or an uninstalled one, it installs (continuing the uninstalled
// history); otherwise it upgrades. An upgrade that changes neither the
// manifest, the hooks, the values nor the chart is skipped: no new
// revision. In a dry pass it renders against the live API and diffs with
// the deployed release instead; offline it renders client-only. Secret
// values never reach its diff, its error or the description Helm stores
// with a failed revision (see secrets.go).
//
// Its timeout bounds the whole request, from reading the history to the
// last write, and holds when the API server hangs (see Client.config).
func (c *Client) Install(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	res, err := c.installOrUpgrade(tctx, req)
	if err != nil {
		vals, _ := req.Values.Merge()
		secrets := installSecrets(req, vals)
		c.scrubStored(tctx, req.Release, req.Namespace, secrets)
		var se *SchemaError
		if errors.As(err, &se) {
			for i := range se.Violations {
				se.Violations[i].Reason = scrub(se.Violations[i].Reason, secrets)
			}
		}
		err = ended(ctx, tctx, fmt.Sprintf("release %s in namespace %s", req.Release, req.Namespace), req.Timeout, err)
		return nil, scrubError(err, secrets)
	}
	return res, nil
}

func (c *Client) installOrUpgrade(ctx context.Context, req InstallRequest) (*InstallResult, error) {
	if err := validName(req.Release); err != nil {
		return nil, err
	}
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	ch, err := c.LoadChart(ctx, req.Chart)
	if err != nil {
		return nil, err
	}
	srcs, err := req.Values.sources()
	if err != nil {
		return nil, err
	}
	vals := mergeSources(srcs)
	unknown := unknownValues(ch, srcs)
	if req.Strict && len(unknown) > 0 {
		return nil, unknownValuesError(req.Chart, unknown)
	}
	var warnings []string
	for _, u := range unknown {
		warnings = append(warnings, u.String())
	}
	if err := prepareChart(ch, vals); err != nil {
		return nil, attributeErr(c.renderErr(nil, req.Chart, err), srcs, ch.Values)
	}
	// The CRDs Helm would install first: those of the chart's crds/ and of
	// its enabled subcharts'.
	chartCRDs := crdKinds(ch, nil)
	if c.opts.Offline {
		res, err := c.installOffline(req, ch, vals, chartCRDs)
		if err != nil {
			return nil, attributeErr(err, srcs, ch.Values)
		}
		res.Warnings = warnings
		return res, nil
	}
	chartDigest, valuesDigest := ChartDigest(ch), ValuesDigest(vals)
	cfg, kc, done, err := c.config(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	defer done()
	hist, err := history(cfg, req.Release)
	if err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("reading the history of release %s in namespace %s: %w", req.Release, req.Namespace, err))
	}
	var last *release.Release
	if len(hist) > 0 {
		last = hist[len(hist)-1]
		if last.Info.Status.IsPending() {
			return nil, pendingError(last)
		}
	}
	upgrade := last != nil && last.Info.Status != release.StatusUninstalled
	res := &InstallResult{Action: Install, Planned: !c.Writes(), ChartDigest: chartDigest, ValuesDigest: valuesDigest, Warnings: warnings}
	if !upgrade {
		exists, err := namespaceExists(ctx, kc, req.Namespace)
		if err != nil {
			return nil, c.clusterErr(kc, err)
		}
		if !exists && c.plannedNamespace(req.Namespace) {
			// An earlier step of this dry pass would create it.
			exists = true
		}
		if !exists && !req.CreateNamespace {
			return nil, exit.Errorf(exit.Usage, "namespace %s does not exist on %s; pass create_namespace=True to create it", req.Namespace, kc.Describe())
		}
		res.CreatesNamespace = !exists
	}

	// Render first, in every pass: in dry passes this is the whole job,
	// in the run pass it decides whether an upgrade changes anything and
	// makes every chart or values error a usage error before any write.
	rendered, notes, renderFailed, err := c.renderLive(ctx, cfg, kc, req, ch, vals, upgrade, chartCRDs)
	if err != nil {
		return nil, attributeErr(c.renderErr(kc, req.Chart, err), srcs, ch.Values)
	}
	res.Notes = notes
	if err := checkRecordSize(rendered, req.Release, req.Namespace); err != nil {
		return nil, err
	}
	res.Hooks = hookInfos(rendered.Hooks)
	// The manifest is parsed once: its objects serve the diff, the planned
	// world, the summary and the trace.
	scope := c.scope(kc.Mapper, chartCRDs)
	next, err := parseManifest(rendered.Manifest, scope, req.Namespace)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", req.Chart, err)
	}
	crds := append(append([]crdKind(nil), chartCRDs...), crdKinds(nil, next)...)
	var live []*object
	var current *release.Release
	if upgrade {
		// Helm upgrades from the deployed revision when there is one (the
		// last may have failed), so the diff does too.
		current = last
		for i := len(hist) - 1; i >= 0; i-- {
			if hist[i].Info.Status == release.StatusDeployed {
				current = hist[i]
				break
			}
		}
		live, err = parseManifest(current.Manifest, scope, req.Namespace)
		if err != nil {
			live = nil
		}
		if current.Info.Status != release.StatusDeployed {
			// No revision was ever deployed (a failed first install):
			// the failed manifest says what was meant, not what exists.
			// Only the objects that exist are there to change; the
			// others are added.
			live = existing(ctx, kc, live)
		}
		res.Action = Upgrade
		res.FromRevision = last.Version
		res.CurrentDigest = ManifestDigest(last.Manifest)
		if current.Info.Status == release.StatusDeployed {
			res.Supersedes = current.Version
		}
		res.ValuesChanged = !sameValues(current.Config, vals)
		res.HooksChanged = !sameHooks(current.Hooks, rendered.Hooks)
		if res.HooksChanged {
			d := diffObjects(hookObjects(current.Hooks, scope, req.Namespace), hookObjects(rendered.Hooks, scope, req.Namespace), configSecrets(current))
			res.HookDiff = &d
		}
		res.ChartChanged = !sameChart(current.Chart, ch)
	} else if last != nil {
		res.Replaces = last.Version
	}
	secrets := append(installSecrets(req, vals), configSecrets(current)...)
	res.Diff = diffObjects(live, next, secrets)
	var oldVals map[string]any
	if current != nil {
		oldVals = current.Config
	}
	res.Values = valuesDiff(oldVals, vals, secrets)
	planned := summarizeParsed(rendered, next)
	planned.Status = StatusDeployed
	planned.Description = ""
	planned.Updated = time.Time{}
	planned.Revision = 1
	if last != nil {
		planned.Revision = last.Version + 1
	}

	if upgrade && last.Info.Status == release.StatusDeployed && res.Diff.Empty() && !res.ValuesChanged && !res.HooksChanged && !res.ChartChanged {
		res.Action = NoChange
		res.Planned = false
		if current == last && live != nil {
			res.Release = summarizeParsed(last, live)
		} else {
			res.Release = c.summarize(last, kc.Mapper)
		}
		return res, nil
	}
	if !c.Writes() {
		// The reference check, before the planned world learns of this
		// release's objects (its own objects count as the step's).
		var hooks []*release.Hook
		if rendered != nil {
			hooks = rendered.Hooks
		}
		if res.CreatesNamespace {
			c.planNamespace(req.Namespace)
		}
		var diff *Diff
		if upgrade {
			diff = &res.Diff
		}
		res.Findings = c.checkRelease(ctx, req, next, hooks, scope, chartCRDs, diff, renderFailed)
		if renderFailed != nil && len(refcheck.Errors(res.Findings)) == 0 {
			// Rendered client-only for the check's sake alone: the
			// server's refusal stands.
			return nil, c.renderErr(kc, req.Chart, renderFailed)
		}
		if c.opts.Check != nil {
			// Later steps' checks see what this release would create.
			for _, o := range next {
				if u := checkedObject(o); u != nil {
					c.opts.Planned.Object(u)
				}
			}
		}
		res.Release = planned
		c.planCRDs(crds)
		return res, nil
	}

	if req.BeforeWrite != nil {
		res.Release = planned
		if err := req.BeforeWrite(res); err != nil {
			return nil, err
		}
	}
	// The revision records where its secret() values are, for the diffs
	// of later rollbacks and restores.
	markSecretPaths(ch, secretPaths(vals, req.Values.Secrets))
	var rel *release.Release
	if upgrade {
		rel, err = c.upgrade(ctx, cfg, kc, req, ch, vals, hist, rendered.Hooks)
	} else {
		rel, err = c.install(ctx, cfg, kc, req, ch, vals, res.CreatesNamespace, last != nil, rendered.Hooks)
	}
	if len(crds) > 0 {
		c.invalidate()
	}
	if err != nil {
		if kube.Ended(ctx) {
			c.failPending(ctx, req.Release, req.Namespace, planned.Revision, err)
		}
		return nil, err
	}
	if rel.Manifest == rendered.Manifest {
		res.Release = summarizeParsed(rel, next)
	} else {
		res.Release = c.summarize(rel, kc.Mapper)
	}
	return res, nil
}

func (c *Client) install(ctx context.Context, cfg *action.Configuration, kc *kube.Client, req InstallRequest, ch *chart.Chart, vals map[string]any, createNS, replace bool, hooks []*release.Hook) (*release.Release, error) {
	inst := action.NewInstall(cfg)
	inst.ReleaseName = req.Release
	inst.Namespace = req.Namespace
	inst.CreateNamespace = createNS
	inst.Replace = replace
	inst.Timeout = req.Timeout
	cfg.Releases.MaxHistory = MaxHistory
	what := fmt.Sprintf("install of %s in namespace %s", req.Release, req.Namespace)
	w := newHookWatch(kc, req.Namespace, hooks, release.HookPreInstall, release.HookPostInstall)
	rel, err := runWithHooks(ctx, w, func(ctx context.Context) (*release.Release, error) { return inst.RunWithContext(ctx, ch, vals) })
	if err == nil {
		return rel, nil
	}
	err = c.hookErr(kc, w, what, req.Timeout, err)
	if !req.Atomic {
		return nil, err
	}
	un := action.NewUninstall(cfg)
	un.Timeout = req.Timeout
	if _, uerr := un.Run(req.Release); uerr != nil {
		return nil, exit.Errorf(exit.Code(err), "%s; and uninstalling it again (atomic=True) failed too: %v", strings.TrimSuffix(err.Error(), "."), uerr)
	}
	return nil, exit.Errorf(exit.Code(err), "%s; uninstalled it again (atomic=True)", err.Error())
}

func (c *Client) upgrade(ctx context.Context, cfg *action.Configuration, kc *kube.Client, req InstallRequest, ch *chart.Chart, vals map[string]any, hist []*release.Release, hooks []*release.Hook) (*release.Release, error) {
	up := action.NewUpgrade(cfg)
	up.Namespace = req.Namespace
	up.Timeout = req.Timeout
	up.MaxHistory = MaxHistory
	// The plan's values are the whole truth: never fall back to the
	// previous revision's values when the plan gives none.
	up.ResetValues = true
	last := hist[len(hist)-1]
	what := fmt.Sprintf("upgrade of %s in namespace %s to rev %d", req.Release, req.Namespace, last.Version+1)
	w := newHookWatch(kc, req.Namespace, hooks, release.HookPreUpgrade, release.HookPostUpgrade)
	rel, err := runWithHooks(ctx, w, func(ctx context.Context) (*release.Release, error) {
		return up.RunWithContext(ctx, req.Release, ch, vals)
	})
	if err == nil {
		return rel, nil
	}
	err = c.hookErr(kc, w, what, req.Timeout, err)
	if !req.Atomic {
		return nil, err
	}
	revs := make([]Revision, 0, len(hist)+1)
	for _, r := range hist {
		revs = append(revs, revisionOf(r))
	}
	// The failed revision is now the current one.
	revs = append(revs, Revision{Revision: last.Version + 1, Status: StatusFailed})
	target, terr := RollbackTarget(revs, 0)
	if terr != nil {
		return nil, exit.Errorf(exit.Code(err), "%s; no earlier deployed revision to roll back to (atomic=True)", err.Error())
	}
	rb := action.NewRollback(cfg)
	rb.Version = target
	rb.Timeout = req.Timeout
	rb.MaxHistory = MaxHistory
	if rerr := rb.Run(req.Release); rerr != nil {
		return nil, exit.Errorf(exit.Code(err), "%s; and rolling back to rev %d (atomic=True) failed too: %v", err.Error(), target, rerr)
	}
	return nil, exit.Errorf(exit.Code(err), "%s; rolled back to rev %d (atomic=True)", err.Error(), target)
}

// renderLive renders the chart against the cluster without writing
// (Helm's server-side dry run: lookups and capabilities from the live API,
// manifests validated against its OpenAPI schema). When the manifest uses
// kinds whose CRDs the chart itself (or an earlier step of this pass)
// brings, it renders client-only with the cluster's capabilities plus those
// kinds instead, and says so in the notes.
//
// In a dry pass that runs the reference check, a render the server refuses
// for what the check reports better (an object that exists and belongs to
// no release or to another, a kind or API version the cluster does not
// serve) is rendered client-only too, and the refusal comes back as failed:
// the check's findings replace it, or, when it finds no error, it stands.
func (c *Client) renderLive(ctx context.Context, cfg *action.Configuration, kc *kube.Client, req InstallRequest, ch *chart.Chart, vals map[string]any, upgrade bool, chartCRDs []crdKind) (rel *release.Release, notes []string, failed error, err error) {
	if upgrade {
		up := action.NewUpgrade(cfg)
		up.Namespace = req.Namespace
		up.DryRun = true
		up.DryRunOption = "server"
		up.ResetValues = true
		up.MaxHistory = MaxHistory
		rel, err = up.RunWithContext(ctx, req.Release, ch, vals)
	} else {
		inst := action.NewInstall(cfg)
		inst.ReleaseName = req.Release
		inst.Namespace = req.Namespace
		inst.DryRun = true
		inst.DryRunOption = "server"
		inst.Replace = true
		rel, err = inst.RunWithContext(ctx, ch, vals)
	}
	if err == nil {
		return rel, nil, nil, nil
	}
	checking := c.opts.Check != nil && !c.Writes()
	missing := missingKinds(err)
	if len(missing) == 0 && !(checking && ownershipConflict(err)) {
		return nil, nil, nil, err
	}
	known := c.knownCRDs(chartCRDs, !upgrade)
	var extra []crdKind
	for _, m := range missing {
		k, ok := known[m]
		if !ok {
			if !checking {
				return nil, nil, nil, err
			}
			failed = err
			continue
		}
		extra = append(extra, k)
	}
	if ownershipConflict(err) {
		failed = err
	}
	ver, verr := kc.Discovery.ServerVersion()
	if verr != nil {
		return nil, nil, nil, err
	}
	set, _ := action.GetVersionSet(kc.Discovery)
	renderErr := err
	rel, err = c.renderClientOnly(req.Release, req.Namespace, ch, vals, ver.GitVersion, append(append([]string(nil), set...), apiVersions(extra)...), upgrade, false)
	if err != nil {
		if failed != nil {
			return nil, nil, nil, renderErr
		}
		return nil, nil, nil, err
	}
	if len(extra) == 0 {
		return rel, nil, failed, nil
	}
	var names []string
	for _, k := range extra {
		names = append(names, k.Kind)
	}
	sort.Strings(names)
	note := fmt.Sprintf("%s not in the cluster yet (the CRDs come with this chart or an earlier step): rendered without server validation", strings.Join(names, ", "))
	return rel, []string{note}, failed, nil
}

var noMatch = regexp.MustCompile(`no matches for kind "([^"]+)" in version "([^"]+)"`)

// missingKinds returns the group/Kind keys of the kinds err says the
// cluster does not know.
func missingKinds(err error) []string {
	var out []string
	for _, m := range noMatch.FindAllStringSubmatch(err.Error(), -1) {
		group := ""
		if i := strings.LastIndex(m[2], "/"); i >= 0 {
			group = m[2][:i]
		}
		out = append(out, group+"/"+m[1])
	}
	return out
}

// knownCRDs are the kinds that CRDs planned earlier in this pass define,
// plus, for an install, chartCRDs: those of the crds/ directories of the
// chart and its enabled subcharts (which Helm installs before the rest of
// an install, but never on an upgrade). CRDs among a chart's templates do
// not count for the chart itself: Helm maps every object before it creates
// any, so their custom resources cannot be in the same release.
func (c *Client) knownCRDs(chartCRDs []crdKind, install bool) map[string]crdKind {
	out := map[string]crdKind{}
	for _, k := range c.opts.Planned.Kinds() {
		out[crdKey(k)] = k
	}
	if install {
		for _, k := range chartCRDs {
			out[crdKey(k)] = k
		}
	}
	return out
}

// planCRDs records the kinds a planned (dry) install would add, in the
// pass's planned world: kube_apply in the same pass checks its objects
// against them too (a ClusterIssuer after cert-manager).
func (c *Client) planCRDs(kinds []crdKind) {
	for _, k := range kinds {
		c.opts.Planned.Kind(k)
	}
}

// planNamespace records a namespace a planned (dry) install would create.
func (c *Client) planNamespace(ns string) { c.opts.Planned.Namespace(ns) }

// plannedNamespace reports whether an earlier step of this dry pass (an
// install, or a kube_apply of a Namespace) would create ns.
func (c *Client) plannedNamespace(ns string) bool { return c.opts.Planned.HasNamespace(ns) }

// renderClientOnly renders without a cluster (pitfall 7: a fresh
// Configuration each time, and an explicit Kubernetes version).
func (c *Client) renderClientOnly(name, namespace string, ch *chart.Chart, vals map[string]any, kubeVersion string, apiVersions []string, upgrade, includeCRDs bool) (*release.Release, error) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "kube version %q: %v", kubeVersion, err)
	}
	inst := action.NewInstall(c.clientOnlyConfig())
	inst.ClientOnly = true
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.Replace = true
	inst.ReleaseName = name
	inst.Namespace = namespace
	inst.KubeVersion = kv
	inst.APIVersions = apiVersions
	inst.IsUpgrade = upgrade
	inst.IncludeCRDs = includeCRDs
	return inst.Run(ch, vals)
}

// installOffline renders client-only, as an install would render once
// Helm has installed the CRDs of the chart's crds/ (chartCRDs): their API
// versions are among the capabilities, with those of CRDs planned earlier
// in the pass.
func (c *Client) installOffline(req InstallRequest, ch *chart.Chart, vals map[string]any, chartCRDs []crdKind) (*InstallResult, error) {
	known := c.knownCRDList(chartCRDs)
	rel, err := c.renderClientOnly(req.Release, req.Namespace, ch, vals, c.opts.KubeVersion, apiVersions(known), false, false)
	if err != nil {
		return nil, c.renderErr(nil, req.Chart, err)
	}
	if err := checkRecordSize(rel, req.Release, req.Namespace); err != nil {
		return nil, err
	}
	objs, err := parseManifest(rel.Manifest, c.scope(nil, known), req.Namespace)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", req.Chart, err)
	}
	c.planCRDs(chartCRDs)
	c.planCRDs(crdKinds(nil, objs))
	sum := summarizeParsed(rel, objs)
	sum.Revision = 0
	sum.Status = "unknown"
	sum.Updated = time.Time{}
	return &InstallResult{
		Action:      Install,
		Planned:     true,
		Offline:     true,
		Release:     sum,
		KubeVersion: c.opts.KubeVersion,
		Notes:       []string{"offline: the release history was not read; no diff"},
	}, nil
}

func (c *Client) knownCRDList(chartCRDs []crdKind) []crdKind {
	m := c.knownCRDs(chartCRDs, true)
	out := make([]crdKind, 0, len(m))
	for _, k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return crdKey(out[i]) < crdKey(out[j]) })
	return out
}

// normalize round-trips values through JSON as Helm's release storage
// does (numbers come back as float64), so that values read from a stored
// release compare equal to the same values given again.
func normalize(body map[string]any) any {
	data, err := json.Marshal(body)
	if err != nil {
		return body
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		return body
	}
	return out
}

// sameValues compares a stored release's values with new ones, as JSON
// (stored numbers come back as floats).
func sameValues(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// sameHooks compares the hooks of two revisions. Test hooks are left out:
// Helm runs them only for `helm test`, never on install or upgrade, and
// charts often generate their names (Jenkins' UI test), so counting them
// would make every run a change.
func sameHooks(a, b []*release.Hook) bool {
	key := func(hs []*release.Hook) map[string]string {
		m := make(map[string]string, len(hs))
		for _, h := range hs {
			if testOnlyHook(h) {
				continue
			}
			var evs []string
			for _, e := range h.Events {
				evs = append(evs, string(e))
			}
			m[h.Path+"\x00"+h.Kind+"\x00"+h.Name] = h.Manifest + "\x00" + strings.Join(evs, ",") + fmt.Sprint(h.Weight, h.DeletePolicies)
		}
		return m
	}
	return reflect.DeepEqual(key(a), key(b))
}

// testOnlyHook reports whether h runs only for `helm test`.
func testOnlyHook(h *release.Hook) bool {
	if len(h.Events) == 0 {
		return false
	}
	for _, e := range h.Events {
		if e != release.HookTest {
			return false
		}
	}
	return true
}

func sameChart(a, b *chart.Chart) bool {
	if a == nil || b == nil || a.Metadata == nil || b.Metadata == nil {
		return a == b
	}
	return a.Metadata.Name == b.Metadata.Name && a.Metadata.Version == b.Metadata.Version && a.Metadata.AppVersion == b.Metadata.AppVersion
}

// existing returns the objects of objs that exist in the cluster. An
// object that cannot be looked up (unknown kind, no permission) is kept:
// the diff then errs towards "changed" rather than "added".
func existing(ctx context.Context, kc *kube.Client, objs []*object) []*object {
	var out []*object
	for _, o := range objs {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			out = append(out, o)
			continue
		}
		m, err := kc.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: o.Kind}, gv.Version)
		if err != nil {
			out = append(out, o)
			continue
		}
		var ri dynamic.ResourceInterface = kc.Dynamic.Resource(m.Resource)
		if o.Namespace != "" {
			ri = kc.Dynamic.Resource(m.Resource).Namespace(o.Namespace)
		}
		if _, err := ri.Get(ctx, o.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// failPending marks revision rev of a release failed when an operation
// that ended with its context left it pending: a cancelled request may
// have been stored by the API server while its answer was lost, and then
// Helm returns without recording the failure. It runs with
// kube.DefaultGrace, on a context an interrupt does not cancel; a cluster
// that does not answer leaves the revision pending (plate recover).
func (c *Client) failPending(ctx context.Context, name, namespace string, rev int, cause error) {
	if kc := c.opts.Kube; kc != nil {
		if since, _ := kc.Health.Unreachable(); !since.IsZero() {
			// Helm's own attempt found no answer; another would only
			// add its grace.
			return
		}
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kube.DefaultGrace)
	defer cancel()
	cfg, _, done, err := c.config(gctx, namespace)
	if err != nil {
		return
	}
	defer done()
	last, err := cfg.Releases.Last(name)
	if err != nil || last.Version != rev || last.Info == nil || !last.Info.Status.IsPending() {
		return
	}
	reason := "interrupted"
	if exit.Code(cause) == exit.Timeout || errors.Is(cause, context.DeadlineExceeded) {
		reason = "timed out"
	}
	last.SetStatus(release.StatusFailed, fmt.Sprintf("Release %q failed: %s (marked failed by plate)", name, reason))
	_ = cfg.Releases.Update(last)
}
