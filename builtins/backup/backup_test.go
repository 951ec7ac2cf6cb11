package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/runner/runnertest"
	"github.com/plate-dev/plate/internal/trace"
)

func TestMain(m *testing.M) {
	os.Unsetenv(backup.EnvDir)
	runnertest.Main(m)
}

// project is a runnertest project with the test charts under charts/.
type project struct {
	*runnertest.Project
	root string
	// script, when set, makes offline passes scripted (plate test).
	script *engine.Script
}

func newProject(t testing.TB, files map[string]string) *project {
	t.Helper()
	p := runnertest.NewProject(t, files)
	return &project{Project: p, root: p.Root}
}

// result is a run's runnertest.Result; err, text and jsonl are its Err,
// Text (-vv) and JSONL.
type result struct {
	runnertest.Result
	err         error
	text, jsonl string
}

func (r result) closing(builtin string) []trace.Event { return r.Closing(builtin) }

const (
	dryRun  = runnertest.DryRun
	realRun = runnertest.Run
	offline = runnertest.Offline
)

// run runs plan the way `plate run` does, with --yes, over kubeconfig;
// params are comma-separated name=value pairs.
func (p *project) run(plan string, m runnertest.Mode, kubeconfig, params string) result {
	p.T.Helper()
	var ps []string
	if params != "" {
		ps = strings.Split(params, ",")
	}
	r := p.Run(plan, runnertest.Options{Mode: m, Kubeconfig: kubeconfig, Params: ps, Verbose: 2, Now: runnertest.Clock(), Script: p.script})
	return result{Result: r, err: r.Err, text: r.Text, jsonl: r.JSONL}
}

var contains = runnertest.Contains

// Offline, backup() says what it would back up and where, and reads
// nothing; a call without releases is a usage error.
func TestOfflineAndUsage(t *testing.T) {
	p := newProject(t, map[string]string{
		"plan.star": `b = backup("api", "web", namespace = "prod")
assert.eq(b.planned, True)
assert.true(b.id.endswith("-plan"))
assert.eq(b.path, "backups/" + b.id)
`,
		"none.star":  `backup()`,
		"file.star":  `backup("api", dest = "//plan.star/sub")`,
		"wrong.star": `backup(3)`,
	})
	r := p.run("plan.star", offline, "", "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	ev := r.closing("backup")
	if len(ev) != 1 || ev[0].Phase != trace.Planned {
		t.Fatalf("events: %+v", ev)
	}
	contains(t, "summary", ev[0].Summary, "would back up api, web to backups/20260102T", "offline")
	if _, err := os.Stat(filepath.Join(p.root, "backups")); !os.IsNotExist(err) {
		t.Errorf("an offline backup made the directory: %v", err)
	}
	// In a plan test the scripted cluster says which releases exist.
	p.script = &engine.Script{Context: "prod", Releases: []engine.ScriptRelease{{Name: "api", Namespace: "prod", Revision: 3, Status: "deployed"}}}
	r = p.run("plan.star", offline, "", "")
	p.script = nil
	if r.err != nil {
		t.Fatal(r.err)
	}
	if ev := r.closing("backup"); len(ev) != 1 || !strings.HasPrefix(ev[0].Summary, "would save api rev 3 to backups/20260102T") ||
		!strings.HasSuffix(ev[0].Summary, "-plan/ (scripted cluster: objects not read); volume data would not be copied; nothing to back up: release web does not exist in namespace prod yet") {
		t.Errorf("scripted: %+v", ev)
	}
	for plan, want := range map[string]string{"none.star": "name at least one release", "wrong.star": "got int, want a release name", "file.star": "plan.star is not a directory"} {
		r := p.run(plan, offline, "", "")
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("%s: %v, want %q", plan, r.err, want)
		}
	}
}

const webPlan = `
ns = param("ns", "default")
msg = param("msg", "hello")
first = backup("shop", namespace = ns)
shop = helm_install("shop", "//charts/web", namespace = ns, values = ["secret-values.yaml"], set = {"message": msg, "token": secret("CANARY-set-token")})
again = backup(shop)
print(first.skipped, again.id, again.size > 0, again.volumes)
helm_install("other", "//charts/web", namespace = ns)
`

