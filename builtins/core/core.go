// Package core holds plate's builtins that act on the run itself rather than
// on a cluster: confirm and secret.
package core

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// Plugin is the core family.
type Plugin struct{}

// Name returns "core".
func (Plugin) Name() string { return "core" }

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:      "confirm",
			Params:    []string{"message", "default?"},
			Signature: "confirm(message, default=False)",
			Effect:    engine.Ask,
			Doc: `Asks the user to confirm before the plan goes on, and returns True.

- On a terminal it asks ` + "`message [y/N]`" + ` (` + "`[Y/n]`" + ` when default is True); an empty
  answer means default.
- ` + "`--yes`" + ` answers yes without asking; the trace records that it did.
- Without a terminal and without ` + "`--yes`" + ` the run stops with exit code 4 before its
  first write (the preflight finds out), telling the user to pass ` + "`--yes`" + `.
- Answering no stops the plan cleanly: exit code 4, "aborted by user".
- In a dry run the trace says "would ask: …" and the call returns True, so the trace
  shows what the confirmed plan would do.`,
			Fn: confirm,
		},
		{
			Name:      "secret",
			Params:    []string{"value"},
			Signature: "secret(value)",
			Effect:    engine.Read,
			Pure:      true,
			Doc: `Marks a string as secret. The value works wherever a string does in
values and manifests, but the trace, print() and error messages show <redacted>.`,
			Fn: secret,
		},
	}
}

func confirm(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var message string
	var def bool
	if err := c.Unpack(args, kwargs, "message", &message, "default?", &def); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	eng := c.Engine
	switch eng.Pass() {
	case trace.DryRun:
		c.Report.Summary = "would ask: " + message
		if eng.Yes() {
			c.Report.Summary += " (--yes answers yes)"
		}
		return starlark.True, nil
	case trace.Preflight:
		c.Report.Summary = "will ask: " + message
		if eng.Yes() {
			c.Report.Summary += " (--yes answers yes)"
			return starlark.True, nil
		}
		if p := eng.Prompter(); p == nil || !p.CanPrompt() {
			return nil, exit.Errorf(exit.Aborted, "confirm: cannot ask %q: no terminal to ask on; pass --yes to answer yes", message)
		}
		return starlark.True, nil
	}
	if eng.Yes() {
		c.Report.Summary = "confirmed by --yes: " + message
		return starlark.True, nil
	}
	p := eng.Prompter()
	if p == nil || !p.CanPrompt() {
		return nil, exit.Errorf(exit.Aborted, "confirm: cannot ask %q: no terminal to ask on; pass --yes to answer yes", message)
	}
	ok, err := p.Confirm(message, def)
	if err != nil {
		return nil, exit.Wrap(exit.Aborted, fmt.Errorf("confirm: %w", err))
	}
	if !ok {
		c.Report.Summary = "declined: " + message
		return nil, &exit.Error{Code: exit.Aborted, Msg: "aborted by user"}
	}
	c.Report.Summary = "confirmed: " + message
	return starlark.True, nil
}

func secret(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := c.Unpack(args, kwargs, "value", &v); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	switch v := v.(type) {
	case *builtins.Secret:
		return v, nil
	case starlark.String:
		return builtins.NewSecret(string(v)), nil
	}
	return nil, exit.Errorf(exit.Usage, "secret: value must be a string, got %s", v.Type())
}
