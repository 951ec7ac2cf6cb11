package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/plate-dev/plate/internal/exit"
)

// ChartSource names a chart the way a plan does.
type ChartSource struct {
	// Chart is what the plan wrote: a local directory or packaged .tgz, an
	// oci:// reference, a chart name in Repo, or "alias/name" for a
	// repository added to Helm's repositories.yaml.
	Chart string
	// Path is Chart resolved against the plan file's directory; it is what
	// is loaded when it exists.
	Path string
	// Repo is a chart repository URL (http, https) or an oci:// prefix to
	// which Chart is appended.
	Repo string
	// Version is an exact version or a semver constraint; empty means the
	// latest stable version (repository and OCI charts). For a local chart
	// it must equal the chart's version when given.
	Version string
}

func (s ChartSource) String() string {
	out := s.Chart
	if s.Repo != "" {
		out = strings.TrimSuffix(s.Repo, "/") + "/" + s.Chart
	}
	if s.Version != "" {
		out += "@" + s.Version
	}
	return out
}

// fetchTimeout bounds each chart repository or registry request.
const fetchTimeout = 60 * time.Second

// LoadChart finds and loads the chart src names. Every error is a usage
// error (exit code 2): a missing path, an unreachable repository, a chart or
// version that the repository does not have, a malformed chart.
func (c *Client) LoadChart(ctx context.Context, src ChartSource) (*chart.Chart, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if src.Chart == "" {
		return nil, exit.Errorf(exit.Usage, "chart: empty chart name")
	}
	var (
		ch  *chart.Chart
		err error
	)
	switch {
	case registry.IsOCI(src.Chart):
		if src.Repo != "" {
			return nil, exit.Errorf(exit.Usage, "chart %s is an oci:// reference: drop repo=", src.Chart)
		}
		ch, err = c.ociChart(src.Chart, src.Version)
	case registry.IsOCI(src.Repo):
		ch, err = c.ociChart(strings.TrimSuffix(src.Repo, "/")+"/"+src.Chart, src.Version)
	case src.Repo != "":
		ch, err = c.repoChart(src.Repo, src.Chart, src.Version)
	default:
		ch, err = c.localChart(src)
	}
	if err != nil {
		return nil, err
	}
	if err := installable(ch); err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", src, err).
			WithHint("a library chart only lends templates to other charts: name an application chart that depends on it")
	}
	if reqs := ch.Metadata.Dependencies; len(reqs) > 0 {
		if err := action.CheckDependencies(ch, reqs); err != nil {
			return nil, exit.Errorf(exit.Usage, "chart %s: %v", src, err).
				WithHint("vendor the chart's dependencies into its charts/ directory (helm dependency build)")
		}
	}
	exactChartValues(ch)
	return ch, nil
}

// installable refuses what Helm refuses to install or render: a chart
// whose type is not application (a library chart), with Helm's words.
func installable(ch *chart.Chart) error {
	switch ch.Metadata.Type {
	case "", "application":
		return nil
	}
	return fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
}

// prepareChart applies the chart's dependency conditions, tags and
// import-values for vals, as Helm does before rendering: subcharts that
// are disabled leave the chart, so that its CRDs (crds/) are those Helm
// would install. Helm does it again when it renders, which changes nothing
// more.
func prepareChart(ch *chart.Chart, vals map[string]any) error {
	return chartutil.ProcessDependenciesWithMerge(ch, vals)
}

