package helm

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

// BenchmarkRecordSize measures the preflight's record-size check on a
// release with a 5 MB manifest (the size class of a CRD-heavy chart).
func BenchmarkRecordSize(b *testing.B) {
	var m strings.Builder
	for i := 0; m.Len() < 5<<20; i++ {
		m.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-")
		m.WriteString(strings.Repeat("x", i%17))
		m.WriteString("\ndata:\n  description: a long schema description that repeats with small changes ")
		m.WriteString(strings.Repeat("y", i%31))
		m.WriteString("\n---\n")
	}
	rel := &release.Release{Name: "big", Namespace: "ns", Manifest: m.String(), Info: &release.Info{Status: release.StatusDeployed}}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkRecordSize(rel, "big", "ns"); err != nil {
			b.Fatal(err)
		}
	}
}
