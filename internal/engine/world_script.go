package engine

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/trace"
)

// The scripted adapters of `plate test`: an offline pass whose reads the
// test's scripted cluster answers (which releases and objects exist, the
// cluster's identity, readiness outcomes, confirmation answers). The
// builtins are the same as in every other pass; only these answers differ.

type scripted struct {
	e *Engine
	s *Script
}

type scriptedReleases struct {
	offline
	sc scripted
}

type scriptedObjects struct {
	offline
	sc scripted
}

type scriptedWaits struct {
	offline
	sc scripted
}

// Install renders the chart offline; the script says whether the release
// exists, so whether this installs or upgrades.
func (r scriptedReleases) Install(ctx context.Context, req helm.InstallRequest) (*helm.InstallResult, error) {
	res, err := r.offline.Install(ctx, req)
	if err != nil {
		return nil, err
	}
	res.Scripted, res.Planned = true, true
	if old := r.sc.s.Release(res.Release.Name, res.Release.Namespace); old != nil {
		res.Action, res.FromRevision, res.Release.Revision = helm.Upgrade, old.Revision, old.Revision+1
	} else {
		res.Action, res.Release.Revision = helm.Install, 1
	}
	return res, nil
}

func (r scriptedReleases) Uninstall(ctx context.Context, req helm.UninstallRequest) (*helm.UninstallResult, error) {
	res := &helm.UninstallResult{Planned: true, Scripted: true, Release: helm.Release{Name: req.Release, Namespace: req.Namespace, Objects: []helm.ObjectRef{}}}
	if old := r.sc.s.Release(req.Release, req.Namespace); old != nil && old.Status != helm.StatusUninstalled {
		res.Found, res.Release.Revision, res.Release.Status = true, old.Revision, old.Status
	}
	return res, nil
}

func (r scriptedReleases) Rollback(ctx context.Context, req helm.RollbackRequest) (*helm.RollbackResult, error) {
	old := r.sc.s.Release(req.Release, req.Namespace)
	if old == nil || old.Revision < 2 {
		return r.offline.Rollback(ctx, req)
	}
	to := req.Revision
	if to == 0 {
		to = old.Revision - 1
	}
	return &helm.RollbackResult{Planned: true, Scripted: true, FromRevision: old.Revision, Restores: to,
		Release: helm.Release{Name: old.Name, Namespace: req.Namespace, Revision: old.Revision + 1, Status: helm.StatusDeployed,
			Chart: old.Chart, ChartVersion: old.ChartVersion, AppVersion: old.AppVersion, Objects: []helm.ObjectRef{}}}, nil
}

func (r scriptedReleases) Read(ctx context.Context, name, namespace string) (*ReleaseRead, error) {
	old := r.sc.s.Release(name, namespace)
	if old == nil {
		return &ReleaseRead{Summary: fmt.Sprintf("release %s in %s: not found (scripted)", name, namespace)}, nil
	}
	info := &helm.ReleaseInfo{Release: helm.Release{Name: old.Name, Namespace: namespace, Revision: old.Revision, Status: old.Status,
		Chart: old.Chart, ChartVersion: old.ChartVersion, AppVersion: old.AppVersion}}
	// A scripted release at revision N has N revisions, the earlier ones
	// superseded.
	for i := 1; i <= old.Revision; i++ {
		st := helm.StatusSuperseded
		if i == old.Revision {
			st = old.Status
		}
		info.History = append(info.History, helm.Revision{Revision: i, Status: st, Chart: old.Chart, ChartVersion: old.ChartVersion, AppVersion: old.AppVersion})
	}
	return &ReleaseRead{Info: info, Summary: fmt.Sprintf("release %s in %s: rev %d %s (scripted)", name, namespace, old.Revision, old.Status)}, nil
}

