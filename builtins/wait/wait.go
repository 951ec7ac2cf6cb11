// Package wait holds the builtins that wait for and inspect what a plan
// deployed: wait_ready (with ready_rule for custom kinds), health_check and
// status.
//
// wait_ready is watch-based (internal/kube/wait over
// internal/kube/readiness): it judges each object the moment the API server
// reports a change, fails fast on pod problems that will not heal, gives
// LoadBalancer Services their own short timeout, and exits with code 3 on a
// timeout and 1 on a detected failure. In dry passes nothing is watched: the
// trace says what would be waited for, with which rule and timeout.
package wait

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	ih "github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/kube/readiness"
	kwait "github.com/plate-dev/plate/internal/kube/wait"
	"github.com/plate-dev/plate/internal/progress"
	"github.com/plate-dev/plate/internal/status"
	"github.com/plate-dev/plate/internal/trace"
)

// Plugin is the wait family.
type Plugin struct{}

// Name returns "wait".
func (Plugin) Name() string { return "wait" }

const graceDoc = `Fail-fast tuning (all optional; durations are strings such as "90s", time.duration values or numbers of seconds):

- ` + "`image_pull_grace`" + ` (default "15s"): how long ErrImagePull / ImagePullBackOff may last.
  InvalidImageName fails at once.
- ` + "`container_error_grace`" + ` (default "10s"): CreateContainerConfigError and friends, and a
  volume whose Secret or ConfigMap is missing (FailedMount); the reason names the
  missing object (a referenced Secret may be created a moment later by another
  controller).
- ` + "`unschedulable_grace`" + ` (default "15s"): how long a pod may be unschedulable.
- ` + "`replica_failure_grace`" + ` (default "10s"): how long a workload's controller may fail to
  create its pods: ReplicaFailure on a Deployment, FailedCreate events on a
  StatefulSet, DaemonSet or Job (a missing ServiceAccount, a quota, an admission webhook).
- ` + "`storage_class_grace`" + ` (default "10s"): how long a PersistentVolumeClaim may name a
  storage class that does not exist.
- ` + "`provisioning_grace`" + ` (default "60s"): how long a claim's provisioner may keep failing
  (ProvisioningFailed events).
- ` + "`crash_loop_restarts`" + ` (default 3): a container in CrashLoopBackOff fails the object at
  this restart count; ` + "`oom_kills`" + ` (default 2): likewise for OOMKilled.

A grace of "0s" fails on first sight; a count of 0 turns that check off (the timeout
still applies).`

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name: "wait_ready",
			Params: []string{"*targets", "namespace=None", `timeout="5m"`, "selector=None", "rules=None", `lb_timeout="60s"`,
				`image_pull_grace="15s"`, `container_error_grace="10s"`, `unschedulable_grace="15s"`, `replica_failure_grace="10s"`,
				`storage_class_grace="10s"`, `provisioning_grace="60s"`,
				"crash_loop_restarts=3", "oom_kills=2", "needs=None"},
			Effect:     engine.Read,
			Concurrent: true,
			Doc: `Waits until every target is ready, and returns a summary; fails as soon as one
cannot become ready.

Targets (` + "`targets`" + `, any number of them):
- release values (what helm_install returns; any value that stands for a set of
  objects): every object of the release's manifest;
- "kind/name" strings: "deployment/plate-api", "statefulset/db", "pvc/cache",
  "svc/web", "crd/certificates.cert-manager.io"; the kind may be a kind, a
  resource, a short name, "kind.group" or "group/version/Kind";
- ` + "`selector`" + `: a label selector ("app=plate-api"): the Deployments,
  StatefulSets, DaemonSets and Jobs whose labels match, the workloads that own
  matching pods, and matching pods no workload owns.

` + "`namespace`" + ` applies to "kind/name" targets and the selector (default: ` + "`-n`" + ` or the
context's namespace); release objects keep their own.

What "ready" means, per kind: a Deployment has every replica updated and
available and no old pods left; a StatefulSet every replica ready at the update
revision; a DaemonSet is updated and available on every node; a Job is
Complete; a PersistentVolumeClaim is Bound, or Pending on a WaitForFirstConsumer
class ("awaiting first consumer", reported, not waited for); a LoadBalancer
Service has an ingress address; a CRD is Established (afterwards the new kinds
are usable by the next step); a Validating/MutatingWebhookConfiguration has a
ready endpoint behind every Service its webhooks call (until then the API
server rejects what they match). Operators' resources have built-in rules:
cert-manager Certificate, Issuer and ClusterIssuer (Ready; a failed issuance
fails), Prometheus and Alertmanager (Available and Reconciled), Argo CD
Application (Healthy and Synced; Degraded fails), Flux HelmRelease and
Kustomization (Ready; Stalled fails). Other custom resources follow their
Ready / Reconciling / Stalled conditions. A custom resource with no status
yet, of those kinds or of a CRD with a status subresource, is waiting for its
controller, and fails after 1m naming the controller that never answered. The
` + "`rules`" + ` you give override all of these. Objects that do not exist yet
are waited for. A paused Deployment and a suspended Job are reported, not
waited for.

Watching, not polling: every change on the API server is judged within
milliseconds. Failing fast: a pod that cannot pull its image, crash-loops,
OOMs, fails an init container, lacks a Secret or ConfigMap, or cannot be
scheduled, a workload whose pods cannot be created (a missing ServiceAccount),
a claim of a storage class that does not exist or whose provisioning keeps
failing, and a Job past its backoff limit fail the wait after their grace
period, naming the pod and container, the container's last termination message
and the last Events. The error's first line (the trace line, the stop report)
names the last known reason of every object that was not ready.

- ` + "`timeout`" + ` (default "5m"): the whole wait; running out exits with code 3 and
  names what was not ready and why.
- ` + "`lb_timeout`" + ` (default "60s"): how long a LoadBalancer Service may stay without
  an address (exit code 3, with a hint about MetalLB address pools).
- ` + "`rules`" + `: a list of ` + "`ready_rule(...)`" + ` values for kinds the built-in rules
  do not know, or to override them (e.g. to wait for an Ingress address).
- ` + "`needs`" + `: values of earlier steps; with them the wait runs alongside the rest of
  the plan once they are done (and returns a value that waits for it when read);
  ` + "`needs = [plan_start]`" + ` starts it at once. None and [] (the default) keep the
  call in sequence (see plans.md, "Concurrent steps").

` + graceDoc + `

Returns a struct: ` + "`elapsed`" + ` (seconds), ` + "`objects`" + ` (a list of dicts with
` + "`id`, `kind`, `namespace`, `name`, `state`, `reason`, `message`, `elapsed`" + `) and
` + "`dry_run`" + `; in a dry run each state is "Planned" and the message is the rule.
A detected failure stops the plan with exit code 1.

In a dry run nothing is watched (the objects may not exist yet): the trace lists
each object with the rule and timeout that would apply.`,
			Fn: waitReady,
		},
		{
			Name:   "ready_rule",
			Params: []string{"kind", `group=""`, "condition=None", `status="True"`, "failed_condition=None", `failed_status="True"`, "func=None", "name=None"},
			Effect: engine.Read,
			Pure:   true,
			Doc: `Declares what "ready" means for a kind, for ` + "`wait_ready(..., rules=[...])`" + `.
A rule matches objects by ` + "`kind`" + ` and API ` + "`group`" + ` exactly ("" is the core
group) and replaces the built-in rule for them.

Either a condition rule:

    ready_rule(kind="Certificate", group="cert-manager.io", condition="Ready")
    ready_rule(kind="Widget", group="example.com", condition="Available",
               failed_condition="Degraded")

ready when status.conditions has ` + "`condition`" + ` with ` + "`status`" + ` (default "True"),
failed when it has ` + "`failed_condition`" + ` with ` + "`failed_status`" + `, progressing otherwise;
like the built-in rules it waits for status.observedGeneration to catch up.

Or a function of the object, ` + "`func`" + ` (it gets a dict, as kube_get returns it):

    def ingress_has_address(obj):
        lb = obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])
        return ("ready", lb[0]["ip"]) if lb else "progressing"

    wait_ready("ingress/web", rules=[ready_rule(kind="Ingress",
               group="networking.k8s.io", func=ingress_has_address)])

It returns "ready", "progressing" or "failed" (True / False mean ready /
progressing), or a (state, message) tuple. It runs on every change of the
object, so keep it a pure function of its argument; an error in it fails the
wait. ` + "`name`" + ` labels the rule in messages.`,
			Fn: readyRule,
		},
		{
			Name:   "health_check",
			Params: []string{"namespaces=None"},
			Effect: engine.Read,
			Doc: `Checks, once, that the cluster answers and that every pod in ` + "`namespaces`" + `
(a list, or one name; default ` + "`-n`" + ` or the context's namespace) is Ready or completed,
with nothing in CrashLoopBackOff, image pull trouble or other pod failures.

Returns a dict: ` + "`server_version`, `namespaces`, `pods`, `ready`, `problems`" + ` (each
with ` + "`namespace`, `pod`, `trouble`" + ` and the verdict). Fails (exit code 1) listing
each pod that is not ready and why, with its last termination and Events.

In a dry run nothing is checked: the objects the plan deploys do not exist yet.`,
			Fn: healthCheck,
		},
		{
			Name:   "status",
			Params: []string{"namespace=None", "releases=[]"},
			Effect: engine.Read,
			Doc: `Reads what is deployed in ` + "`namespace`" + ` (default: ` + "`-n`" + `, else the context's), like ` + "`plate status`" + `: the Helm releases
(revision, status, chart, app version), the pods (ready/total, status, restarts,
problems), the Services (type, addresses, ports) and the Ingresses (hosts, TLS,
addresses). ` + "`releases`" + ` restricts it to those releases and the objects they own.

Returns the report as a dict (` + "`releases`, `pods`, `services`, `ingresses`, `missing`" + `);
the table is in the trace under -v. It never fails on what it finds. Reads
happen in dry runs too; with --offline it returns None.`,
			Fn: statusFn,
		},
	}
}

