// Package helm holds the builtins that deploy Helm charts in-process:
// helm_install, helm_uninstall, helm_rollback, helm_release and
// helm_template. They unpack and check their arguments and hand a typed
// request to the engine's Helm client (internal/helm), the only user of the
// Helm SDK.
package helm

import (
	"errors"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	ih "github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/trace"
)

// Plugin is the helm family.
type Plugin struct{}

// Name returns "helm".
func (Plugin) Name() string { return "helm" }

const chartArgsDoc = "- `chart`: a chart directory or packaged `.tgz` (relative to the plan file, or `//` from the project root); " +
	"an `oci://registry/path/chart` reference; or a chart name in `repo`, an http(s) chart repository URL " +
	"(or an `oci://` prefix). `alias/name` also finds a repository added with `helm repo add`. A library chart " +
	"is refused, as Helm refuses it.\n" +
	"- `version`: an exact chart version or a semver range for repository and OCI charts (default: the latest " +
	"stable version); for a local chart it must equal the chart's version.\n" +
	"- `values`: values files (a path or a list of paths, relative like `chart`), applied in order: a later file wins.\n" +
	"- `set`: a dict applied after the files. Nested dicts merge into the files' values; a top-level key may be a " +
	"dotted path (`{\"image.tag\": \"1.2\"}` is `{\"image\": {\"tag\": \"1.2\"}}`; write a literal dot as `\\\\.`), keys of " +
	"nested dicts are literal. Values keep their Starlark types (unlike `helm --set`); `secret()` values work and are " +
	"never shown.\n" +
	"- Values are checked against the chart's `values.schema.json`. A missing values file or a YAML error names the " +
	"file and line. Numbers in values files and the chart's values.yaml are read as Helm reads them, except that " +
	"integers beyond 2^53 keep their exact value."

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:       "helm_install",
			Params:     []string{"release", "chart", "namespace=None", "values=[]", "set={}", "version=None", "repo=None", "create_namespace=True", `timeout="5m"`, "atomic=False", "ignore_checks=[]", "needs=None"},
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Installs a Helm chart as release ` + "`release`" + ` (its name), or upgrades the release if it exists
("upgrade --install"), in-process: neither helm nor kubectl is needed. Returns the
release (a ` + "`helm_release`" + ` value: name, namespace, revision, status, chart,
chart_version, app_version, objects) for wait_ready, backup, helm_rollback and needs=.

` + chartArgsDoc + `
- ` + "`namespace`" + `: the release namespace (default: ` + "`-n`" + `, else the context's, else "default").
  It is created when missing unless ` + "`create_namespace`" + ` is False, and the summary says so.
- ` + "`timeout`" + `: bounds the whole operation, hooks included ("5m", "90s"). Past it the
  release is marked failed and the plan stops with exit code 3.
- ` + "`atomic`" + `: undo a failed operation. Without Helm's --wait (readiness is wait_ready's
  job), "failed" means the API server refused an object, a hook failed, or the timeout
  passed: a failed install is uninstalled again, a failed upgrade is rolled back to the
  last deployed or superseded revision.
