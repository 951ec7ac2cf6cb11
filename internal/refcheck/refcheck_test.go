package refcheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/trace"
)

// recorded is a Reader over recorded objects (testdata/cluster.yaml).
type recorded struct {
	objs       []*unstructured.Unstructured
	namespaces map[string]bool
	served     map[schema.GroupKind][]string
	forbidden  map[schema.GroupKind]bool
	lists      int
}

func (r *recorded) List(ctx context.Context, gk schema.GroupKind, ns string, full bool) ([]*unstructured.Unstructured, error) {
	r.lists++
	if r.forbidden[gk] {
		return nil, apierrors.NewForbidden(schema.GroupResource{Group: gk.Group, Resource: strings.ToLower(gk.Kind) + "s"}, "", errors.New("no"))
	}
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GroupVersionKind().GroupKind() == gk && o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out, nil
}

func (r *recorded) Kind(ctx context.Context, gk schema.GroupKind) (KindInfo, error) {
	vs := r.served[gk]
	if len(vs) == 0 {
		return KindInfo{}, nil
	}
	return KindInfo{Versions: vs, Preferred: vs[0]}, nil
}

func (r *recorded) Namespace(ctx context.Context, name string) (bool, error) {
	return r.namespaces[name], nil
}

func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

func newRecorded(t *testing.T) *recorded {
	data, err := os.ReadFile("testdata/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	served := map[schema.GroupKind][]string{}
	for _, gvk := range []string{"v1/Pod", "v1/Secret", "v1/ConfigMap", "v1/Service", "v1/ServiceAccount", "v1/Namespace", "v1/Node",
		"v1/PersistentVolumeClaim", "v1/ResourceQuota", "apps/v1/Deployment", "apps/v1/StatefulSet", "apps/v1/DaemonSet", "batch/v1/Job",
		"batch/v1/CronJob", "networking.k8s.io/v1/Ingress", "networking.k8s.io/v1/IngressClass", "storage.k8s.io/v1/StorageClass",
		"scheduling.k8s.io/v1/PriorityClass", "node.k8s.io/v1/RuntimeClass", "policy/v1/PodDisruptionBudget"} {
		i := strings.LastIndex(gvk, "/")
		gv, _ := schema.ParseGroupVersion(gvk[:i])
		gk := schema.GroupKind{Group: gv.Group, Kind: gvk[i+1:]}
		served[gk] = append(served[gk], gv.Version)
	}
	return &recorded{objs: decodeAll(t, data), namespaces: map[string]bool{"shop": true, "quota": true, "default": true},
		served: served, forbidden: map[schema.GroupKind]bool{}}
}

type want struct {
	sev, check, text string
}

func check(t *testing.T, r *recorded, planned *kube.Planned, s Step, manifest string) []trace.Finding {
	t.Helper()
	s.Objects = decodeAll(t, []byte(manifest))
	if s.Namespace == "" {
		s.Namespace = "shop"
	}
	for _, o := range s.Objects {
		if o.GetNamespace() == "" && o.GetKind() != "Namespace" && o.GetKind() != "StorageClass" {
			o.SetNamespace(s.Namespace)
		}
	}
	if planned == nil {
		planned = kube.NewPlanned()
	}
	return New(r, planned).Check(context.Background(), s)
}

func expect(t *testing.T, got []trace.Finding, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(wants), showAll(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Severity != w.sev || g.Check != w.check || !strings.Contains(g.String(), w.text) {
			t.Errorf("finding %d: got %s\nwant %s %s …%s…", i, g.String(), w.sev, w.check, w.text)
		}
	}
}

func showAll(fs []trace.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

const pod = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
`

func TestCleanObjectsHaveNoFinding(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{Release: "app"}, pod+`
      serviceAccountName: runner
      priorityClassName: high
      imagePullSecrets: [{name: db}]
      nodeSelector: {pool: general}
      containers:
        - name: app
          image: app:1
          envFrom: [{secretRef: {name: db}}, {configMapRef: {name: settings}}]
          env:
            - {name: A, valueFrom: {secretKeyRef: {name: db, key: a}}}
            - {name: B, valueFrom: {secretKeyRef: {name: missing, key: b, optional: true}}}
          resources: {requests: {cpu: "2", memory: 1Gi}}
      volumes:
        - {name: s, secret: {secretName: db}}
        - {name: c, configMap: {name: settings}}
        - {name: p, projected: {sources: [{secret: {name: db}}, {configMap: {name: gone, optional: true}}]}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: cache}
spec: {resources: {requests: {storage: 1Gi}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app}
spec:
  ingressClassName: nginx
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {name: http}}}}]}}]
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {ports: [{name: http, port: 80}], selector: {app: app}}
`)
	expect(t, got)
}

func TestSecretsAndConfigMaps(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{Release: "app"}, pod+`
      imagePullSecrets: [{name: regcred}]
      initContainers:
        - {name: init, image: i, envFrom: [{configMapRef: {name: init-settings}}]}
      containers:
        - name: app
          image: app:1
          env: [{name: A, valueFrom: {secretKeyRef: {name: api-keys, key: a}}}]
      volumes:
        - {name: p, projected: {sources: [{configMap: {name: extra}}]}}
