package localcluster

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestLocalReplaces(t *testing.T) {
	gomod := filepath.Join(t.TempDir(), "go.mod")
	content := `module k8s.io/kubernetes

go 1.26.0

require k8s.io/api v0.0.0

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	github.com/x/y => github.com/x/y v1.2.3
)

replace go.etcd.io/etcd/api/v3 => ../api
`
	if err := os.WriteFile(gomod, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := localReplaces(gomod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"go.etcd.io/etcd/api/v3", "k8s.io/api", "k8s.io/client-go"}
	if !slices.Equal(got, want) {
		t.Errorf("localReplaces = %v, want %v", got, want)
	}
}

func TestCacheLayout(t *testing.T) {
	t.Setenv(EnvCacheDir, "")
	t.Setenv(EnvBinDir, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := "/xdg/plate/localcluster/" + CacheKey() + "/bin"; dir != want {
		t.Errorf("BinDir = %s, want %s", dir, want)
	}
	if !strings.Contains(CacheKey(), KubernetesVersion) || CacheKey() != CacheKey() {
		t.Errorf("CacheKey %q", CacheKey())
	}
	t.Setenv(EnvCacheDir, "/other")
	if root, _ := CacheRoot(); root != "/other" {
		t.Errorf("CacheRoot = %s", root)
	}
}

// TestStagesParse checks that every embedded stage is a well-formed kwok
// Stage with a unique name.
func TestStagesParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stages.yaml")
	if err := writeStages(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var st struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				ResourceRef struct {
					Kind string `json:"kind"`
				} `json:"resourceRef"`
				Selector *struct {
					MatchExpressions []map[string]any `json:"matchExpressions"`
				} `json:"selector"`
				Next  map[string]any   `json:"next"`
				Steps []map[string]any `json:"steps"`
			} `json:"spec"`
		}
		if err := yaml.UnmarshalStrict([]byte(doc), &st); err != nil {
			// Only the fields above are declared; check the rest loosely.
			if err := yaml.Unmarshal([]byte(doc), &st); err != nil {
				t.Fatalf("stage doc does not parse: %v\n%s", err, doc)
			}
		}
		if st.Kind == "" {
			continue // comment-only document
		}
		if st.APIVersion != "kwok.x-k8s.io/v1alpha1" || st.Kind != "Stage" {
			t.Errorf("%s: apiVersion %q kind %q", st.Metadata.Name, st.APIVersion, st.Kind)
		}
		if names[st.Metadata.Name] {
			t.Errorf("duplicate stage name %s", st.Metadata.Name)
		}
		names[st.Metadata.Name] = true
		if st.Spec.Selector == nil || len(st.Spec.Selector.MatchExpressions) == 0 {
			t.Errorf("%s: no selector (a nil selector matches nothing in kwok)", st.Metadata.Name)
		}
		if st.Spec.Next == nil && len(st.Spec.Steps) == 0 {
			t.Errorf("%s: neither next nor steps", st.Metadata.Name)
		}
	}
	for _, want := range []string{"plate-node-initialize", "plate-pod-ready", "plate-pod-image-pull-backoff", "plate-pod-crash-exit",
		"plate-pod-never-ready", "plate-pod-init-fail", "plate-pod-ready-slow", "plate-pvc-provision-immediate",
		"plate-pvc-provision-on-consumer", "plate-service-loadbalancer"} {
		if !names[want] {
			t.Errorf("stage %s missing", want)
		}
	}
}

func TestAuditFilter(t *testing.T) {
	var ev AuditEvent
	line := `{"kind":"Event","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/x/configmaps?dryRun=All","verb":"create","user":{"username":"plate-admin","groups":["system:masters"]},"impersonatedUser":{"username":"tester"},"objectRef":{"resource":"configmaps","namespace":"x","name":"c","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-01-02T03:04:05.123456Z","stageTimestamp":"2026-01-02T03:04:05.223456Z"}`
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.EffectiveUser() != "tester" || !ev.DryRun() || ev.Code() != 201 {
		t.Fatalf("parsed %+v", ev)
	}
	cases := []struct {
		f    AuditFilter
		want bool
	}{
		{AuditFilter{}, false}, // dry run excluded by default
		{AuditFilter{IncludeDryRun: true}, true},
		{AuditFilter{IncludeDryRun: true, Users: []string{"tester"}}, true},
		{AuditFilter{IncludeDryRun: true, Users: []string{"plate-admin"}}, false},
		{AuditFilter{IncludeDryRun: true, ExcludeUsers: []string{"tester"}}, false},
		{AuditFilter{IncludeDryRun: true, Verbs: []string{"get"}}, false},
		{AuditFilter{IncludeDryRun: true, Namespaces: []string{"x"}, Resources: []string{"configmaps"}}, true},
		{AuditFilter{IncludeDryRun: true, Resources: []string{"secrets"}}, false},
		{AuditFilter{IncludeDryRun: true, OnlySucceeded: true}, true},
	}
	for i, c := range cases {
		if got := c.f.match(ev); got != c.want {
			t.Errorf("case %d %+v: match = %v, want %v", i, c.f, got, c.want)
		}
	}
}

// TestCleanupStale fakes a leftover run: a process recorded in a state file
// whose owner is gone is stopped, and the run directory removed.
func TestCleanupStale(t *testing.T) {
	t.Setenv(EnvCacheDir, t.TempDir())
	// The owner: a process that has already exited.
	owner := exec.Command("true")
	if err := owner.Run(); err != nil {
		t.Fatal(err)
	}
	// The leftover: a sleeping process in its own session.
	left := exec.Command("sleep", "60")
	left.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = left.Wait(); close(exited) }()
	t.Cleanup(func() { _ = left.Process.Kill() })
	ticks, err := procStartTicks(left.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := RunDir("t-stale")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{st: State{Name: "t-stale", Dir: dir, OwnerPid: owner.Process.Pid, OwnerStartTicks: 1,
		Procs: map[string]ProcRecord{ProcKwok: {Name: ProcKwok, Pid: left.Process.Pid, StartTicks: ticks, Path: "sleep"}}}}
	if err := c.saveLocked(); err != nil {
		t.Fatal(err)
	}
	// A detached cluster (no owner) must be left alone.
	keep, _ := RunDir("up")
	_ = os.MkdirAll(keep, 0o755)
	k := &Cluster{st: State{Name: "up", Dir: keep, Procs: map[string]ProcRecord{}}}
	if err := k.saveLocked(); err != nil {
		t.Fatal(err)
	}

	n, err := CleanupStale(nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("stopped %d, want 1", n)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("leftover process still running")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stale run dir not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(keep, stateFile)); err != nil {
		t.Errorf("detached cluster's state removed: %v", err)
	}
}

func TestProcStat(t *testing.T) {
	ticks, state, err := procStat(os.Getpid())
	if err != nil || ticks == 0 || state == "" {
		t.Fatalf("procStat(self) = %d %q %v", ticks, state, err)
	}
	if !recordAlive(ProcRecord{Pid: os.Getpid(), StartTicks: ticks}) {
		t.Error("self not alive")
	}
	if recordAlive(ProcRecord{Pid: os.Getpid(), StartTicks: ticks + 1}) {
		t.Error("pid with another start time counted as alive")
	}
}
