package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/iostreams"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/planfile"
)

// The canaries a saved plan must never hold: a secret parameter's value and
// a secret() in the plan's values.
const (
	paramCanary  = "CANARY-param-db-pass-7f3a"
	inlineCanary = "CANARY-inline-token-91c2"
)

// savedShopPlan upgrades release shop (the web chart) with a message and a
// secret parameter, and applies a ConfigMap that carries the message.
func savedShopPlan(t *testing.T, e *e2e) string {
	t.Helper()
	return e.plan(t, `
ns = param("ns", "default")
msg = param("msg", "v1")
db_password = param("db_password", "")
shop = helm_install("shop", "`+webChartPath(t)+`", namespace = ns,
                    set = {"message": msg, "password": secret(db_password), "token": secret("`+inlineCanary+`")})
wait_ready(shop)
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-mode"}, "data": {"mode": msg}}, namespace = ns)
`)
}

func (e *e2e) configMapData(t *testing.T, name, key string) string {
	t.Helper()
	cm, err := e.c.Clientset().CoreV1().ConfigMaps(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return cm.Data[key]
}

// A saved plan applies; it refuses, with no write, after someone scaled a
// Deployment it touches, after its plan file changed, and without (or with
// another) secret parameter; the file is owner-only and holds no secret.
func TestE2ESavedPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := savedShopPlan(t, e)
	kc := []string{"--kubeconfig", e.kubeconfig}
	args := func(extra ...string) []string {
		return append(append(append([]string{}, extra...), kc...), "-p", "ns="+e.ns)
	}
	r := runPlate(t, "", false, append(args("run", plan), "-p", "msg=v1", "-p", "db_password="+paramCanary)...)
	if r.code != 0 {
		t.Fatalf("first deploy: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	save := func(t *testing.T, msg string) string {
		t.Helper()
		file := filepath.Join(t.TempDir(), "shop.plan")
		r := runPlate(t, "", false, append(args("run", "--dry-run", "--save-plan", file, plan), "-p", "msg="+msg, "-p", "db_password="+paramCanary)...)
		if r.code != 0 {
			t.Fatalf("save: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		return file
	}
	apply := func(file string, extra ...string) result {
		return runPlate(t, "", false, append(append([]string{"apply", file, "--kubeconfig", e.kubeconfig}, extra...), "-p", "db_password="+paramCanary)...)
	}

	t.Run("file", func(t *testing.T) {
		file := save(t, "v2")
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("plan file mode %v, want 0600", st.Mode().Perm())
		}
		b, _ := os.ReadFile(file)
		for _, c := range []string{paramCanary, inlineCanary} {
			if strings.Contains(string(b), c) {
				t.Errorf("plan file holds the secret %s", c)
			}
		}
		pf, err := planfile.Read(file)
		if err != nil {
			t.Fatal(err)
		}
		var effects []string
		for _, ef := range pf.Effects {
			effects = append(effects, ef.Builtin+" "+ef.Action+" "+ef.Target())
		}
		want := []string{"helm_install upgrade release " + e.ns + "/shop", "kube_apply apply ConfigMap/" + e.ns + "/shop-mode"}
		if strings.Join(effects, "; ") != strings.Join(want, "; ") {
			t.Errorf("effects %q, want %q", effects, want)
		}
		var dep bool
		for _, o := range pf.State.Objects {
			if strings.HasSuffix(o.Kind, "/Deployment") && o.ResourceVersion != "" {
				dep = true
			}
		}
		if !dep || len(pf.State.Releases) != 1 || pf.State.Releases[0].Revision != 1 || pf.Cluster.UID == "" || len(pf.State.Charts) != 1 {
			t.Errorf("plan file lacks the state it is bound to: %+v %+v", pf.Cluster, pf.State)
		}
		for _, p := range pf.Params {
			if p.Name == "db_password" && (!p.Secret || p.Value != "" || p.Digest == "") {
				t.Errorf("secret parameter stored as %+v", p)
			}
		}
	})

	t.Run("applies", func(t *testing.T) {
		file := save(t, "v2")
		r := apply(file, "--detailed-exitcode")
		if r.code != exit.ChangesPending {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		if got := releaseHistory(t, e, "shop", e.ns); got != "1:superseded 2:deployed" {
			t.Errorf("history after apply: %s", got)
		}
		if got := e.configMapData(t, "shop-mode", "mode"); got != "v2" {
			t.Errorf("ConfigMap mode %q after apply, want v2", got)
		}
		// Applied once, the plan is stale: the release moved on.
		var again result
		muts := e.mutations(t, func() { again = apply(file) })
		if again.code != exit.PlanFailed || len(muts) != 0 || !strings.Contains(again.errOut, "release "+e.ns+"/shop: saved rev 1 deployed, now rev 2 deployed") {
			t.Errorf("second apply of one plan: exit %d, %d writes\n%s", again.code, len(muts), again.errOut)
		}
	})

	t.Run("refuses after a scale", func(t *testing.T) {
		file := save(t, "v3")
		ctx := context.Background()
		deps, err := e.c.Clientset().AppsV1().Deployments(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(deps.Items) != 1 {
			t.Fatalf("deployments: %v %v", deps, err)
		}
		d := &deps.Items[0]
		two := int32(2)
		d.Spec.Replicas = &two
		if _, err := e.c.Clientset().AppsV1().Deployments(e.ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var r result
		muts := e.mutations(t, func() { r = apply(file) })
		if r.code != exit.PlanFailed {
			t.Fatalf("apply after a scale: exit %d\n%s%s", r.code, r.out, r.errOut)
		}
		if len(muts) != 0 {
			t.Errorf("a refused saved plan wrote %d times: %v", len(muts), muts)
		}
		if !strings.Contains(r.errOut, "Deployment/"+e.ns+"/"+d.Name+": changed since the plan was saved (resourceVersion") || !strings.Contains(r.errOut, "nothing was written") {
			t.Errorf("refusal does not name the drifted Deployment:\n%s", r.errOut)
		}
		if got := e.configMapData(t, "shop-mode", "mode"); got != "v2" {
			t.Errorf("ConfigMap mode %q after a refused apply, want v2 still", got)
		}
	})

	t.Run("refuses a changed plan", func(t *testing.T) {
		file := save(t, "v4")
		src, _ := os.ReadFile(plan)
		t.Cleanup(func() { _ = os.WriteFile(plan, src, 0o644) })
		if err := os.WriteFile(plan, append(src, []byte("\n# changed\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		var r result
		muts := e.mutations(t, func() { r = apply(file, "-o", "json") })
		if r.code != exit.PlanFailed || len(muts) != 0 || !strings.Contains(r.errOut, "plan.star changed since it was saved") {
			t.Errorf("apply of a changed plan: exit %d, %d writes\n%s", r.code, len(muts), r.errOut)
		}
		var refusal struct {
			Refused bool     `json:"refused"`
			Drift   []string `json:"drift"`
		}
		if err := json.Unmarshal([]byte(r.out), &refusal); err != nil || !refusal.Refused || len(refusal.Drift) != 1 {
			t.Errorf("-o json refusal %q: %v", r.out, err)
		}
	})

	t.Run("secret parameter", func(t *testing.T) {
		file := save(t, "v4")
		r := runPlate(t, "", false, "apply", file, "--kubeconfig", e.kubeconfig)
		if r.code != exit.Usage || !strings.Contains(r.errOut, "-p db_password: secret parameter") {
			t.Logf("%s", r.errOut)
			t.Errorf("apply without the secret parameter: exit %d\n%s", r.code, r.errOut)
		}
		r = runPlate(t, "", false, "apply", file, "--kubeconfig", e.kubeconfig, "-p", "db_password=other")
		if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "parameter db_password: the value given is not the one") || strings.Contains(r.errOut, "other") {
			t.Errorf("apply with another secret: exit %d\n%s", r.code, r.errOut)
		}
		r = runPlate(t, "", false, "apply", file, "--kubeconfig", e.kubeconfig, "-p", "db_password="+paramCanary, "-p", "msg=v9")
		if r.code != exit.Usage || !strings.Contains(r.errOut, "the saved plan holds this parameter's value") {
			t.Errorf("apply overriding a saved parameter: exit %d\n%s", r.code, r.errOut)
		}
		// The file was saved at the fixed test clock, long ago.
		r = runPlateNow(t, "", false, "apply", file, "--kubeconfig", e.kubeconfig, "-p", "db_password="+paramCanary, "--max-age", "2h")
		if r.code != exit.PlanFailed || !strings.Contains(r.errOut, "more than --max-age") {
			t.Logf("%s", r.errOut)
			t.Errorf("apply of an old plan: exit %d\n%s", r.code, r.errOut)
		}
	})
}

// actingReader is a terminal's input that lets someone change the cluster
// while plate waits for the answer, then answers yes.
type actingReader struct {
	once sync.Once
	act  func()
	r    io.Reader
}

func (a *actingReader) Read(p []byte) (int, error) {
	a.once.Do(a.act)
	return a.r.Read(p)
}

// A saved plan whose run meets a cluster that changed after the preflight
// (while a confirm() waits) stops before the first write the plan did not
// plan, and makes the writes before it.
func TestE2ESavedPlanStopsBeforeDivergentWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "first"}, "data": {"v": "new"}}, namespace = ns)
confirm("continue?")
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "second"}, "data": {"v": "same"}}, namespace = ns)
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "third"}, "data": {"v": "new"}}, namespace = ns)
`)
	ctx := context.Background()
	cms := e.c.Clientset().CoreV1().ConfigMaps(e.ns)
	for name, v := range map[string]string{"first": "old", "second": "same"} {
		if _, err := cms.Create(ctx, configMap(name, v), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "p.plan")
	r := runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "--save-plan", file, plan)
	if r.code != 0 {
		t.Fatalf("save: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// A saved plan is no answer to confirm(): without a terminal and
	// without --yes, apply stops in its preflight, before any write.
	var noTTY result
	muts := e.mutations(t, func() { noTTY = runPlate(t, "", false, "apply", file, "--kubeconfig", e.kubeconfig) })
	if noTTY.code != exit.Aborted || len(muts) != 0 {
		t.Errorf("apply of a plan that asks, without a terminal or --yes: exit %d, %d writes\n%s", noTTY.code, len(muts), noTTY.errOut)
	}
	// While the run asks, someone edits "second": the run's apply of it
	// would now change it, which the saved plan did not plan.
	in := &actingReader{r: strings.NewReader("y\n"), act: func() {
		cm, err := cms.Get(ctx, "second", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		cm.Data["v"] = "edited"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}}
	ios, out, errOut := iostreams.Test("")
	ios.In = in
	ios.SetTTY(true, true)
	code := Main([]string{"apply", file, "--kubeconfig", e.kubeconfig}, &Factory{IO: ios, Now: time.Now, Plugins: registry.Plugins})
	if code != exit.PlanFailed {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut.String(), "stopped before this write") || !strings.Contains(errOut.String(), "ConfigMap/"+e.ns+"/second") {
		t.Errorf("the stop does not name the divergent write:\n%s%s", out, errOut)
	}
	for name, want := range map[string]string{"first": "new", "second": "edited"} {
		if got := e.configMapData(t, name, "v"); got != want {
			t.Errorf("ConfigMap %s: v=%q, want %q", name, got, want)
		}
	}
	if _, err := cms.Get(ctx, "third", metav1.GetOptions{}); err == nil {
		t.Errorf("ConfigMap third was created after the divergent write")
	}
}

func configMap(name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": v}}
}

// A release the saved plan installs, installed by someone else while the run
// asks: the run would upgrade it instead, and stops before that write.
func TestE2ESavedPlanStopsBeforeAnUnplannedUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local control plane")
	}
	e := newE2E(t)
	plan := e.plan(t, `
