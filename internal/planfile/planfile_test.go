package planfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

func TestWriteIsOwnerOnlyAndReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.plan")
	// An existing file readable by others is replaced by an owner-only one.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &File{Kind: Kind, Version: Version, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Salt: "00",
		Plan: Source{Name: "plan.star", Digest: "sha256:x"}, Effects: []Effect{{Step: "s1", Builtin: "kube_apply", Object: "ConfigMap/a/b", Action: "apply"}}}
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Plan != f.Plan || len(got.Effects) != 1 || got.Effects[0] != f.Effects[0] || !got.Created.Equal(f.Created) {
		t.Errorf("read back %+v", got)
	}
}

func TestReadRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ body, want string }{
		"not a plan":    {`{"kind": "other"}`, "not a plate saved plan"},
		"not json":      {`plan`, "not a plate saved plan"},
		"newer version": {`{"kind": "plate-saved-plan", "version": 99}`, "format version 99; this plate reads version 1"},
		"unknown field": {`{"kind": "plate-saved-plan", "version": 1, "surprise": 1}`, "unknown field"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func closingEvent(step, builtin string, line int, concurrent bool, changes ...trace.Change) trace.Event {
	return trace.Event{Step: step, Builtin: builtin, Phase: trace.Planned, Pos: trace.Pos{File: "plan.star", Line: line, Col: 1}, Concurrent: concurrent, Changes: changes}
}

func TestEffectsFromChangeRecords(t *testing.T) {
	events := []trace.Event{
		{Step: "s1", Builtin: "helm_install", Phase: trace.Started},
		closingEvent("s1", "helm_install", 3, false, trace.Change{Release: "api", Namespace: "prod", Action: trace.Upgraded, From: 4, To: 5}),
		closingEvent("s2", "wait_ready", 4, false, trace.Change{Release: "api", Namespace: "prod", Action: trace.MarkedFailed, To: 5}),
		closingEvent("s3", "kube_apply", 5, false, trace.Change{Object: "ConfigMap/prod/a", Action: trace.Applied}, trace.Change{Object: "ConfigMap/prod/b", Action: trace.Applied}),
	}
	var got []string
	for _, e := range Effects(events) {
		got = append(got, e.String())
	}
	want := []string{
		"s1 helm_install at plan.star:3:1: upgrade release prod/api",
		"s3 kube_apply at plan.star:5:1: apply ConfigMap/prod/a",
		"s3 kube_apply at plan.star:5:1: apply ConfigMap/prod/b",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("effects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMismatches(t *testing.T) {
	inst := func(step, rel string, conc bool) Effect {
		return Effect{Step: step, Builtin: "helm_install", Pos: "plan.star:" + step + ":1", Concurrent: conc, Release: rel, Namespace: "ns", Action: "install"}
	}
	planned := []Effect{inst("s1", "db", false), inst("s2", "api", true), inst("s3", "web", true), inst("s4", "ingress", false)}
	// Concurrent steps interleave: not a mismatch.
	done := []Effect{inst("s1", "db", false), inst("s3", "web", true), inst("s2", "api", true), inst("s4", "ingress", false)}
	if m := Mismatches(planned, done); len(m) != 0 {
		t.Errorf("interleaved concurrent steps: %q", m)
	}
	upgraded := append([]Effect(nil), done...)
	upgraded[1].Action = "upgrade"
	if m := Mismatches(planned, upgraded); len(m) != 1 || !strings.Contains(m[0], "planned s3 helm_install at plan.star:s3:1: install release ns/web; done s3 helm_install at plan.star:s3:1: upgrade release ns/web") {
		t.Errorf("another kind of change: %q", m)
	}
	if m := Mismatches(planned, done[:3]); len(m) != 1 || !strings.HasPrefix(m[0], "planned but not done: s4") {
		t.Errorf("a missing effect: %q", m)
	}
	if m := Mismatches(planned[:3], done); len(m) != 1 || !strings.HasPrefix(m[0], "done but not planned: s4") {
		t.Errorf("an extra effect: %q", m)
	}
}

func TestGuard(t *testing.T) {
	saved := []Effect{
		{Step: "s1", Builtin: "kube_apply", Object: "ConfigMap/ns/a", Action: "apply"},
		{Step: "s1", Builtin: "kube_apply", Object: "ConfigMap/ns/b", Action: "apply"},
		{Step: "s3", Builtin: "helm_install", Release: "api", Namespace: "ns", Action: "upgrade"},
	}
	write := func(step, builtin string, ch trace.Change) engine.PendingWrite {
		return engine.PendingWrite{Step: &engine.Step{ID: step, Builtin: builtin}, Change: ch}
	}
	ctx := context.Background()
	g := NewGuard(saved)
	if err := g.BeforeWrite(ctx, write("s1", "kube_apply", trace.Change{Object: "ConfigMap/ns/a", Action: trace.Applied})); err != nil {
		t.Fatal(err)
	}
	// The second object of s1 is b, not c.
	err := g.BeforeWrite(ctx, write("s1", "kube_apply", trace.Change{Object: "ConfigMap/ns/c", Action: trace.Applied}))
	if exit.Code(err) != exit.PlanFailed || !strings.Contains(err.Error(), "the saved plan has s1 kube_apply at : apply ConfigMap/ns/b; the run would apply ConfigMap/ns/c with kube_apply; stopped before this write") {
		t.Errorf("divergent object: %v", err)
	}
	// An install where an upgrade was saved.
	err = g.BeforeWrite(ctx, write("s3", "helm_install", trace.Change{Release: "api", Namespace: "ns", Action: trace.Installed}))
	if err == nil || !strings.Contains(err.Error(), "the run would install release ns/api") {
		t.Errorf("install for a saved upgrade: %v", err)
	}
	// A write of a step that has no saved effect.
	err = g.BeforeWrite(ctx, write("s2", "kube_delete", trace.Change{Object: "Secret/ns/x", Action: trace.Deleted}))
	if err == nil || !strings.Contains(err.Error(), "the saved plan has no such effect (s2 kube_delete") {
		t.Errorf("unplanned write: %v", err)
	}
	if err := g.BeforeWrite(ctx, write("s3", "helm_install", trace.Change{Release: "api", Namespace: "ns", Action: trace.Upgraded})); err != nil {
		t.Errorf("the saved upgrade: %v", err)
	}
	if m := g.Missing(); len(m) != 1 || m[0].Object != "ConfigMap/ns/b" {
		t.Errorf("missing %v", m)
	}
}

func TestParamDriftNeverShowsASecret(t *testing.T) {
	saved := &File{Params: []Param{
		{Name: "env", Value: "staging", Digest: ParamDigest("s", "env", "staging")},
		{Name: "api_token", Secret: true, Digest: ParamDigest("s", "api_token", "hunter2")},
	}}
	now := []Param{
		{Name: "env", Value: "production", Digest: ParamDigest("s", "env", "production")},
		{Name: "api_token", Secret: true, Digest: ParamDigest("s", "api_token", "other-secret")},
	}
	d := strings.Join(ParamDrift(saved, now), "\n")
	if !strings.Contains(d, `parameter env: saved "staging", now "production"`) || !strings.Contains(d, "parameter api_token: the value given is not the one") || strings.Contains(d, "other-secret") || strings.Contains(d, "hunter2") {
		t.Errorf("drift:\n%s", d)
	}
	if ParamDigest("a", "p", "v") == ParamDigest("b", "p", "v") {
		t.Error("digests are not salted")
	}
}

func TestSplitObject(t *testing.T) {
	for in, want := range map[string][3]string{
		"ConfigMap/ns/a":                {"ConfigMap", "ns", "a"},
		"Namespace/a":                   {"Namespace", "", "a"},
		"apps/v1/Deployment/ns/web":     {"apps/v1/Deployment", "ns", "web"},
		"deployments.apps/ns/web":       {"deployments.apps", "ns", "web"},
		"v1/ConfigMap/default/settings": {"v1/ConfigMap", "default", "settings"},
	} {
		k, ns, n := splitObject(in)
		if [3]string{k, ns, n} != want {
			t.Errorf("splitObject(%q) = %q %q %q, want %q", in, k, ns, n, want)
		}
	}
}

func TestCheckAge(t *testing.T) {
	f := &File{Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := CheckAge(f, 2*time.Hour, f.Created.Add(time.Hour)); err != nil {
		t.Errorf("an hour-old plan, max 2h: %v", err)
	}
	if err := CheckAge(f, 2*time.Hour, f.Created.Add(3*time.Hour)); err == nil || !strings.Contains(err.Error(), "saved 3h0m0s ago") {
		t.Errorf("a 3h-old plan, max 2h: %v", err)
	}
	if err := CheckAge(f, 0, f.Created.Add(1000*time.Hour)); err != nil {
		t.Errorf("no limit: %v", err)
	}
}

func TestStateDriftObjects(t *testing.T) {
	saved := &File{Cluster: Cluster{Server: "https://s", UID: "u"}, State: State{Objects: []Object{
		{Kind: "apps/v1/Deployment", Namespace: "ns", Name: "status-only", ResourceVersion: "10", ContentDigest: "a"},
		{Kind: "apps/v1/Deployment", Namespace: "ns", Name: "scaled", ResourceVersion: "11", ContentDigest: "b"},
		{Kind: "v1/ConfigMap", Namespace: "ns", Name: "created", Absent: true},
		{Kind: "v1/ConfigMap", Namespace: "ns", Name: "same", ResourceVersion: "12", ContentDigest: "c"},
	}}}
	now := State{Objects: []Object{
		{Kind: "apps/v1/Deployment", Namespace: "ns", Name: "status-only", ResourceVersion: "20", ContentDigest: "a"},
		{Kind: "apps/v1/Deployment", Namespace: "ns", Name: "scaled", ResourceVersion: "21", ContentDigest: "b2"},
		{Kind: "v1/ConfigMap", Namespace: "ns", Name: "created", ResourceVersion: "22", ContentDigest: "d"},
		{Kind: "v1/ConfigMap", Namespace: "ns", Name: "same", ResourceVersion: "12", ContentDigest: "c"},
	}}
	got := StateDrift(saved, saved.Cluster, now, nil)
	want := []string{
		"apps/v1/Deployment/ns/scaled: changed since the plan was saved (resourceVersion 11, now 21)",
		"v1/ConfigMap/ns/created: saved absent, now resourceVersion 22",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := StateDrift(saved, Cluster{Server: "https://other", UID: "v"}, saved.State, nil); len(got) != 1 || !strings.HasPrefix(got[0], "cluster: saved https://s (uid u), now https://other (uid v)") {
		t.Errorf("another cluster: %q", got)
	}
}