func (c *Client) localChart(src ChartSource) (*chart.Chart, error) {
	path := src.Path
	if path == "" {
		path = src.Chart
	}
	if _, err := os.Stat(path); err != nil {
		if alias, name, ok := strings.Cut(src.Chart, "/"); ok && errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(src.Chart, ".") && !filepath.IsAbs(src.Chart) && !strings.Contains(name, "/") {
			if e := c.repoEntryByName(alias); e != nil {
				return c.repoChart(e.URL, name, src.Version)
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exit.Errorf(exit.Usage, "chart %s: no such chart directory or .tgz (looked for %s)", src.Chart, path)
		}
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", src.Chart, err)
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", src.Chart, err)
	}
	if src.Version != "" && src.Version != ch.Metadata.Version {
		return nil, exit.Errorf(exit.Usage, "chart %s has version %s, not %s as version= says", src.Chart, ch.Metadata.Version, src.Version)
	}
	return ch, nil
}

// repositories reads Helm's repositories.yaml; a missing file is no
// repository.
func (c *Client) repositories() []*repo.Entry {
	if c.opts.RepositoryConfig == "" {
		return nil
	}
	f, err := repo.LoadFile(c.opts.RepositoryConfig)
	if err != nil {
		return nil
	}
	return f.Repositories
}

func (c *Client) repoEntryByName(name string) *repo.Entry {
	for _, e := range c.repositories() {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// repoEntry returns the repository entry for url, with the credentials and
// TLS files repositories.yaml holds for it, if any.
func (c *Client) repoEntry(u string) *repo.Entry {
	norm := strings.TrimSuffix(u, "/")
	for _, e := range c.repositories() {
		if strings.TrimSuffix(e.URL, "/") == norm {
			cp := *e
			return &cp
		}
	}
	return &repo.Entry{URL: norm}
}

func (c *Client) providers() getter.Providers {
	return getter.Providers{{
		Schemes: []string{"http", "https"},
		New: func(options ...getter.Option) (getter.Getter, error) {
			return getter.NewHTTPGetter(append([]getter.Option{getter.WithTimeout(fetchTimeout)}, options...)...)
		},
	}}
}

// repoCacheDir holds repository indexes and downloaded charts:
// $HELM_REPOSITORY_CACHE, else <cache>/repository.
func (c *Client) repoCacheDir() string {
	return envOr("HELM_REPOSITORY_CACHE", filepath.Join(c.opts.CacheDir, "repository"))
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}

// repoIndex is a repository index, read from the cache or downloaded in
// this pass.
type repoIndex struct {
	index *repo.IndexFile
	fresh bool
}

var exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// repoChart finds name at version in the repository at repoURL. The index
// is cached under the cache directory: a cached index serves an exact
// version it lists; anything else (a range, "latest", a version the cached
// index lacks) downloads the index again, once per pass.
func (c *Client) repoChart(repoURL, name, version string) (*chart.Chart, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, exit.Errorf(exit.Usage, "repo %q: want an http(s):// chart repository URL or an oci:// prefix", repoURL)
	}
	entry := c.repoEntry(repoURL)
	idx, err := c.index(entry, false)
	if err != nil {
		return nil, err
	}
	cv, err := idx.index.Get(name, version)
	if (err != nil || !exactVersion.MatchString(version)) && !idx.fresh {
		if idx, err = c.index(entry, true); err != nil {
			return nil, err
		}
		cv, err = idx.index.Get(name, version)
	}
	if err != nil {
		return nil, notInIndex(idx.index, entry.URL, name, version)
	}
	if len(cv.URLs) == 0 {
		return nil, exit.Errorf(exit.Usage, "chart %q version %s in %s has no download URL", name, cv.Version, entry.URL)
	}
	chartURL, err := repo.ResolveReferenceURL(entry.URL, cv.URLs[0])
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %q version %s in %s: bad URL %q: %v", name, cv.Version, entry.URL, cv.URLs[0], err)
	}
	data, err := c.download(entry, chartURL, cv)
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %q version %s from %s: %v", name, cv.Version, entry.URL, err)
	}
	return ch, nil
}

func notInIndex(idx *repo.IndexFile, repoURL, name, version string) error {
	versions, ok := idx.Entries[name]
	if !ok || len(versions) == 0 {
		names := make([]string, 0, len(idx.Entries))
		for n := range idx.Entries {
			names = append(names, n)
		}
		sort.Strings(names)
		return exit.Errorf(exit.Usage, "chart %q is not in the chart repository %s (it has: %s)", name, repoURL, listSome(names, 10))
	}
	var vs []string
	for _, v := range versions {
		vs = append(vs, v.Version)
	}
	want := "a stable version"
	if version != "" {
		want = "version " + version
	}
	return exit.Errorf(exit.Usage, "chart %q has no %s in the chart repository %s (versions: %s)", name, want, repoURL, listSome(vs, 10))
}

func listSome(items []string, n int) string {
	if len(items) == 0 {
		return "none"
	}
	if len(items) > n {
		return strings.Join(items[:n], ", ") + fmt.Sprintf(", … %d more", len(items)-n)
	}
	return strings.Join(items, ", ")
}

// index returns the index of the repository entry: from memory, from the
// cache, or (refresh, or nothing cached) downloaded.
func (c *Client) index(entry *repo.Entry, refresh bool) (*repoIndex, error) {
	key := strings.TrimSuffix(entry.URL, "/")
	c.mu.Lock()
	idx := c.indexes[key]
	c.mu.Unlock()
	if idx != nil && (idx.fresh || !refresh) {
		return idx, nil
	}
	dir := c.repoCacheDir()
	cached := filepath.Join(dir, "plate-"+shortHash(key)+"-index.yaml")
	if !refresh {
		if f, err := repo.LoadIndexFile(cached); err == nil {
			idx = &repoIndex{index: f}
			c.mu.Lock()
			c.indexes[key] = idx
			c.mu.Unlock()
			return idx, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chart cache: %w", err)
	}
	e := *entry
	e.URL = key
	e.Name = "plate-" + shortHash(key)
	r, err := repo.NewChartRepository(&e, c.providers())
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart repository %s: %v", key, err)
	}
	r.CachePath = dir
	path, err := r.DownloadIndexFile()
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart repository %s is unreachable or has no valid index.yaml: %v", key, cleanErr(err))
	}
	f, err := repo.LoadIndexFile(path)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart repository %s: index.yaml: %v", key, err)
	}
	idx = &repoIndex{index: f, fresh: true}
	c.mu.Lock()
	c.indexes[key] = idx
	c.mu.Unlock()
	return idx, nil
}

