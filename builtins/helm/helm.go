// Package helm holds the builtins that deploy Helm charts in-process:
// helm_install, helm_uninstall, helm_rollback, helm_release and
// helm_template. They unpack and check their arguments and hand a typed
// request to the engine's Helm client (internal/helm), the only user of the
// Helm SDK.
package helm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	sttime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	ih "github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
)

// Plugin is the helm family.
type Plugin struct{}

// Name returns "helm".
func (Plugin) Name() string { return "helm" }

const chartArgsDoc = "- `chart`: a chart directory or packaged `.tgz` (relative to the plan file, or `//` from the project root); " +
	"an `oci://registry/path/chart` reference; or a chart name in `repo`, an http(s) chart repository URL " +
	"(or an `oci://` prefix). `alias/name` also finds a repository added with `helm repo add`.\n" +
	"- `version`: an exact chart version or a semver range for repository and OCI charts (default: the latest " +
	"stable version); for a local chart it must equal the chart's version.\n" +
	"- `values`: values files (a path or a list of paths, relative like `chart`), applied in order: a later file wins.\n" +
	"- `set`: a dict applied after the files. Nested dicts merge into the files' values; a top-level key may be a " +
	"dotted path (`{\"image.tag\": \"1.2\"}` is `{\"image\": {\"tag\": \"1.2\"}}`; write a literal dot as `\\\\.`), keys of " +
	"nested dicts are literal. Values keep their Starlark types (unlike `helm --set`); `secret()` values work and are " +
	"never shown.\n" +
	"- Values are checked against the chart's `values.schema.json`. A missing values file or a YAML error names the " +
	"file and line."

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:       "helm_install",
			Params:     []string{"release", "chart", "namespace?", "values?", "set?", "version?", "repo?", "create_namespace?", "timeout?", "atomic?", "needs?"},
			Signature:  `helm_install(release, chart, namespace=None, values=[], set={}, version=None, repo=None, create_namespace=True, timeout="5m", atomic=False, needs=[])`,
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Installs a Helm chart as a release, or upgrades the release if it exists
("upgrade --install"), in-process: neither helm nor kubectl is needed. Returns the
release (a ` + "`helm_release`" + ` value: name, namespace, revision, status, chart,
chart_version, app_version, objects) for wait_ready, backup, helm_rollback and needs=.

