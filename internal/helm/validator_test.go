package helm

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
)

// countingVerifier answers from a table and counts the questions.
type countingVerifier struct {
	answers map[schema.GroupVersionKind]error
	asked   []schema.GroupVersionKind
}

func (v *countingVerifier) HasSupport(gvk schema.GroupVersionKind) error {
	v.asked = append(v.asked, gvk)
	return v.answers[gvk]
}

func TestGroupVersionVerifier(t *testing.T) {
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	svc := schema.GroupVersionKind{Version: "v1", Kind: "Service"}
	list := schema.GroupVersionKind{Version: "v1", Kind: "List"}
	crA := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "A"}
	crB := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "B"}
	unsupported := resource.NewParamUnsupportedError(list, resource.QueryParamFieldValidation)
	missing := errors.New("path not found")
	next := &countingVerifier{answers: map[schema.GroupVersionKind]error{list: unsupported, crA: missing}}
	server := "https://validator-test.invalid:1"
	v := &groupVersionVerifier{next: next, server: server, kinds: map[schema.GroupVersionKind]error{}}

	for _, tc := range []struct {
		gvk  schema.GroupVersionKind
		want error
	}{
		{cm, nil}, {svc, nil}, {cm, nil}, // v1 is supported: asked once
		{list, unsupported}, {list, unsupported}, // List never counts as support, cached per kind
		{crA, missing}, {crA, missing}, // a failure is cached per kind
		{crB, nil}, {crA, nil}, // until a kind of its group version is supported
	} {
		if err := v.HasSupport(tc.gvk); err != tc.want {
			t.Errorf("HasSupport(%s) = %v, want %v", tc.gvk, err, tc.want)
		}
	}
	want := []schema.GroupVersionKind{cm, list, crA, crB}
	if len(next.asked) != len(want) {
		t.Fatalf("asked %v, want %v", next.asked, want)
	}
	for i := range want {
		if next.asked[i] != want[i] {
			t.Errorf("question %d: %s, want %s", i, next.asked[i], want[i])
		}
	}

	// A later pass (a new verifier) on the same server remembers the
	// supported group versions; another server is asked again.
	again := &countingVerifier{answers: map[schema.GroupVersionKind]error{}}
	v2 := &groupVersionVerifier{next: again, server: server, kinds: map[schema.GroupVersionKind]error{}}
	if err := v2.HasSupport(svc); err != nil || len(again.asked) != 0 {
		t.Errorf("same server: err %v, asked %v", err, again.asked)
	}
	v3 := &groupVersionVerifier{next: again, server: server + "0", kinds: map[schema.GroupVersionKind]error{}}
	if err := v3.HasSupport(svc); err != nil || len(again.asked) != 1 {
		t.Errorf("other server: err %v, asked %v", err, again.asked)
	}
}