// A first deploy has nothing to back up; the dry run writes nothing and
// says what it would save; a run writes one owner-only backup per run,
// adding to it call by call, with checksums, the cluster and positions.
func TestBackupOnCluster(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	p := newProject(t, map[string]string{
		"plan.star":          webPlan,
		"secret-values.yaml": "password: CANARY-values-password\n",
		"dest.star": `
ns = param("ns", "default")
b = backup("shop", namespace = ns, dest = "//elsewhere")
assert.eq(b.path, "elsewhere/" + b.id)
assert.eq(b.restore, "plate backup restore " + b.id + " --dir elsewhere")
assert.eq([r["name"] for r in b.releases], ["shop"])
assert.eq(b.releases[0]["restore_revision"], 1)
assert.eq(b.volumes, [])
assert.true(b.size > 1000)
`,
		"later.star": `
ns = param("ns", "default")
backup("shop", namespace = ns)
backup("shop", "absent", namespace = ns)
backup("other", namespace = ns)
`,
	})
	kcfg := c.KubeconfigPath()
	params := "ns=" + ns

	// First deploy: nothing to back up, not an error.
	r := p.run("plan.star", realRun, kcfg, params)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.text)
	}
	ev := r.closing("backup")
	if len(ev) != 4 {
		t.Fatalf("backup events: %d\n%s", len(ev), r.text)
	}
	contains(t, "first call", ev[2].Summary, "nothing to back up: release shop does not exist in namespace "+ns+" yet")
	contains(t, "second call", ev[3].Summary, "saved shop rev 1 (4 objects, 1 revision) to backups/20260102T", "volume data not copied")
	first := filepath.Join(p.root, "backups")
	list, err := backup.List(first)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups after the first run: %+v %v", list, err)
	}

	// Dry run of the next deploy: what would be saved, nothing written.
	before := dirState(t, first)
	r = p.run("later.star", dryRun, kcfg, params)
	if r.err != nil {
		t.Fatal(r.err)
	}
	ev = r.closing("backup")
	if len(ev) != 3 || ev[0].Phase != trace.Planned {
		t.Fatalf("dry events: %+v", ev)
	}
	contains(t, "dry summary", ev[0].Summary, "would save shop rev 1 (4 objects, 1 revision) to backups/", "(~", "KiB)", "volume data would not be copied")
	contains(t, "dry second call", ev[1].Summary, "already in this backup: shop", "nothing to back up: release absent does not exist")
	contains(t, "verbose dry trace", r.text, "live   Secret/"+ns+"/shop-web", "nothing written (dry pass)")
	if after := dirState(t, first); after != before {
		t.Errorf("the dry run wrote into the backups directory:\nbefore %s\nafter  %s", before, after)
	}

	// The run: one new backup holding shop once.
	r = p.run("later.star", realRun, kcfg, params)
	if r.err != nil {
		t.Fatal(r.err)
	}
	list, err = backup.List(first)
	if err != nil || len(list) != 2 {
		t.Fatalf("backups: %+v %v", list, err)
	}
	// dest= puts the backup elsewhere.
	if r := p.run("dest.star", realRun, kcfg, params); r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.text)
	}
	if l, err := backup.List(filepath.Join(p.root, "elsewhere")); err != nil || len(l) != 1 {
		t.Errorf("backups in elsewhere/: %+v %v", l, err)
	}
	var id string
	for _, e := range list {
		if e.Plan == "later.star" {
			id = e.ID
		}
	}
	m, err := backup.Load(first, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Releases) != 2 || m.Releases[1].Name != "other" || m.Plan != "later.star" || m.Cluster.UID == "" || m.Cluster.Server == "" || m.VolumeData != backup.VolumeData {
		t.Errorf("manifest: %+v", m)
	}
	rel := m.Releases[0]
	if rel.Pos != "later.star:3:7" || rel.RestoreRevision != 1 || rel.Chart.Name != "web" || !strings.HasPrefix(rel.Chart.Digest, "sha256:") || len(rel.Revisions) != 1 || len(rel.Objects) != 4 {
		t.Errorf("release entry: %+v", rel)
	}
	if probs := backup.Verify(first, m); len(probs) != 0 {
		t.Errorf("verify: %+v", probs)
	}
	kube := c.Clientset()
	sys, err := kube.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
	if err != nil || string(sys.UID) != m.Cluster.UID {
		t.Errorf("cluster uid %s, kube-system %v %v", m.Cluster.UID, sys.UID, err)
	}
	// Secrets are in the files (owner-only), never in the trace.
	all := readAll(t, filepath.Join(first, id))
	contains(t, "backup files", all, "CANARY-values-password", "CANARY-set-token", "sh.helm.release.v1.shop.v1")
	for _, out := range []string{r.text, r.jsonl} {
		if strings.Contains(out, "CANARY") {
			t.Errorf("a secret value reached the trace:\n%s", out)
		}
	}
}

// dirState lists the paths under dir with their sizes.
func dirState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			b.WriteString(p)
			b.WriteString(" ")
		}
		return nil
	})
	return b.String()
}

func readAll(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			if fi != nil && fi.IsDir() && fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %04o", p, fi.Mode().Perm())
			}
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o", p, fi.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		b.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
