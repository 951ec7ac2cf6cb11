package wait_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
)

// Starlark helpers that build manifests, prepended to the cluster tests'
// plans.
const manifests = `
def labels(name):
    return {"app": name}

def template(name, annotations = {}, restart = "Always", init = False):
    spec = {"containers": [{"name": "app", "image": "plate.dev/demo:1"}], "restartPolicy": restart}
    if init:
        spec["initContainers"] = [{"name": "init", "image": "plate.dev/init:1"}]
    return {"metadata": {"labels": labels(name), "annotations": annotations}, "spec": spec}

def deployment(name, replicas = 1, annotations = {}, init = False):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels(name)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels(name)},
                     "template": template(name, annotations, init = init)}}

def statefulset(name, replicas = 1):
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels(name)},
                     "template": template(name)}}

def daemonset(name):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": labels(name)}, "template": template(name)}}

def job(name, annotations = {}):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": template(name, annotations, restart = "Never")}}

def pvc(name, class_name):
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class_name,
                     "resources": {"requests": {"storage": "1Gi"}}}}

def service(name, type = "ClusterIP", annotations = {}):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "annotations": annotations},
            "spec": {"type": type, "selector": labels(name), "ports": [{"port": 80}]}}
`

func cluster(t *testing.T) (kubeconfig, ns string) {
	t.Helper()
	c := localcluster.ForTest(t)
	return c.KubeconfigPath(), c.TestNamespace(t)
}

func TestHealthyKindsBecomeReady(t *testing.T) {
	kc, ns := cluster(t)
	group := strings.ReplaceAll(ns, "-", "") + ".plate.dev"
	o := runPlan(t, manifests+fmt.Sprintf(`
kube_apply([
    deployment("web", replicas = 2),
    statefulset("db"),
    service("db"),
    daemonset("agent"),
    job("migrate"),
    pvc("data", "standard"),
    pvc("cache", "openebs-hostpath"),
    service("edge", type = "LoadBalancer"),
])
rel = fake_release("web", [("apps/v1", "Deployment", "", "web"), ("v1", "Service", "", "db")])
r = wait_ready(rel, "statefulset/db", "ds/agent", "job/migrate", "pvc/data", "pvc/cache", "svc/edge", timeout = "60s")
got = {o["id"]: (o["state"], o["reason"]) for o in r.objects}
ns = %[1]q
assert.eq(len(r.objects), 8)
if not r.dry_run:
    assert.eq(got["Deployment/" + ns + "/web"], ("Ready", ""))
    assert.eq(got["StatefulSet/" + ns + "/db"], ("Ready", ""))
    assert.eq(got["DaemonSet/" + ns + "/agent"], ("Ready", ""))
    assert.eq(got["Job/" + ns + "/migrate"], ("Ready", ""))
    assert.eq(got["PersistentVolumeClaim/" + ns + "/data"], ("Ready", ""))
    assert.eq(got["PersistentVolumeClaim/" + ns + "/cache"], ("Ready", "AwaitingFirstConsumer"))
    assert.eq(got["Service/" + ns + "/edge"], ("Ready", ""))

# The selector finds the Deployment through its pods.
s = wait_ready(selector = "app=web", timeout = "30s")
if not s.dry_run:
    assert.eq([o["id"] for o in s.objects], ["Deployment/" + ns + "/web"])

kube_apply({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.%[2]s"},
            "spec": {"group": %[2]q, "scope": "Namespaced",
                     "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
c = wait_ready("crd/widgets.%[2]s", timeout = "30s")
assert.eq(c.objects[0]["state"], "Planned" if c.dry_run else "Ready")
`, ns, group), realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
	evs := o.closing("wait_ready", trace.Run)
	if len(evs) != 3 || !strings.Contains(evs[0].Summary, "8 ready in") ||
		!strings.Contains(evs[0].Summary, "PersistentVolumeClaim/"+ns+"/cache: AwaitingFirstConsumer") {
		t.Errorf("run summaries: %q", summaries(evs))
	}
	if pf := o.closing("wait_ready", trace.Preflight); len(pf) != 3 || pf[0].Phase != trace.Planned {
		t.Errorf("preflight: %q", summaries(pf))
	}
	if len(o.progress("wait_ready")) == 0 {
		t.Error("no progress events")
	}

	// The new kind is usable at once, and a plan function judges it.
	o = runPlan(t, fmt.Sprintf(`
def sized(obj):
    size = obj.get("spec", {}).get("size", 0)
    if size > 0:
        return ("ready", "size %%d" %% size)
    return "progressing"

kube_apply({"apiVersion": "%[1]s/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}})
r = wait_ready("widgets.%[1]s/w", rules = [ready_rule(kind = "Widget", group = %[1]q, func = sized)], timeout = "20s")
if not r.dry_run:
    assert.eq(r.objects[0]["message"], "size 3")
`, group), realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
}

func summaries(evs []trace.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Phase)+": "+e.Summary)
	}
	return out
}

