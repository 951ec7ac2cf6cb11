package plantest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Plan tests read a fixed clock: time.now() in a test and in the plans it
// runs starts at 2026-01-01T00:00:00Z, whenever the tests run.
func TestTimeNowIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		".plateroot": "",
		"plan.star":  "print(\"now\", time.now())\n",
		"plan_test.star": `def test_clock(t):
    t.true(str(time.now()).startswith("2026-01-01 00:00:00.0"))
    r = t.run("plan.star")
    printed = r.effects[t.index(r, {"builtin": "print"})]["summary"]
    t.true(printed.startswith("now 2026-01-01 00:00:00.0"), printed)
    t.true(printed.endswith(" +0000 UTC"), printed)
`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	res, err := Run(context.Background(), Options{Paths: []string{dir}, Out: &out, Verbose: true})
	if err != nil || res.Passed != 1 {
		t.Fatalf("plate test: %+v, %v\n%s", res, err, out.String())
	}
}
