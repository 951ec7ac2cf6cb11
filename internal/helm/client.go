// Package helm is plate's adapter over the Helm v3 SDK. It is the only
// package of plate that imports helm.sh/helm/v3/pkg/action, so that a move to
// Helm v4 touches this room alone.
//
// A [Client] serves one pass of a plan. It deploys charts with the engine's
// Kubernetes client: in dry passes that client's transport refuses every
// write, so a dry-run install renders against the live API (lookups,
// capabilities, OpenAPI validation) and diffs against the stored release,
// and cannot change anything even by mistake.
//
// The SDK pitfalls it avoids (see /work/shared/FIELD-NOTES.md):
//   - every action.Configuration is built over a RESTClientGetter that
//     returns the release namespace, and Install.Namespace is set too; Helm's
//     environment (HELM_NAMESPACE, HELM_KUBECONTEXT) is never read;
//   - "upgrade --install" is done here: history → install (replace when
//     uninstalled) or upgrade; a pending release is reported, not retried;
//   - OCI charts get an explicit registry client;
//   - RunWithContext with the run's context;
//   - rollback targets the last deployed or superseded revision, never
//     blindly the previous one;
//   - client-only rendering uses a fresh Configuration every time, with an
//     explicit Kubernetes version;
//   - Configurations are cached per namespace within a pass and dropped
//     after a release adds CRDs; so is the OpenAPI validator, which all
//     of a pass's Configurations share (kubectl's factory would parse the
//     OpenAPI documents again for every manifest);
//   - MaxHistory is 10, as the helm CLI's.
package helm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	hkube "helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/validation"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/refcheck"
	"github.com/plate-dev/plate/internal/trace"
)

// MaxHistory is the number of revisions kept per release, as the helm CLI
// keeps by default.
const MaxHistory = 10

// DefaultTimeout bounds an install, upgrade, rollback or uninstall when the
// request names none.
const DefaultTimeout = 5 * time.Minute

// Options configure a Client.
type Options struct {
	// Kube is the engine's cluster client. In dry passes its transport
	// refuses writes. Nil when offline or when it could not be made (then
	// KubeErr says why).
	Kube    *kube.Client
	KubeErr error
	// Offline forbids contacting any cluster: charts render client-only.
	Offline bool
	// KubeVersion is the Kubernetes version a client-only render assumes
	// (default kube.DefaultVersion).
	KubeVersion string
	// Planned is the pass's planned world, shared with the Kubernetes
	// adapter: the CRDs and namespaces earlier steps of a dry pass would
	// create, so that later renders and checks see them. Default: a new
	// one (or the Kubernetes client's).
	Planned *kube.Planned
	// CacheDir holds chart repository indexes and downloaded charts
	// (default: DefaultCacheDir()). $HELM_REPOSITORY_CACHE overrides the
	// repository part.
	CacheDir string
	// RepositoryConfig is Helm's repositories.yaml, read for credentials and
	// repository aliases (default: $HELM_REPOSITORY_CONFIG, else Helm's own).
	RepositoryConfig string
	// RegistryConfig is the OCI registry credentials file (default:
	// $HELM_REGISTRY_CONFIG, else Helm's own).
	RegistryConfig string
	// Log receives Helm's debug lines; nil discards them.
	Log func(format string, args ...any)
	// Check is the pass's reference check (internal/refcheck), run by a
	// dry install on the objects it would create or update; nil: none.
	Check func(ctx context.Context, s refcheck.Step) []trace.Finding
}

// Client runs Helm operations for one pass of a plan. It is safe for
// concurrent use.
type Client struct {
	opts Options

	mu sync.Mutex
	// configs are idle action configurations per namespace. An operation
	// takes one (or builds one) and puts it back when done, so that
	// concurrent steps never share a Configuration (the SDK's are not
	// safe for concurrent use) while sequential ones reuse its caches.
	configs map[string][]*opConfig
	// generation counts invalidations: a configuration taken before one
	// is not put back.
	generation int
	reached    bool
	indexes    map[string]*repoIndex
	archives   map[string][]byte
	registries map[bool]*registry.Client
	// validators are the pass's OpenAPI validators by field validation
	// directive, shared by every Configuration (see sharedValidator);
	// dropped with the configurations by invalidate.
	validators map[string]validation.Schema
}

