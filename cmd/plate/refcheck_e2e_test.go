package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// refChart writes a chart whose templates are objects.
func refChart(t *testing.T, name, objects string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	writeTree(t, dir, map[string]string{
		"Chart.yaml":          "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n",
		"templates/objs.yaml": objects,
	})
	return dir
}

// deployment is a Deployment template whose pod spec is spec (indented
// for it).
func deployment(name, spec string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `}
spec:
  replicas: 1
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata: {labels: {app: ` + name + `}}
    spec:
` + spec
}

// Each check of the reference check, on the local control plane: a run
// whose preflight finds a reference that is missing or in conflict stops
// with exit 2 before any write (the audit log shows none), and says what
// is missing.
func TestE2ERefCheckStopsBeforeAnyWrite(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	cs := e.c.Clientset()

	// A node that only pods tolerating its taint may use.
	pool := "tainted-" + e.ns
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "refcheck-" + e.ns, Labels: map[string]string{"plate.dev/pool": pool}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })

	// An object nobody's release owns, one of another release, a
	// Deployment of a release to upgrade, a quota.
	if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "handmade"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := e.plan(t, fmt.Sprintf(`helm_install("first", %q, namespace = %q)`,
		refChart(t, "first", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n---\n"+deployment("stable", "      containers: [{name: c, image: c}]\n")), e.ns))
	if r := runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "--yes", first); r.code != 0 {
		t.Fatalf("first release: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	quotaNS := e.c.TestNamespace(t)
	_, err := cs.CoreV1().ResourceQuotas(quotaNS).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "compute"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("300m")}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		// chart is a chart's objects (installed as release "subject"), or
		// plan a plan's source when the step is a kube_apply.
		chart, plan string
		ns          string
		want        []string
	}{
		{name: "storage-class", chart: `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {storageClassName: fast, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`, want: []string{"storage-class PersistentVolumeClaim/NS/data spec.storageClassName: StorageClass fast does not exist (classes: openebs-hostpath, standard)"}},
		{name: "volume-claim-template", chart: `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: db}]}}
  volumeClaimTemplates: [{metadata: {name: data}, spec: {storageClassName: fast, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}}]
`, want: []string{"spec.volumeClaimTemplates[0].spec.storageClassName: StorageClass fast does not exist"}},
		{name: "secret-and-configmap", chart: deployment("app", `      imagePullSecrets: [{name: regcred}]
      containers:
        - name: app
          image: app
          envFrom: [{secretRef: {name: api-keys}}, {secretRef: {name: maybe, optional: true}}]
      volumes: [{name: cfg, configMap: {name: app-settings}}]
`), want: []string{"Secret NS/regcred does not exist", "ConfigMap NS/app-settings does not exist", "containers[0].envFrom[0].secretRef.name: Secret NS/api-keys does not exist"}},
		{name: "hook-job", chart: `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {"helm.sh/hook": pre-install}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: m, env: [{name: DB, valueFrom: {secretKeyRef: {name: db-creds, key: url}}}]}]
`, want: []string{"Job/NS/migrate spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name: Secret NS/db-creds does not exist"}},
		{name: "classes-and-account", chart: `apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          serviceAccountName: robot
          priorityClassName: urgent
          runtimeClassName: gvisor
          containers: [{name: c, image: c}]
`, want: []string{"ServiceAccount NS/robot does not exist", "PriorityClass urgent does not exist", "RuntimeClass gvisor does not exist"}},
		{name: "node-selector", chart: deployment("picky", "      nodeSelector: {disktype: ssd}\n      containers: [{name: c, image: c}]\n"),
			want: []string{"spec.template.spec.nodeSelector: no schedulable node matches disktype=ssd"}},
		{name: "taints", chart: deployment("intolerant", "      nodeSelector: {plate.dev/pool: "+pool+"}\n      containers: [{name: c, image: c}]\n"),
			want: []string{"every node the pod may run on has a taint it does not tolerate: dedicated=db:NoSchedule"}},
		{name: "requests", chart: deployment("huge", "      containers: [{name: c, image: c, resources: {requests: {cpu: \"500\"}}}]\n"),
			want: []string{"the pod requests 500 cpu; the largest allocatable of the nodes it may run on is 32"}},
		{name: "ingress", chart: `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  ingressClassName: traefik
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: shop-api, port: {number: 80}}}}]}}]
`, want: []string{"IngressClass traefik does not exist (classes: nginx)", "Service NS/shop-api does not exist"}},
		{name: "api-version", chart: `apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: pdb}
spec: {minAvailable: 1, selector: {matchLabels: {app: x}}}
`, want: []string{"the cluster does not serve policy/v1beta1 PodDisruptionBudget", "use apiVersion: policy/v1"}},
		{name: "ownership-none", chart: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: handmade}\n",
			want: []string{"ConfigMap/NS/handmade already exists and belongs to no Helm release", "kubectl -n NS annotate configmap handmade --overwrite meta.helm.sh/release-name=subject"}},
		{name: "ownership-other", chart: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n",
			want: []string{"ConfigMap/NS/shared already exists and belongs to release first in namespace NS"}},
		{name: "quota", ns: quotaNS, chart: strings.Replace(deployment("busy", "      containers: [{name: c, image: c, resources: {requests: {cpu: 200m}}}]\n"), "replicas: 1", "replicas: 2", 1),
			want: []string{"ResourceQuota QNS/compute: requests.cpu would reach 400m of 300m"}},
		{name: "namespace", plan: `kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nowhere-NS"}})`,
			want: []string{"namespace nowhere-NS does not exist and no earlier step creates it"}},
		{name: "kind", plan: `kube_apply({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}, namespace = "NS")`,
			want: []string{"the cluster has no kind Widget in group \"example.com\" and no earlier step creates its CRD"}},
		{name: "kube-apply-pod-refs", plan: `kube_apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "c", "envFrom": [{"configMapRef": {"name": "nope"}}]}]}}, namespace = "NS")`,
			want: []string{"Pod/NS/p spec.containers[0].envFrom[0].configMapRef.name: ConfigMap NS/nope does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := e.ns
			if tc.ns != "" {
				ns = tc.ns
			}
			src := strings.ReplaceAll(tc.plan, "NS", ns)
			if tc.chart != "" {
				src = fmt.Sprintf(`helm_install("subject", %q, namespace = %q)`, refChart(t, "subject", tc.chart), ns)
			}
			plan := e.plan(t, src)
			var r result
			muts := e.mutations(t, func() { r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "--yes", plan) })
			if len(muts) != 0 {
				t.Errorf("%d mutating requests: %+v", len(muts), muts)
			}
			if r.code != exit.Usage || !strings.Contains(r.out, "preflight failed: nothing was written") {
				t.Fatalf("exit %d, want 2 and nothing written\n%s%s", r.code, r.out, r.errOut)
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(strings.ReplaceAll(w, "QNS", quotaNS), "NS", e.ns)
				if !strings.Contains(r.errOut, w) || !strings.Contains(r.out, w) {
					t.Errorf("the error and the trace do not say %q\n%s%s", w, r.out, r.errOut)
				}
			}
		})
	}

	// An upgrade that changes an immutable field.
	t.Run("immutable", func(t *testing.T) {
		changed := strings.Replace(deployment("stable", "      containers: [{name: c, image: c}]\n"), "{app: stable}", "{app: stable, tier: web}", 2)
		plan := e.plan(t, fmt.Sprintf(`helm_install("first", %q, namespace = %q)`,
			refChart(t, "first", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n---\n"+changed), e.ns))
		var r result
		muts := e.mutations(t, func() { r = runPlate(t, "", false, "run", "--kubeconfig", e.kubeconfig, "--yes", plan) })
		if len(muts) != 0 || r.code != exit.Usage {
			t.Fatalf("exit %d, %d mutations\n%s%s", r.code, len(muts), r.out, r.errOut)
		}
		for _, w := range []string{"immutable Deployment/" + e.ns + "/stable spec.selector: spec.selector cannot change: app=stable → app=stable,tier=web",
			"kubectl -n " + e.ns + " delete deployment stable"} {
			if !strings.Contains(r.errOut, w) {
				t.Errorf("the error does not say %q\n%s", w, r.errOut)
			}
		}
	})
}

// Findings are in the JSON events; a warning does not stop the pass; a
// plan silences a finding for one object with ignore_checks= or the
// annotation; an offline dry run says it checked nothing.
func TestE2ERefCheckWarningsSilencingAndJSON(t *testing.T) {
	e := newE2E(t)
	chart := refChart(t, "quiet", deployment("app", `      containers: [{name: c, image: c, envFrom: [{secretRef: {name: absent}}]}]
`)+`---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}], selector: {app: app}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, annotations: {plate.dev/ignore-check: ownership}}
`)
	// Without silencing: the missing Secret is an error; the Ingress
	// without a class (no default class) a warning.
	plan := e.plan(t, fmt.Sprintf(`helm_install("quiet", %q, namespace = %q)`, chart, e.ns))
	r := runPlate(t, "", false, "run", "--dry-run", "-o", "json", "--kubeconfig", e.kubeconfig, plan)
	if r.code != exit.Usage {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	var findings []map[string]any
	for _, ev := range jsonEvents(t, r.out) {
		if fs, ok := ev["findings"].([]any); ok {
			for _, f := range fs {
				findings = append(findings, f.(map[string]any))
			}
		}
	}
	b, _ := json.Marshal(findings)
	if len(findings) != 2 || findings[0]["check"] != "secret" || findings[0]["severity"] != "error" ||
		findings[0]["field"] != "spec.template.spec.containers[0].envFrom[0].secretRef.name" ||
		findings[1]["check"] != "ingress-class" || findings[1]["severity"] != "warning" {
		t.Errorf("findings: %s", b)
	}
	// Silenced for the one Deployment: the dry run passes, the warning
	// stays on the trace.
	plan = e.plan(t, fmt.Sprintf(`helm_install("quiet", %q, namespace = %q, ignore_checks = ["secret:Deployment/app"])`, chart, e.ns))
	r = runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, plan)
	if r.code != 0 || strings.Contains(r.out, "error secret") || !strings.Contains(r.out, "warning ingress-class Ingress/"+e.ns+"/web") {
		t.Errorf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	// A name that is no check is refused.
	plan = e.plan(t, fmt.Sprintf(`helm_install("quiet", %q, namespace = %q, ignore_checks = ["secrets"])`, chart, e.ns))
	r = runPlate(t, "", false, "run", "--dry-run", "--kubeconfig", e.kubeconfig, plan)
	if r.code != exit.Usage || !strings.Contains(r.errOut, `ignore_checks[0]: "secrets" is not a check name`) {
		t.Errorf("exit %d\n%s", r.code, r.errOut)
	}
	// Offline: nothing is checked, and the trace says so.
	plan = e.plan(t, fmt.Sprintf(`helm_install("quiet", %q, namespace = %q)`, chart, e.ns))
	r = runPlate(t, "", false, "run", "--dry-run", "--offline", plan)
	if r.code != 0 || !strings.Contains(r.out, "note: reference checks skipped: an offline dry run reads no cluster") {
		t.Errorf("offline: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
}