`)
	expect(t, got,
		want{"error", "secret", "spec.template.spec.imagePullSecrets[0].name: Secret shop/regcred does not exist"},
		want{"error", "config-map", "spec.template.spec.volumes[0].projected.sources[0].configMap.name: ConfigMap shop/extra"},
		want{"error", "config-map", "initContainers[0].envFrom[0].configMapRef.name: ConfigMap shop/init-settings"},
		want{"error", "secret", "containers[0].env[0].valueFrom.secretKeyRef.name: Secret shop/api-keys"},
	)
}

// What the step itself or an earlier step creates counts: a Secret of the
// release, one planned earlier, one a cert-manager Certificate makes.
func TestReferencesCreatedEarlierOrInTheStep(t *testing.T) {
	r := newRecorded(t)
	planned := kube.NewPlanned()
	planned.Object(decodeAll(t, []byte(`{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "earlier", "namespace": "shop"}}`))[0])
	got := check(t, r, planned, Step{Release: "app"}, pod+`
      serviceAccountName: app
      containers:
        - name: app
          image: app:1
          envFrom: [{secretRef: {name: earlier}}, {secretRef: {name: own}}]
      volumes: [{name: tls, secret: {secretName: app-tls}}]
---
apiVersion: v1
kind: Secret
metadata: {name: own}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: app}
spec: {secretName: app-tls}
`)
	// The Certificate's kind is not served and not planned.
	expect(t, got, want{"error", "kind", "the cluster has no kind Certificate"})
	planned.Kind(kube.PlannedKind{Group: "cert-manager.io", Kind: "Certificate", Versions: []string{"v1"}, Namespaced: true})
	got = check(t, r, planned, Step{Release: "app"}, pod+`
      containers: [{name: app, image: app:1}]
      volumes: [{name: tls, secret: {secretName: app-tls}}]
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: app}
spec: {secretName: app-tls}
`)
	expect(t, got)
}

func TestPodClasses(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{}, `
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          serviceAccountName: robot
          priorityClassName: urgent
          runtimeClassName: gvisor
          restartPolicy: Never
          containers: [{name: c, image: c}]
`)
	p := "spec.jobTemplate.spec.template.spec."
	expect(t, got,
		want{"error", "service-account", p + "serviceAccountName: ServiceAccount shop/robot does not exist"},
		want{"error", "priority-class", p + "priorityClassName: PriorityClass urgent does not exist (classes: high)"},
		want{"error", "runtime-class", p + "runtimeClassName: RuntimeClass gvisor does not exist"},
	)
}

func TestNodesTaintsAndRequests(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{}, pod+`
      nodeSelector: {disktype: ssd}
      containers: [{name: c, image: c}]
`)
	expect(t, got, want{"error", "node-selector", "no schedulable node matches disktype=ssd (nodes: 2)"})

	got = check(t, r, nil, Step{}, pod+`
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [gpu]}]}]
      containers: [{name: c, image: c}]
`)
	expect(t, got, want{"error", "taints", "spec.template.spec.tolerations: every node the pod may run on has a taint it does not tolerate: gpu=true:NoSchedule"})

	got = check(t, r, nil, Step{}, pod+`
      nodeSelector: {pool: gpu}
      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
      containers: [{name: c, image: c, resources: {requests: {cpu: "6"}}}]
