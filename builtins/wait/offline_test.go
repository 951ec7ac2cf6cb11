package wait_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/trace"
)

// A dry run watches nothing and says what it would wait for, with the rule
// and the timeout.
func TestDryRunPlansWithoutWatching(t *testing.T) {
	o := runPlan(t, `
rel = fake_release("shop", [
    ("apps/v1", "Deployment", "shop", "api"),
    ("v1", "PersistentVolumeClaim", "shop", "cache"),
    ("v1", "Service", "shop", "web"),
    ("cert-manager.io/v1", "Certificate", "shop", "tls"),
])
r = wait_ready(rel, "crd/widgets.example.com", selector = "app=api", timeout = "2m", lb_timeout = "30s",
               rules = [ready_rule(kind = "Certificate", group = "cert-manager.io", condition = "Ready")])
assert.true(r.dry_run)
assert.eq([o["state"] for o in r.objects], ["Planned"] * 6)
assert.eq(r.objects[0]["id"], "Deployment/shop/api")
assert.eq(r.objects[4]["id"], "CustomResourceDefinition/widgets.example.com")
assert.eq(r.objects[5]["id"], "selector \"app=api\" in plate-test")
one = wait_ready("deployment/api")
assert.eq(one.objects[0]["id"], "Deployment/plate-test/api")
`, offline, "", "plate-test")
	if o.err != nil {
		t.Fatalf("plan failed: %v\n%s", o.err, o.text)
	}
	evs := o.closing("wait_ready", trace.DryRun)
	if len(evs) != 2 {
		t.Fatalf("closing events: %+v", evs)
	}
	if evs[0].Phase != trace.Planned || evs[0].Summary != `would wait up to 2m0s for release shop, crd/widgets.example.com, selector "app=api" (6 objects)` {
		t.Errorf("summary = %s %q", evs[0].Phase, evs[0].Summary)
	}
	if want := "would wait up to 5m0s for Deployment/plate-test/api: all replicas updated and available, old pods gone"; !strings.HasPrefix(evs[1].Summary, want) {
		t.Errorf("summary = %q; want prefix %q", evs[1].Summary, want)
	}
	for _, want := range []string{
		"Deployment/shop/api: all replicas updated and available, old pods gone; fails fast on pod problems (image pull after 15s, crash loop at 3 restarts)",
		"PersistentVolumeClaim/shop/cache: Bound, or Pending on a WaitForFirstConsumer class (awaiting first consumer)",
		"Service/shop/web: ClusterIP, NodePort, ExternalName: exists; LoadBalancer: an ingress address within 30s",
		"Certificate/shop/tls: plan rule PlanRule: condition Ready=True",
		"CustomResourceDefinition/widgets.example.com: Established and NamesAccepted, then the REST mapping is refreshed",
	} {
		if !strings.Contains(o.text, want) {
			t.Errorf("trace lacks %q:\n%s", want, o.text)
		}
	}
	args := evs[0].Args
	if targets, ok := args["targets"].([]any); !ok || len(targets) != 2 || targets[1] != "crd/widgets.example.com" ||
		args["selector"] != "app=api" || args["timeout"] != "2m" {
		t.Errorf("trace args = %v", args)
	}
	if len(o.progress("wait_ready")) != 0 {
		t.Error("a dry run emitted progress")
	}
	var seen bool
	for _, l := range strings.Split(o.jsonl, "\n") {
		if strings.Contains(l, `"builtin":"wait_ready"`) && strings.Contains(l, `"phase":"planned"`) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			seen = ev["detail"].(map[string]any)["timeout"] != nil
			break
		}
	}
	if !seen {
		t.Errorf("JSON lines lack the planned wait's detail:\n%s", o.jsonl)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`wait_ready()`, "nothing to wait for"},
		{`wait_ready("api")`, `"api": want kind/name`},
		{`wait_ready(42)`, "got int, want a release value"},
		{`wait_ready("deployment/api", timeout = "soon")`, `for parameter "timeout": want a duration like "5m" or "90s", got "soon"`},
		{`wait_ready("deployment/api", timeout = 0)`, "timeout must be positive"},
		{`wait_ready("deployment/api", image_pull_grace = -1)`, "not negative"},
		{`wait_ready("deployment/api", crash_loop_restarts = "3")`, "want an int"},
		{`wait_ready(selector = "")`, "nothing to wait for"},
		{`wait_ready(selector = "app in (")`, `selector "app in ("`},
		{`wait_ready("deployment/api", rules = ["x"])`, "want ready_rule(...) values"},
		{`wait_ready("deployment/api", bogus = 1)`, "unexpected keyword argument"},
		{`ready_rule(kind = "Widget")`, "needs a ready condition or a function"},
		{`ready_rule(kind = "Widget.example.com", condition = "Ready")`, "give the kind alone"},
		{`ready_rule(kind = "Widget", condition = "Ready", func = len)`, "either condition= or func="},
		{`ready_rule(kind = "Widget", func = 3)`, "want a function"},
		{`health_check(namespaces = [1])`, "want strings"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			o := runPlan(t, tc.src+"\n", offline, "", "")
			wantErr(t, o, exit.Usage, tc.want)
		})
	}
}

func TestOfflineHealthAndStatus(t *testing.T) {
	o := runPlan(t, `
h = health_check(["a", "b"])
assert.eq(h["namespaces"], ["a", "b"])
assert.eq(status(namespace = "a"), None)
`, offline, "", "")
	if o.err != nil {
		t.Fatal(o.err)
	}
	if evs := o.closing("health_check", trace.DryRun); len(evs) != 1 || evs[0].Phase != trace.Planned ||
		evs[0].Summary != "would check that the cluster answers and every pod in a, b is ready" {
		t.Errorf("health_check events: %+v", evs)
	}
}

func TestReadyRuleValue(t *testing.T) {
	o := runPlan(t, `
def f(obj):
    return "ready"
r = ready_rule(kind = "Widget", group = "example.com", func = f, name = "widgets")
assert.eq(type(r), "ready_rule")
assert.eq(str(r), 'ready_rule(kind="Widget", group="example.com", func=f)')
c = ready_rule(kind = "Certificate", group = "cert-manager.io", condition = "Ready", failed_condition = "Failed")
assert.eq(str(c), 'ready_rule(kind="Certificate", group="cert-manager.io", condition="Ready")')
`, offline, "", "")
	if o.err != nil {
		t.Fatal(o.err)
	}
}
