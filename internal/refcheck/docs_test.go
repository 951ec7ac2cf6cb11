package refcheck

import (
	"os"
	"strings"
	"testing"
)

// docs/checks.md lists every check with its severity: the table is
// CheckTable's, so that the page and the code agree.
func TestDocsListEveryCheck(t *testing.T) {
	data, err := os.ReadFile("../../docs/checks.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), CheckTable()) {
		t.Errorf("docs/checks.md does not hold the table of the checks; replace it with:\n%s", CheckTable())
	}
}