ns = param("ns", "default")
confirm("install late?")
helm_install("late", "`+webChartPath(t)+`", namespace = ns, set = {"message": "from the plan"})
`)
	file := filepath.Join(t.TempDir(), "p.plan")
	r := runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "--save-plan", file, plan)
	if r.code != 0 {
		t.Fatalf("save: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	in := &actingReader{r: strings.NewReader("y\n"), act: func() {
		kc, err := kube.Connect(kube.Settings{Kubeconfig: e.kubeconfig}, false)
		if err != nil {
			t.Error(err)
			return
		}
		hc, err := helm.New(helm.Options{Kube: kc})
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := hc.Install(context.Background(), helm.InstallRequest{Release: "late", Namespace: e.ns,
			Chart: helm.ChartSource{Chart: webChartPath(t), Path: webChartPath(t)}, Values: helm.Values{Set: map[string]any{"message": "from someone else"}}}); err != nil {
			t.Error(err)
		}
	}}
	ios, out, errOut := iostreams.Test("")
	ios.In = in
	ios.SetTTY(true, true)
	code := Main([]string{"apply", file, "--kubeconfig", e.kubeconfig}, &Factory{IO: ios, Now: time.Now, Plugins: registry.Plugins})
	if code != exit.PlanFailed {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut.String(), "the saved plan has s2 helm_install at plan.star:4:13: install release "+e.ns+"/late; the run would upgrade release "+e.ns+"/late") {
		t.Errorf("the stop does not name the divergent upgrade:\n%s%s", out, errOut)
	}
	if got := releaseHistory(t, e, "late", e.ns); got != "1:deployed" {
		t.Errorf("history of late %q: the plan's write was made", got)
	}
}
