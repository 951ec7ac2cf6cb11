package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/platform"
)

// HelmPlatform deploys or renders an environment of the platform with the
// helm CLI, the way the old deploy scripts did: one helm process per
// release, in order, each `upgrade --install --wait`; the libraries' config
// objects applied in between (here with client-go, where the scripts ran
// kubectl apply); the apps' Secrets and namespace created before the apps.
type HelmPlatform struct {
	Helm string // the helm binary
	Home string // its configuration, cache and data (helmcli.Env)
	Env  *platform.Environment
	// Mirror is the chart repository serving every library chart.
	Mirror string
	// Kubeconfig and REST are the cluster, for helm and for client-go.
	Kubeconfig string
	REST       *rest.Config
}

// Phase is one timed part of a helm deploy.
type Phase struct {
	Name string
	Took time.Duration
}

func (h *HelmPlatform) helm(ctx context.Context, args ...string) (Proc, error) {
	p := Run(ctx, h.Env.Root, helmcli.Env(h.Home), h.Helm, args...)
	return p, p.Failed()
}

// libraryArgs are the chart arguments of a library: the mirror, its pinned
// version, its namespace and its values as --set (numbers and booleans) and
// --set-string (strings), as the scripts passed them.
func (h *HelmPlatform) libraryArgs(lib platform.Library) []string {
	args := []string{lib.Name, lib.Chart, "--repo", h.Mirror, "--version", lib.Version, "--namespace", lib.Namespace}
	return append(args, SetArgs("", lib.Values)...)
}

func (h *HelmPlatform) appArgs(app platform.App) []string {
	args := []string{app.Name, h.Env.Abs(app.Chart), "--namespace", h.Env.Namespace}
	for _, v := range app.Values {
		args = append(args, "-f", h.Env.Abs(v))
	}
	return args
}

// Deploy installs the libraries, their configuration, the apps' namespace
// and Secrets and the apps, in order, and returns how long each took.
func (h *HelmPlatform) Deploy(ctx context.Context) ([]Phase, error) {
	var phases []Phase
	timed := func(name string, fn func() error) error {
		start := time.Now()
		err := fn()
		phases = append(phases, Phase{name, time.Since(start)})
		return err
	}
	wait := []string{"--wait", "--timeout", h.Env.Timeouts.Install, "--kubeconfig", h.Kubeconfig}
	for _, lib := range h.Env.Libraries {
		if err := timed("helm "+lib.Name, func() error {
			args := append([]string{"upgrade", "--install"}, h.libraryArgs(lib)...)
			_, err := h.helm(ctx, append(append(args, "--create-namespace"), wait...)...)
			return err
		}); err != nil {
			return phases, err
		}
		for _, f := range lib.Config {
			if err := timed("apply "+filepath.Base(f), func() error { return Apply(ctx, h.REST, h.Env.Abs(f)) }); err != nil {
				return phases, err
			}
		}
	}
	if err := timed("namespace and Secrets", func() error { return h.Secrets(ctx) }); err != nil {
		return phases, err
	}
	for _, app := range h.Env.Apps {
		if err := timed("helm "+app.Name, func() error {
			args := append([]string{"upgrade", "--install"}, h.appArgs(app)...)
			_, err := h.helm(ctx, append(args, wait...)...)
			return err
		}); err != nil {
			return phases, err
		}
	}
	return phases, nil
}

// Secrets creates the apps' namespace and the Secrets they read, with
// placeholder values (what deploy_all's placeholder_secrets does).
func (h *HelmPlatform) Secrets(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(h.REST)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.Env.Namespace, Labels: map[string]string{
		"app.kubernetes.io/part-of": "plate", "plate.dev/environment": h.Env.Name}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, app := range h.Env.Apps {
		for _, s := range app.Secrets {
			data := map[string]string{}
			for _, k := range s.Keys {
				data[k] = "placeholder-" + k
			}
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: map[string]string{"plate.dev/placeholder": "true"}}, StringData: data}
			if _, err := cs.CoreV1().Secrets(h.Env.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	return nil
}

// Template renders every release with `helm template`, one process each,
// in deploy order: the libraries (from the mirror) when libraries is true,
// then the apps. The Kubernetes version is the local control plane's
// (kube.DefaultVersion; helm template assumes v1.20 otherwise, which the
// charts refuse).
func (h *HelmPlatform) Template(ctx context.Context, libraries bool) (int, error) {
	n := 0
	if libraries {
		for _, lib := range h.Env.Libraries {
			if _, err := h.helm(ctx, append(append([]string{"template"}, h.libraryArgs(lib)...), "--kube-version", kube.DefaultVersion)...); err != nil {
				return n, err
			}
			n++
		}
	}
	for _, app := range h.Env.Apps {
		if _, err := h.helm(ctx, append(append([]string{"template"}, h.appArgs(app)...), "--kube-version", kube.DefaultVersion)...); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SetArgs flattens values into --set (booleans and numbers) and
// --set-string (strings) arguments, keys sorted.
func SetArgs(prefix string, values map[string]any) []string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := values[k].(type) {
		case map[string]any:
			out = append(out, SetArgs(name, v)...)
		case string:
			out = append(out, "--set-string", name+"="+v)
		default:
			out = append(out, "--set", fmt.Sprintf("%s=%v", name, v))
		}
	}
	return out
}

// Apply applies the objects of a YAML file with client-go, as `kubectl
// apply --server-side` would: discovery to map kinds to resources (made
// fresh, like a kubectl process does), then one apply request per object.
func Apply(ctx context.Context, cfg *rest.Config, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var mapper meta.RESTMapper
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		var m *meta.RESTMapping
		// A kind whose CRD was just Established may not be in discovery
		// yet: look again, as kubectl apply does on a miss.
		for attempt := 0; ; attempt++ {
			if mapper == nil {
				groups, err := restmapper.GetAPIGroupResources(dc)
				if err != nil {
					return err
				}
				mapper = restmapper.NewDiscoveryRESTMapper(groups)
			}
			m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err == nil || !meta.IsNoMatchError(err) || attempt == 50 {
				break
			}
			mapper = nil
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, gvk, err)
		}
		body, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ns := o.GetNamespace()
			if ns == "" {
				ns = "default"
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		force := true
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "kubectl", Force: &force}); err != nil {
			return fmt.Errorf("%s: apply %s %s: %w", file, gvk.Kind, o.GetName(), err)
		}
	}
	return nil
}

// PhasesString formats phases as "helm cert-manager 2.51 s, …".
func PhasesString(ps []Phase) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s %s", p.Name, Dur(p.Took)))
	}
	return strings.Join(parts, ", ")
}