// New returns a client for one pass.
func New(opts Options) (*Client, error) {
	if opts.KubeVersion == "" {
		opts.KubeVersion = kube.DefaultVersion
	}
	if _, err := chartutil.ParseKubeVersion(opts.KubeVersion); err != nil {
		return nil, exit.Errorf(exit.Usage, "kube version %q: %v", opts.KubeVersion, err)
	}
	if opts.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		opts.CacheDir = d
	}
	if opts.RepositoryConfig == "" {
		opts.RepositoryConfig = envOr("HELM_REPOSITORY_CONFIG", helmConfigPath("repositories.yaml"))
	}
	if opts.RegistryConfig == "" {
		opts.RegistryConfig = envOr("HELM_REGISTRY_CONFIG", helmConfigPath(filepath.Join("registry", "config.json")))
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	if opts.Planned == nil && opts.Kube != nil {
		opts.Planned = opts.Kube.Planned
	}
	if opts.Planned == nil {
		opts.Planned = kube.NewPlanned()
	}
	return &Client{
		opts:       opts,
		configs:    map[string][]*opConfig{},
		indexes:    map[string]*repoIndex{},
		archives:   map[string][]byte{},
		registries: map[bool]*registry.Client{},
		validators: map[string]validation.Schema{},
	}, nil
}

// DefaultCacheDir is plate's Helm cache: $XDG_CACHE_HOME/plate/helm, else
// ~/.cache/plate/helm.
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for Helm charts: %w", err)
	}
	return filepath.Join(base, "plate", "helm"), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// helmConfigPath is where the helm CLI keeps a config file
