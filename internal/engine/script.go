package engine

import (
	"fmt"
	"strings"
	"sync"
)

// Script is a scripted cluster: what `plate test` runs a plan against
// instead of a real one. A pass with a Script is an offline dry run (no
// cluster is contacted, nothing is written) whose reads are answered by the
// script: the releases and objects that exist, the cluster's identity, the
// readiness outcome of each object, and the answers to confirmations. The
// builtins are the same; only their reads come from here.
type Script struct {
	Context string
	Server  string
	UID     string
	// Releases that exist, by namespace and name.
	Releases []ScriptRelease
	// Objects that exist, as Kubernetes objects (apiVersion, kind,
	// metadata.name, metadata.namespace at least).
	Objects []map[string]any
	// Ready maps a release name, "kind/name" or "kind/namespace/name" to the
	// outcome of waiting for it: "ready" (the default), "timeout", or
	// "failed: <reason>".
	Ready map[string]string
	// Health is the outcome of health_check: "" or "ok", or "failed: <reason>".
	Health string
	// Confirms are the answers to confirm(), in order; once they run out,
	// every confirmation is answered yes.
	Confirms []bool

	mu    sync.Mutex
	asked int
}

// ScriptRelease is a release that exists in a scripted cluster.
type ScriptRelease struct {
	Name, Namespace, Status, Chart, ChartVersion, AppVersion string
	Revision                                                 int
}

// Release returns the scripted release, or nil.
func (s *Script) Release(name, namespace string) *ScriptRelease {
	for i := range s.Releases {
		r := &s.Releases[i]
		if r.Name == name && (r.Namespace == namespace || namespace == "") {
			return r
		}
	}
	return nil
}

// Object returns the scripted object of a kind ("Secret", "secret",
// "secrets"), or nil.
func (s *Script) Object(kind, namespace, name string) map[string]any {
	want := normalKind(kind)
	for _, o := range s.Objects {
		k, _ := o["kind"].(string)
		md, _ := o["metadata"].(map[string]any)
		n, _ := md["name"].(string)
		ns, _ := md["namespace"].(string)
		if normalKind(k) == want && n == name && (ns == namespace || ns == "" || namespace == "") {
			return o
		}
	}
	return nil
}

func normalKind(k string) string {
	k = strings.ToLower(k)
	if i := strings.IndexByte(k, '.'); i >= 0 {
		k = k[:i]
	}
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		k = k[i+1:]
	}
	return strings.TrimSuffix(k, "s")
}

// Outcome returns the scripted readiness of the first key the script
// names: state is "ready", "timeout" or "failed", with the reason.
func (s *Script) Outcome(keys ...string) (state, reason string) {
	for _, k := range keys {
		v, ok := s.Ready[k]
		if !ok {
			v, ok = s.Ready[strings.ToLower(k)]
		}
		if !ok {
			continue
		}
		st, why, _ := strings.Cut(v, ":")
		return strings.TrimSpace(st), strings.TrimSpace(why)
	}
	return "ready", ""
}

// Confirm returns the next scripted answer (yes when none is left).
func (s *Script) Confirm() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.asked++ }()
	if s.asked < len(s.Confirms) {
		return s.Confirms[s.asked]
	}
	return true
}

// Validate checks the script's outcome strings.
func (s *Script) Validate() error {
	for k, v := range s.Ready {
		st, _, _ := strings.Cut(v, ":")
		switch strings.TrimSpace(st) {
		case "ready", "timeout", "failed":
		default:
			return fmt.Errorf("ready[%q] = %q: want \"ready\", \"timeout\" or \"failed: reason\"", k, v)
		}
	}
	if st, _, _ := strings.Cut(s.Health, ":"); s.Health != "" && st != "ok" && st != "failed" {
		return fmt.Errorf("health = %q: want \"ok\" or \"failed: reason\"", s.Health)
	}
	return nil
}
