package helm

import (
	"context"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/trace"
)

// checkRelease runs the pass's reference check (Options.Check) on what a
// dry install or upgrade would create or update: the rendered objects and
// the hooks, namespaced ones in their namespace.
func (c *Client) checkRelease(ctx context.Context, req InstallRequest, next []*object, hooks []*release.Hook, scope scopeFunc, chartCRDs []crdKind, diff *Diff, renderFailed error) []trace.Finding {
	if c.opts.Check == nil {
		return nil
	}
	step := refcheck.Step{Release: req.Release, Namespace: req.Namespace, Ignore: req.IgnoreChecks,
		Ownership: renderFailed != nil && ownershipConflict(renderFailed)}
	if diff != nil {
		// An upgrade: only the objects that differ from the deployed
		// revision may change an immutable field.
		step.Immutable = true
		step.Changed = map[string]bool{}
		for _, o := range diff.Objects {
			if o.Change == Changed {
				step.Changed[o.ObjectRef.String()] = true
			}
		}
	}
	for _, k := range chartCRDs {
		step.Kinds = append(step.Kinds, schema.GroupKind{Group: k.Group, Kind: k.Kind})
	}
	add := func(objs []*object) {
		for _, o := range objs {
			if u := checkedObject(o); u != nil {
				step.Objects = append(step.Objects, u)
			}
		}
	}
	add(next)
	for _, h := range hooks {
		objs, err := parseManifest(h.Manifest, scope, req.Namespace)
		if err == nil {
			add(objs)
		}
	}
	return c.opts.Check(ctx, step)
}

// checkedObject is the object's body with its resolved namespace, sharing
// what it does not change with the cached body (which the diff reads).
func checkedObject(o *object) *unstructured.Unstructured {
	body, err := o.Body()
	if err != nil || body == nil {
		return nil
	}
	cp := make(map[string]any, len(body))
	for k, v := range body {
		cp[k] = v
	}
	md := map[string]any{}
	if m, ok := body["metadata"].(map[string]any); ok {
		for k, v := range m {
			md[k] = v
		}
	}
	if o.Namespace != "" {
		md["namespace"] = o.Namespace
	} else {
		delete(md, "namespace")
	}
	cp["metadata"] = md
	return &unstructured.Unstructured{Object: cp}
}

// ownershipConflict reports whether a render failed because an object of
// the chart exists and belongs to no release or to another one.
func ownershipConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "invalid ownership metadata") || strings.Contains(msg, "cannot be imported into the current release")
}
