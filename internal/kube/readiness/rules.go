package readiness

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// RuleFunc is a plan-provided readiness callback. It returns the state and a
// one-line message. An error makes the result Unknown with reason RuleError.
// The Starlark layer wraps plan functions into RuleFuncs.
type RuleFunc func(obj *unstructured.Unstructured) (State, string, error)

// Rule is a plan-declared readiness rule for a kind, typically a custom
// resource. It matches objects by API group ("" for the core group) and kind,
// both exactly, and is either a condition rule (ReadyCondition set) or a
// callback rule (Func set).
//
// A condition rule reads status.conditions: the object is Ready when the
// condition ReadyCondition has status ReadyStatus, Failed when the condition
// FailedCondition (if set) has status FailedStatus, and Progressing
// otherwise. Before that, like the built-in rules, it reports an object being
// deleted as Progressing (reason Terminating) and waits until
// status.observedGeneration (when present) and the condition's own
// observedGeneration (when present) have caught up with metadata.generation.
//
// A callback rule hands the object to Func and nothing else is checked.
//
// Failed results of both kinds carry recent events, like built-in ones.
type Rule struct {
	// Name labels the rule in messages and is the Reason of non-Ready
	// callback results. Default "PlanRule".
	Name string
	// Group is the API group to match ("" = core, "apps", "example.com").
	Group string
	// Kind is the kind to match, e.g. "Widget".
	Kind string

	// ReadyCondition is the condition type meaning ready, e.g. "Ready".
	ReadyCondition string
	// ReadyStatus is the status of ReadyCondition meaning ready. Default "True".
	ReadyStatus string
	// FailedCondition optionally names a condition type meaning failure,
	// e.g. "Stalled" or "Degraded".
	FailedCondition string
	// FailedStatus is the status of FailedCondition meaning failure.
	// Default "True".
	FailedStatus string

	// Func is the callback of a callback rule.
	Func RuleFunc
}

// Validate reports whether the rule is well-formed: Kind set and exactly one
// of ReadyCondition and Func. The Starlark layer should call it when a plan
// declares a rule; Evaluate reports invalid rules as Unknown.
func (r Rule) Validate() error {
	if r.Kind == "" {
		return errors.New("readiness rule: kind is required")
	}
	switch {
	case r.ReadyCondition == "" && r.Func == nil:
		return fmt.Errorf("readiness rule for %s: needs a ready condition or a function", r.Kind)
	case r.ReadyCondition != "" && r.Func != nil:
		return fmt.Errorf("readiness rule for %s: give a ready condition or a function, not both", r.Kind)
	case r.Func == nil && r.FailedCondition == "" && r.FailedStatus != "":
		return fmt.Errorf("readiness rule for %s: failed status without failed condition", r.Kind)
	}
	return nil
}

func (r Rule) matches(group, kind string) bool {
	return r.Kind == kind && r.Group == group
}

func (r Rule) name() string {
	if r.Name == "" {
		return "PlanRule"
	}
	return r.Name
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// findRule returns the first rule matching obj, if any.
func findRule(rules []Rule, obj *unstructured.Unstructured) (Rule, bool) {
	if len(rules) == 0 {
		return Rule{}, false
	}
	gvk := obj.GroupVersionKind()
	for _, r := range rules {
		if r.matches(gvk.Group, gvk.Kind) {
			return r, true
		}
	}
	return Rule{}, false
}

func evalRule(r Rule, obj *unstructured.Unstructured) Result {
	if err := r.Validate(); err != nil {
		return Result{State: Unknown, Reason: ReasonRuleError, Message: err.Error()}
	}
	if r.Func != nil {
		st, msg, err := r.Func(obj)
		if err != nil {
			return Result{State: Unknown, Reason: ReasonRuleError, Message: fmt.Sprintf("%s: %v", r.name(), err)}
		}
		switch st {
		case Ready:
			return Result{State: Ready, Message: msg}
		case Progressing, Failed, Unknown:
			return Result{State: st, Reason: r.name(), Message: msg}
		default:
			return Result{State: Unknown, Reason: ReasonRuleError,
				Message: fmt.Sprintf("%s: returned invalid state %q", r.name(), st)}
		}
	}

	if res, deleting := deletion(obj); deleting {
		return res
	}
	if res, judged := generationCheck(obj, false); !judged {
		return res
	}
	conds, err := conditions(obj)
	if err != nil {
		return invalid(err)
	}
	gen := obj.GetGeneration()
	if r.FailedCondition != "" {
		if c, ok := findCondition(conds, r.FailedCondition); ok && c.Status == orDefault(r.FailedStatus, "True") && !c.staleFor(gen) {
			return Result{State: Failed, Reason: orDefault(c.Reason, r.FailedCondition),
				Message: condMessage(c)}
		}
	}
	want := orDefault(r.ReadyStatus, "True")
	c, ok := findCondition(conds, r.ReadyCondition)
	switch {
	case !ok:
		return Result{State: Progressing, Reason: "Awaiting" + r.ReadyCondition,
			Message: fmt.Sprintf("condition %s not reported yet", r.ReadyCondition)}
	case c.staleFor(gen):
		return Result{State: Progressing, Reason: ReasonGenerationNotObserved,
			Message: fmt.Sprintf("condition %s describes generation %d, waiting for generation %d",
				r.ReadyCondition, c.ObservedGeneration, gen)}
	case c.Status == want:
		return Result{State: Ready, Message: condMessage(c)}
	}
	return Result{State: Progressing, Reason: orDefault(c.Reason, "Awaiting"+r.ReadyCondition),
		Message: condMessage(c)}
}

// condMessage renders "Type=Status: message" for a condition.
func condMessage(c condition) string {
	s := c.Type + "=" + c.Status
	if c.Message != "" {
		s += ": " + c.Message
	} else if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}