// Each failure stage of the local cluster fails wait_ready within its
// grace period (or its timeout), with the right reason and exit code.
func TestFailureStages(t *testing.T) {
	kc := localcluster.ForTest(t).KubeconfigPath()
	tests := []struct {
		name  string
		plan  string
		code  int
		wants []string
		// firstLine are wanted in the error's first line: the line the
		// trace, the stop report and a CI log show.
		firstLine []string
		within    time.Duration
		notEarly  time.Duration
	}{
		{
			name:  "image pull back-off",
			plan:  `kube_apply(deployment("api", annotations = {"plate.dev/simulate": "image-pull-backoff"}))` + "\n" + `wait_ready("deployment/api", image_pull_grace = "2s", timeout = "60s")`,
			code:  exit.PlanFailed,
			wants: []string{"Deployment/NS/api failed", "ImagePullBackOff", "container app", "events:", "Back-off pulling image"},
			// the pod starts within a second; 2s of grace (measured from
			// second-resolution API timestamps); then at once.
			within: 8 * time.Second, notEarly: time.Second,
		},
		{
			name:   "crash loop",
			plan:   `kube_apply(deployment("api", annotations = {"plate.dev/simulate": "crash-loop"}))` + "\n" + `wait_ready("deployment/api", crash_loop_restarts = 2, timeout = "60s")`,
			code:   exit.PlanFailed,
			wants:  []string{"Deployment/NS/api failed", "CrashLoopBackOff", "container app", "last termination: Error, exit code 1"},
			within: 15 * time.Second,
		},
		{
			name:   "init container failure",
			plan:   `kube_apply(deployment("api", init = True, annotations = {"plate.dev/simulate": "init-fail"}))` + "\n" + `wait_ready("deployment/api", crash_loop_restarts = 1, timeout = "60s")`,
			code:   exit.PlanFailed,
			wants:  []string{"Deployment/NS/api failed", "ContainerFailed", "init container init", "exit code 1", "init container failed (simulated"},
			within: 8 * time.Second,
		},
		{
			name:     "never ready times out",
			plan:     `kube_apply(deployment("api", annotations = {"plate.dev/simulate": "never-ready"}))` + "\n" + `wait_ready("deployment/api", "svc/kubernetes", timeout = "3s")`,
			code:     exit.Timeout,
			wants:    []string{"timed out after 3s", "not ready: Deployment/NS/api", "Deployment/NS/api: Progressing", "0/1"},
			within:   8 * time.Second,
			notEarly: 3 * time.Second,
		},
		{
			name:     "pending load balancer",
			plan:     `kube_apply(service("edge", type = "LoadBalancer", annotations = {"plate.dev/lb-pending": "true"}))` + "\n" + `wait_ready("svc/edge", lb_timeout = "2s", timeout = "60s")`,
			code:     exit.Timeout,
			wants:    []string{"no load balancer address after 2s for Service/NS/edge", "AwaitingLoadBalancer", "MetalLB", "IPAddressPool"},
			within:   8 * time.Second,
			notEarly: 2 * time.Second,
		},
		{
			name:      "failed job",
			plan:      `kube_apply(job("once", annotations = {"plate.dev/simulate": "fail"}))` + "\n" + `wait_ready("job/once", timeout = "60s")`,
			code:      exit.PlanFailed,
			wants:     []string{"Job/NS/once failed", "BackoffLimitExceeded"},
			firstLine: []string{"BackoffLimitExceeded", "container app exited with code 1", "container failed (simulated by plate localcluster)"},
			within:    15 * time.Second,
		},
		{
			// The persistent volume controller knows at once; plate waits
			// for the grace only, not the timeout. (The preflight's
			// reference check would refuse the claim: silenced here, as if
			// the class were removed after the preflight.)
			name:      "storage class that does not exist",
			plan:      `p = pvc("data", "no-such-class")` + "\n" + `p["metadata"]["annotations"] = {"plate.dev/ignore-check": "storage-class"}` + "\n" + `kube_apply(p)` + "\n" + `wait_ready("pvc/data", storage_class_grace = "2s", timeout = "60s")`,
			code:      exit.PlanFailed,
			wants:     []string{"events:", `ProvisioningFailed PersistentVolumeClaim/data: storageclass.storage.k8s.io "no-such-class" not found`},
			firstLine: []string{"PersistentVolumeClaim/NS/data failed", "StorageClassNotFound", `storage class "no-such-class" does not exist`},
			within:    8 * time.Second, notEarly: time.Second,
		},
		{
			// Admission refuses the pods; the ReplicaSet's FailedCreate
			// reaches the Deployment as ReplicaFailure. (The reference
			// check is silenced, as in the case above.)
			name: "missing service account",
			plan: `d = deployment("api")` + "\n" + `d["spec"]["template"]["spec"]["serviceAccountName"] = "no-such-sa"` + "\n" +
				`d["metadata"]["annotations"] = {"plate.dev/ignore-check": "service-account"}` + "\n" +
				`kube_apply(d)` + "\n" + `wait_ready("deployment/api", replica_failure_grace = "1s", timeout = "60s")`,
			code:      exit.PlanFailed,
			firstLine: []string{"Deployment/NS/api failed", "ReplicaFailure", `serviceaccount "no-such-sa" not found`},
			within:    8 * time.Second,
		},
		{
			name: "statefulset with a missing service account",
			plan: `s = statefulset("db")` + "\n" + `s["spec"]["template"]["spec"]["serviceAccountName"] = "no-such-sa"` + "\n" +
				`s["metadata"]["annotations"] = {"plate.dev/ignore-check": "service-account"}` + "\n" +
				`kube_apply(s)` + "\n" + `wait_ready("statefulset/db", replica_failure_grace = "1s", timeout = "60s")`,
			code:      exit.PlanFailed,
			firstLine: []string{"StatefulSet/NS/db failed", "FailedCreate", `serviceaccount "no-such-sa" not found`},
			within:    8 * time.Second,
		},
		{
			name:      "timeout names every reason",
			plan:      `kube_apply([deployment("api", annotations = {"plate.dev/simulate": "never-ready"}), pvc("data", "openebs-hostpath")])` + "\n" + `wait_ready("deployment/api", "pvc/data", "configmap/later", timeout = "3s")`,
			code:      exit.Timeout,
			firstLine: []string{"timed out after 3s: 1/3 ready, not ready: Deployment/NS/api (ReplicasUnavailable: 0/1 updated replicas available", "ConfigMap/NS/later (NotFound: object does not exist)"},
			within:    8 * time.Second, notEarly: 3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := localcluster.ForTest(t).TestNamespace(t)
			start := time.Now()
			o := runPlan(t, manifests+tt.plan+"\n", realRun, kc, ns)
			took := time.Since(start)
			var wants []string
			for _, w := range tt.wants {
				wants = append(wants, strings.ReplaceAll(w, "NS", ns))
			}
			wantErr(t, o, tt.code, wants...)
			if o.err != nil {
				first, _, _ := strings.Cut(o.err.Error(), "\n")
				for _, w := range tt.firstLine {
					if w = strings.ReplaceAll(w, "NS", ns); !strings.Contains(first, w) {
						t.Errorf("the error's first line lacks %q:\n%s", w, first)
					}
				}
				// The failed trace line (and so the stop report) is that line.
				if evs := o.closing("wait_ready", trace.Run); len(evs) == 1 && !strings.HasSuffix(first, evs[0].Summary) {
					t.Errorf("trace line %q is not the error's first line %q", evs[0].Summary, first)
				}
			}
			if took > tt.within {
				t.Errorf("took %s; want under %s", took, tt.within)
			}
			if took < tt.notEarly {
				t.Errorf("took %s; failed before its grace or timeout of %s", took, tt.notEarly)
			}
			evs := o.closing("wait_ready", trace.Run)
			if len(evs) != 1 || evs[0].Phase != trace.Failed {
				t.Errorf("closing events: %q", summaries(evs))
			}
			t.Logf("%s: %s\n%v", tt.name, took.Round(time.Millisecond), o.err)
		})
	}
}

