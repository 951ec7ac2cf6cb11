package wait

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube/readiness"
)

// ruleMaxSteps bounds one call of a plan's readiness function, so that a
// function that loops forever fails the wait instead of hanging it.
const ruleMaxSteps = 1_000_000

// Rule is the Starlark value ready_rule returns: a readiness rule for one
// kind, passed to wait_ready(rules=[...]).
type Rule struct {
	rule readiness.Rule
	fn   starlark.Callable
}

var (
	_ starlark.Value = (*Rule)(nil)
	_ builtins.Goer  = (*Rule)(nil)
)

func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ready_rule(kind=%q", r.rule.Kind)
	if r.rule.Group != "" {
		fmt.Fprintf(&b, ", group=%q", r.rule.Group)
	}
	if r.fn != nil {
		fmt.Fprintf(&b, ", func=%s", r.fn.Name())
	} else {
		fmt.Fprintf(&b, ", condition=%q", r.rule.ReadyCondition)
	}
	b.WriteString(")")
	return b.String()
}
func (r *Rule) Type() string          { return "ready_rule" }
func (r *Rule) Freeze()               {}
func (r *Rule) Truth() starlark.Bool  { return starlark.True }
func (r *Rule) Hash() (uint32, error) { return 0, errors.New("unhashable type: ready_rule") }

// ToGo describes the rule for the trace.
func (r *Rule) ToGo(bool) (any, error) {
	m := map[string]any{"kind": r.rule.Kind, "group": r.rule.Group}
	if r.rule.Name != "" {
		m["name"] = r.rule.Name
	}
	if r.fn != nil {
		m["func"] = r.fn.Name()
	} else {
		m["condition"] = r.rule.ReadyCondition
		m["status"] = orStr(r.rule.ReadyStatus, "True")
		if r.rule.FailedCondition != "" {
			m["failed_condition"] = r.rule.FailedCondition
			m["failed_status"] = orStr(r.rule.FailedStatus, "True")
		}
	}
	return m, nil
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func readyRule(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind, group, condition, status, failedCondition, failedStatus, name string
	var fn starlark.Value = starlark.None
	if err := c.Unpack(args, kwargs, &kind, &group, &condition, &status, &failedCondition, &failedStatus, &fn, &name); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	r := &Rule{rule: readiness.Rule{
		Name: name, Group: group, Kind: kind,
		ReadyCondition: condition, ReadyStatus: status,
		FailedCondition: failedCondition, FailedStatus: failedStatus,
	}}
	if fn != starlark.None {
		callable, ok := fn.(starlark.Callable)
		if !ok {
			return nil, exit.Errorf(exit.Usage, "ready_rule: func: got %s, want a function of the object", fn.Type())
		}
		if condition != "" || failedCondition != "" {
			return nil, exit.Errorf(exit.Usage, "ready_rule: give either condition= or func=, not both")
		}
		r.fn = callable
		// Placeholder so Validate sees a callback rule; wait_ready binds the
		// real function to its run.
		r.rule.Func = func(*unstructured.Unstructured) (readiness.State, string, error) {
			return readiness.Unknown, "", errors.New("rule used outside wait_ready")
		}
	}
	if strings.Contains(kind, ".") || strings.Contains(kind, "/") {
		return nil, exit.Errorf(exit.Usage, "ready_rule: kind %q: give the kind alone (e.g. \"Certificate\") and the API group as group=", kind)
	}
	if err := r.rule.Validate(); err != nil {
		return nil, exit.Errorf(exit.Usage, "ready_rule: %v", strings.TrimPrefix(err.Error(), "readiness rule: "))
	}
	return r, nil
}

// rulesOf reads wait_ready's rules= argument: a ready_rule or a list of
// them. Callback rules are bound to a thread of the current run.
func rulesOf(c *builtins.Call, v starlark.Value) ([]readiness.Rule, error) {
	var items []starlark.Value
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case *Rule:
		items = []starlark.Value{x}
	case starlark.Iterable:
		it := x.Iterate()
		defer it.Done()
		var e starlark.Value
		for it.Next(&e) {
			items = append(items, e)
		}
	default:
		return nil, fmt.Errorf("rules: got %s, want a list of ready_rule(...) values", v.Type())
	}
	var out []readiness.Rule
	for _, item := range items {
		r, ok := item.(*Rule)
		if !ok {
			return nil, fmt.Errorf("rules: got %s, want ready_rule(...) values", item.Type())
		}
		rule := r.rule
		if r.fn != nil {
			rule.Func = bind(c, r.fn)
		}
		out = append(out, rule)
	}
	return out, nil
}

// bind wraps a plan function as a readiness.RuleFunc. The function gets the
// object as a frozen dict and returns "ready", "progressing" or "failed"
// (any case; True and False mean ready and progressing), or a (state,
// message) tuple. It runs on its own thread of the same run (calls are
// sequential: the watcher judges objects one at a time).
func bind(c *builtins.Call, fn starlark.Callable) readiness.RuleFunc {
	th := &starlark.Thread{Name: "ready_rule " + fn.Name(), Print: c.Thread.Print}
	if run := builtins.RunOf(c.Thread); run != nil {
		builtins.SetRun(th, run)
		builtins.SetClock(th, run.Engine)
	}
	return func(obj *unstructured.Unstructured) (readiness.State, string, error) {
		arg, err := builtins.FromGo(obj.UnstructuredContent())
		if err != nil {
			return "", "", err
		}
		th.SetMaxExecutionSteps(th.ExecutionSteps() + ruleMaxSteps)
		v, err := starlark.Call(th, fn, starlark.Tuple{arg}, nil)
		if err != nil {
			var ee *starlark.EvalError
			if errors.As(err, &ee) {
				return "", "", fmt.Errorf("%s: %s", fn.Name(), ee.Backtrace())
			}
			return "", "", fmt.Errorf("%s: %w", fn.Name(), err)
		}
		return ruleResult(fn.Name(), v)
	}
}

func ruleResult(name string, v starlark.Value) (readiness.State, string, error) {
	msg := ""
	if t, ok := v.(starlark.Tuple); ok {
		if len(t) != 2 {
			return "", "", fmt.Errorf("%s returned a tuple of %d; want (state, message)", name, len(t))
		}
		m, ok := starlark.AsString(t[1])
		if !ok {
			return "", "", fmt.Errorf("%s returned a message of type %s; want a string", name, t[1].Type())
		}
		v, msg = t[0], m
	}
	switch x := v.(type) {
	case starlark.Bool:
		if x {
			return readiness.Ready, msg, nil
		}
		return readiness.Progressing, msg, nil
	case starlark.String:
		switch strings.ToLower(string(x)) {
		case "ready":
			return readiness.Ready, msg, nil
		case "progressing":
			return readiness.Progressing, msg, nil
		case "failed":
			return readiness.Failed, msg, nil
		}
		return "", "", fmt.Errorf("%s returned %q; want \"ready\", \"progressing\" or \"failed\"", name, string(x))
	}
	return "", "", fmt.Errorf("%s returned %s; want \"ready\", \"progressing\" or \"failed\"", name, v.Type())
}