` + chartArgsDoc + `
- ` + "`namespace`" + `: the release namespace (default: ` + "`-n`" + `, else the context's, else "default").
  It is created when missing unless ` + "`create_namespace=False`" + `, and the summary says so.
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

A release with no revision, or an uninstalled one (its history is continued), is
installed; otherwise it is upgraded with exactly the plan's values (the previous
revision's values are never reused). An upgrade that changes neither the rendered
objects, the hooks, the values nor the chart version is skipped: no new revision
("unchanged rev 5"); drift of the live objects is not corrected by it. A release stuck
in pending-install/upgrade/rollback stops the plan and points to ` + "`plate recover`" + `.
helm_install does not wait for readiness: call wait_ready after it.

Summary: ` + "`install rev 1 (4 objects)`" + `, ` + "`upgrade rev 4→5 (2 changed, 1 added, 0 removed)`" + `,
` + "`unchanged rev 5`" + `. In a dry run (and the preflight of a run) the chart is rendered
against the cluster without writing (lookups and capabilities from the live API, objects
validated by its OpenAPI schema) and diffed with the deployed revision: ` + "`would install …`" + `,
` + "`would upgrade rev 4→5 (…)`" + `; ` + "`-v`" + ` shows each object and a unified diff of those that
change, with Secret data always hidden. With --offline the chart is rendered
client-only for --kube-version and no release is read.`,
			Fn: install,
		},
		{
			Name:      "helm_uninstall",
			Params:    []string{"release", "namespace?", "keep_history?"},
			Signature: "helm_uninstall(release, namespace=None, keep_history=False)",
			Effect:    engine.Write,
			Doc: `Uninstalls a release and deletes its objects (except those annotated
` + "`helm.sh/resource-policy: keep`" + `). Returns True when a release was uninstalled, False
when there was none (not an error). ` + "`release`" + ` is a name or a release value.
With ` + "`keep_history=True`" + ` the revisions stay (status uninstalled) and helm_rollback
can bring the release back; otherwise they are deleted, and uninstalling an already
uninstalled release deletes its kept history. It does not wait for the objects to be gone.`,
			Fn: uninstall,
		},
		{
			Name:      "helm_rollback",
			Params:    []string{"release", "namespace?", "revision?"},
			Signature: "helm_rollback(release, namespace=None, revision=None)",
			Effect:    engine.Write,
			Doc: `Rolls a release back: a new revision restores the chart, values and objects of an
earlier one. Returns the new release value. ` + "`release`" + ` is a name or a release value.
` + "`revision=None`" + ` restores the last revision before the current one that was deployed or
superseded, so a failed revision is never restored (Helm's "previous revision" may be
one). It does not wait for readiness. In a dry run the summary names the revision it
would restore and -v shows the diff.`,
			Fn: rollback,
		},
		{
			Name:      "helm_release",
			Params:    []string{"release", "namespace?"},
			Signature: "helm_release(release, namespace=None)",
			Effect:    engine.Read,
			Doc: `Reads a release: returns its latest revision as a release value whose ` + "`history`" + `
lists every stored revision (revision, status, chart, chart_version, app_version,
description, updated), oldest first; None when there is no such release. An
uninstalled release whose history was kept has status "uninstalled". In an offline
dry run, which reads no cluster, it returns None.`,
			Fn: get,
		},
		{
			Name:      "helm_template",
			Params:    []string{"chart", "release?", "namespace?", "values?", "set?", "version?", "repo?"},
			Signature: "helm_template(chart, release=None, namespace=None, values=[], set={}, version=None, repo=None)",
			Effect:    engine.Read,
			Doc: `Renders a chart without any cluster, like ` + "`helm template`" + `, and returns the objects
it makes as a list of dicts: the CRDs of its crds/ directory, then its objects in install
order, then its hooks. For plans that inspect what a chart makes.

` + chartArgsDoc + `
- ` + "`release`" + `: the release name the templates see (default "release-name").
- ` + "`namespace`" + `: the namespace they see (default: ` + "`-n`" + `, else "default").

Templates see Kubernetes --kube-version (default ` + kube.DefaultVersion + `) and no live
objects (lookup returns nothing).`,
			Fn: template,
		},
	}
}

// client returns the engine's Helm client.
func client(c *builtins.Call) (*ih.Client, error) {
	hc, err := c.Engine.Helm()
	if err != nil {
		return nil, fail(c, err)
	}
	return hc, nil
}

// fail prefixes an error with the builtin's name, keeping its exit code.
func fail(c *builtins.Call, err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		cp := *xe
		cp.Msg = c.Name + ": " + xe.Msg
		return &cp
	}
	if errors.Is(err, ih.ErrOffline) {
		return exit.Errorf(exit.Usage, "%s reads the cluster, which --offline forbids", c.Name)
	}
	return exit.Wrap(exit.PlanFailed, fmt.Errorf("%s: %w", c.Name, err))
}

// namespaceOf resolves a namespace argument: the argument, else -n, else
// the kube context's namespace, else "default".
func namespaceOf(c *builtins.Call, ns string) (string, error) {
	if ns == "" {
		ns = c.Engine.KubeSettings().Namespace
	}
	if ns == "" {
		if c.Engine.Offline() {
			if l, err := kube.LoadConfig(c.Engine.KubeSettings()); err == nil {
				ns, _, _ = l.Namespace()
			}
		} else if kc, err := c.Engine.Kube(); err == nil {
			ns = kc.Namespace
		}
	}
	if ns == "" {
		ns = "default"
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", exit.Errorf(exit.Usage, "%s: namespace %q is not a valid name: %s", c.Name, ns, errs[0])
	}
	return ns, nil
}

// optString unpacks an optional string argument that may be None.
type optString struct{ s string }

func (o *optString) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		o.s = ""
	case starlark.String:
		o.s = string(v)
	default:
		return fmt.Errorf("got %s, want string or None", v.Type())
	}
	return nil
}

// duration unpacks a timeout: "5m", "90s", a time.duration, or seconds.
type duration struct{ d time.Duration }

func (d *duration) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.String:
		x, err := time.ParseDuration(string(v))
		if err != nil {
			return fmt.Errorf("want a duration like \"5m\" or \"90s\", got %q", string(v))
		}
		d.d = x
	case sttime.Duration:
		d.d = time.Duration(v)
	case starlark.Int:
		n, ok := v.Int64()
		if !ok {
			return fmt.Errorf("duration out of range")
		}
		d.d = time.Duration(n) * time.Second
	default:
		return fmt.Errorf("got %s, want a duration like \"5m\"", v.Type())
	}
	if d.d <= 0 {
		return fmt.Errorf("want a positive duration, got %s", d.d)
	}
	return nil
}

// optInt unpacks an optional int that may be None (0).
type optInt struct{ n int }

func (o *optInt) Unpack(v starlark.Value) error {
	switch v := v.(type) {
	case starlark.NoneType:
		o.n = 0
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 1 {
			return fmt.Errorf("want a revision number ≥ 1, got %s", v)
		}
		o.n = int(n)
	default:
		return fmt.Errorf("got %s, want int or None", v.Type())
	}
	return nil
}

// chartArgs are the arguments helm_install and helm_template share.
type chartArgs struct {
	chart   string
	values  starlark.Value
	set     *starlark.Dict
	version optString
	repo    optString
}

func (a *chartArgs) source(c *builtins.Call) ih.ChartSource {
	src := ih.ChartSource{Chart: a.chart, Repo: a.repo.s, Version: a.version.s}
	if a.repo.s == "" && !strings.HasPrefix(a.chart, "oci://") {
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
		v.Secrets = secretsIn(a.set)
	}
	return v, nil
}

// secretsIn collects the revealed strings of every secret() in v.
func secretsIn(v starlark.Value) []string {
	var out []string
	var walk func(starlark.Value, int)
	walk = func(v starlark.Value, depth int) {
		if depth > 100 {
			return
		}
		switch x := v.(type) {
		case *builtins.Secret:
			out = append(out, x.Reveal())
		case *starlark.Dict:
			for _, kv := range x.Items() {
				walk(kv[1], depth+1)
			}
		case starlark.Iterable:
			it := x.Iterate()
			defer it.Done()
			var e starlark.Value
			for it.Next(&e) {
				walk(e, depth+1)
			}
		}
	}
	walk(v, 0)
	return out
}

// needsOf checks needs= and records the needed steps on the call's step.
func needsOf(c *builtins.Call, needs starlark.Value) error {
	if needs == nil || needs == starlark.None {
		return nil
	}
	it, ok := needs.(starlark.Iterable)
	if !ok {
		return exit.Errorf(exit.Usage, "%s: needs: got %s, want a list of release values", c.Name, needs.Type())
	}
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for i := 0; iter.Next(&e); i++ {
		if rv, ok := e.(*ReleaseValue); ok && rv.owner != c.Engine {
			return exit.Errorf(exit.Usage, "%s: needs[%d]: release %s comes from another run of the plan", c.Name, i, rv.rel.Name)
		}
		sv, ok := e.(builtins.StepValue)
		if !ok || sv.StepID() == "" {
			return exit.Errorf(exit.Usage, "%s: needs[%d]: got %s, want a release value returned by an earlier helm_install", c.Name, i, e.Type())
		}
		if c.Step != nil {
			c.Step.Needs = append(c.Step.Needs, sv.StepID())
		}
	}
	return nil
}

func stepID(c *builtins.Call) string {
	if c.Step == nil {
		return ""
	}
	return c.Step.ID
}

func install(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var release string
	var ca chartArgs
	var ns optString
	createNS := true
	timeout := duration{d: ih.DefaultTimeout}
	var atomic bool
	var needs starlark.Value
	if err := c.Unpack(args, kwargs,
		"release", &release, "chart", &ca.chart, "namespace?", &ns, "values?", &ca.values, "set?", &ca.set,
		"version?", &ca.version, "repo?", &ca.repo, "create_namespace?", &createNS, "timeout?", &timeout,
		"atomic?", &atomic, "needs?", &needs); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if err := needsOf(c, needs); err != nil {
		return nil, err
	}
	namespace, err := namespaceOf(c, ns.s)
	if err != nil {
		return nil, err
	}
	vals, err := ca.valuesOf(c)
	if err != nil {
		return nil, err
	}
	hc, err := client(c)
	if err != nil {
		return nil, err
	}
	res, err := hc.Install(c.Ctx, ih.InstallRequest{
		Release:         release,
		Namespace:       namespace,
		Chart:           ca.source(c),
		Values:          vals,
		CreateNamespace: createNS,
		Timeout:         timeout.d,
		Atomic:          atomic,
	})
	if err != nil {
		return nil, fail(c, err)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	if sc := c.Engine.Script(); sc != nil {
		// plate test: the scripted cluster says whether this installs or
		// upgrades.
		c.Report.Summary = scriptedInstall(sc, res)
	}
	return NewReleaseValue(res.Release, nil, res.Planned || res.Offline, stepID(c), c.Engine), nil
}

func scriptedInstall(sc *engine.Script, res *ih.InstallResult) string {
	rel := res.Release
	what := fmt.Sprintf("%s %s (%d objects)", rel.Chart, rel.ChartVersion, len(rel.Objects))
	if old := sc.Release(rel.Name, rel.Namespace); old != nil {
		return fmt.Sprintf("would upgrade rev %d→%d: %s", old.Revision, old.Revision+1, what)
	}
	return "would install rev 1: " + what
}

// releaseArg unpacks a release given as a name or a release value, with
// its namespace.
func releaseArg(c *builtins.Call, v starlark.Value, ns string) (string, string, error) {
	switch x := v.(type) {
	case starlark.String:
		namespace, err := namespaceOf(c, ns)
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
	var ns optString
	var keep bool
	if err := c.Unpack(args, kwargs, "release", &relArg, "namespace?", &ns, "keep_history?", &keep); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns.s)
	if err != nil {
		return nil, err
	}
	if c.Engine.Offline() {
		c.Report.Summary = fmt.Sprintf("would uninstall %s (offline: the release was not read)", name)
		return starlark.True, nil
	}
	hc, err := client(c)
	if err != nil {
		return nil, err
	}
	res, err := hc.Uninstall(c.Ctx, ih.UninstallRequest{Release: name, Namespace: namespace, KeepHistory: keep})
	if err != nil {
		return nil, fail(c, err)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	return starlark.Bool(res.Found), nil
}

func rollback(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var relArg starlark.Value
	var ns optString
	var rev optInt
	if err := c.Unpack(args, kwargs, "release", &relArg, "namespace?", &ns, "revision?", &rev); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns.s)
	if err != nil {
		return nil, err
	}
	if c.Engine.Offline() {
		c.Report.Summary = fmt.Sprintf("would roll back %s (offline: the history was not read)", name)
		rel := ih.Release{Name: name, Namespace: namespace, Status: "unknown", Objects: []ih.ObjectRef{}}
		return NewReleaseValue(rel, nil, true, stepID(c), c.Engine), nil
	}
	hc, err := client(c)
	if err != nil {
		return nil, err
	}
	res, err := hc.Rollback(c.Ctx, ih.RollbackRequest{Release: name, Namespace: namespace, Revision: rev.n})
	if err != nil {
		return nil, fail(c, err)
	}
	c.Report.Summary = res.Summary()
	c.Report.Detail = res
	return NewReleaseValue(res.Release, nil, res.Planned, stepID(c), c.Engine), nil
}

func get(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var relArg starlark.Value
	var ns optString
	if err := c.Unpack(args, kwargs, "release", &relArg, "namespace?", &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, namespace, err := releaseArg(c, relArg, ns.s)
	if err != nil {
		return nil, err
	}
	if sc := c.Engine.Script(); sc != nil {
		r := sc.Release(name, namespace)
		if r == nil {
			c.Report.Summary = fmt.Sprintf("release %s in %s: not found (scripted)", name, namespace)
			return starlark.None, nil
		}
		c.Report.Summary = fmt.Sprintf("release %s in %s: rev %d %s (scripted)", name, namespace, r.Revision, r.Status)
		rel := ih.Release{Name: r.Name, Namespace: namespace, Revision: r.Revision, Status: r.Status, Chart: r.Chart, ChartVersion: r.ChartVersion, AppVersion: r.AppVersion}
		// A scripted release at revision N has N revisions, the earlier
		// ones superseded.
		var hist []ih.Revision
		for i := 1; i <= r.Revision; i++ {
			st := "superseded"
			if i == r.Revision {
				st = r.Status
			}
			hist = append(hist, ih.Revision{Revision: i, Status: st, Chart: r.Chart, ChartVersion: r.ChartVersion, AppVersion: r.AppVersion})
		}
		return NewReleaseValue(rel, hist, false, stepID(c), c.Engine), nil
	}
	if c.Engine.Offline() {
		// Like kube_get: an offline dry run reads no cluster and takes
		// the release as absent, so the rest of the plan can be traced.
		c.Report.Summary = fmt.Sprintf("release %s in %s: offline, the cluster was not read (taken as absent)", name, namespace)
		return starlark.None, nil
	}
	hc, err := client(c)
	if err != nil {
		return nil, err
	}
	info, err := hc.Get(c.Ctx, name, namespace)
	if err != nil {
		return nil, fail(c, err)
	}
	if info == nil {
		c.Report.Summary = fmt.Sprintf("%s not found in namespace %s", name, namespace)
		return starlark.None, nil
	}
	c.Report.Summary = fmt.Sprintf("%s rev %d %s (%s %s)", name, info.Revision, info.Status, info.Chart, info.ChartVersion)
	return NewReleaseValue(info.Release, info.History, false, stepID(c), c.Engine), nil
}

func template(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ca chartArgs
	var release, ns optString
	if err := c.Unpack(args, kwargs, "chart", &ca.chart, "release?", &release, "namespace?", &ns,
		"values?", &ca.values, "set?", &ca.set, "version?", &ca.version, "repo?", &ca.repo); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	namespace := ns.s
	if namespace == "" {
		namespace = c.Engine.KubeSettings().Namespace
	}
	if namespace == "" {
		namespace = "default"
	}
	vals, err := ca.valuesOf(c)
	if err != nil {
		return nil, err
	}
	hc, err := client(c)
	if err != nil {
		return nil, err
	}
	res, err := hc.Template(c.Ctx, ih.TemplateRequest{Release: release.s, Namespace: namespace, Chart: ca.source(c), Values: vals})
	if err != nil {
		return nil, fail(c, err)
	}
	c.Report.Summary = res.Summary()
	out := make([]starlark.Value, 0, len(res.Objects))
	for _, o := range res.Objects {
		v, err := builtins.FromGo(o)
		if err != nil {
			return nil, fail(c, err)
		}
		out = append(out, v)
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l, nil
}
