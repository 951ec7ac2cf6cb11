package standin

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/internal/platform"
)

func loadEnv(t *testing.T, name string) *platform.Environment {
	t.Helper()
	root, err := platform.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	env, err := platform.Load(filepath.Join(root, "environments", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestMirror builds the mirror of each environment, serves it on loopback
// and finds every library at its pinned version, as a plan pointed at the
// mirror would.
func TestMirror(t *testing.T) {
	for _, name := range []string{"staging", "production"} {
		t.Run(name, func(t *testing.T) {
			env := loadEnv(t, name)
			dir := t.TempDir()
			if _, err := Build(env, dir); err != nil {
				t.Fatal(err)
			}
			tgz, _ := filepath.Glob(filepath.Join(dir, "*.tgz"))
			if len(tgz) != len(env.Libraries) {
				t.Errorf("%d packages, want %d", len(tgz), len(env.Libraries))
			}
			srv, err := Serve(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
				t.Errorf("URL %s", srv.URL)
			}
			var idx repo.IndexFile
			if err := yaml.Unmarshal(get(t, srv.URL+"/index.yaml"), &idx); err != nil {
				t.Fatal(err)
			}
			for _, lib := range env.Libraries {
				cv, err := idx.Get(lib.Chart, lib.Version)
				if err != nil {
					t.Errorf("%s %s: %v", lib.Chart, lib.Version, err)
					continue
				}
				u, err := repo.ResolveReferenceURL(srv.URL+"/", cv.URLs[0])
				if err != nil {
					t.Fatal(err)
				}
				ch, err := loader.LoadArchive(bytes.NewReader(get(t, u)))
				if err != nil {
					t.Fatalf("%s: %v", u, err)
				}
				if ch.Name() != lib.Chart || ch.Metadata.Version != lib.Version || len(ch.Templates) == 0 {
					t.Errorf("%s: chart %s %s with %d templates", u, ch.Name(), ch.Metadata.Version, len(ch.Templates))
				}
			}
		})
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte("apiVersion: v1\nentries: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", "192.168.1.10:8080", ":0"} {
		if s, err := Serve(dir, addr); err == nil {
			s.Close()
			t.Errorf("Serve(%q) served", addr)
		}
	}
	if _, err := Serve(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "no index.yaml") {
		t.Errorf("a directory without index: %v", err)
	}
}

func TestBuildChecksVersions(t *testing.T) {
	env := loadEnv(t, "staging")
	env.Libraries[1].Version = "9.9.9"
	if _, err := Build(env, t.TempDir()); err == nil || !strings.Contains(err.Error(), "pins jenkins 9.9.9") {
		t.Errorf("got %v", err)
	}
}