func waitReady(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns, selector string
	var timeout, lbTimeout, pullGrace, containerGrace, unschedGrace, replicaGrace, classGrace, provisionGrace builtins.Duration
	var crashRestarts, oomKills builtins.Count
	var rulesV starlark.Value = starlark.None
	if err := c.Unpack(args, kwargs, &ns, &timeout, &selector, &rulesV, &lbTimeout,
		&pullGrace, &containerGrace, &unschedGrace, &replicaGrace, &classGrace, &provisionGrace, &crashRestarts, &oomKills); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	targets, described, revs, err := targetsOf(args)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "wait_ready: %v", err)
	}
	if selector != "" {
		if _, err := kwait.ParseSelector(selector); err != nil {
			return nil, exit.Errorf(exit.Usage, "wait_ready: %v", err)
		}
		targets = append(targets, kwait.Target{Selector: selector})
		described = append(described, fmt.Sprintf("selector %q", selector))
	}
	if len(args) == 0 && selector == "" {
		return nil, exit.Errorf(exit.Usage, "wait_ready: nothing to wait for: pass release values, \"kind/name\" strings or selector=")
	}
	if timeout.Set && timeout.D == 0 {
		return nil, exit.Errorf(exit.Usage, "wait_ready: timeout must be positive")
	}
	if lbTimeout.Set && lbTimeout.D == 0 {
		return nil, exit.Errorf(exit.Usage, "wait_ready: lb_timeout must be positive")
	}
	rules, err := rulesOf(c, rulesV)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "wait_ready: %v", err)
	}
	ns, err = c.Namespace(ns)
	if err != nil {
		return nil, err
	}
	for i := range targets {
		if targets[i].Namespace == "" {
			targets[i].Namespace = ns
		}
	}
	opts := kwait.Options{
		Readiness: readiness.Options{
			ImagePullGrace:      pullGrace.Grace(),
			ContainerErrorGrace: containerGrace.Grace(),
			UnschedulableGrace:  unschedGrace.Grace(),
			ReplicaFailureGrace: replicaGrace.Grace(),
			StorageClassGrace:   classGrace.Grace(),
			ProvisioningGrace:   provisionGrace.Grace(),
			CrashLoopRestarts:   crashRestarts.Threshold(),
			OOMKills:            oomKills.Threshold(),
			Rules:               rules,
		},
		Timeout:             timeout.Or(kwait.DefaultTimeout),
		LoadBalancerTimeout: lbTimeout.Or(kwait.DefaultLoadBalancerTimeout),
		Namespace:           ns,
	}
	subj := waitSubject(args, selector, ns)
	c.Report.SetSubject(subj)
	if why := deselected(c, subj); why != "" {
		// A wait on releases that -l leaves out only.
		c.Report.Phase, c.Report.Summary = trace.Skipped, why
		return result(nil, true, nil)
	}
	what := strings.Join(described, ", ")
	if len(targets) == 0 {
		// Release values with no objects.
		c.Report.Summary = "nothing to wait for: " + what + " holds no objects"
		return result(nil, true, nil)
	}
	opts.OnChange = func(r *kwait.Report) {
		ready, total := r.Counts()
		summary := fmt.Sprintf("%d/%d ready", ready, total)
		if nr := r.NotReady(); len(nr) > 0 {
			summary += "; waiting for " + nr[0].ID + ": " + nr[0].Result.String()
		}
		c.Report.Progress(summary, board(r))
	}
	res, err := c.Engine.Waits().Wait(c.Ctx, targets, opts)
	if res != nil && res.Plan != nil {
		v, perr := planned(c, res.Plan, what)
		if err != nil {
			return nil, recordVerdict(c, revs, c.Fail(err))
		}
		return v, perr
	}
	if res != nil && res.Report != nil {
		c.Report.Detail = res.Report
	}
	if err != nil {
		var rep *kwait.Report
		if res != nil {
			rep = res.Report
		}
		return nil, recordVerdict(c, revs, waitError(err, rep))
	}
	c.Report.Summary = readySummary(res.Report)
	return result(res.Report, false, nil)
}