- ` + "`needs`" + `: values of earlier steps (releases, applied objects) this release depends on:
  the call becomes a concurrent step that starts once they are done and returns at
  once a release value that waits for the step when read (see plans.md, "Concurrent
  steps"). Order releases that use another's CRDs or services this way.
  ` + "`needs = [plan_start]`" + ` starts it at once, waiting for no other step; None and
  [] (the default) keep the call in sequence.
- ` + "`ignore_checks`" + `: reference checks to silence for this release (docs/checks.md): a check
  name ("storage-class") for every object of the release, or "check:Kind/name" (or
  "check:Kind/namespace/name") for one object; "all" names every check. The
  annotation ` + "`plate.dev/ignore-check`" + ` on an object of the chart does the same for it.

A release with no revision, or an uninstalled one (its history is continued), is
installed; otherwise it is upgraded with exactly the plan's values (the previous
revision's values are never reused). An upgrade that changes neither the rendered
objects, the hooks, the values nor the chart version is skipped: no new revision
("unchanged rev 5"); drift of the live objects is not corrected by it. Test hooks
(` + "`helm.sh/hook: test`" + `, run only by helm test) never count as a change. A release in
pending-install/upgrade/rollback (an operation in progress or interrupted) stops the plan,
naming when it started and the plate run that holds its lock, and points to ` + "`plate recover`" + `.
helm_install does not wait for readiness: call wait_ready after it.

Hooks: the Job and Pod hooks of the install or upgrade are watched while Helm runs
them, and judged like workloads: one whose pod cannot pull its image, crash-loops or
fails stops the operation at once (after the same grace as wait_ready), naming the
hook, its phase and weight, the pod's reason, its recent events and last log lines
when the API has them; a timeout during hooks names the hook and phase that ran. The
verbose dry run lists the hooks (kind, name, phase, weight) and the diff of those
that changed.

Summary: ` + "`install rev 1 (4 objects)`" + `, ` + "`upgrade rev 4→5 (2 changed, 1 added, 0 removed)`" + `,
` + "`unchanged rev 5`" + `. In a dry run (and the preflight of a run) the chart is rendered
against the cluster without writing (lookups and capabilities from the live API, objects
validated by its OpenAPI schema) and diffed with the deployed revision: ` + "`would install …`" + `,
` + "`would upgrade rev 4→5 (…)`" + `; ` + "`-v`" + ` shows each object and a unified diff of those that
change, with Secret data always hidden. With --offline the chart is rendered
client-only for --kube-version and no release is read. Renders without the cluster
(--offline, or the kinds of the chart's own CRDs are not in the cluster yet) see the API
versions of the CRDs Helm installs before an install (the crds/ of the chart and of its
subcharts that are enabled) and of those planned earlier in the pass. The objects, the
diff and the "unchanged" check read each rendered document exactly as Helm applies it.
In a dry run (and the preflight) that reads the cluster, the rendered objects and
hooks then go through the reference check (docs/checks.md): what they name must
exist in the cluster or be created earlier in the plan, an object that exists must
belong to this release, an upgrade must not change an immutable field; an error
stops the plan before any write (exit 2), a warning is shown on the step.`,
			Fn: install,
		},
		{
			Name:   "helm_uninstall",
			Params: []string{"release", "namespace=None", "keep_history=False"},
			Effect: engine.Write,
			Doc: `Uninstalls a release (in ` + "`namespace`" + `, default as for helm_install) and deletes its objects (except those annotated
` + "`helm.sh/resource-policy: keep`" + `). Returns True when a release was uninstalled, False
when there was none (not an error). ` + "`release`" + ` is a name or a release value.
With ` + "`keep_history`" + ` True the revisions stay (status uninstalled) and helm_rollback
can bring the release back; otherwise they are deleted, and uninstalling an already
uninstalled release deletes its kept history. It does not wait for the objects to be gone.`,
			Fn: uninstall,
		},
		{
			Name:   "helm_rollback",
			Params: []string{"release", "namespace=None", "revision=None"},
			Effect: engine.Write,
			Doc: `Rolls a release back (in ` + "`namespace`" + `, default as for helm_install): a new revision restores the chart, values and objects of an
earlier one. Returns the new release value. ` + "`release`" + ` is a name or a release value.
` + "`revision`" + ` is the revision to restore; None restores the last revision before the current one that was deployed or
superseded, so a failed revision is never restored (Helm's "previous revision" may be
one). It does not wait for readiness. In a dry run the summary names the revision it
would restore and -v shows the diff.`,
			Fn: rollback,
		},
		{
			Name:   "helm_release",
			Params: []string{"release", "namespace=None"},
			Effect: engine.Read,
			Doc: `Reads a release (` + "`release`" + ` a name or a release value, in ` + "`namespace`" + `): returns its latest revision as a release value whose ` + "`history`" + `
lists every stored revision (revision, status, chart, chart_version, app_version,
description, updated), oldest first; None when there is no such release. An
uninstalled release whose history was kept has status "uninstalled". In an offline
dry run, which reads no cluster, it returns None.`,
			Fn: get,
		},
		{
			Name:   "helm_template",
			Params: []string{"chart", "release=None", "namespace=None", "values=[]", "set={}", "version=None", "repo=None"},
			Effect: engine.Read,
			Doc: `Renders a chart without any cluster, like ` + "`helm template`" + `, and returns the objects
it makes as a list of dicts: the CRDs of its crds/ directory, then its objects in install
order, then its hooks. For plans that inspect what a chart makes.

` + chartArgsDoc + `
- ` + "`release`" + `: the release name the templates see (default "release-name").
- ` + "`namespace`" + `: the namespace they see (default: ` + "`-n`" + `, else the context's, else "default").

Templates see Kubernetes --kube-version (default ` + kube.DefaultVersion + `), no live
objects (lookup returns nothing) and, as with helm template, not the API versions of the
chart's own CRDs. The CRDs are those of the chart's crds/ and of its enabled subcharts'.`,
			Fn: template,
		},
	}
}

