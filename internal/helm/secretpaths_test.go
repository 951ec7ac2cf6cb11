package helm

import (
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
)

// The paths of secret() values are recorded with the revision's chart and
// read back from a stored revision: the values there are secret to diffs
// whatever their keys.
func TestSecretPathsRoundTrip(t *testing.T) {
	vals := map[string]any{
		"db":    map[string]any{"url": "postgres://app:s3cret@db", "pool": 3},
		"env":   []any{map[string]any{"name": "A", "value": "plain"}, map[string]any{"name": "B", "value": "s3cret"}},
		"other": "x",
	}
	paths := secretPaths(vals, []string{"s3cret", "ab"})
	want := [][]any{{"db", "url"}, {"env", 1, "value"}}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	orig := &chart.Metadata{Name: "app", Annotations: map[string]string{"team": "x"}}
	ch := &chart.Chart{Metadata: orig}
	markSecretPaths(ch, paths)
	if _, ok := orig.Annotations[SecretPathsKey]; ok {
		t.Error("the loaded chart's metadata was changed in place")
	}
	if ch.Metadata.Annotations["team"] != "x" || ch.Metadata.Annotations[SecretPathsKey] != `[["db","url"],["env",1,"value"]]` {
		t.Errorf("annotations %v", ch.Metadata.Annotations)
	}
	rel := &release.Release{Chart: ch, Config: vals}
	got := configSecrets(rel)
	if !reflect.DeepEqual(got, []string{"postgres://app:s3cret@db", "s3cret"}) {
		t.Errorf("configSecrets = %q", got)
	}
	// A later revision without secrets drops the record.
	markSecretPaths(ch, nil)
	if _, ok := ch.Metadata.Annotations[SecretPathsKey]; ok {
		t.Error("the record stayed")
	}
	// A damaged record is ignored, not fatal.
	rel.Chart.Metadata.Annotations[SecretPathsKey] = "not json"
	if got := configSecrets(rel); len(got) != 0 {
		t.Errorf("configSecrets of a damaged record = %q", got)
	}
}
