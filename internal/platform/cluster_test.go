package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/localcluster"
)

func TestMain(m *testing.M) { localcluster.Main(m) }

// applier server-side applies objects to the local control plane.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured, namespace string) error {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		a.mapper.Reset()
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return err
		}
	}
	obj = obj.DeepCopy()
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		obj.SetNamespace(namespace)
		ri = a.dyn.Resource(m.Resource).Namespace(namespace)
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "platform-test", Force: &force})
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// remove deletes a cluster-scoped object the test applied.
func (a *applier) remove(obj *unstructured.Unstructured) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return
	}
	_ = a.dyn.Resource(m.Resource).Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
}

// TestPlatformOnAPIServer applies everything the environments deploy to a
// real Kubernetes v1.37 API server (the local control plane, where kwok
// runs the pods): the stand-ins' CRDs (waiting until Established), the
// stand-ins' other objects (waiting until their workloads are ready), the
// library configuration objects through the stand-ins' admission webhooks,
// and every app's objects, in the environment's order, then waits until
// every workload is ready. Each environment goes into namespaces of its own.
func TestPlatformOnAPIServer(t *testing.T) {
	c := localcluster.ForTest(t)
	cfg := c.RESTConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{dyn: dynamic.NewForConfigOrDie(cfg), mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	for _, env := range loadEnvs(t) {
		t.Run(env.Name, func(t *testing.T) {
			var namespaces []string
			for i := range env.Libraries {
				lib := &env.Libraries[i]
				ns := c.TestNamespace(t)
				namespaces = append(namespaces, ns)
				// Rendered into the test namespace, so that the webhook
				// configurations call the Services applied there.
				r, err := renderChart(t, env.Abs(lib.StandIn), lib.Name, ns, mergeValues(map[string]any{}, lib.Values))
				if err != nil {
					t.Fatalf("%s: %v", lib.StandIn, err)
				}
				// CRDs first, then wait until they are Established.
				for _, o := range r.find("CustomResourceDefinition", "") {
					if err := a.apply(ctx, o, ""); err != nil {
						t.Fatalf("%s: %v", lib.Name, err)
					}
				}
				for _, name := range lib.CRDs {
					waitEstablished(ctx, t, a, name)
				}
				a.mapper.Reset()
				for _, o := range r.Objects {
					if o.GetKind() == "CustomResourceDefinition" {
						continue
					}
					if err := a.apply(ctx, o, ns); err != nil {
						t.Errorf("%s: %v", lib.Name, err)
					}
					if k := o.GetKind(); k == "ValidatingWebhookConfiguration" || k == "MutatingWebhookConfiguration" {
						o := o
						t.Cleanup(func() { a.remove(o) })
					}
				}
				// The configuration goes through the library's webhooks:
				// after its workloads are ready, retried while the
				// webhook's endpoint is not published yet (as kube_apply).
				waitWorkloads(ctx, t, a, ns)
				for _, f := range lib.Config {
					for _, o := range readObjects(t, env.Abs(f)) {
						var err error
						deadline := time.Now().Add(30 * time.Second)
						for {
							err = a.apply(ctx, o, ns)
							if err == nil || !kube.WebhookUnavailable(err) || time.Now().After(deadline) {
								break
							}
							time.Sleep(200 * time.Millisecond)
						}
						if err != nil {
							t.Errorf("%s: %v", f, err)
						}
					}
				}
			}
			ns := c.TestNamespace(t)
			namespaces = append(namespaces, ns)
			rendered := renderEnv(t, env)
			for _, app := range env.Apps {
				for _, o := range rendered[app.Name].Objects {
					if err := a.apply(ctx, o, ns); err != nil {
						t.Errorf("%s: %v", app.Name, err)
					}
				}
			}
			if t.Failed() {
				return
			}
			for _, n := range namespaces {
				waitWorkloads(ctx, t, a, n)
			}
		})
	}
}

func waitEstablished(ctx context.Context, t *testing.T, a *applier, name string) {
	t.Helper()
	gvr := apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := a.dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not Established: %v", name, err)
	}
}

// waitWorkloads waits until every Deployment, StatefulSet and DaemonSet in
// namespace has all its replicas ready.
func waitWorkloads(ctx context.Context, t *testing.T, a *applier, namespace string) {
	t.Helper()
	kinds := map[string][2][]string{
		"deployments":  {{"spec", "replicas"}, {"status", "readyReplicas"}},
		"statefulsets": {{"spec", "replicas"}, {"status", "readyReplicas"}},
		"daemonsets":   {{"status", "desiredNumberScheduled"}, {"status", "numberReady"}},
	}
	for res, paths := range kinds {
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: res}
		var pending []string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
			list, err := a.dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			pending = nil
			for _, it := range list.Items {
				want, _, _ := unstructured.NestedInt64(it.Object, paths[0]...)
				got, _, _ := unstructured.NestedInt64(it.Object, paths[1]...)
				if res == "daemonsets" && want == 0 {
					want = 1 // not scheduled yet
				}
				if got < want {
					pending = append(pending, fmt.Sprintf("%s %s (%d/%d)", res, it.GetName(), got, want))
				}
			}
			return len(pending) == 0, nil
		})
		if err != nil {
			t.Errorf("namespace %s: not ready: %v (%v)", namespace, pending, err)
		}
	}
}
