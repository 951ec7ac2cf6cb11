// Package cluster holds the builtins that identify the target cluster and
// guard against deploying to the wrong one: cluster and require_cluster.
package cluster

import (
	"errors"
	"fmt"
	"regexp"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/ask"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
)

// Plugin is the cluster family.
type Plugin struct{}

// Name returns "cluster".
func (Plugin) Name() string { return "cluster" }

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:   "cluster",
			Effect: engine.Read,
			Doc: `Returns the target cluster as a struct: ` + "`context`" + ` (the kubeconfig context),
` + "`server`" + ` (the API server URL), ` + "`uid`" + ` (the UID of the kube-system namespace,
which identifies a cluster across renames), ` + "`namespace`" + ` (the default namespace)
` + "`version`" + ` (the server's Kubernetes version) and ` + "`offline`" + ` (True in an offline dry
run, where the other fields are empty).`,
			Fn: clusterFn,
		},
		{
			Name:   "require_cluster",
			Params: []string{"name=None", "uid=None", "override=False"},
			Effect: engine.Read,
			Doc: `Stops the plan unless the target cluster is the expected one, before any
write (it runs in the preflight).

- ` + "`name`" + `: a regular expression that the context name or the server URL must
  match (searched, not anchored), e.g. ` + "`\"prod|production\"`" + `.
- ` + "`uid`" + `: the UID of the cluster's kube-system namespace (see cluster()), pinning
  one cluster.
- ` + "`override`" + `: when True, a mismatch does not stop the plan at once: the trace
  records a warning and the user must confirm a second time that this cluster is
  meant (with ` + "`--yes`" + ` the override is taken as confirmed, and recorded).

A mismatch stops the plan with exit code 2 and a message that names the
expected and the actual cluster. Returns the cluster struct, as cluster() does.
In an offline dry run nothing is checked (and cluster() returns empty fields).`,
			Fn: requireCluster,
		},
	}
}

func value(id *engine.Identity) starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"context":   starlark.String(id.Context),
		"server":    starlark.String(id.Server),
		"uid":       starlark.String(id.UID),
		"namespace": starlark.String(id.Namespace),
		"version":   starlark.String(id.Version),
		"offline":   starlark.Bool(id.Offline),
	})
}

func identify(c *builtins.Call) (*engine.Identity, error) {
	id, err := c.Engine.Cluster().Identify(c.Ctx)
	if err != nil {
		return nil, c.Fail(err)
	}
	return id, nil
}

func clusterFn(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := c.Unpack(args, kwargs); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	id, err := identify(c)
	if err != nil {
		return nil, err
	}
	c.Report.Summary = id.String()
	if id.Offline {
		c.Report.Summary = "offline: the cluster was not read"
	}
	return value(id), nil
}

func requireCluster(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, uid string
	var override bool
	if err := c.Unpack(args, kwargs, &name, &uid, &override); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if name == "" && uid == "" {
		return nil, exit.Errorf(exit.Usage, "require_cluster: give name= (a pattern) or uid=")
	}
	var re *regexp.Regexp
	if name != "" {
		var err error
		if re, err = regexp.Compile(name); err != nil {
			return nil, exit.Errorf(exit.Usage, "require_cluster: name: %v", err)
		}
	}
	id, err := identify(c)
	if err != nil {
		return nil, err
	}
	if id.Offline {
		c.Report.Summary = fmt.Sprintf("would check the cluster against name %q uid %q (offline: not checked)", name, uid)
		return value(id), nil
	}
	var problems []string
	if re != nil && !re.MatchString(id.Context) && !re.MatchString(id.Server) {
		problems = append(problems, fmt.Sprintf("expected a context or server matching %q, but the context is %q and the server %s", name, id.Context, id.Server))
	}
	if uid != "" && id.NoUID != "" {
		return nil, &exit.Error{Code: exit.Usage, Msg: "require_cluster: cannot check uid=: " + id.NoUID,
			Hint: "grant get on namespaces/kube-system, or check the cluster by name= (its context or server) instead of uid="}
	}
	if uid != "" && uid != id.UID {
		problems = append(problems, fmt.Sprintf("expected the cluster with kube-system uid %s, but this cluster's is %s (context %q, server %s)", uid, id.UID, id.Context, id.Server))
	}
	if len(problems) == 0 {
		c.Report.Summary = "cluster ok: " + id.String()
		return value(id), nil
	}
	msg := "wrong cluster: " + problems[0]
	if len(problems) > 1 {
		msg += "; and " + problems[1]
	}
	if !override {
		return nil, &exit.Error{Code: exit.Usage, Msg: msg, Hint: "point --context at the intended cluster, or pass the plan's override parameter to deploy here anyway"}
	}
	// Overridden: a warning plus a second, explicit confirmation, by the
	// same rule as confirm().
	a, err := c.Engine.Asker().Confirm(c.Ctx, msg+". Deploy to this cluster anyway?", false)
	switch {
	case errors.Is(err, ask.ErrNoTerminal):
		return nil, exit.Errorf(exit.Aborted, "%s; the override needs a confirmation: no terminal to ask on; pass --yes", msg)
	case errors.Is(err, ask.ErrDeclined):
		return nil, &exit.Error{Code: exit.Aborted, Msg: "aborted by user"}
	case err != nil:
		return nil, exit.Wrap(exit.Aborted, err)
	}
	switch {
	case a.How == engine.WouldAsk:
		c.Report.Summary = "WARNING " + msg + " (override: would ask again)"
	case a.Yes:
		c.Report.Summary = "WARNING " + msg + " (override confirmed by --yes)"
	case a.How == engine.WillAsk:
		c.Report.Summary = "WARNING " + msg + " (override: will ask again)"
	default:
		c.Report.Summary = "WARNING " + msg + " (override confirmed)"
	}
	return value(id), nil
}