`)
	expect(t, got)

	got = check(t, r, nil, Step{}, pod+`
      containers: [{name: c, image: c, resources: {requests: {cpu: "3", memory: 20Gi}}}, {name: d, image: d, resources: {limits: {cpu: "2"}}}]
`)
	expect(t, got, want{"error", "resources", "the pod requests 5 cpu; the largest allocatable of the nodes it may run on is 4 (node node-a)"},
		want{"error", "resources", "requests 20Gi memory"})

	// Nodes of an autoscaler: warnings.
	r.objs[0].SetLabels(map[string]string{"pool": "general", "karpenter.sh/nodepool": "default"})
	got = check(t, r, nil, Step{}, pod+`
      nodeSelector: {disktype: ssd}
      containers: [{name: c, image: c}]
`)
	expect(t, got, want{"warning", "node-selector", "disktype=ssd"})
}

func TestStorageClasses(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{}, `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: a}
spec: {storageClassName: fast, resources: {requests: {storage: 1Gi}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: db}]}}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {storageClassName: local-wffc, resources: {requests: {storage: 1Gi}}}
    - metadata: {name: logs}
      spec: {storageClassName: slow, resources: {requests: {storage: 1Gi}}}
`)
	expect(t, got,
		want{"error", "storage-class", "spec.storageClassName: StorageClass fast does not exist (classes: local-wffc, standard)"},
		want{"error", "storage-class", "spec.volumeClaimTemplates[1].spec.storageClassName: StorageClass slow"})

	// No default class: an error; a default that binds on first consumer:
	// a warning.
	r.objs[2].SetAnnotations(nil)
	pvc := `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: b}
spec: {resources: {requests: {storage: 1Gi}}}
`
	expect(t, check(t, r, nil, Step{}, pvc), want{"error", "storage-class", "no default one"})
	r.objs[3].SetAnnotations(map[string]string{"storageclass.kubernetes.io/is-default-class": "true"})
	expect(t, check(t, r, nil, Step{}, pvc), want{"warning", "storage-class", "the default StorageClass local-wffc binds on first consumer"})
}

func TestIngress(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{}, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  ingressClassName: traefik
  defaultBackend: {service: {name: web, port: {number: 8080}}}
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
`)
	expect(t, got,
		want{"error", "ingress-class", "IngressClass traefik does not exist (classes: nginx)"},
		want{"error", "service", "spec.defaultBackend.service.port: Service shop/web has no port 8080"},
		want{"error", "service", "spec.rules[0].http.paths[1].backend.service.name: Service shop/api does not exist"})
	got = check(t, r, nil, Step{}, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}
`)
	expect(t, got, want{"warning", "ingress-class", "names no class and no IngressClass is the default"})
}

func TestNamespacesKindsAndVersions(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{}, `
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: nowhere}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: made-here}
---
apiVersion: v1
kind: Namespace
metadata: {name: made-here}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: pdb}
spec: {minAvailable: 1}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
`)
	expect(t, got,
		want{"error", "namespace", "namespace nowhere does not exist"},
		want{"error", "api-version", "the cluster does not serve policy/v1beta1 PodDisruptionBudget (it serves policy/v1) (hint: use apiVersion: policy/v1)"},
		want{"error", "kind", "the cluster has no kind Widget in group \"example.com\""})
	// A namespace or CRD planned earlier, or the chart's own CRD, counts.
	planned := kube.NewPlanned()
	planned.Namespace("nowhere")
	got = check(t, r, planned, Step{Kinds: []schema.GroupKind{{Group: "example.com", Kind: "Widget"}}}, `
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: nowhere}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
`)
	expect(t, got)
}

func TestOwnership(t *testing.T) {
	r := newRecorded(t)
	manifest := `
apiVersion: v1
kind: ConfigMap
metadata: {name: other-release}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: handmade}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: new}
`
	got := check(t, r, nil, Step{Release: "web", Ownership: true}, manifest)
	expect(t, got,
		want{"error", "ownership", "ConfigMap/shop/other-release already exists and belongs to release billing in namespace shop"},
		want{"error", "ownership", "ConfigMap/shop/handmade already exists and belongs to no Helm release"})
	if !strings.Contains(got[1].Hint, "kubectl -n shop annotate configmap handmade --overwrite meta.helm.sh/release-name=web meta.helm.sh/release-namespace=shop") {
		t.Errorf("hint: %s", got[1].Hint)
	}
	// The release's own objects are fine; kube_apply of a release's object
	// is a warning; an object of the release is fine for its release.
	expect(t, check(t, r, nil, Step{Release: "billing", Ownership: true}, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other-release"}}`))
	expect(t, check(t, r, nil, Step{Ownership: true}, manifest), want{"warning", "ownership", "belongs to Helm release billing"})
}