// ($HELM_CONFIG_HOME, $XDG_CONFIG_HOME/helm, ~/.config/helm), so that
// `helm repo add` and `helm registry login` credentials work for plate.
func helmConfigPath(name string) string {
	if d := os.Getenv("HELM_CONFIG_HOME"); d != "" {
		return filepath.Join(d, name)
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(base, "helm", name)
}

// Writes reports whether this client's cluster client can write (the run
// pass) or refuses writes (dry-run and preflight passes).
func (c *Client) Writes() bool {
	return !c.opts.Offline && c.opts.Kube != nil && !c.opts.Kube.ReadOnly
}

// ErrOffline is returned by operations that must read the cluster in an
// offline dry run.
var ErrOffline = errors.New("offline: no cluster is contacted (--offline)")

// kube returns the cluster client, checking once that the cluster answers.
// Errors name the context and the server.
func (c *Client) kube(ctx context.Context) (*kube.Client, error) {
	if c.opts.Offline {
		return nil, ErrOffline
	}
	if c.opts.Kube == nil {
		err := c.opts.KubeErr
		if err == nil {
			err = errors.New("no cluster configured")
		}
		return nil, exit.Wrap(exit.Usage, fmt.Errorf("cluster: %w", err))
	}
	kc := c.opts.Kube
	c.mu.Lock()
	reached := c.reached
	c.mu.Unlock()
	if reached {
		return kc, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := kc.Clientset.Discovery().ServerVersion(); err != nil {
		return nil, c.unreachable(kc, err)
	}
	c.mu.Lock()
	c.reached = true
	c.mu.Unlock()
	return kc, nil
}

// unreachable explains a cluster that does not answer: before this
// client reached it (in a dry run or a preflight), a usage error that
// points at the kube context; once reached, or in the run pass (whose
// preflight reached it), a lost cluster: a failed run, exit 1.
func (c *Client) unreachable(kc *kube.Client, err error) error {
	c.mu.Lock()
	reached := c.reached
	c.mu.Unlock()
	if reached || c.Writes() {
		lost := &kube.LostError{Server: kc.Server, Err: err}
		return &exit.Error{Code: exit.PlanFailed, Msg: lost.Error(), Err: lost}
	}
	return exit.Errorf(exit.Usage, "cannot reach the cluster of %s: %v", kc.Describe(), err).
		WithHint("check the kube context (--context, --kubeconfig) and that the API server runs")
}

// opConfig is an action configuration with the Binding its requests go
// through (see config).
type opConfig struct {
	cfg  *action.Configuration
	bind *kube.Binding
}

// config returns an action configuration of namespace for one operation,
// reusing an idle one of this pass when there is one, and the function
// that puts it back when the operation is done.
//
// Every request of the configuration (Helm's storage, its kube client, its
// hooks' watches) is bound to ctx, which Helm's SDK does not pass on by
// itself: a timeout or an interrupt ends them within moments even when the
// API server hangs, and a request made once ctx has ended (Helm recording
// a cancelled install as failed) gets kube.DefaultGrace. A configuration
// whose operation ended with ctx is not reused: it refuses every request
// from then on, so that what Helm left running in the background cannot
// write after plate moved on.
func (c *Client) config(ctx context.Context, namespace string) (*action.Configuration, *kube.Client, func(), error) {
	kc, err := c.kube(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	c.mu.Lock()
	gen := c.generation
	var oc *opConfig
	if idle := c.configs[namespace]; len(idle) > 0 {
		oc = idle[len(idle)-1]
		c.configs[namespace] = idle[:len(idle)-1]
	}
	c.mu.Unlock()
	if oc == nil {
		if oc, err = c.newConfig(kc, namespace); err != nil {
			return nil, nil, nil, err
		}
	}
	oc.bind.Use(ctx)
	done := func() {
		if kube.Ended(ctx) {
			oc.bind.Close()
			c.mu.Lock()
			// The pass's validators may have been built over this
			// configuration's clients.
			c.validators = map[string]validation.Schema{}
			c.mu.Unlock()
			return
		}
		oc.bind.Use(nil)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.generation == gen {
			c.configs[namespace] = append(c.configs[namespace], oc)
		}
	}
	return oc.cfg, kc, done, nil
}

// newConfig builds an uncached action configuration for namespace.
func (c *Client) newConfig(kc *kube.Client, namespace string) (*opConfig, error) {
	cfg := new(action.Configuration)
	bind := new(kube.Binding)
	if err := cfg.Init(newGetter(kc, namespace, bind), namespace, "secret", c.opts.Log); err != nil {
		return nil, fmt.Errorf("helm: %w", err)
	}
	if hk, ok := cfg.KubeClient.(*hkube.Client); ok {
		hk.Namespace = namespace
		hk.Factory = &sharedValidator{Factory: hk.Factory, c: c}
	}
	return &opConfig{cfg: cfg, bind: bind}, nil
}

// sharedValidator is a Helm kube Factory whose Validator is the pass's
// (Client.validator). kubectl's factory makes a new validator for every
// manifest Helm builds with validation (the release's objects, its hooks),
// and each new one fetches and parses the OpenAPI v3 document of every
// group version it checks for server-side field validation: about 100 ms
// of CPU for core/v1, per release. One validator per pass parses each
// group version once.
type sharedValidator struct {
	hkube.Factory
	c *Client
}

func (f *sharedValidator) Validator(directive string) (validation.Schema, error) {
	return f.c.validator(directive, f.Factory)
}

// validator returns the pass's validator for directive, made by f the
// first time. It is safe for concurrent use (its verifier caches under a
// lock, the OpenAPI clients under theirs).
func (c *Client) validator(directive string, f hkube.Factory) (validation.Schema, error) {
	c.mu.Lock()
	v, ok := c.validators[directive]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := c.newValidator(directive, f)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.validators[directive]; ok {
		return prev, nil
	}
	c.validators[directive] = v
	return v, nil
}

// clientOnlyConfig is a Configuration for one client-only render: ClientOnly
// swaps its kube client and storage for fakes for good, so it is never
// reused (pitfall 7).
func (c *Client) clientOnlyConfig() *action.Configuration {
	return &action.Configuration{Log: c.opts.Log}
}

// invalidate drops the cached configurations, validators and the discovery data after a
// release added CRDs: the next action sees the new kinds (pitfall 8).
func (c *Client) invalidate() {
	c.mu.Lock()
	c.configs = map[string][]*opConfig{}
	c.validators = map[string]validation.Schema{}
	c.generation++
	c.mu.Unlock()
	if kc := c.opts.Kube; kc != nil {
		kc.Discovery.Invalidate()
		kc.Mapper.Reset()
	}
}

// namespaceExists reports whether namespace exists.
func namespaceExists(ctx context.Context, kc *kube.Client, namespace string) (bool, error) {
	_, err := kc.Clientset.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if apierrors.IsForbidden(err) {
		// A user confined to namespaces may not read them: assume it is
		// there; if it is not, the install says so.
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	return true, nil
}
