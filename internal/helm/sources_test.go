package helm

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/plate-dev/plate/internal/exit"
)

// packageChart packages testdata/charts/<name> as version into dir and
// returns the archive's path.
func packageChart(t testing.TB, name, version, dir string) string {
	t.Helper()
	ch, err := loader.Load(filepath.Join(chartsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	ch.Metadata.Version = version
	path, err := chartutil.Save(ch, dir)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// chartRepo is a chart repository on 127.0.0.1 serving web 0.1.0 and
// 0.2.0, made with the SDK's own packaging and indexing.
type chartRepo struct {
	srv *httptest.Server
	mu  sync.Mutex
	// gets counts GET requests by path.
	gets map[string]int
}

func newChartRepo(t testing.TB) *chartRepo {
	t.Helper()
	dir := t.TempDir()
	packageChart(t, "web", "0.1.0", dir)
	packageChart(t, "web", "0.2.0", dir)
	r := &chartRepo{gets: map[string]int{}}
	files := http.FileServer(http.Dir(dir))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.gets[req.URL.Path]++
		r.mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	idx, err := repo.IndexDirectory(dir, r.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *chartRepo) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[path]
}

func TestRepositoryCharts(t *testing.T) {
	r := newChartRepo(t)
	cache := t.TempDir()
	newClient := func() *Client {
		c, err := New(Options{Offline: true, CacheDir: cache, RepositoryConfig: filepath.Join(t.TempDir(), "none.yaml")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	tpl := func(c *Client, src ChartSource) (*TemplateResult, error) {
		return c.Template(ctx, TemplateRequest{Release: "shop", Chart: src})
	}
	res, err := tpl(newClient(), ChartSource{Chart: "web", Repo: r.srv.URL, Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ChartVersion != "0.1.0" || len(res.Objects) != 4 {
		t.Errorf("got %s with %d objects", res.ChartVersion, len(res.Objects))
	}
	if n := r.count("/index.yaml"); n != 1 {
		t.Errorf("index fetched %d times, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(cache, "repository")); err != nil {
		t.Errorf("no repository cache under the cache dir: %v", err)
	}

	// A new pass asking for the same exact version uses the cache only.
	if _, err := tpl(newClient(), ChartSource{Chart: "web", Repo: r.srv.URL + "/", Version: "0.1.0"}); err != nil {
		t.Fatal(err)
	}
	if n, m := r.count("/index.yaml"), r.count("/web-0.1.0.tgz"); n != 1 || m != 1 {
		t.Errorf("index fetched %d times, chart %d times; want 1 and 1 (cached)", n, m)
	}

	// The latest version refreshes the index once per pass.
	c := newClient()
	res, err = tpl(c, ChartSource{Chart: "web", Repo: r.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res.ChartVersion != "0.2.0" {
		t.Errorf("latest is %s, want 0.2.0", res.ChartVersion)
	}
	if _, err := tpl(c, ChartSource{Chart: "web", Repo: r.srv.URL, Version: "~0.1"}); err != nil {
		t.Fatal(err)
	}
	if n := r.count("/index.yaml"); n != 2 {
		t.Errorf("index fetched %d times, want 2", n)
	}

	// Errors a user will hit.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		name string
		src  ChartSource
		want string
	}{
		{"version not in index", ChartSource{Chart: "web", Repo: r.srv.URL, Version: "9.9.9"}, `chart "web" has no version 9.9.9 in the chart repository ` + r.srv.URL + ` (versions: 0.2.0, 0.1.0)`},
		{"chart not in index", ChartSource{Chart: "api", Repo: r.srv.URL}, `chart "api" is not in the chart repository ` + r.srv.URL + ` (it has: web)`},
		{"unreachable", ChartSource{Chart: "web", Repo: closed.URL, Version: "0.1.0"}, "chart repository " + closed.URL + " is unreachable or has no valid index.yaml"},
		{"not a URL", ChartSource{Chart: "web", Repo: "charts.example"}, "want an http(s):// chart repository URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tpl(newClient(), tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant %q", err, tt.want)
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d", exit.Code(err), exit.Usage)
			}
		})
	}

	// "alias/name" finds a repository added to repositories.yaml.
	repos := filepath.Join(t.TempDir(), "repositories.yaml")
	f := repo.NewFile()
	f.Update(&repo.Entry{Name: "team", URL: r.srv.URL})
	if err := f.WriteFile(repos, 0o600); err != nil {
		t.Fatal(err)
	}
	ac, err := New(Options{Offline: true, CacheDir: cache, RepositoryConfig: repos})
	if err != nil {
		t.Fatal(err)
	}
	res, err = tpl(ac, ChartSource{Chart: "team/web", Path: filepath.Join(t.TempDir(), "team/web"), Version: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ChartVersion != "0.1.0" {
		t.Errorf("alias: got %s", res.ChartVersion)
	}
}

// ociRegistry starts an OCI registry on 127.0.0.1 and pushes web 0.1.0 and
// 0.2.0 to <host>/charts/web with Helm's own registry client. It returns
// the host.
func ociRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "config.json")))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"0.1.0", "0.2.0"} {
		data, err := os.ReadFile(packageChart(t, "web", v, dir))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Push(data, host+"/charts/web:"+v); err != nil {
			t.Fatalf("push web %s: %v", v, err)
		}
	}
	return host
}

func TestOCICharts(t *testing.T) {
	host := ociRegistry(t)
	c := offlineClient(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		src  ChartSource
		want string
	}{
		{"exact", ChartSource{Chart: "oci://" + host + "/charts/web", Version: "0.1.0"}, "0.1.0"},
		{"latest", ChartSource{Chart: "oci://" + host + "/charts/web"}, "0.2.0"},
		{"range", ChartSource{Chart: "oci://" + host + "/charts/web", Version: "<0.2.0"}, "0.1.0"},
		{"repo prefix", ChartSource{Chart: "web", Repo: "oci://" + host + "/charts", Version: "0.2.0"}, "0.2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Template(ctx, TemplateRequest{Chart: tt.src})
			if err != nil {
				t.Fatal(err)
			}
			if res.ChartVersion != tt.want || len(res.Objects) != 4 {
				t.Errorf("got %s with %d objects, want %s", res.ChartVersion, len(res.Objects), tt.want)
			}
		})
	}
	_, err := c.Template(ctx, TemplateRequest{Chart: ChartSource{Chart: "oci://" + host + "/charts/web", Version: "3.0.0"}})
	if err == nil || !strings.Contains(err.Error(), "oci://"+host+"/charts/web version 3.0.0") || exit.Code(err) != exit.Usage {
		t.Errorf("missing tag: %v", err)
	}
	_, err = c.Template(ctx, TemplateRequest{Chart: ChartSource{Chart: "oci://" + host + "/charts/web", Version: "^3"}})
	if err == nil || !strings.Contains(err.Error(), "has no tag matching ^3 (tags: 0.2.0, 0.1.0)") || exit.Code(err) != exit.Usage {
		t.Errorf("missing range: %v", err)
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:80": true, "localhost": true,
		"registry.example:443": false, "10.0.0.1:5000": false, "ghcr.io": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}
