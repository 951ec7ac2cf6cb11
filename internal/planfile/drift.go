package planfile

import (
	"fmt"
	"time"
)

// CheckAge refuses a plan older than maxAge (0: no limit).
func CheckAge(f *File, maxAge time.Duration, now time.Time) error {
	if maxAge <= 0 {
		return nil
	}
	if age := now.Sub(f.Created); age > maxAge {
		return fmt.Errorf("the plan was saved %s ago (at %s), more than --max-age %s", age.Round(time.Second), f.Created.Format(time.RFC3339), maxAge)
	}
	return nil
}

// SourceDrift lists the differences between the saved plan and module
// digests and the files now.
func SourceDrift(saved *File, plan Source, modules []Source) []string {
	var out []string
	if plan.Name != saved.Plan.Name {
		out = append(out, fmt.Sprintf("plan: saved %s, now %s", saved.Plan.Name, plan.Name))
	} else if plan.Digest != saved.Plan.Digest {
		out = append(out, fmt.Sprintf("plan %s changed since it was saved", plan.Name))
	}
	now := map[string]string{}
	for _, m := range modules {
		now[m.Name] = m.Digest
	}
	was := map[string]bool{}
	for _, m := range saved.Modules {
		was[m.Name] = true
		d, ok := now[m.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("module %s is no longer loaded", m.Name))
		case d != m.Digest:
			out = append(out, fmt.Sprintf("module %s changed since the plan was saved", m.Name))
		}
	}
	for _, m := range modules {
		if !was[m.Name] {
			out = append(out, fmt.Sprintf("module %s is loaded now but was not when the plan was saved", m.Name))
		}
	}
	return out
}

// ParamDrift lists the parameters whose values differ from the saved
// ones (by digest; a secret's value is never shown).
func ParamDrift(saved *File, now []Param) []string {
	var out []string
	by := map[string]Param{}
	for _, p := range now {
		by[p.Name] = p
	}
	for _, p := range saved.Params {
		q, ok := by[p.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("parameter %s is no longer declared", p.Name))
		case q.Digest != p.Digest && p.Secret:
			out = append(out, fmt.Sprintf("parameter %s: the value given is not the one the plan was saved with", p.Name))
		case q.Digest != p.Digest:
			out = append(out, fmt.Sprintf("parameter %s: saved %q, now %q", p.Name, p.Value, q.Value))
		}
		delete(by, p.Name)
	}
	for name := range by {
		out = append(out, fmt.Sprintf("parameter %s is declared now but was not when the plan was saved", name))
	}
	return out
}

// StateDrift lists the differences between the saved cluster, state and
// effects and a fresh snapshot of them.
func StateDrift(saved *File, cl Cluster, st State, effs []Effect) []string {
	var out []string
	if cl.Server != saved.Cluster.Server || cl.UID != saved.Cluster.UID {
		out = append(out, fmt.Sprintf("cluster: saved %s (uid %s), now %s (uid %s)", saved.Cluster.Server, saved.Cluster.UID, cl.Server, cl.UID))
		return out
	}
	rels := map[string]Release{}
	for _, r := range st.Releases {
		rels[r.Namespace+"/"+r.Name] = r
	}
	for _, r := range saved.State.Releases {
		key := r.Namespace + "/" + r.Name
		q, ok := rels[key]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("release %s: no longer acted on", key))
		case q.Revision != r.Revision || q.Status != r.Status:
			out = append(out, fmt.Sprintf("release %s: saved rev %d %s, now rev %d %s", key, r.Revision, r.Status, q.Revision, q.Status))
		case q.ManifestDigest != r.ManifestDigest:
			out = append(out, fmt.Sprintf("release %s: the manifest of rev %d differs", key, r.Revision))
		}
		delete(rels, key)
	}
	for key := range rels {
		out = append(out, fmt.Sprintf("release %s: acted on now but not in the saved plan", key))
	}
	charts := map[string]Chart{}
	for _, c := range st.Charts {
		charts[c.Step] = c
	}
	for _, c := range saved.State.Charts {
		q, ok := charts[c.Step]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("chart of %s (%s/%s): no longer installed", c.Step, c.Namespace, c.Release))
		case q.ChartDigest != c.ChartDigest:
			out = append(out, fmt.Sprintf("chart of %s/%s: saved %s %s, now %s %s with other content", c.Namespace, c.Release, c.Chart, c.Version, q.Chart, q.Version))
		case q.ValuesDigest != c.ValuesDigest:
			out = append(out, fmt.Sprintf("values of %s/%s differ", c.Namespace, c.Release))
		}
	}
	objs := map[string]Object{}
	for _, o := range st.Objects {
		objs[o.Ref()] = o
	}
	for _, o := range saved.State.Objects {
		q, ok := objs[o.Ref()]
		switch {
		case !ok:
		case q.Absent != o.Absent:
			out = append(out, fmt.Sprintf("%s: saved %s, now %s", o.Ref(), o.state(), q.state()))
		case q.ResourceVersion != o.ResourceVersion && q.ContentDigest != o.ContentDigest:
			// A write that changed only the status is no drift.
			out = append(out, fmt.Sprintf("%s: changed since the plan was saved (resourceVersion %s, now %s)", o.Ref(), o.ResourceVersion, q.ResourceVersion))
		}
	}
	for _, s := range compare(saved.Effects, effs, "saved", "planned now") {
		out = append(out, "effects: "+s)
	}
	return out
}