// chartArgs are the arguments helm_install and helm_template share.
type chartArgs struct {
	chart   string
	values  starlark.Value
	set     *starlark.Dict
	version string
	repo    string
}

func (a *chartArgs) source(c *builtins.Call) ih.ChartSource {
	src := ih.ChartSource{Chart: a.chart, Repo: a.repo, Version: a.version}
	if a.repo == "" && !strings.HasPrefix(a.chart, "oci://") {
		src.Path = c.Path(a.chart)
	}
	return src
}

func (a *chartArgs) valuesOf(c *builtins.Call) (ih.Values, error) {
	var v ih.Values
	var paths []string
	switch x := a.values.(type) {
	case nil, starlark.NoneType:
	case starlark.String:
		paths = append(paths, string(x))
	case *starlark.List, starlark.Tuple:
		it := starlark.Iterate(x)
		defer it.Done()
		var e starlark.Value
		for i := 0; it.Next(&e); i++ {
			s, ok := starlark.AsString(e)
			if !ok {
				return v, exit.Errorf(exit.Usage, "%s: values[%d]: got %s, want a values file path", c.Name, i, e.Type())
			}
			paths = append(paths, s)
		}
	default:
		return v, exit.Errorf(exit.Usage, "%s: values: got %s, want a list of values file paths", c.Name, a.values.Type())
	}
	for _, p := range paths {
		if trace.HasToken(p) {
			return v, exit.Errorf(exit.Usage, "%s: values: a secret() value (or a string made from one) cannot be a file path", c.Name)
		}
	}
	root := c.Path("//")
	for _, p := range paths {
		abs := c.Path(p)
		name := abs
		if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
			name = filepath.ToSlash(rel)
		}
		v.Files = append(v.Files, ih.ValuesFile{Path: abs, Name: name})
	}
	if a.set != nil && a.set.Len() > 0 {
		g, err := builtins.ToGo(a.set)
		if err != nil {
			return v, exit.Errorf(exit.Usage, "%s: set: %v", c.Name, err)
		}
		v.Set = g.(map[string]any)
		v.Secrets = builtins.Secrets(a.set)
	}
	return v, nil
}

func stepID(c *builtins.Call) string {
	if c.Step == nil {
		return ""
	}
	return c.Step.ID
}

