// Package kube holds the builtins that act on plain Kubernetes objects:
// kube_apply, kube_get and kube_delete.
package kube

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// Plugin is the kube family.
type Plugin struct{}

// Name returns "kube".
func (Plugin) Name() string { return "kube" }

// Builtins lists the family.
func (Plugin) Builtins() []builtins.Builtin {
	return []builtins.Builtin{
		{
			Name:       "kube_apply",
			Params:     []string{"manifest=None", "file=None", "namespace=None", "needs=None"},
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Server-side applies Kubernetes objects (field manager "plate") and returns
them as a list of dicts, as the API server stored them.

- ` + "`manifest`" + `: a YAML string (several documents allowed), a dict, or a list of dicts.
- ` + "`file`" + `: a YAML file instead, relative to the plan file (or ` + "`//`" + ` from the project root).
- ` + "`namespace`" + `: for namespaced objects that name none; defaults to ` + "`-n`" + `, else the context's, else "default".

The data and stringData values of the Secrets it returns are secret() values, and
so is every returned string that contains a secret() the manifest carried: print()
shows them as <redacted>.

The summary counts created, updated and unchanged objects. In a dry run the
API server validates the objects (server-side dry run) and nothing is stored;
before that, the reference check (docs/checks.md) checks what they name against
the cluster and the plan's earlier steps, and an error stops the plan before any
write. The annotation ` + "`plate.dev/ignore-check: CHECK[,CHECK…]`" + ` on an object
silences those checks for it.
An object rejected because an admission webhook could not be reached (its
Service has no ready endpoint yet, or the connection is refused) is applied
again for up to 30s, as a library's webhook is for a moment after its pods
turn ready; any other rejection, a webhook's denial included, fails at once.

- ` + "`needs`" + `: values of earlier steps: the call becomes a concurrent step that starts
  once they are done (` + "`needs = [plan_start]`" + `: at once); None and [] (the default)
  keep it in sequence (see plans.md, "Concurrent steps").`,
			Fn: apply,
		},
		{
			Name:   "kube_get",
			Params: []string{"kind", "name", "namespace=None"},
			Effect: engine.Read,
			Doc: `Reads one object, ` + "`name`" + ` of ` + "`kind`" + `, and returns it as a dict, or None when it does not exist
(and in an offline dry run, which reads no cluster).
` + "`kind`" + ` is a kind ("Deployment"), a resource ("deployments.apps") or
"group/version/Kind". ` + "`namespace`" + ` is for namespaced kinds (default: ` + "`-n`" + `, else
the context's, else "default"). The data and stringData values of a Secret come
back as secret() values (print() shows <redacted>; kube_apply and set= still get
their text).`,
			Fn: get,
		},
		{
			Name:       "kube_delete",
			Params:     []string{"kind", "name", "namespace=None", "needs=None"},
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Deletes one object, ` + "`name`" + ` of ` + "`kind`" + ` (foreground propagation), and returns True, or False when
it did not exist. ` + "`kind`" + ` and ` + "`namespace`" + ` are as for kube_get.

In a dry run nothing is deleted: the object is read to say whether it would be
(an offline dry run reads nothing and reports what it would delete, returning True).

- ` + "`needs`" + `: values of earlier steps: the call becomes a concurrent step that starts
  once they are done (` + "`needs = [plan_start]`" + `: at once); None and [] (the default)
  keep it in sequence (see plans.md, "Concurrent steps").`,
			Fn: del,
		},
	}
}

func apply(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var manifest starlark.Value = starlark.None
	var file, ns string
	if err := c.Unpack(args, kwargs, &manifest, &file, &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	objs, err := objects(c, manifest, file)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if len(objs) == 0 {
		return nil, exit.Errorf(exit.Usage, "kube_apply: no objects given (pass manifest= or file=)")
	}
	namespace, err := c.Namespace(ns)
	if err != nil {
		return nil, err
	}
	c.Report.Object(objectsSubject(objs, ns))
	// The secrets the manifest carries: an error that quotes one (the
	// API server quotes invalid values) and the objects returned hide them.
	secrets := builtins.Secrets(manifest)
	res, err := c.Engine.Objects().Apply(c.Ctx, objs, namespace)
	if err != nil {
		return nil, builtins.ScrubError(c.Fail(err), secrets)
	}
	if err := c.Report.Findings(res.Findings); err != nil {
		return nil, c.Fail(err)
	}
	out := make([]starlark.Value, 0, len(res.Objects))
	for _, o := range res.Objects {
		v, err := builtins.FromGoHiding(o.Object, secrets)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	c.Report.Summary = res.Summary
	c.Report.Detail = res.Detail
	if res.Diff != nil {
		res.Diff.Scrub(secrets)
		c.Report.Diff = res.Diff
	}
	for _, ref := range res.Changed {
		c.Report.Change(trace.Change{Object: ref, Action: trace.Applied})
	}
	l := starlark.NewList(out)
	l.Freeze()
	return l, nil
}

// objects reads the objects of a kube_apply call.
func objects(c *builtins.Call, manifest starlark.Value, file string) ([]*unstructured.Unstructured, error) {
	var docs []map[string]any
	switch m := manifest.(type) {
	case starlark.NoneType:
	case starlark.String:
		// A manifest written with "…%s…" % secret(…) carries the secret
		// as a token: the API server gets its text.
		text, err := builtins.Unseal(string(m))
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		d, err := decodeYAML(strings.NewReader(text), "manifest")
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	default:
		g, err := builtins.ToGo(m)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		switch g := g.(type) {
		case map[string]any:
			docs = append(docs, g)
		case []any:
			for i, x := range g {
				d, ok := x.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("manifest[%d]: want a dict, got %T", i, x)
				}
				docs = append(docs, d)
			}
		default:
			return nil, fmt.Errorf("manifest: want a YAML string, a dict or a list of dicts, got %s", manifest.Type())
		}
	}
	if file != "" {
		path := c.Path(file)
		f, err := os.Open(path)
		if err != nil {
			if h := c.PathHint(file); h != "" {
				return nil, fmt.Errorf("file: %w (%s)", err, h)
			}
			return nil, fmt.Errorf("file: %w", err)
		}
		defer f.Close()
		d, err := decodeYAML(f, file)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	out := make([]*unstructured.Unstructured, 0, len(docs))
	for i, d := range docs {
		u := &unstructured.Unstructured{Object: d}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("object %d: apiVersion, kind and metadata.name are required", i+1)
		}
		out = append(out, u)
	}
	return out, nil
}

func decodeYAML(r io.Reader, name string) ([]map[string]any, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []map[string]any
	for i := 1; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, m)
	}
}

// objectsSubject names what a kube_apply acts on: "Kind/name" and its
// namespace (the object's own, else the namespace= argument, else none:
// the run's), or "N objects".
func objectsSubject(objs []*unstructured.Unstructured, nsArg string) (string, string) {
	if len(objs) != 1 {
		return fmt.Sprintf("%d objects", len(objs)), nsArg
	}
	ns := objs[0].GetNamespace()
	if ns == "" {
		ns = nsArg
	}
	return objs[0].GetKind() + "/" + objs[0].GetName(), ns
}

// objectArgs unpacks the (kind, name, namespace) of kube_get and
// kube_delete, the namespace resolved by the one rule.
func objectArgs(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (kind, name, namespace string, err error) {
	var ns string
	if err := c.Unpack(args, kwargs, &kind, &name, &ns); err != nil {
		return "", "", "", exit.Wrap(exit.Usage, err)
	}
	namespace, err = c.Namespace(ns)
	return kind, name, namespace, err
}

func get(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	kind, name, namespace, err := objectArgs(c, args, kwargs)
	if err != nil {
		return nil, err
	}
	c.Report.Object(kind+"/"+name, namespace)
	rd, err := c.Engine.Objects().Get(c.Ctx, kind, namespace, name)
	if err != nil {
		return nil, c.Fail(err)
	}
	c.Report.Summary = rd.Summary
	if rd.Object == nil {
		return starlark.None, nil
	}
	return builtins.FromGo(rd.Object.Object)
}

func del(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	kind, name, namespace, err := objectArgs(c, args, kwargs)
	if err != nil {
		return nil, err
	}
	c.Report.Object(kind+"/"+name, namespace)
	d, err := c.Engine.Objects().Delete(c.Ctx, kind, namespace, name)
	if err != nil {
		return nil, c.Fail(err)
	}
	c.Report.Summary = d.Summary
	if d.Existed {
		c.Report.Change(trace.Change{Object: kind + "/" + namespace + "/" + name, Action: trace.Deleted})
	}
	return starlark.Bool(d.Existed), nil
}