// deselected says why a wait is skipped when every release it waits for
// is left out by -l and it waits for nothing else; "" when it runs.
func deselected(c *builtins.Call, s trace.Subject) string {
	if s.Release == "" || s.Object != "" {
		return ""
	}
	why := ""
	for _, r := range strings.Split(s.Release, ",") {
		ok, w := c.Engine.Selects(r, s.Namespace)
		if ok {
			return ""
		}
		why = w
	}
	return why
}

// waitSubject names what a wait_ready waits for: its releases (in their
// namespace), then its "kind/name" object, or "N objects" for several.
func waitSubject(args starlark.Tuple, selector, ns string) trace.Subject {
	var rels, objs []string
	var walk func(v starlark.Value)
	walk = func(v starlark.Value) {
		switch x := v.(type) {
		case builtins.ObjectSet:
			if r := x.Release(); r != "" {
				rels = append(rels, r)
				if rr, ok := v.(builtins.ReleaseRevision); ok {
					_, rns, _ := rr.ReleaseRevision()
					if rns != "" {
						ns = rns
					}
				}
			} else {
				objs = append(objs, x.Describe())
			}
		case starlark.String:
			objs = append(objs, string(x))
		case *starlark.List:
			for i := 0; i < x.Len(); i++ {
				walk(x.Index(i))
			}
		case starlark.Tuple:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, a := range args {
		walk(a)
	}
	if selector != "" {
		objs = append(objs, selector)
	}
	s := trace.Subject{Release: strings.Join(rels, ","), Namespace: ns}
	switch {
	case len(objs) == 1:
		s.Object = objs[0]
	case len(objs) > 1:
		s.Object = fmt.Sprintf("%d objects", len(objs))
	}
	return s
}

// recordVerdict tells Helm that the revisions this run made of the
// releases among the targets did not become ready, as `helm upgrade --wait`
// does: each is marked failed (and the revision it superseded deployed
// again), so that history shows it and the default rollback skips it. It
// runs even when the wait was interrupted, on a context of its own with a
// short bound. What it did is added to the error, below its first line.
func recordVerdict(c *builtins.Call, revs []builtins.ReleaseRevision, cause error) error {
	if kube.IsLost(cause) {
		// Helm's storage is on the cluster that stopped answering.
		return cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Ctx), verdictTimeout)
	defer cancel()
	reason := cause.Error()
	var xe *exit.Error
	if errors.As(cause, &xe) {
		reason = xe.Msg
	}
	reason = strings.TrimPrefix(reason, "wait_ready: ")
	var notes []string
	for _, rr := range revs {
		name, ns, rev := rr.ReleaseRevision()
		ch, ok := c.Engine.Changed(name, ns)
		if !ok || ch.To != rev || (ch.Action != trace.Installed && ch.Action != trace.Upgraded) {
			continue
		}
		res, err := c.Engine.Releases().MarkFailed(ctx, ih.VerdictRequest{Release: name, Namespace: ns, Revision: rev, Supersedes: ch.Supersedes, Reason: reason})
		if err != nil {
			notes = append(notes, fmt.Sprintf("could not mark %s rev %d failed in Helm's history: %v", name, rev, err))
			continue
		}
		notes = append(notes, res.Summary())
		if res.Marked {
			c.Report.Change(trace.Change{Release: name, Namespace: ns, Action: trace.MarkedFailed, From: rev, To: rev, Restores: res.Redeployed})
		}
	}
	if len(notes) == 0 {
		return cause
	}
	if xe != nil {
		cp := *xe
		cp.Msg += "\n" + strings.Join(notes, "\n")
		return &cp
	}
	return exit.Wrap(exit.PlanFailed, fmt.Errorf("%w\n%s", cause, strings.Join(notes, "\n")))
}

// verdictTimeout bounds recording a readiness verdict in Helm's history.
const verdictTimeout = 15 * time.Second

// waitError gives a wait's error its exit code. An interrupted wait names
// what was not ready yet, and why, from its last report.
func waitError(err error, last *kwait.Report) error {
	var we *kwait.Error
	switch {
	case errors.Is(err, context.Canceled):
		msg := "wait_ready: interrupted"
		if nr := last.NotReadyReasons(); nr != "" {
			msg += "; not ready: " + nr
		}
		return &exit.Error{Code: exit.Interrupted, Msg: msg, Err: err}
	case errors.As(err, &we) && we.IsTimeout():
		return &exit.Error{Code: exit.Timeout, Msg: "wait_ready: " + err.Error(), Err: err}
	case errors.As(err, &we):
		return &exit.Error{Code: exit.PlanFailed, Msg: "wait_ready: " + err.Error(), Err: err}
	case errors.Is(err, kwait.ErrUnknownKind):
		return &exit.Error{Code: exit.Usage, Msg: "wait_ready: " + err.Error(), Err: err}
	}
	var xe *exit.Error
	if errors.As(err, &xe) {
		cp := *xe
		cp.Msg = "wait_ready: " + xe.Msg
		return &cp
	}
	return exit.Wrap(exit.PlanFailed, fmt.Errorf("wait_ready: %w", err))
}

// readySummary is the closing trace line: how many objects, how long, and
// the waived ones with their reason.
func readySummary(r *kwait.Report) string {
	s := fmt.Sprintf("%d ready in %s", len(r.Objects), trace.FormatDuration(r.Elapsed))
	if len(r.Objects) == 1 {
		s = fmt.Sprintf("%s ready in %s", r.Objects[0].ID, trace.FormatDuration(r.Elapsed))
	}
	var waived []string
	for _, o := range r.Objects {
		if o.Result.Waived() {
			waived = append(waived, fmt.Sprintf("%s: %s", o.ID, o.Result.Reason))
		}
	}
	if len(waived) > 0 {
		s += " (" + strings.Join(waived, "; ") + ")"
	}
	return s
}

// board turns a wait report into the progress view's board.
func board(r *kwait.Report) progress.Board {
	b := progress.Board{Items: make([]progress.Item, 0, len(r.Objects))}
	for _, o := range r.Objects {
		name := o.Name
		if name == "" {
			name = o.ID
		}
		text := o.Result.Message
		if o.Result.Reason != "" && o.Result.State != readiness.NotFound {
			text = o.Result.Reason + ": " + text
		}
		b.Items = append(b.Items, progress.Item{
			Name: name, Kind: o.Kind, Namespace: o.Namespace,
			State: string(o.Result.State), Text: strings.TrimSuffix(text, ": "),
			Elapsed: o.Elapsed, Done: o.Result.Done(),
		})
	}
	return b
}

// plannedWait is the detail of a dry-run wait_ready.
type plannedWait struct {
	Timeout             string          `json:"timeout"`
	LoadBalancerTimeout string          `json:"lb_timeout"`
	Objects             []plannedObject `json:"objects"`
}

type plannedObject struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
}

