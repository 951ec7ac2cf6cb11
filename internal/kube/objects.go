package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// FieldManager is the field manager plate applies with.
const FieldManager = "plate"

// Action says what an apply did, or would do in a dry pass.
type Action string

// Apply outcomes.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
	Absent    Action = "absent"
)

// ObjectResult is the outcome for one object.
type ObjectResult struct {
	Ref    string // kind/name or kind/namespace/name
	Action Action
	Object *unstructured.Unstructured
	// Before is the object as it was live (nil: absent); Given is the
	// object as the plan gave it (its namespace filled in). A diff
	// compares Before with Object, or shows Given for a created object
	// (without the fields the server would default).
	Before, Given *unstructured.Unstructured
	// Note explains a dry-run result that the server could not fully check.
	Note string
}

// Resource finds the REST resource of obj's kind, refreshing discovery
// once when the kind is unknown (a CRD may just have been created).
func (c *Client) Resource(gvk schema.GroupVersionKind, namespace string) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		c.Mapper.Reset()
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil, fmt.Errorf("the cluster has no kind %s (is its CRD installed?)", gvkString(gvk))
		}
		return nil, nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.Dynamic.Resource(m.Resource).Namespace(namespace), m, nil
	}
	return c.Dynamic.Resource(m.Resource), m, nil
}

func gvkString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Version + "/" + gvk.Kind
	}
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
}

// Ref names an object for messages and the trace.
func Ref(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s/%s/%s", obj.GetKind(), ns, obj.GetName())
	}
	return obj.GetKind() + "/" + obj.GetName()
}

func (c *Client) dryRun() []string {
	if c.ReadOnly {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// Apply server-side applies objs in order. Namespaced objects without a
// namespace go to namespace. On a read-only client the apply is a
// server-side dry run: validated and defaulted by the API server, never
// stored; what it would create is recorded in c.Planned.
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured, namespace string) ([]ObjectResult, error) {
	var out []ObjectResult
	for _, obj := range objs {
		r, err := c.applyOne(ctx, obj.DeepCopy(), namespace)
		if err != nil {
			return out, fmt.Errorf("%s: %w", Ref(obj), err)
		}
		if c.ReadOnly && r.Action == Created {
			c.Planned.Object(r.Object)
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Client) applyOne(ctx context.Context, obj *unstructured.Unstructured, namespace string) (ObjectResult, error) {
	gvk := obj.GroupVersionKind()
	_, m, err := c.Resource(gvk, "")
	if err != nil {
		if k, ok := c.Planned.KindOf(gvk.GroupKind()); c.ReadOnly && ok {
			// The CRD comes earlier in this plan: nothing can validate
			// the object before it exists. Its scope is the CRD's, as
			// the run will find it.
			switch {
			case !k.Namespaced:
				obj.SetNamespace("")
			case obj.GetNamespace() == "":
				obj.SetNamespace(namespace)
			}
			return ObjectResult{Ref: Ref(obj), Action: Created, Object: obj, Given: obj, Note: "its CRD is created earlier in the plan; not validated by the server"}, nil
		}
		return ObjectResult{}, err
	}
	var ri dynamic.ResourceInterface
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(namespace)
		}
		ri = c.Dynamic.Resource(m.Resource).Namespace(obj.GetNamespace())
	} else {
		obj.SetNamespace("")
		ri = c.Dynamic.Resource(m.Resource)
	}
	ns := obj.GetNamespace()
	if c.ReadOnly && ns != "" && c.Planned.HasNamespace(ns) {
		// The namespace comes earlier in this plan and does not exist
		// yet: let the API server validate the object in "default".
		probe := obj.DeepCopy()
		probe.SetNamespace("default")
		after, err := c.Dynamic.Resource(m.Resource).Namespace("default").Apply(ctx, probe.GetName(), probe, metav1.ApplyOptions{
			FieldManager: FieldManager, Force: true, DryRun: c.dryRun(),
		})
		if err != nil {
			return ObjectResult{}, err
		}
		after.SetNamespace(ns)
		return ObjectResult{Ref: Ref(obj), Action: Created, Object: after, Given: obj, Note: "namespace " + ns + " is created earlier in the plan"}, nil
	}
	before, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		before, err = nil, nil
	}
	if err != nil {
		return ObjectResult{}, err
	}
	after, err := applyThroughWebhooks(ctx, func() (*unstructured.Unstructured, error) {
		return ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
			FieldManager: FieldManager,
			Force:        true,
			DryRun:       c.dryRun(),
		})
	})
	if err != nil {
		return ObjectResult{}, err
	}
	act := Created
	if before != nil {
		act = Updated
		if sameContent(before, after) {
			act = Unchanged
		}
	}
	return ObjectResult{Ref: Ref(after), Action: act, Object: after, Before: before, Given: obj}, nil
}