func install(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var release, ns string
	var ca chartArgs
	createNS := true
	var timeout builtins.Duration
	var atomic bool
	var ignore builtins.StringList
	if err := c.Unpack(args, kwargs, &release, &ca.chart, &ns, &ca.values, &ca.set, &ca.version, &ca.repo,
		&createNS, &timeout, &atomic, &ignore); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	for i, ig := range ignore {
		name, what, one := strings.Cut(ig, ":")
		if !refcheck.Known(name) || (one && strings.Count(what, "/") != 1 && strings.Count(what, "/") != 2) {
			return nil, exit.Errorf(exit.Usage, "%s: ignore_checks[%d]: %q is not a check name, or check:Kind/name (checks: %s)", c.Name, i, ig, strings.Join(refcheck.Names(), ", "))
		}
	}
	if timeout.Set && timeout.D == 0 {
		return nil, exit.Errorf(exit.Usage, "%s: for parameter \"timeout\": want a positive duration, got 0s", c.Name)
	}
	namespace, err := c.Namespace(ns)
	if err != nil {
		return nil, err
	}
	c.Report.Subject(release, namespace)
	if ok, why := c.Engine.Selects(release, namespace); !ok {
		return deselected(c, release, namespace, why)
	}
	vals, err := ca.valuesOf(c)
	if err != nil {
		return nil, err
	}
	res, err := c.Engine.Releases().Install(c.Ctx, ih.InstallRequest{
		Release:         release,
		Namespace:       namespace,
		Chart:           ca.source(c),
		Values:          vals,
		CreateNamespace: createNS,
		Timeout:         timeout.Or(ih.DefaultTimeout),
		Atomic:          atomic,
		Strict:          c.Engine.Strict(),
		IgnoreChecks:    ignore,
	})
	if err != nil {
		valuesDetail(c, err)
		return nil, withPathHint(c, c.Fail(err), &ca)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	c.Report.Diff = res.TraceDiff()
	c.Report.Warnings = res.Warnings
	if err := c.Report.Findings(res.Findings); err != nil {
		return nil, c.Fail(err)
	}
	if ch, ok := installChange(res); ok {
		c.Report.Change(ch)
	}
	return NewReleaseValue(res.Release, nil, res.Planned || res.Offline, stepID(c)), nil
}

// valuesDetail puts the reasons of a values mistake (a values.schema.json
// refusal, unknown keys under --strict) in the failed step's detail, so
// that the JSON trace carries them as data.
func valuesDetail(c *builtins.Call, err error) {
	var se *ih.SchemaError
	var ue *ih.UnknownValuesError
	switch {
	case errors.As(err, &se):
		c.Report.Detail = se
	case errors.As(err, &ue):
		c.Report.Detail = ue
	}
}

// deselected ends a helm_install or helm_rollback of a release that -l
// leaves out: the step is skipped, and it returns the release as it is in
// the cluster, so that the plan's later steps (a wait_ready, an output)
// see it unchanged; a release that does not exist is a value without
// objects.
func deselected(c *builtins.Call, name, namespace, why string) (starlark.Value, error) {
	c.Report.Phase, c.Report.Summary = trace.Skipped, why
	rd, err := c.Engine.Releases().Read(c.Ctx, name, namespace)
	if err != nil {
		return nil, c.Fail(err)
	}
	if rd.Info == nil {
		return NewReleaseValue(ih.Release{Name: name, Namespace: namespace}, nil, true, stepID(c)), nil
	}
	return NewReleaseValue(rd.Info.Release, rd.Info.History, false, stepID(c)), nil
}

// withPathHint adds, to an error of a call whose chart or values file does
// not exist, where relative paths resolve and where the file is.
func withPathHint(c *builtins.Call, err error, ca *chartArgs) error {
	var xe *exit.Error
	if !errors.As(err, &xe) || xe.Hint != "" {
		return err
	}
	paths := []string{}
	if ca.repo == "" && !strings.HasPrefix(ca.chart, "oci://") {
		paths = append(paths, ca.chart)
	}
	if l, ok := ca.values.(starlark.Iterable); ok {
		it := l.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			if s, ok := starlark.AsString(e); ok {
				paths = append(paths, s)
			}
		}
	} else if s, ok := starlark.AsString(ca.values); ok {
		paths = append(paths, s)
	}
	for _, p := range paths {
		if h := c.PathHint(p); h != "" {
			cp := *xe
			cp.Hint = p + ": " + h
			return &cp
		}
	}
	return err
}

// installChange is the change an install or upgrade made (would make);
// none for an unchanged release or an offline render, which does not know
// whether it would install or upgrade.
func installChange(res *ih.InstallResult) (trace.Change, bool) {
	rel := res.Release
	ch := trace.Change{Release: rel.Name, Namespace: rel.Namespace, To: rel.Revision}
	switch {
	case res.Offline && !res.Scripted, res.Action == ih.NoChange:
		return ch, false
	case res.Action == ih.Upgrade:
		ch.Action, ch.From, ch.Supersedes = trace.Upgraded, res.FromRevision, res.Supersedes
	default:
		ch.Action, ch.From, ch.FirstInstall = trace.Installed, res.Replaces, res.Replaces == 0
	}
	return ch, true
}

