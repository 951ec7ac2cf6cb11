// Package kube holds the builtins that act on plain Kubernetes objects:
// kube_apply, kube_get and kube_delete.
package kube

import (
	"errors"
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
	kc "github.com/plate-dev/plate/internal/kube"
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
			Params:     []string{"manifest?", "file?", "namespace?"},
			Signature:  "kube_apply(manifest=None, file=None, namespace=None, needs=None)",
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Server-side applies Kubernetes objects (field manager "plate") and returns
them as a list of dicts, as the API server stored them.

- ` + "`manifest`" + `: a YAML string (several documents allowed), a dict, or a list of dicts.
- ` + "`file`" + `: a YAML file instead, relative to the plan file (or ` + "`//`" + ` from the project root).
- ` + "`namespace`" + `: for namespaced objects that name none; defaults to ` + "`-n`" + ` or the context's.

The summary counts created, updated and unchanged objects. In a dry run the
API server validates the objects (server-side dry run) and nothing is stored.

- ` + "`needs`" + `: makes the call a concurrent step (see plans.md, "Concurrent steps").`,
			Fn: apply,
		},
		{
			Name:      "kube_get",
			Params:    []string{"kind", "name", "namespace?"},
			Signature: "kube_get(kind, name, namespace=None)",
			Effect:    engine.Read,
			Doc: `Reads one object and returns it as a dict, or None when it does not exist
(and in an offline dry run, which reads no cluster).
` + "`kind`" + ` is a kind ("Deployment"), a resource ("deployments.apps") or
"group/version/Kind".`,
			Fn: get,
		},
		{
			Name:       "kube_delete",
			Params:     []string{"kind", "name", "namespace?"},
			Signature:  "kube_delete(kind, name, namespace=None, needs=None)",
			Effect:     engine.Write,
			Concurrent: true,
			Doc: `Deletes one object (foreground propagation) and returns True, or False when
it did not exist.`,
			Fn: del,
		},
	}
}

func client(c *builtins.Call) (*kc.Client, error) {
	cl, err := c.Engine.Kube()
	if errors.Is(err, engine.ErrOffline) {
		return nil, exit.Errorf(exit.Usage, "%s reads the cluster, which --offline forbids", c.Name)
	}
	if err != nil {
		return nil, exit.Wrap(exit.Usage, fmt.Errorf("cluster: %w", err))
	}
	return cl, nil
}

func namespaceOr(cl *kc.Client, ns string) string {
	if ns != "" {
		return ns
	}
	return cl.Namespace
}

func apply(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var manifest starlark.Value = starlark.None
	var file, ns string
	if err := c.Unpack(args, kwargs, "manifest?", &manifest, "file?", &file, "namespace?", &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	objs, err := objects(c, manifest, file)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if len(objs) == 0 {
		return nil, exit.Errorf(exit.Usage, "kube_apply: no objects given (pass manifest= or file=)")
	}
	if c.Engine.Offline() {
		out := make([]starlark.Value, 0, len(objs))
		var refs []string
		for _, o := range objs {
			refs = append(refs, kc.Ref(o))
			v, err := builtins.FromGo(o.Object)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		c.Report.Summary = fmt.Sprintf("would apply %s (offline: not checked by an API server)", strings.Join(refs, ", "))
		l := starlark.NewList(out)
		l.Freeze()
		return l, nil
	}
	cl, err := client(c)
	if err != nil {
		return nil, err
	}
	res, err := cl.Apply(c.Ctx, objs, namespaceOr(cl, ns))
	if err != nil {
		return nil, fmt.Errorf("kube_apply: %w", err)
	}
	counts := map[kc.Action][]string{}
	out := make([]starlark.Value, 0, len(res))
	var notes []string
	for _, r := range res {
		counts[r.Action] = append(counts[r.Action], r.Ref)
		if r.Note != "" {
			notes = append(notes, r.Ref+": "+r.Note)
		}
		v, err := builtins.FromGo(r.Object.Object)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	c.Report.Summary = summarize(c.Engine.Writes(), counts)
	if len(notes) == 1 && len(res) == 1 {
		c.Report.Summary += " (" + res[0].Note + ")"
	}
	c.Report.Detail = map[string]any{"objects": counts, "notes": notes}
	l := starlark.NewList(out)
	l.Freeze()
	return l, nil
}

func summarize(live bool, counts map[kc.Action][]string) string {
	var parts []string
	for _, a := range []kc.Action{kc.Created, kc.Updated, kc.Unchanged} {
		refs := counts[a]
		if len(refs) == 0 {
			continue
		}
		word := string(a)
		if !live && a != kc.Unchanged {
			word = "would be " + word
		}
		if len(refs) == 1 {
			parts = append(parts, fmt.Sprintf("%s %s", refs[0], word))
		} else {
			parts = append(parts, fmt.Sprintf("%d %s", len(refs), word))
		}
	}
	return strings.Join(parts, ", ")
}

// objects reads the objects of a kube_apply call.
func objects(c *builtins.Call, manifest starlark.Value, file string) ([]*unstructured.Unstructured, error) {
	var docs []map[string]any
	switch m := manifest.(type) {
	case starlark.NoneType:
	case starlark.String:
		d, err := decodeYAML(strings.NewReader(string(m)), "manifest")
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

func get(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind, name, ns string
	if err := c.Unpack(args, kwargs, "kind", &kind, "name", &name, "namespace?", &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	if c.Engine.Offline() {
		if sc := c.Engine.Script(); sc != nil {
			if obj := sc.Object(kind, ns, name); obj != nil {
				c.Report.Summary = fmt.Sprintf("%s/%s found (scripted)", kind, name)
				return builtins.FromGo(obj)
			}
			c.Report.Summary = fmt.Sprintf("%s/%s not found (scripted)", kind, name)
			return starlark.None, nil
		}
		c.Report.Summary = fmt.Sprintf("%s/%s: offline, the cluster was not read (taken as absent)", kind, name)
		return starlark.None, nil
	}
	cl, err := client(c)
	if err != nil {
		return nil, err
	}
	gvk, err := cl.ParseKind(kind)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	obj, err := cl.Get(c.Ctx, gvk, namespaceOr(cl, ns), name)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		c.Report.Summary = fmt.Sprintf("%s/%s not found", gvk.Kind, name)
		return starlark.None, nil
	}
	c.Report.Summary = fmt.Sprintf("%s found", kc.Ref(obj))
	return builtins.FromGo(obj.Object)
}

func del(c *builtins.Call, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind, name, ns string
	if err := c.Unpack(args, kwargs, "kind", &kind, "name", &name, "namespace?", &ns); err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	cl, err := client(c)
	if err != nil {
		return nil, err
	}
	gvk, err := cl.ParseKind(kind)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	act, err := cl.Delete(c.Ctx, gvk, namespaceOr(cl, ns), name)
	if err != nil {
		return nil, err
	}
	ref := gvk.Kind + "/" + name
	switch {
	case act == kc.Absent:
		c.Report.Summary = ref + " absent"
		return starlark.False, nil
	case c.Engine.Writes():
		c.Report.Summary = ref + " deleted"
	default:
		c.Report.Summary = ref + " would be deleted"
	}
	return starlark.True, nil
}
