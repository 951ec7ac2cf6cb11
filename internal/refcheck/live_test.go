package refcheck

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	metafake "k8s.io/client-go/metadata/fake"
)

// The live reader lists each kind once per namespace and pass (a full list
// serves metadata reads too), and reads Secrets as metadata only.
func TestLiveListsEachKindOnce(t *testing.T) {
	secret := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"}}
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mc := metafake.NewSimpleMetadataClient(scheme, secret)
	node := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": "n1"}}}
	dc := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{{Version: "v1", Resource: "nodes"}: "NodeList", {Version: "v1", Resource: "secrets"}: "SecretList"}, node)
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Node"}, meta.RESTScopeRoot)
	l := &Live{Mapper: mapper, Dynamic: dc, Meta: mc, lists: map[listKey]listResult{}}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		objs, err := l.List(ctx, gkSecret, "shop", false)
		if err != nil || len(objs) != 1 || objs[0].GetName() != "db" || objs[0].GetKind() != "Secret" {
			t.Fatalf("secrets: %v %v", objs, err)
		}
		if _, ok := objs[0].Object["data"]; ok {
			t.Fatal("secret data read")
		}
		nodes, err := l.List(ctx, gkNode, "", true)
		if err != nil || len(nodes) != 1 {
			t.Fatalf("nodes: %v %v", nodes, err)
		}
		// A metadata read after a full list uses the full list.
		if _, err := l.List(ctx, gkNode, "", false); err != nil {
			t.Fatal(err)
		}
	}
	if l.Lists != 2 {
		t.Errorf("%d list requests, want 2 (one per kind)", l.Lists)
	}
	if k, _ := l.Kind(ctx, schema.GroupKind{Kind: "Widget"}); len(k.Versions) != 0 {
		t.Errorf("Widget served: %+v", k)
	}
	if k, _ := l.Kind(ctx, gkSecret); len(k.Versions) != 1 || k.Preferred != "v1" {
		t.Errorf("Secret: %+v", k)
	}
}
