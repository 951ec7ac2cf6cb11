package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/kube/readiness"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/status"
	"github.com/plate-dev/plate/internal/trace"
)

// live is the adapter set of passes that reach the cluster: the run, and
// (through a transport that refuses writes) the dry run and the preflight.
// The same code serves both; what differs is the client it gets.
type live struct{ e *Engine }

// cluster returns the pass's Kubernetes client, its error phrased for a
// builtin to prefix with its name.
func (l live) cluster() (*kube.Client, error) {
	cl, err := l.e.kubeClient()
	if err != nil {
		return nil, exit.Wrap(exit.Usage, fmt.Errorf("cluster: %w", err))
	}
	return cl, nil
}

// fence is the one check point of the run pass's writes: before each
// install, upgrade, rollback, uninstall, verdict, apply and delete it asks
// Options.Fence whether the pass may still write (the run still holds its
// locks). Dry passes cannot write and are not fenced.
func (l live) fence(ctx context.Context) error {
	if f := l.e.opts.Fence; f != nil && l.e.Writes() {
		return f(ctx)
	}
	return nil
}

// pending names, in the refusal of a release whose latest revision is
// pending, the plate run that holds (or held) the release's lock.
func (l live) pending(ctx context.Context, err error) error {
	var pe *helm.PendingError
	if f := l.e.opts.LockHolder; f != nil && errors.As(err, &pe) {
		cp := *pe
		cp.Holder = f(ctx, pe.Release, pe.Namespace)
		return cp.Exit()
	}
	return err
}

// viaHelm runs op with the pass's Helm client.
func viaHelm[T any](e *Engine, op func(hc *helm.Client) (T, error)) (T, error) {
	hc, err := e.helmClient()
	if err != nil {
		var zero T
		return zero, err
	}
	return op(hc)
}

func (l live) Install(ctx context.Context, req helm.InstallRequest) (*helm.InstallResult, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	l.guardInstall(ctx, &req)
	res, err := viaHelm(l.e, func(hc *helm.Client) (*helm.InstallResult, error) { return hc.Install(ctx, req) })
	return res, l.pending(ctx, err)
}

func (l live) Uninstall(ctx context.Context, req helm.UninstallRequest) (*helm.UninstallResult, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	if l.e.checking() != nil {
		req.BeforeWrite = func(res *helm.UninstallResult) error {
			return l.e.checkWrite(ctx, trace.Change{Release: req.Release, Namespace: req.Namespace, Action: trace.Uninstalled, From: res.Release.Revision})
		}
	}
	return viaHelm(l.e, func(hc *helm.Client) (*helm.UninstallResult, error) { return hc.Uninstall(ctx, req) })
}

func (l live) Rollback(ctx context.Context, req helm.RollbackRequest) (*helm.RollbackResult, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	if l.e.checking() != nil {
		req.BeforeWrite = func(res *helm.RollbackResult) error {
			return l.e.checkWrite(ctx, trace.Change{Release: req.Release, Namespace: req.Namespace, Action: trace.RolledBack, From: res.FromRevision, To: res.FromRevision + 1, Restores: res.Restores})
		}
	}
	res, err := viaHelm(l.e, func(hc *helm.Client) (*helm.RollbackResult, error) { return hc.Rollback(ctx, req) })
	return res, l.pending(ctx, err)
}

func (l live) MarkFailed(ctx context.Context, req helm.VerdictRequest) (*helm.VerdictResult, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	return viaHelm(l.e, func(hc *helm.Client) (*helm.VerdictResult, error) { return hc.MarkFailed(ctx, req) })
}

func (l live) Template(ctx context.Context, req helm.TemplateRequest) (*helm.TemplateResult, error) {
	return viaHelm(l.e, func(hc *helm.Client) (*helm.TemplateResult, error) { return hc.Template(ctx, req) })
}

func (l live) Read(ctx context.Context, name, namespace string) (*ReleaseRead, error) {
	hc, err := l.e.helmClient()
	if err != nil {
		return nil, err
	}
	info, err := hc.Get(ctx, name, namespace)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return &ReleaseRead{Summary: fmt.Sprintf("%s not found in namespace %s", name, namespace)}, nil
	}
	return &ReleaseRead{Info: info, Summary: fmt.Sprintf("%s rev %d %s (%s %s)", name, info.Revision, info.Status, info.Chart, info.ChartVersion)}, nil
}