// sameContent compares two versions of an object, ignoring the fields the
// API server changes on every write.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		c := u.DeepCopy().Object
		unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(c, "metadata", "managedFields")
		unstructured.RemoveNestedField(c, "metadata", "generation")
		unstructured.RemoveNestedField(c, "status")
		return c
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// Get reads one object; it returns nil, nil when the object does not exist.
func (c *Client) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	ri, _, err := c.Resource(gvk, namespace)
	if err != nil {
		return nil, err
	}
	obj, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

// Delete deletes one object. It reports Absent when the object did not
// exist. On a read-only client nothing is sent but a read: a server-side
// dry-run delete checks little more than existence, and an audit log at
// Metadata level could not tell it from a real one (its dryRun option
// travels in the request body).
func (c *Client) Delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (Action, error) {
	ri, _, err := c.Resource(gvk, namespace)
	if err != nil {
		return "", err
	}
	if c.ReadOnly {
		_, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return Absent, nil
		}
		if err != nil {
			return "", err
		}
		return Deleted, nil
	}
	policy := metav1.DeletePropagationForeground
	err = ri.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) {
		return Absent, nil
	}
	if err != nil {
		return "", err
	}
	return Deleted, nil
}

// ParseKind turns "Deployment", "deployment", "apps/v1/Deployment" or
// "deployments.apps" into a GroupVersionKind using discovery.
func (c *Client) ParseKind(kind string) (schema.GroupVersionKind, error) {
	if strings.Count(kind, "/") >= 1 {
		i := strings.LastIndex(kind, "/")
		gv, err := schema.ParseGroupVersion(kind[:i])
		if err != nil {
			return schema.GroupVersionKind{}, fmt.Errorf("kind %q: %w", kind, err)
		}
		return gv.WithKind(kind[i+1:]), nil
	}
	gvr, gr := schema.ParseResourceArg(strings.ToLower(kind))
	var gvk schema.GroupVersionKind
	var err error
	if gvr != nil {
		gvk, err = c.Mapper.KindFor(*gvr)
	}
	if gvr == nil || err != nil {
		gvk, err = c.Mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("unknown kind %q on %s", kind, c.Describe())
	}
	return gvk, nil
}

// WebhookGrace is how long an apply that an admission webhook could not
// answer is retried: the webhook's Service has no ready endpoint yet ("no
// endpoints available for service") or its server refuses connections.
// That is what a library's webhook does for a few seconds after its pods
// turn ready (or while they restart); any other rejection fails at once.
const WebhookGrace = 30 * time.Second

// WebhookUnavailable reports whether err is an API server's rejection
// because an admission webhook could not be reached (as opposed to a
// webhook that answered and denied).
func WebhookUnavailable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed calling webhook") {
		return false
	}
	return strings.Contains(msg, "no endpoints available for service") ||
		strings.Contains(msg, "connection refused")
}

// applyThroughWebhooks calls apply, again for up to WebhookGrace while an
// admission webhook is unavailable.
func applyThroughWebhooks(ctx context.Context, apply func() (*unstructured.Unstructured, error)) (*unstructured.Unstructured, error) {
	deadline := time.Now().Add(WebhookGrace)
	delay := 250 * time.Millisecond
	for {
		after, err := apply()
		if !WebhookUnavailable(err) {
			return after, err
		}
		if time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("an admission webhook was still unavailable after %s: %w", WebhookGrace, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (while an admission webhook was unavailable: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay < 2*time.Second {
			delay *= 2
		}
	}
}