func TestImmutableFields(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{Release: "web", Immutable: true}, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web, tier: front}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec: {containers: [{name: web, image: "web:2"}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: 10.0.0.99, ports: [{name: http, port: 80}]}
`)
	expect(t, got,
		want{"error", "immutable", "spec.selector cannot change: app=web → app=web,tier=front"},
		want{"error", "immutable", "spec.clusterIP cannot change: 10.0.0.10 → 10.0.0.99"})
	if !strings.Contains(got[0].Hint, "kubectl -n shop delete deployment web") {
		t.Errorf("hint: %s", got[0].Hint)
	}
	// The same selector, in another order, with the server's defaults
	// absent: no finding. A Job whose template only lacks the server's
	// additions: none; another image: a finding. A PVC's class.
	got = check(t, r, nil, Step{Immutable: true}, `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    metadata: {labels: {job-name: migrate}}
    spec: {restartPolicy: Never, containers: [{name: m, image: "migrate:1"}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {storageClassName: local-wffc, resources: {requests: {storage: 1024Mi}}}
`)
	expect(t, got, want{"error", "immutable", "a claim's storage class cannot change: standard → local-wffc"})
	got = check(t, r, nil, Step{Immutable: true}, `
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: m, image: "migrate:2"}]}
`)
	expect(t, got, want{"error", "immutable", "spec.template.spec.containers[0].image"})
}

func TestQuota(t *testing.T) {
	r := newRecorded(t)
	got := check(t, r, nil, Step{Namespace: "quota"}, pod+`
      containers: [{name: c, image: c, resources: {requests: {cpu: 300m}}}]
`)
	expect(t, got, want{"error", "quota", "ResourceQuota quota/compute: requests.cpu would reach 1100m of 1 (used 500m, this step adds 600m for Deployment/quota/app)"})
	got = check(t, r, nil, Step{Namespace: "quota"}, pod+`
      containers: [{name: c, image: c, resources: {requests: {cpu: 200m}}}]
`)
	expect(t, got)
}

func TestSilencing(t *testing.T) {
	r := newRecorded(t)
	manifest := pod + `
      serviceAccountName: robot
      containers: [{name: c, image: c, envFrom: [{secretRef: {name: nope}}]}]
`
	expect(t, check(t, r, nil, Step{Ignore: []string{"secret"}}, manifest), want{"error", "service-account", "robot"})
	expect(t, check(t, r, nil, Step{Ignore: []string{"secret:Deployment/app", "service-account:Deployment/shop/app"}}, manifest))
	expect(t, check(t, r, nil, Step{Ignore: []string{"secret:Deployment/other"}}, manifest),
		want{"error", "secret", "nope"}, want{"error", "service-account", "robot"})
	annotated := strings.Replace(manifest, "metadata: {name: app}", "metadata: {name: app, annotations: {plate.dev/ignore-check: \"secret, service-account\"}}", 1)
	expect(t, check(t, r, nil, Step{}, annotated))
}

// A user who may not list a kind gets a note, once per pass, not an error.
func TestForbiddenListIsANote(t *testing.T) {
	r := newRecorded(t)
	r.forbidden[gkNode] = true
	r.forbidden[gkStorageClass] = true
	c := New(r, kube.NewPlanned())
	s := Step{Namespace: "shop", Objects: decodeAll(t, []byte(pod+`
      nodeSelector: {disktype: ssd}
      containers: [{name: c, image: c}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: a, namespace: shop}
spec: {storageClassName: fast}
`))}
	s.Objects[0].SetNamespace("shop")
	got := c.Check(context.Background(), s)
	expect(t, got,
		want{"note", "node-selector", "not checked: the user may not list nodes"},
		want{"note", "storage-class", "not checked: the user may not list storageclasses"})
	expect(t, c.Check(context.Background(), s))
}