func (l live) Apply(ctx context.Context, objs []*unstructured.Unstructured, namespace string) (*Applied, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	var findings []trace.Finding
	if ch, err := l.e.checker(); ch != nil && err == nil {
		findings = ch.Check(ctx, refcheck.Step{Namespace: namespace, Objects: scoped(cl, objs, namespace), Ownership: true, Immutable: true})
		if len(refcheck.Errors(findings)) > 0 {
			return &Applied{Findings: findings}, nil
		}
	}
	var res []kube.ObjectResult
	if l.e.checking() != nil && !cl.ReadOnly {
		res, err = l.applyChecked(ctx, cl, objs, namespace)
	} else {
		res, err = cl.Apply(ctx, objs, namespace)
	}
	if err != nil {
		return nil, err
	}
	counts := map[kube.Action][]string{}
	out := &Applied{Findings: findings, Diff: &trace.Diff{}}
	var notes []string
	for _, r := range res {
		switch {
		case r.Action == kube.Unchanged:
			out.Diff.Unchanged++
		case r.Action == kube.Updated && r.Before != nil:
			out.Diff.Objects = append(out.Diff.Objects, trace.ObjectDiff{Object: r.Ref, Change: trace.DiffChanged,
				Diff: helm.ObjectDiff(r.Ref, r.Before.Object, r.Object.Object)})
		case r.Action == kube.Created && r.Given != nil:
			out.Diff.Objects = append(out.Diff.Objects, trace.ObjectDiff{Object: r.Ref, Change: trace.DiffCreated,
				Diff: helm.ObjectDiff(r.Ref, nil, r.Given.Object)})
		}
		counts[r.Action] = append(counts[r.Action], r.Ref)
		if r.Action == kube.Created || r.Action == kube.Updated {
			out.Changed = append(out.Changed, r.Ref)
		}
		if r.Note != "" {
			notes = append(notes, r.Ref+": "+r.Note)
		}
		out.Objects = append(out.Objects, r.Object)
	}
	out.Summary = applySummary(!cl.ReadOnly, counts)
	if len(notes) == 1 && len(res) == 1 {
		out.Summary += " (" + res[0].Note + ")"
	}
	out.Detail = map[string]any{"objects": counts, "notes": notes}
	return out, nil
}

// scoped returns copies of objs as they would be applied: namespaced
// objects that name no namespace in namespace, cluster-scoped ones in none
// (a kind the cluster does not know keeps what it names, else namespace).
func scoped(cl *kube.Client, objs []*unstructured.Unstructured, namespace string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		cp := o.DeepCopy()
		gk := cp.GroupVersionKind().GroupKind()
		m, err := cl.Mapper.RESTMapping(gk)
		switch {
		case err == nil && m.Scope.Name() != meta.RESTScopeNameNamespace:
			cp.SetNamespace("")
		case err != nil && plannedClusterScoped(cl.Planned, gk):
			cp.SetNamespace("")
		case cp.GetNamespace() == "":
			cp.SetNamespace(namespace)
		}
		out = append(out, cp)
	}
	return out
}

func plannedClusterScoped(p *kube.Planned, gk schema.GroupKind) bool {
	for _, k := range p.Kinds() {
		if k.Group == gk.Group && k.Kind == gk.Kind {
			return !k.Namespaced
		}
	}
	return false
}

// applySummary counts an apply's objects per action: "Namespace/x would be
// created, 2 unchanged".
func applySummary(live bool, counts map[kube.Action][]string) string {
	var parts []string
	for _, a := range []kube.Action{kube.Created, kube.Updated, kube.Unchanged} {
		refs := counts[a]
		if len(refs) == 0 {
			continue
		}
		word := string(a)
		if !live && a != kube.Unchanged {
			word = "would be " + word
		}
		if len(refs) == 1 {
			parts = append(parts, fmt.Sprintf("%s %s", refs[0], word))
		} else {
			parts = append(parts, fmt.Sprintf("%d %s", len(refs), word))
		}
	}
	return strings.Join(parts, ", ")
}

// kind returns the pass's client and the kind a user wrote, resolved by
// discovery.
func (l live) kind(kind string) (*kube.Client, schema.GroupVersionKind, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, schema.GroupVersionKind{}, err
	}
	gvk, err := cl.ParseKind(kind)
	if err != nil {
		return nil, gvk, exit.Wrap(exit.Usage, err)
	}
	return cl, gvk, nil
}

func (l live) Get(ctx context.Context, kind, namespace, name string) (*ObjectRead, error) {
	cl, gvk, err := l.kind(kind)
	if err != nil {
		return nil, err
	}
	obj, err := cl.Get(ctx, gvk, namespace, name)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return &ObjectRead{Summary: fmt.Sprintf("%s/%s not found", gvk.Kind, name)}, nil
	}
	return &ObjectRead{Object: obj, Summary: fmt.Sprintf("%s found", kube.Ref(obj))}, nil
}

