// Package standin turns the stand-in library charts of an environment
// (testdata/charts/libraries, named by each library's standIn) into a Helm
// chart repository: packaged charts and an index.yaml in one directory. It
// is the mirror that tests and the demo point plans at instead of the
// upstream repositories, which cannot be reached here (docs/platform.md,
// "Library charts").
//
// It packages and indexes with the Helm SDK (pkg/chart/loader,
// pkg/chartutil.Save, pkg/repo) and is meant for tests and the demo; plate's
// own deploy path reads charts through internal/helm.
package standin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/plate-dev/plate/internal/platform"
)

// Build packages the stand-in chart of every library of env into dir
// (created if needed) and writes dir/index.yaml. The index's chart URLs are
// relative, so the directory works behind any base URL. A library without a
// standIn is an error: the mirror would lack it.
func Build(env *platform.Environment, dir string) (*repo.IndexFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, lib := range env.Libraries {
		if lib.StandIn == "" {
			return nil, fmt.Errorf("%s: library %s has no standIn chart", env.File, lib.Name)
		}
		ch, err := loader.Load(env.Abs(lib.StandIn))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lib.StandIn, err)
		}
		if ch.Name() != lib.Chart || ch.Metadata.Version != lib.Version {
			return nil, fmt.Errorf("%s is %s %s, %s pins %s %s", lib.StandIn, ch.Name(), ch.Metadata.Version, env.File, lib.Chart, lib.Version)
		}
		if _, err := chartutil.Save(ch, dir); err != nil {
			return nil, fmt.Errorf("package %s: %w", lib.StandIn, err)
		}
	}
	idx, err := repo.IndexDirectory(dir, "")
	if err != nil {
		return nil, err
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		return nil, err
	}
	return idx, nil
}

// Server serves a chart repository directory over HTTP on the loopback
// interface.
type Server struct {
	// URL is the repository URL (http://127.0.0.1:port), what a plan's
	// mirror parameter takes.
	URL string
	srv *http.Server
	ln  net.Listener
}

// Serve serves dir on 127.0.0.1 at addr's port ("127.0.0.1:0" picks a free
// one) until Close.
func Serve(dir, addr string) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("serve %s: only a loopback address is allowed", addr)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.yaml")); err != nil {
		return nil, fmt.Errorf("serve %s: no index.yaml (run Build first)", dir)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second},
		ln:  ln,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