func (o scriptedObjects) Get(ctx context.Context, kind, namespace, name string) (*ObjectRead, error) {
	if obj := o.sc.s.Object(kind, namespace, name); obj != nil {
		return &ObjectRead{Object: &unstructured.Unstructured{Object: obj}, Summary: fmt.Sprintf("%s/%s found (scripted)", kind, name)}, nil
	}
	return &ObjectRead{Summary: fmt.Sprintf("%s/%s not found (scripted)", kind, name)}, nil
}

func (o scriptedObjects) Delete(ctx context.Context, kind, namespace, name string) (*Deleted, error) {
	if o.sc.s.Object(kind, namespace, name) != nil {
		return &Deleted{Existed: true, Summary: fmt.Sprintf("%s/%s would be deleted (scripted)", kind, name)}, nil
	}
	return &Deleted{Summary: fmt.Sprintf("%s/%s absent (scripted)", kind, name)}, nil
}

// Wait plans the wait, then applies the script's readiness outcomes: a key
// of Script.Ready names a release of the targets, or one of the planned
// objects ("Kind/name" or "Kind/namespace/name").
func (w scriptedWaits) Wait(ctx context.Context, targets []kwait.Target, opts kwait.Options) (*WaitResult, error) {
	res, _ := w.offline.Wait(ctx, targets, opts)
	releases := map[string]bool{}
	var order []string
	for _, t := range targets {
		if t.Release != "" && !releases[t.Release] {
			releases[t.Release] = true
			order = append(order, t.Release)
		}
	}
	for _, o := range res.Plan.Objects {
		keys := []string{o.ID}
		if o.Namespace != "" && o.Kind != "" {
			keys = append(keys, o.Kind+"/"+o.Name)
		}
		keys = append(keys, order...)
		switch st, why := w.sc.s.Outcome(keys...); st {
		case "failed":
			return res, exit.Errorf(exit.PlanFailed, "%s is not ready: %s (scripted)", o.ID, why)
		case "timeout":
			return res, exit.Errorf(exit.Timeout, "timed out after %s; not ready: %s (scripted)", trace.FormatDuration(res.Plan.Timeout), o.ID)
		}
	}
	return res, nil
}

func (w scriptedWaits) Health(ctx context.Context, namespaces []string) (*HealthResult, error) {
	res, _ := w.offline.Health(ctx, namespaces)
	if st, why, _ := strings.Cut(w.sc.s.Health, ":"); st == "failed" {
		return res, exit.Errorf(exit.PlanFailed, "%s (scripted)", strings.TrimSpace(why))
	}
	return res, nil
}

func (s scripted) Identify(ctx context.Context) (*Identity, error) {
	return &Identity{Context: s.s.Context, Server: s.s.Server, UID: s.s.UID, Namespace: "default", Version: "scripted"}, nil
}

func (s scripted) Confirm(ctx context.Context, question string, def bool) (Answer, error) {
	if !s.s.Confirm() {
		return Answer{}, ask.ErrDeclined
	}
	return Answer{How: Scripted}, nil
}

func (s scripted) Source(ctx context.Context) (backup.Cluster, error) {
	return backup.Cluster{Context: s.s.Context, Server: s.s.Server, UID: s.s.UID}, nil
}

// Collect answers from the script's releases; their objects are not known.
func (s scripted) Collect(ctx context.Context, name, namespace string) (*backup.Part, error) {
	r := s.s.Release(name, namespace)
	if r == nil || r.Status == helm.StatusUninstalled {
		return &backup.Part{Release: backup.Release{Name: name, Namespace: namespace},
			Skip: fmt.Sprintf("release %s does not exist in namespace %s yet", name, namespace)}, nil
	}
	return &backup.Part{Scripted: true, Files: map[string][]byte{}, Release: backup.Release{Name: r.Name, Namespace: namespace,
		Revision: r.Revision, Status: r.Status, RestoreRevision: r.Revision,
		Chart: helm.ChartRef{Name: r.Chart, Version: r.ChartVersion}}}, nil
}