func (p plannedWait) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "timeout %s\n", p.Timeout)
	for _, o := range p.Objects {
		fmt.Fprintf(&b, "%s: %s\n", o.ID, o.Rule)
	}
	return b.String()
}

// planned describes a dry pass's wait: what would be waited for, with
// which rule and timeout.
func planned(c *builtins.Call, plan *kwait.Plan, what string) (starlark.Value, error) {
	p := plannedWait{Timeout: trace.FormatDuration(plan.Timeout), LoadBalancerTimeout: trace.FormatDuration(plan.LoadBalancerTimeout)}
	var objs []any
	for _, o := range plan.Objects {
		p.Objects = append(p.Objects, plannedObject{ID: o.ID, Rule: o.Rule})
		objs = append(objs, plannedEntry(o.ID, o.Kind, o.Namespace, o.Name, o.Rule))
	}
	c.Report.Summary = fmt.Sprintf("would wait up to %s for %s (%d objects)", p.Timeout, what, len(p.Objects))
	if len(p.Objects) == 1 {
		c.Report.Summary = fmt.Sprintf("would wait up to %s for %s: %s", p.Timeout, p.Objects[0].ID, p.Objects[0].Rule)
	}
	c.Report.Detail = p
	c.Report.Phase = trace.Planned
	return result(nil, true, objs)
}

