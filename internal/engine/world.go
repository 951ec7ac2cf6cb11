package engine

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/localfs"
	"github.com/plate-dev/plate/internal/status"
	"github.com/plate-dev/plate/internal/trace"
)

// The pass adapters: the narrow interfaces through which builtins reach the
// world. New chooses each one's implementation once, from the pass:
//
//	            live (run)      dry (dry-run, preflight)   offline            scripted (plate test)
//	Releases    Helm SDK        Helm SDK, read-only API    client-only render offline + script's releases
//	Objects     client-go       server-side dry run        not checked        offline + script's objects
//	Waits       watch           planned                    planned            planned + script's outcomes
//	Cluster     kube-system UID kube-system UID            offline identity   script's identity
//	Asker       ask.Rule        "would ask"/"will ask"     "would ask"        script's answers
//	Files       disk            localfs.Plan               localfs.Plan       localfs.Plan
//
// Builtins call these and never ask which mode their pass is in; what an
// adapter did (or would do) is in its result: Planned and Offline flags,
// summaries, answers. Dry passes cannot write by construction: their
// Kubernetes transport refuses writes (kube.ReadOnly) and their file system
// records writes instead of making them (localfs.Plan).

// Releases reads and changes Helm releases.
type Releases interface {
	Install(ctx context.Context, req helm.InstallRequest) (*helm.InstallResult, error)
	Uninstall(ctx context.Context, req helm.UninstallRequest) (*helm.UninstallResult, error)
	Rollback(ctx context.Context, req helm.RollbackRequest) (*helm.RollbackResult, error)
	// Read reads a release; Info is nil when there is none (or, offline,
	// when it was not read).
	Read(ctx context.Context, name, namespace string) (*ReleaseRead, error)
	Template(ctx context.Context, req helm.TemplateRequest) (*helm.TemplateResult, error)
	// MarkFailed records that a revision this pass made did not become
	// ready (helm.Client.MarkFailed).
	MarkFailed(ctx context.Context, req helm.VerdictRequest) (*helm.VerdictResult, error)
}

// ReleaseRead is the answer to a release read.
type ReleaseRead struct {
	Info    *helm.ReleaseInfo
	Summary string
}

// Objects applies, reads and deletes plain Kubernetes objects.
type Objects interface {
	// Apply server-side applies objs; namespaced objects that name no
	// namespace go to namespace.
	Apply(ctx context.Context, objs []*unstructured.Unstructured, namespace string) (*Applied, error)
	// Get reads one object of kind ("Deployment", "deployments.apps",
	// "apps/v1/Deployment"); Object is nil when it does not exist.
	Get(ctx context.Context, kind, namespace, name string) (*ObjectRead, error)
	// Delete deletes one object; Existed is false when there was none.
	Delete(ctx context.Context, kind, namespace, name string) (*Deleted, error)
}

// Applied is what an apply did, or would do.
type Applied struct {
	// Objects are the objects as the API server returned them (or, not
	// checked offline, as given).
	Objects []*unstructured.Unstructured
	// Changed names the objects the apply creates or updates (offline,
	// where nothing is compared: every object).
	Changed []string
	Summary string
	Detail  any
	// Findings are the reference check's (dry passes that read the
	// cluster); when one is an error nothing was applied, not even as a
	// server-side dry run.
	Findings []trace.Finding
	// Diff is what the apply changes (would change), object by object
	// (nil offline: nothing was compared).
	Diff *trace.Diff
}

// ObjectRead is the answer to an object read.
type ObjectRead struct {
	Object  *unstructured.Unstructured
	Summary string
}

// Deleted is what a delete did, or would do.
type Deleted struct {
	Existed bool
	Summary string
}

// Waits waits for objects and reads what runs.
type Waits interface {
	// Wait waits for targets. A dry pass answers with a Plan and waits
	// for nothing.
	Wait(ctx context.Context, targets []kwait.Target, opts kwait.Options) (*WaitResult, error)
	// Health checks that the cluster answers and the pods of namespaces
	// are ready. A dry pass answers with Planned and checks nothing.
	Health(ctx context.Context, namespaces []string) (*HealthResult, error)
	// Status reads what is deployed in a namespace; Report is nil when the
	// pass reads no cluster.
	Status(ctx context.Context, opts status.Options) (*StatusResult, error)
}

// WaitResult is a wait's outcome: a Report when it waited, a Plan when the
// pass only plans.
type WaitResult struct {
	Report *kwait.Report
	Plan   *kwait.Plan
}

// HealthResult is a health check's outcome.
type HealthResult struct {
	Report  *kwait.HealthReport
	Planned bool
}

// StatusResult is a status read; Report is nil when nothing was read.
type StatusResult struct {
	Report  *status.Report
	Summary string
}

// Identity is the target cluster.
type Identity struct {
	Context, Server, UID, Namespace, Version string
	// Offline is true when no cluster was read (offline dry run): the
	// other fields are empty.
	Offline bool
	// NoUID says why UID is empty on a cluster that was read: the user
	// may not read the kube-system namespace (a namespace-scoped user).
	NoUID string
}

