package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestCriticalPath(t *testing.T) {
	levels, delay := CriticalPath(DAG(3*time.Second, 4*time.Second, 5*time.Second, 2*time.Second))
	if levels != 3 || delay != 10*time.Second {
		t.Fatalf("CriticalPath = %d levels, %s; want 3 levels, 10s (cache → llm → web)", levels, delay)
	}
	levels, delay = CriticalPath(DAG(0, 0, 0, 0))
	if levels != 3 || delay != 0 {
		t.Fatalf("CriticalPath without delays = %d levels, %s; want 3, 0s", levels, delay)
	}
}

func TestWriteDAGProject(t *testing.T) {
	dir := t.TempDir()
	plan, err := WriteDAGProject(dir, DAG(3*time.Second, 0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`helm_install("cache", "//tiny", namespace = ns, set = {"podAnnotations": {"plate.dev/ready-delay": "3s"}}, timeout = "2m", needs = [])`,
		`helm_install("web", "//tiny", namespace = ns, timeout = "2m", needs = [ready["api"], ready["llm"]])`,
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("plan.star lacks %s:\n%s", want, src)
		}
	}
	hf, err := os.ReadFile(filepath.Join(dir, "helmfile.yaml.gotmpl"))
	if err != nil {
		t.Fatal(err)
	}
	// The template's only expressions are env "NS"; with them replaced,
	// it is YAML whose releases mirror the plan.
	var doc struct {
		Releases []struct {
			Name, Namespace string
			Needs           []string
			Wait            bool
			Set             []struct{ Name, Value string }
		}
	}
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(hf), `{{ env "NS" }}`, "ns1")), &doc); err != nil {
		t.Fatalf("helmfile.yaml: %v\n%s", err, hf)
	}
	type rel struct {
		Name  string
		Needs []string
		Set   int
	}
	var got []rel
	for _, r := range doc.Releases {
		if r.Namespace != "ns1" || !r.Wait {
			t.Errorf("release %s: namespace %q, wait %v", r.Name, r.Namespace, r.Wait)
		}
		got = append(got, rel{r.Name, r.Needs, len(r.Set)})
	}
	want := []rel{{"cache", nil, 1}, {"api", []string{"ns1/cache"}, 0}, {"llm", []string{"ns1/cache"}, 0}, {"web", []string{"ns1/api", "ns1/llm"}, 0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("helmfile releases (-want +got):\n%s", d)
	}
}