// plannedEntry is the return value's entry for an object a dry run would
// wait for: the same keys as a live one, state "Planned" and the rule as
// message.
func plannedEntry(id, kind, ns, name, rule string) map[string]any {
	return map[string]any{"id": id, "kind": kind, "namespace": ns, "name": name,
		"state": "Planned", "reason": "", "message": rule, "elapsed": 0.0}
}

// result builds wait_ready's return value.
func result(r *kwait.Report, dryRun bool, planned []any) (starlark.Value, error) {
	objs := planned
	elapsed := 0.0
	if r != nil {
		elapsed = r.Elapsed.Seconds()
		for _, o := range r.Objects {
			objs = append(objs, map[string]any{
				"id": o.ID, "kind": o.Kind, "namespace": o.Namespace, "name": o.Name,
				"state": string(o.Result.State), "reason": o.Result.Reason, "message": o.Result.Message,
				"elapsed": o.Elapsed.Seconds(),
			})
		}
	}
	if objs == nil {
		objs = []any{}
	}
	list, err := builtins.FromGo(objs)
	if err != nil {
		return nil, err
	}
	// A struct, not a dict: with needs= the call returns a future, which
	// gives access to attributes.
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"elapsed": starlark.Float(elapsed),
		"objects": list,
		"dry_run": starlark.Bool(dryRun),
	}), nil
}