// releaseArg unpacks a release given as a name or a release value, with
// its namespace.
func releaseArg(c *builtins.Call, v starlark.Value, ns string) (string, string, error) {
	switch x := v.(type) {
	case starlark.String:
		namespace, err := c.Namespace(ns)
		return string(x), namespace, err
	case *ReleaseValue:
		if ns != "" && ns != x.rel.Namespace {
			return "", "", exit.Errorf(exit.Usage, "%s: release %s is in namespace %s, not %s", c.Name, x.rel.Name, x.rel.Namespace, ns)
		}
		return x.rel.Name, x.rel.Namespace, nil
	}
	return "", "", exit.Errorf(exit.Usage, "%s: release: got %s, want a release name or a release value", c.Name, v.Type())
}

func uninstall(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var relArg starlark.Value
	var ns string
	var keep bool
	if err := c.Unpack(args, kwargs, &relArg, &ns, &keep); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns)
	if err != nil {
		return nil, err
	}
	c.Report.Subject(name, namespace)
	if ok, why := c.Engine.Selects(name, namespace); !ok {
		c.Report.Phase, c.Report.Summary = trace.Skipped, why
		return starlark.False, nil
	}
	res, err := c.Engine.Releases().Uninstall(c.Ctx, ih.UninstallRequest{Release: name, Namespace: namespace, KeepHistory: keep})
	if err != nil {
		return nil, c.Fail(err)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	if res.Found && !res.Offline {
		c.Report.Change(trace.Change{Release: name, Namespace: namespace, Action: trace.Uninstalled, From: res.Release.Revision})
	}
	return starlark.Bool(res.Found), nil
}

func rollback(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var relArg starlark.Value
	var ns string
	var rev builtins.Revision
	if err := c.Unpack(args, kwargs, &relArg, &ns, &rev); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns)
	if err != nil {
		return nil, err
	}
	c.Report.Subject(name, namespace)
	if ok, why := c.Engine.Selects(name, namespace); !ok {
		return deselected(c, name, namespace, why)
	}
	res, err := c.Engine.Releases().Rollback(c.Ctx, ih.RollbackRequest{Release: name, Namespace: namespace, Revision: rev.N})
	if err != nil {
		return nil, c.Fail(err)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	if !res.Offline {
		c.Report.Diff = res.Diff.Trace()
		c.Report.Change(trace.Change{Release: name, Namespace: namespace, Action: trace.RolledBack,
			From: res.FromRevision, To: res.Release.Revision, Restores: res.Restores})
	}
	return NewReleaseValue(res.Release, nil, res.Planned, stepID(c)), nil
}

func get(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var relArg starlark.Value
	var ns string
	if err := c.Unpack(args, kwargs, &relArg, &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns)
	if err != nil {
		return nil, err
	}
	c.Report.Subject(name, namespace)
	rd, err := c.Engine.Releases().Read(c.Ctx, name, namespace)
	if err != nil {
		return nil, c.Fail(err)
	}
	c.Report.Summary = rd.Summary
	if rd.Info == nil {
		return starlark.None, nil
	}
	return NewReleaseValue(rd.Info.Release, rd.Info.History, false, stepID(c)), nil
}

func template(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ca chartArgs
	var release, ns string
	if err := c.Unpack(args, kwargs, &ca.chart, &release, &ns, &ca.values, &ca.set, &ca.version, &ca.repo); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	namespace, err := c.Namespace(ns)
	if err != nil {
		return nil, err
	}
	c.Report.Subject(release, namespace)
	vals, err := ca.valuesOf(c)
	if err != nil {
		return nil, err
	}
	res, err := c.Engine.Releases().Template(c.Ctx, ih.TemplateRequest{Release: release, Namespace: namespace, Chart: ca.source(c), Values: vals})
	if err != nil {
		return nil, withPathHint(c, c.Fail(err), &ca)
	}
	c.Report.Summary = res.Summary()
	out := make([]starlark.Value, 0, len(res.Objects))
	for _, o := range res.Objects {
		v, err := builtins.FromGoHiding(o, vals.Secrets)
		if err != nil {
			return nil, c.Fail(err)
		}
		out = append(out, v)
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l, nil
}
