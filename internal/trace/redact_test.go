package trace

import (
	"strings"
	"testing"
)

func TestDiffScrubMasksTheOldValueOfASecretKey(t *testing.T) {
	d := &Diff{Objects: []ObjectDiff{{Object: "ConfigMap/ns/x", Diff: "--- live ConfigMap/ns/x\n+++ new  ConfigMap/ns/x\n data:\n-  url: postgres://app:OLD-secret@db\n+  url: postgres://app:NEW-secret@db\n-  plain: a\n+  plain: b\n"}}}
	d.Scrub([]string{"NEW-secret"})
	got := d.Objects[0].Diff
	if strings.Contains(got, "OLD-secret") || strings.Contains(got, "NEW-secret") {
		t.Errorf("a secret survived:\n%s", got)
	}
	for _, want := range []string{"-  url: " + Redacted, "+  url: postgres://app:" + Redacted + "@db", "-  plain: a", "+  plain: b"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
}