func healthCheck(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var namespaces builtins.StringList
	if err := c.Unpack(args, kwargs, &namespaces); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if len(namespaces) == 0 {
		namespaces = builtins.StringList{""}
	}
	for i, ns := range namespaces {
		ns, err := c.Namespace(ns)
		if err != nil {
			return nil, err
		}
		namespaces[i] = ns
	}
	res, err := c.Engine.Waits().Health(c.Ctx, namespaces)
	if res != nil && res.Planned {
		c.Report.Summary = fmt.Sprintf("would check that the cluster answers and every pod in %s is ready", strings.Join(namespaces, ", "))
		c.Report.Phase = trace.Planned
	} else if res != nil && res.Report != nil {
		c.Report.Detail = res.Report
	}
	if err != nil {
		var he *kwait.HealthError
		if errors.As(err, &he) {
			return nil, &exit.Error{Code: exit.PlanFailed, Msg: "health_check: " + err.Error(), Err: err}
		}
		return nil, c.Fail(err)
	}
	r := res.Report
	if !res.Planned {
		c.Report.Summary = fmt.Sprintf("cluster %s answers; %d/%d pods ready in %s", r.Server, r.Ready, r.Pods, strings.Join(namespaces, ", "))
	}
	return toStarlark(r)
}

func statusFn(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns string
	var releases builtins.StringList
	if err := c.Unpack(args, kwargs, &ns, &releases); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	ns, err := c.Namespace(ns)
	if err != nil {
		return nil, err
	}
	res, err := c.Engine.Waits().Status(c.Ctx, status.Options{Namespace: ns, Releases: releases})
	if err != nil {
		return nil, c.Fail(err)
	}
	if res.Report == nil {
		c.Report.Summary = res.Summary
		return starlark.None, nil
	}
	c.Report.Detail = res.Report
	c.Report.ShowDetail = true
	c.Report.Summary = StatusSummary(res.Report)
	return toStarlark(res.Report)
}

// StatusSummary is a one-line digest of a status report: "2 releases,
// 5/6 pods ready, 1 problem".
func StatusSummary(r *status.Report) string {
	ready, problems := 0, 0
	for _, p := range r.Pods {
		if p.Problem == "" {
			ready++
		} else {
			problems++
		}
	}
	parts := []string{fmt.Sprintf("%s: %d release(s)", r.Namespace, len(r.Releases)), fmt.Sprintf("%d/%d pods ready", ready, len(r.Pods))}
	if problems > 0 {
		parts = append(parts, fmt.Sprintf("%d with problems", problems))
	}
	if len(r.Missing) > 0 {
		sort.Strings(r.Missing)
		parts = append(parts, "not installed: "+strings.Join(r.Missing, ", "))
	}
	return strings.Join(parts, ", ")
}

// toStarlark converts a JSON-tagged Go value to frozen Starlark data.
func toStarlark(v any) (starlark.Value, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m any
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, err
	}
	return builtins.FromGo(m)
}