func TestHealthCheck(t *testing.T) {
	kc, ns := cluster(t)
	o := runPlan(t, manifests+`
kube_apply([deployment("web"), job("once")])
live = not wait_ready("deployment/web", "job/once", timeout = "30s").dry_run
h = health_check()
if live:
    assert.eq(h["pods"], h["ready"])
    assert.eq(h["pods"], 2)
    assert.true(h["server_version"].startswith("v1."))
kube_apply(deployment("api", annotations = {"plate.dev/simulate": "crash-loop"}))
`, realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
	time.Sleep(4 * time.Second) // a few crashes
	o = runPlan(t, `health_check([`+fmt.Sprintf("%q", ns)+`])`+"\n", realRun, kc, ns)
	wantErr(t, o, exit.PlanFailed, "health_check: 2/3 pods ready in "+ns+"; 1 problem", "CrashLoopBackOff", "container app")
}

func TestStatusBuiltin(t *testing.T) {
	kc, ns := cluster(t)
	o := runPlan(t, manifests+`
kube_apply([deployment("web"), service("web", type = "LoadBalancer")])
live = not wait_ready("deployment/web", "svc/web", timeout = "30s").dry_run
s = status()
if live:
    assert.eq(len(s["pods"]), 1)
    assert.eq(s["pods"][0]["ready"], 1)
    assert.eq(s["services"][0]["type"], "LoadBalancer")
    assert.true(s["services"][0]["external"][0].startswith("127.240."))
    assert.eq(s["releases"], [])
else:
    assert.eq(len(s["pods"]), 0)
`, realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
}

// A release value from helm_install stands for every object of its
// manifest; with needs= the wait runs as a concurrent step.
func TestReleaseValue(t *testing.T) {
	kc, ns := cluster(t)
	root := t.TempDir()
	copyDir(t, "../../testdata/charts/web", filepath.Join(root, "web"))
	o := runPlan(t, fmt.Sprintf(`
r = helm_install("web", %q, namespace = %q)
w = wait_ready(r, timeout = "60s", needs = [r])
kinds = sorted([o["kind"] for o in w.objects])
assert.eq(kinds, ["ConfigMap", "Deployment", "Secret", "Service"])
assert.eq([o["state"] for o in w.objects], ["Planned" if w.dry_run else "Ready"] * 4)
`, filepath.Join(root, "web"), ns), realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
	evs := o.closing("wait_ready", trace.Run)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Summary, "4 ready in") || len(evs[0].Needs) != 1 {
		t.Errorf("run: %q (needs %v)", summaries(evs), evs)
	}
}

// On the local control plane: needs=None and needs=[] keep a step in
// sequence (it starts only once the slow concurrent wait before it is over),
// while needs = [plan_start] starts one at once, alongside that wait.
func TestNeedsDefaultsRunInSequenceOnCluster(t *testing.T) {
	kc, ns := cluster(t)
	o := runPlan(t, manifests+`
def configmap(name):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}

kube_apply(deployment("slow", annotations = {"plate.dev/ready-delay": "3s"}))
w = wait_ready("deployment/slow", timeout = "60s", needs = [plan_start])
kube_apply(configmap("alongside"), needs = [plan_start])
kube_apply(configmap("after-none"), needs = None)
kube_apply(configmap("after-empty"), needs = [])
`, realRun, kc, ns)
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
	at := map[string]int{} // "builtin phase summary-prefix" -> index in the run's events
	concurrent := map[string]bool{}
	for i, e := range o.events {
		if e.Pass != trace.Run {
			continue
		}
		key := e.Builtin + " " + string(e.Phase)
		if e.Builtin == "kube_apply" && e.Args != nil {
			if m, ok := e.Args["manifest"].(map[string]any); ok {
				md, _ := m["metadata"].(map[string]any)
				key += " " + fmt.Sprint(md["name"])
				concurrent[fmt.Sprint(md["name"])] = e.Concurrent
			}
		}
		if _, seen := at[key]; !seen {
			at[key] = i
		}
	}
	waitDone, ok := at["wait_ready done"]
	if !ok {
		t.Fatalf("no wait_ready done event:\n%s", o.text)
	}
	for _, name := range []string{"after-none", "after-empty"} {
		start, ok := at["kube_apply started "+name]
		if !ok || start < waitDone || concurrent[name] {
			t.Errorf("%s (started at event %d, concurrent %v) did not wait for the wait (done at event %d):\n%s", name, start, concurrent[name], waitDone, o.text)
		}
	}
	if start := at["kube_apply started alongside"]; start > waitDone || !concurrent["alongside"] {
		t.Errorf("the step with needs = [plan_start] (started at event %d) waited for the wait (done at event %d):\n%s", start, waitDone, o.text)
	}
	if !strings.Contains(o.text, "(after plan_start)") {
		t.Errorf("the trace does not mark the concurrent steps:\n%s", o.text)
	}
}