func (l live) Delete(ctx context.Context, kind, namespace, name string) (*Deleted, error) {
	if err := l.fence(ctx); err != nil {
		return nil, err
	}
	cl, gvk, err := l.kind(kind)
	if err != nil {
		return nil, err
	}
	if l.e.checking() != nil && !cl.ReadOnly {
		obj, err := cl.Get(ctx, gvk, namespace, name)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			if err := l.e.checkWrite(ctx, trace.Change{Object: kind + "/" + namespace + "/" + name, Action: trace.Deleted}); err != nil {
				return nil, err
			}
		}
	}
	act, err := cl.Delete(ctx, gvk, namespace, name)
	if err != nil {
		return nil, err
	}
	ref := gvk.Kind + "/" + name
	switch {
	case act == kube.Absent:
		return &Deleted{Summary: ref + " absent"}, nil
	case cl.ReadOnly:
		return &Deleted{Existed: true, Summary: ref + " would be deleted"}, nil
	}
	return &Deleted{Existed: true, Summary: ref + " deleted"}, nil
}

func (l live) Wait(ctx context.Context, targets []kwait.Target, opts kwait.Options) (*WaitResult, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	rep, err := kwait.ForClient(cl).Wait(ctx, targets, opts)
	return &WaitResult{Report: rep}, err
}

func (l live) Health(ctx context.Context, namespaces []string) (*HealthResult, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	r, err := kwait.ForClient(cl).Health(ctx, namespaces, readiness.Options{}, time.Now())
	return &HealthResult{Report: r}, err
}

func (l live) Status(ctx context.Context, opts status.Options) (*StatusResult, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	r, err := status.Collect(ctx, cl.Clientset, opts)
	if err != nil {
		return nil, err
	}
	return &StatusResult{Report: r}, nil
}

func (l live) Identify(ctx context.Context) (*Identity, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	k, err := kube.Identify(ctx, cl)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	return &Identity{Context: k.Context, Server: k.Server, UID: k.UID, Namespace: cl.Namespace, Version: k.Version, NoUID: k.NoUID}, nil
}

func (l live) Source(ctx context.Context) (backup.Cluster, error) {
	cl, err := l.cluster()
	if err != nil {
		return backup.Cluster{}, err
	}
	return backup.Identify(ctx, cl)
}

func (l live) Collect(ctx context.Context, name, namespace string) (*backup.Part, error) {
	cl, err := l.cluster()
	if err != nil {
		return nil, err
	}
	hc, err := l.e.helmClient()
	if err != nil {
		return nil, err
	}
	return backup.Collect(ctx, cl, hc, name, namespace)
}

// dryWaits is the wait adapter of dry passes that read the cluster: waits
// and health checks are planned (the objects may not exist yet), status
// reads.
type dryWaits struct{ live }

func (d dryWaits) Wait(ctx context.Context, targets []kwait.Target, opts kwait.Options) (*WaitResult, error) {
	return &WaitResult{Plan: kwait.PlanWait(targets, opts)}, nil
}

func (d dryWaits) Health(ctx context.Context, namespaces []string) (*HealthResult, error) {
	return &HealthResult{Planned: true, Report: &kwait.HealthReport{Namespaces: namespaces}}, nil
}

// runAsker asks by the confirmation rule.
type runAsker struct{ rule ask.Rule }

func (a runAsker) Confirm(ctx context.Context, question string, def bool) (Answer, error) {
	how, err := a.rule.Confirm(question, def)
	if err != nil {
		return Answer{}, err
	}
	if how == ask.ByYes {
		return Answer{How: ByYes, Yes: true}, nil
	}
	return Answer{How: Asked}, nil
}

// dryAsker answers for dry passes: a dry run says it would ask; a
// preflight checks that the run will be able to ask (a terminal, or --yes)
// and refuses now, before any write, when it will not.
type dryAsker struct {
	rule ask.Rule
	pass trace.Pass
}

func (a dryAsker) Confirm(ctx context.Context, question string, def bool) (Answer, error) {
	if a.pass != trace.Preflight {
		return Answer{How: WouldAsk, Yes: a.rule.Yes}, nil
	}
	if err := a.rule.CanAsk(); err != nil {
		return Answer{}, err
	}
	return Answer{How: WillAsk, Yes: a.rule.Yes}, nil
}
