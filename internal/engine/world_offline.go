package engine

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/status"
)

// offline is the adapter set of an offline dry run (--offline): charts
// render client-only, nothing is read, every read is taken as absent, and
// every change is reported as what would be done, unchecked.
type offline struct{ e *Engine }

// Install and Template render client-only: the Helm client of an offline
// pass has no cluster.
func (o offline) Install(ctx context.Context, req helm.InstallRequest) (*helm.InstallResult, error) {
	return live(o).Install(ctx, req)
}

func (o offline) Template(ctx context.Context, req helm.TemplateRequest) (*helm.TemplateResult, error) {
	return live(o).Template(ctx, req)
}

func (o offline) Uninstall(ctx context.Context, req helm.UninstallRequest) (*helm.UninstallResult, error) {
	return &helm.UninstallResult{Planned: true, Offline: true, Found: true,
		Release: helm.Release{Name: req.Release, Namespace: req.Namespace, Objects: []helm.ObjectRef{}}}, nil
}

func (o offline) Rollback(ctx context.Context, req helm.RollbackRequest) (*helm.RollbackResult, error) {
	return &helm.RollbackResult{Planned: true, Offline: true,
		Release: helm.Release{Name: req.Release, Namespace: req.Namespace, Status: "unknown", Objects: []helm.ObjectRef{}}}, nil
}

func (o offline) MarkFailed(ctx context.Context, req helm.VerdictRequest) (*helm.VerdictResult, error) {
	return &helm.VerdictResult{Release: req.Release, Namespace: req.Namespace, Revision: req.Revision, Planned: true, Marked: true, Redeployed: req.Supersedes}, nil
}

func (o offline) Read(ctx context.Context, name, namespace string) (*ReleaseRead, error) {
	// Like kube_get: an offline dry run reads no cluster and takes the
	// release as absent, so the rest of the plan can be traced.
	return &ReleaseRead{Summary: fmt.Sprintf("release %s in %s: offline, the cluster was not read (taken as absent)", name, namespace)}, nil
}

func (o offline) Apply(ctx context.Context, objs []*unstructured.Unstructured, namespace string) (*Applied, error) {
	refs := make([]string, 0, len(objs))
	for _, obj := range objs {
		refs = append(refs, kube.Ref(obj))
	}
	return &Applied{Objects: objs, Changed: refs, Summary: fmt.Sprintf("would apply %s (offline: not checked by an API server)", strings.Join(refs, ", "))}, nil
}

func (o offline) Get(ctx context.Context, kind, namespace, name string) (*ObjectRead, error) {
	return &ObjectRead{Summary: fmt.Sprintf("%s/%s: offline, the cluster was not read (taken as absent)", kind, name)}, nil
}

func (o offline) Delete(ctx context.Context, kind, namespace, name string) (*Deleted, error) {
	return &Deleted{Existed: true, Summary: fmt.Sprintf("would delete %s/%s (offline: the cluster was not read)", kind, name)}, nil
}

func (o offline) Wait(ctx context.Context, targets []kwait.Target, opts kwait.Options) (*WaitResult, error) {
	return &WaitResult{Plan: kwait.PlanWait(targets, opts)}, nil
}

func (o offline) Health(ctx context.Context, namespaces []string) (*HealthResult, error) {
	return &HealthResult{Planned: true, Report: &kwait.HealthReport{Namespaces: namespaces}}, nil
}

func (o offline) Status(ctx context.Context, opts status.Options) (*StatusResult, error) {
	return &StatusResult{Summary: "would read the status of " + opts.Namespace + " (offline: not read)"}, nil
}

func (o offline) Identify(ctx context.Context) (*Identity, error) {
	return &Identity{Offline: true}, nil
}

func (o offline) Source(ctx context.Context) (backup.Cluster, error) { return backup.Cluster{}, nil }

func (o offline) Collect(ctx context.Context, name, namespace string) (*backup.Part, error) {
	return &backup.Part{Release: backup.Release{Name: name, Namespace: namespace}, Unread: true}, nil
}
