package planfile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// Sources returns the digests of the plan and of every module it loads.
func Sources(p *interp.Plan, pre starlark.StringDict) (Source, []Source, error) {
	b, err := os.ReadFile(p.Abs)
	if err != nil {
		return Source{}, nil, err
	}
	plan := Source{Name: p.Name, Digest: FileDigest(b)}
	mods, err := p.Modules(pre)
	if err != nil {
		return plan, nil, err
	}
	out := make([]Source, 0, len(mods))
	for _, abs := range mods {
		b, err := os.ReadFile(abs)
		if err != nil {
			return plan, nil, err
		}
		out = append(out, Source{Name: relName(p.Root, abs), Digest: FileDigest(b)})
	}
	return plan, out, nil
}

func relName(root, abs string) string {
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return abs
}

// Params returns the plan's bound parameters, in declaration order; a
// parameter whose name looks secret keeps only its salted digest.
func Params(p *interp.Plan, values map[string]starlark.Value, salt string) []Param {
	out := make([]Param, 0, len(p.Params))
	for _, d := range p.Params {
		v := ParamText(values[d.Name])
		prm := Param{Name: d.Name, Digest: ParamDigest(salt, d.Name, v)}
		if trace.SecretName(d.Name) {
			prm.Secret = true
		} else {
			prm.Value = v
		}
		out = append(out, prm)
	}
	return out
}

// ParamText is a parameter value as -p takes it.
func ParamText(v starlark.Value) string {
	if s, ok := starlark.AsString(v); ok {
		return s
	}
	if v == nil {
		return ""
	}
	return v.String()
}

// Snapshot reads, with the engine of a dry pass that has just run (its
// adapters cannot write), the cluster and the state the pass's events
// depend on: the cluster's identity, the releases the plan acts on, the
// charts and values of its installs, and the objects it would touch, with
// the objects of also (a saved plan's, whose state a check reads again).
func Snapshot(ctx context.Context, eng *engine.Engine, events []trace.Event, also []Object) (Cluster, State, error) {
	var st State
	id, err := eng.Cluster().Identify(ctx)
	if err != nil {
		return Cluster{}, st, err
	}
	if id.Offline {
		return Cluster{}, st, fmt.Errorf("an offline dry run reads no cluster: a saved plan needs one (drop --offline)")
	}
	if id.UID == "" {
		return Cluster{}, st, fmt.Errorf("cannot read the cluster's UID (%s): a saved plan is bound to it", id.NoUID)
	}
	cl := Cluster{Context: id.Context, Server: id.Server, UID: id.UID}

	type relKey struct{ name, ns string }
	seenRel := map[relKey]bool{}
	var rels []relKey
	objs := map[string]Object{}
	touch := func(kind, ns, name string) {
		o := Object{Kind: kind, Namespace: ns, Name: name}
		if _, ok := objs[o.Ref()]; !ok {
			objs[o.Ref()] = o
		}
	}
	for _, o := range also {
		touch(o.Kind, o.Namespace, o.Name)
	}
	touchRefs := func(refs []helm.ObjectRef) {
		for _, r := range refs {
			touch(r.APIVersion+"/"+r.Kind, r.Namespace, r.Name)
		}
	}
	changed := map[string]bool{}
	for _, ev := range closing(events) {
		if len(ev.Changes) > 0 {
			changed[ev.Step] = true
		}
	}
	for _, ev := range closing(events) {
		if ev.Subject != nil && ev.Subject.Release != "" && strings.HasPrefix(ev.Builtin, "helm_") {
			k := relKey{ev.Subject.Release, ev.Subject.Namespace}
			if !seenRel[k] {
				seenRel[k] = true
				rels = append(rels, k)
			}
		}
		switch d := ev.Detail.(type) {
		case *helm.InstallResult:
			st.Charts = append(st.Charts, Chart{Step: ev.Step, Release: d.Release.Name, Namespace: d.Release.Namespace,
				Chart: d.Release.Chart, Version: d.Release.ChartVersion, ChartDigest: d.ChartDigest, ValuesDigest: d.ValuesDigest})
			if changed[ev.Step] {
				touchRefs(d.Release.Objects)
			}
		case *helm.RollbackResult:
			if changed[ev.Step] {
				touchRefs(d.Release.Objects)
			}
		}
		for _, c := range ev.Changes {
			if c.Object != "" {
				kind, ns, name := splitObject(c.Object)
				touch(kind, ns, name)
			}
		}
	}
	for _, k := range rels {
		rd, err := eng.Releases().Read(ctx, k.name, k.ns)
		if err != nil {
			return cl, st, fmt.Errorf("reading release %s in namespace %s: %w", k.name, k.ns, err)
		}
		r := Release{Name: k.name, Namespace: k.ns, Status: "absent"}
		if rd.Info != nil {
			r.Revision, r.Status = rd.Info.Revision, rd.Info.Status
			r.ManifestDigest = helm.ManifestDigest(rd.Info.Manifest)
			if changedRelease(events, changed, k.name, k.ns) {
				// The objects the release has now are touched too (an
				// upgrade may delete them).
				touchRefs(rd.Info.Objects)
			}
		}
		st.Releases = append(st.Releases, r)
	}
	for ref, o := range objs {
		rd, err := eng.Objects().Get(ctx, o.Kind, o.Namespace, o.Name)
		switch {
		case err != nil && strings.Contains(err.Error(), "has no kind"):
			// A kind whose CRD the plan itself brings.
			o.Absent = true
		case err != nil:
			return cl, st, fmt.Errorf("reading %s: %w", ref, err)
		case rd.Object == nil:
			o.Absent = true
		default:
			o.ResourceVersion = rd.Object.GetResourceVersion()
			o.ContentDigest = contentDigest(rd.Object)
		}
		objs[ref] = o
	}
	st.Objects = sortedObjects(objs)
	return cl, st, nil
}

func changedRelease(events []trace.Event, changed map[string]bool, name, ns string) bool {
	for _, ev := range closing(events) {
		if changed[ev.Step] && ev.Subject != nil && ev.Subject.Release == name && ev.Subject.Namespace == ns {
			return true
		}
	}
	return false
}

// splitObject splits a change's object, "Kind/namespace/name" (Kind may be
// "apps/v1/Deployment") or "Kind/name" for a cluster-scoped object.
func splitObject(s string) (kind, ns, name string) {
	parts := strings.Split(s, "/")
	switch {
	case len(parts) >= 3:
		n := len(parts)
		return strings.Join(parts[:n-2], "/"), parts[n-2], parts[n-1]
	case len(parts) == 2:
		return parts[0], "", parts[1]
	}
	return s, "", ""
}

// closing returns the closing events of steps (planned, done, failed).
func closing(events []trace.Event) []trace.Event {
	var out []trace.Event
	for _, ev := range events {
		switch ev.Phase {
		case trace.Planned, trace.Done, trace.Failed:
			out = append(out, ev)
		}
	}
	return out
}

// contentDigest is the digest of an object without the fields that change
// on every write or belong to its controller: status, resourceVersion,
// managedFields.
func contentDigest(u *unstructured.Unstructured) string {
	c := u.DeepCopy().Object
	unstructured.RemoveNestedField(c, "status")
	unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c, "metadata", "managedFields")
	b, _ := json.Marshal(c)
	return FileDigest(b)
}
