// Package registry lists every builtin family of plate in one place.
package registry

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/backup"
	"github.com/plate-dev/plate/builtins/cluster"
	"github.com/plate-dev/plate/builtins/core"
	"github.com/plate-dev/plate/builtins/helm"
	"github.com/plate-dev/plate/builtins/kube"
	"github.com/plate-dev/plate/builtins/wait"
)

// Plugins returns every builtin family, in documentation order.
func Plugins() []builtins.Plugin {
	return []builtins.Plugin{
		core.Plugin{},
		kube.Plugin{},
		wait.Plugin{},
		helm.Plugin{},
		cluster.Plugin{},
		backup.Plugin{},
	}
}

// All returns every builtin, sorted by name. It fails on a duplicate name.
func All(plugins []builtins.Plugin) ([]builtins.Builtin, error) {
	seen := map[string]string{}
	var out []builtins.Builtin
	for _, p := range plugins {
		for _, b := range p.Builtins() {
			if prev, ok := seen[b.Name]; ok {
				return nil, fmt.Errorf("builtin %q is defined by both the %s and the %s family", b.Name, prev, p.Name())
			}
			seen[b.Name] = p.Name()
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Predeclared returns the wrapped builtins of plugins as Starlark globals,
// and plan_start (the value needs= names for a concurrent step that waits
// for no other step).
func Predeclared(plugins []builtins.Plugin) (starlark.StringDict, error) {
	all, err := All(plugins)
	if err != nil {
		return nil, err
	}
	d := make(starlark.StringDict, len(all)+1)
	for _, b := range all {
		d[b.Name] = builtins.Wrap(b)
	}
	if _, ok := d[builtins.PlanStartName]; ok {
		return nil, fmt.Errorf("builtin %q hides the predeclared value of the same name", builtins.PlanStartName)
	}
	d[builtins.PlanStartName] = builtins.PlanStart
	return d, nil
}