// download returns the chart archive at chartURL, from the cache when the
// cached copy matches the index's digest.
func (c *Client) download(entry *repo.Entry, chartURL string, cv *repo.ChartVersion) ([]byte, error) {
	dir := filepath.Join(c.repoCacheDir(), "charts")
	file := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.tgz", cv.Name, cv.Version, shortHash(chartURL+"#"+cv.Digest)))
	if data, err := os.ReadFile(file); err == nil && digestOK(data, cv.Digest) {
		return data, nil
	}
	opts := []getter.Option{
		getter.WithURL(entry.URL),
		getter.WithTLSClientConfig(entry.CertFile, entry.KeyFile, entry.CAFile),
		getter.WithInsecureSkipVerifyTLS(entry.InsecureSkipTLSverify),
		getter.WithPassCredentialsAll(entry.PassCredentialsAll),
	}
	if sameHost(entry.URL, chartURL) || entry.PassCredentialsAll {
		opts = append(opts, getter.WithBasicAuth(entry.Username, entry.Password))
	}
	g, err := c.providers().ByScheme(schemeOf(chartURL))
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s: %v", chartURL, err)
	}
	buf, err := g.Get(chartURL, opts...)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %q version %s: downloading %s: %v", cv.Name, cv.Version, chartURL, cleanErr(err))
	}
	data := buf.Bytes()
	if !digestOK(data, cv.Digest) {
		return nil, exit.Errorf(exit.Usage, "chart %q version %s: %s does not match the digest in the repository index", cv.Name, cv.Version, chartURL)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		tmp := file + ".tmp" + shortHash(time.Now().String())
		if os.WriteFile(tmp, data, 0o644) == nil {
			_ = os.Rename(tmp, file)
		}
		_ = os.Remove(tmp)
	}
	return data, nil
}

func digestOK(data []byte, digest string) bool {
	if digest == "" {
		return true
	}
	sum := sha256.Sum256(data)
	return strings.EqualFold(strings.TrimPrefix(digest, "sha256:"), hex.EncodeToString(sum[:]))
}

func schemeOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme
}

func sameHost(a, b string) bool {
	pa, err1 := url.Parse(a)
	pb, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && pa.Scheme == pb.Scheme && pa.Host == pb.Host
}

// cleanErr drops the noise Helm's getters wrap around a cause.
func cleanErr(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "looks like ")
	return msg
}

// isLoopback reports whether host (host or host:port) is on this machine.
// Registries there are spoken to in plain HTTP, as Docker does.
func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// registryClient returns the OCI registry client, created on first use
// with the credentials of RegistryConfig (Helm's, then Docker's). The SDK
// sets none up by itself (pitfall 2).
func (c *Client) registryClient(plainHTTP bool) (*registry.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc := c.registries[plainHTTP]; rc != nil {
		return rc, nil
	}
	opts := []registry.ClientOption{
		registry.ClientOptWriter(io.Discard),
		registry.ClientOptEnableCache(true),
		registry.ClientOptCredentialsFile(c.opts.RegistryConfig),
	}
	if plainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "OCI registry client: %v", err)
	}
	c.registries[plainHTTP] = rc
	return rc, nil
}

// ociChart pulls ref (oci://host/path/name) at version: an exact tag, or
// the highest tag matching a constraint (empty: the highest version).
func (c *Client) ociChart(ref, version string) (*chart.Chart, error) {
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return nil, exit.Errorf(exit.Usage, "chart %s: not a valid oci://host/path reference", ref)
	}
	if strings.Contains(u.Path, ":") || strings.Contains(u.Path, "@") {
		return nil, exit.Errorf(exit.Usage, "chart %s: give the version with version=, not in the reference", ref)
	}
	rc, err := c.registryClient(isLoopback(u.Host))
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(ref, "oci://")
	tag := version
	if !exactVersion.MatchString(version) {
		tags, err := rc.Tags(name)
		if err != nil {
			return nil, exit.Errorf(exit.Usage, "chart %s: listing tags: %v", ref, err)
		}
		tag, err = registry.GetTagMatchingVersionOrConstraint(tags, version)
		if err != nil {
			want := "any version"
			if version != "" {
				want = version
			}
			return nil, exit.Errorf(exit.Usage, "chart %s has no tag matching %s (tags: %s)", ref, want, listSome(tags, 10))
		}
	}
	key := name + ":" + strings.ReplaceAll(tag, "+", "_")
	c.mu.Lock()
	data := c.archives[key]
	c.mu.Unlock()
	if data == nil {
		res, err := rc.Pull(key, registry.PullOptWithChart(true), registry.PullOptIgnoreMissingProv(true))
		if err != nil {
			return nil, exit.Errorf(exit.Usage, "chart %s version %s: %v", ref, tag, err)
		}
		data = res.Chart.Data
		c.mu.Lock()
		c.archives[key] = data
		c.mu.Unlock()
	}
	ch, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "chart %s version %s: %v", ref, tag, err)
	}
	return ch, nil
}