func (id *Identity) String() string {
	return fmt.Sprintf("context %q, server %s, uid %s", id.Context, id.Server, id.UID)
}

// Cluster tells which cluster the pass targets.
type Cluster interface {
	Identify(ctx context.Context) (*Identity, error)
}

// Backups reads what a backup of a release holds; writing it goes through
// Files.
type Backups interface {
	// Source is the cluster a backup is made from.
	Source(ctx context.Context) (backup.Cluster, error)
	// Collect reads release name in namespace. A release that does not
	// exist is a Part with Skip set; an offline pass reads nothing and
	// returns a Part with Unread set.
	Collect(ctx context.Context, name, namespace string) (*backup.Part, error)
}

// Answer is how a confirmation was (or would be) answered. A question that
// is refused comes back as an error instead (ask.ErrNoTerminal,
// ask.ErrDeclined, ask.ErrNoAnswer).
type Answer struct {
	How AnswerHow
	// Yes is true when --yes answers (or would answer) the question.
	Yes bool
}

// AnswerHow says who answered.
type AnswerHow int

const (
	// Asked: the user said yes on the terminal.
	Asked AnswerHow = iota
	// ByYes: --yes said yes.
	ByYes
	// WouldAsk: a dry run; the question would be asked.
	WouldAsk
	// WillAsk: a preflight; the run will ask (the terminal or --yes is
	// there).
	WillAsk
	// Scripted: a plan test's scripted answer, yes.
	Scripted
)

// Asker asks the user to confirm, by the rule of internal/ask.
type Asker interface {
	Confirm(ctx context.Context, question string, def bool) (Answer, error)
}

// Engine accessors of the pass adapters.

// Releases returns the pass's release adapter.
func (e *Engine) Releases() Releases { return e.world.releases }

// Objects returns the pass's object adapter.
func (e *Engine) Objects() Objects { return e.world.objects }

// Waits returns the pass's wait adapter.
func (e *Engine) Waits() Waits { return e.world.waits }

// Cluster returns the pass's cluster identity adapter.
func (e *Engine) Cluster() Cluster { return e.world.cluster }

// Asker returns the pass's confirmation adapter.
func (e *Engine) Asker() Asker { return e.world.asker }

// Backups returns the pass's backup reader.
func (e *Engine) Backups() Backups { return e.world.backups }

// Files returns the file system local writes of the pass go through: the
// disk in a run, a localfs.Plan (which writes nothing) in every dry pass.
func (e *Engine) Files() localfs.FS { return e.world.files }

// Namespace resolves a namespace argument (empty: none given) by plate's
// one rule (kube.Settings.Namespaced): -n, else the kube context's, else
// "default"; a scripted cluster's default namespace is "default".
func (e *Engine) Namespace(arg string) (string, error) {
	s := e.opts.Kube
	if e.opts.Script != nil && arg == "" && s.Namespace == "" {
		arg = "default"
	}
	return s.Namespaced(arg)
}

// Changed returns the last change this pass made (in a dry pass: would
// make) to release name in namespace, as its steps recorded it.
func (e *Engine) Changed(name, namespace string) (trace.Change, bool) {
	e.stateMu.Lock()
	defer e.stateMu.Unlock()
	for i := len(e.changes) - 1; i >= 0; i-- {
		if c := e.changes[i]; c.Release == name && c.Namespace == namespace {
			return c, true
		}
	}
	return trace.Change{}, false
}

// Planned is the pass's planned world: what earlier steps of a dry pass
// would have created (namespaces, CRDs), shared by the Kubernetes and Helm
// adapters.
func (e *Engine) Planned() *kube.Planned { return e.planned }

// world holds the adapters chosen for a pass.
type world struct {
	releases Releases
	objects  Objects
	waits    Waits
	cluster  Cluster
	asker    Asker
	backups  Backups
	files    localfs.FS
}

// newWorld chooses the pass's adapters, once.
func (e *Engine) newWorld() world {
	rule := ask.Rule{Yes: e.opts.Yes}
	if e.opts.Prompter != nil {
		rule.Prompter = e.opts.Prompter
	}
	switch {
	case e.opts.Script != nil:
		off := offline{e}
		sc := scripted{e: e, s: e.opts.Script}
		return world{releases: scriptedReleases{off, sc}, objects: scriptedObjects{off, sc}, waits: scriptedWaits{off, sc},
			cluster: sc, asker: sc, backups: sc, files: localfs.NewPlan()}
	case e.opts.Offline:
		off := offline{e}
		return world{releases: off, objects: off, waits: off, cluster: off, asker: dryAsker{rule: rule, pass: e.opts.Pass}, backups: off, files: localfs.NewPlan()}
	case e.opts.Pass == trace.Run:
		l := live{e}
		return world{releases: l, objects: l, waits: l, cluster: l, asker: runAsker{rule}, backups: l, files: localfs.Disk}
	}
	l := live{e}
	return world{releases: l, objects: l, waits: dryWaits{l}, cluster: l, asker: dryAsker{rule: rule, pass: e.opts.Pass}, backups: l, files: localfs.NewPlan()}
}
