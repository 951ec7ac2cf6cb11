package helm

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	ih "github.com/plate-dev/plate/internal/helm"
)

// ReleaseValue is the frozen Starlark value of a Helm release that
// helm_install, helm_rollback and helm_release return. Other builtin
// families accept it (wait_ready, backup, needs=) by type-asserting
// *ReleaseValue and reading Release.
//
// Attributes: name, namespace, revision, status, chart, chart_version,
// app_version, description, objects (a list of dicts with apiVersion, kind,
// namespace, name), history (a list of dicts, from helm_release only; else
// None) and planned (True when the value describes what a dry pass would
// do rather than what is).
type ReleaseValue struct {
	rel     ih.Release
	history []ih.Revision
	planned bool
	step    string
}

var (
	_ starlark.HasAttrs  = (*ReleaseValue)(nil)
	_ builtins.Goer      = (*ReleaseValue)(nil)
	_ builtins.ObjectSet = (*ReleaseValue)(nil)
	_ builtins.StepValue = (*ReleaseValue)(nil)
)

// NewReleaseValue returns the value of rel, made by step.
func NewReleaseValue(rel ih.Release, history []ih.Revision, planned bool, step string) *ReleaseValue {
	return &ReleaseValue{rel: rel, history: history, planned: planned, step: step}
}

// Info returns the release the value describes.
func (r *ReleaseValue) Info() ih.Release { return r.rel }

// ReleaseRevision names the release revision (builtins.ReleaseRevision).
func (r *ReleaseValue) ReleaseRevision() (name, namespace string, revision int) {
	return r.rel.Name, r.rel.Namespace, r.rel.Revision
}

// Release names the release (builtins.ObjectSet).
func (r *ReleaseValue) Release() string { return r.rel.Name }

// History returns the release history (helm_release values only), oldest
// first.
func (r *ReleaseValue) History() []ih.Revision { return r.history }

// Planned reports whether the value describes a planned (dry-run) state.
func (r *ReleaseValue) Planned() bool { return r.planned }

// StepID is the id of the step that made the value, for needs=.
func (r *ReleaseValue) StepID() string { return r.step }

// Objects lists the objects of the release's manifest, in install order.
func (r *ReleaseValue) Objects() []builtins.ObjectRef {
	out := make([]builtins.ObjectRef, len(r.rel.Objects))
	for i, o := range r.rel.Objects {
		out[i] = builtins.ObjectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
	}
	return out
}

// Describe names the release for messages: "release shop in prod".
func (r *ReleaseValue) Describe() string {
	return fmt.Sprintf("release %s in %s", r.rel.Name, r.rel.Namespace)
}

func (r *ReleaseValue) String() string {
	return fmt.Sprintf("<helm release %s in %s rev %d %s>", r.rel.Name, r.rel.Namespace, r.rel.Revision, r.rel.Status)
}

// Type is "helm_release".
func (r *ReleaseValue) Type() string         { return "helm_release" }
func (r *ReleaseValue) Freeze()              {}
func (r *ReleaseValue) Truth() starlark.Bool { return starlark.True }
func (r *ReleaseValue) Hash() (uint32, error) {
	return starlark.String(fmt.Sprintf("%s/%s/%d", r.rel.Namespace, r.rel.Name, r.rel.Revision)).Hash()
}

var releaseAttrs = []string{"app_version", "chart", "chart_version", "description", "history", "name", "namespace", "objects", "planned", "revision", "status"}

func init() { sort.Strings(releaseAttrs) }

// AttrNames lists the attributes.
func (r *ReleaseValue) AttrNames() []string { return releaseAttrs }

// Attr returns one attribute.
func (r *ReleaseValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(r.rel.Name), nil
	case "namespace":
		return starlark.String(r.rel.Namespace), nil
	case "revision":
		return starlark.MakeInt(r.rel.Revision), nil
	case "status":
		return starlark.String(r.rel.Status), nil
	case "chart":
		return starlark.String(r.rel.Chart), nil
	case "chart_version":
		return starlark.String(r.rel.ChartVersion), nil
	case "app_version":
		return starlark.String(r.rel.AppVersion), nil
	case "description":
		return starlark.String(r.rel.Description), nil
	case "planned":
		return starlark.Bool(r.planned), nil
	case "objects":
		return builtins.FromGo(objectsGo(r.rel.Objects))
	case "history":
		if r.history == nil {
			return starlark.None, nil
		}
		return builtins.FromGo(historyGo(r.history))
	}
	return nil, nil
}

func objectsGo(objs []ih.ObjectRef) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		m := map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind, "name": o.Name, "namespace": nil}
		if o.Namespace != "" {
			m["namespace"] = o.Namespace
		}
		out[i] = m
	}
	return out
}

func historyGo(hist []ih.Revision) []any {
	out := make([]any, len(hist))
	for i, h := range hist {
		m := map[string]any{
			"revision": h.Revision, "status": h.Status, "chart": h.Chart,
			"chart_version": h.ChartVersion, "app_version": h.AppVersion,
			"description": h.Description, "updated": nil,
		}
		if !h.Updated.IsZero() {
			m["updated"] = h.Updated.UTC().Format("2006-01-02T15:04:05Z")
		}
		out[i] = m
	}
	return out
}

// ToGo converts the value to plain data. For the trace (reveal false) it
// is a short reference; otherwise every attribute.
func (r *ReleaseValue) ToGo(reveal bool) (any, error) {
	if !reveal {
		return map[string]any{"release": r.rel.Name, "namespace": r.rel.Namespace, "revision": int64(r.rel.Revision)}, nil
	}
	m := map[string]any{
		"name": r.rel.Name, "namespace": r.rel.Namespace, "revision": int64(r.rel.Revision),
		"status": r.rel.Status, "chart": r.rel.Chart, "chart_version": r.rel.ChartVersion,
		"app_version": r.rel.AppVersion, "description": r.rel.Description,
		"planned": r.planned, "objects": objectsGo(r.rel.Objects),
	}
	if r.history != nil {
		m["history"] = historyGo(r.history)
	}
	return m, nil
}
