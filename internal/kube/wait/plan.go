package wait

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Plan is what a wait would wait for, described without contacting the
// cluster: a dry pass's answer to a wait (the objects may not exist yet).
type Plan struct {
	Timeout             time.Duration
	LoadBalancerTimeout time.Duration
	Objects             []PlannedObject
}

// PlannedObject is one object a wait would wait for, with the rule that
// would judge it.
type PlannedObject struct {
	ID        string `json:"id"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Rule      string `json:"rule"`
	// Release is the release the object belongs to, when the target was a
	// release value.
	Release string `json:"release,omitempty"`
}

// PlanWait describes the wait for targets with opts: each object's ID and
// rule. Kinds are guessed without discovery.
func PlanWait(targets []Target, opts Options) *Plan {
	p := &Plan{Timeout: orDuration(opts.Timeout, DefaultTimeout), LoadBalancerTimeout: orDuration(opts.LoadBalancerTimeout, DefaultLoadBalancerTimeout)}
	for _, t := range targets {
		ns := t.Namespace
		if ns == "" {
			ns = opts.Namespace
		}
		if t.Selector != "" {
			p.Objects = append(p.Objects, PlannedObject{ID: Target{Selector: t.Selector, Namespace: ns}.String(), Namespace: ns,
				Rule: "the matching workloads and pods, each by its kind's rule"})
			continue
		}
		var gk schema.GroupKind
		if t.GVK.Kind != "" {
			gk = t.GVK.GroupKind()
		} else {
			gk, _ = GuessKind(t.Kind)
		}
		if ClusterScoped(gk) {
			ns = ""
		}
		p.Objects = append(p.Objects, PlannedObject{ID: idFor(gk.Kind, ns, t.Name), Kind: gk.Kind, Namespace: ns, Name: t.Name,
			Rule: RuleText(gk, opts), Release: t.Release})
	}
	return p
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
