package platform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The Argo CD manifests of the GitOps path, relative to the repository root.
const (
	ArgoDir     = "environments/argocd"
	ArgoRoot    = ArgoDir + "/app-of-apps.yaml"
	ArgoAppsDir = ArgoDir + "/apps"
	// LibraryConfigDir holds the library configuration objects.
	LibraryConfigDir = "environments/libraries"
)

// Sync waves of the child Applications: the libraries, then their
// configuration, then the apps by depth of needs.
const (
	WaveLibraries     = 0
	WaveLibraryConfig = 1
	WaveFirstApp      = 2
)

// ArgoAppName is the name (and file name without .yaml) of the child
// Application that deploys component (an app, a library, or "platform-config")
// in env.
func ArgoAppName(component string, env *Environment) string {
	return component + "-" + env.ShortName
}

// AppWave is the sync wave of an app's Application.
func (e *Environment) AppWave(app string) int { return WaveFirstApp + e.Depth(app) }

// argoApp is the part of an argoproj.io/v1alpha1 Application that plate
// writes; decoding is strict, so a misspelt field in a manifest is an error.
type argoApp struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Annotations map[string]string `yaml:"annotations"`
		Labels      map[string]string `yaml:"labels"`
		Finalizers  []string          `yaml:"finalizers"`
	} `yaml:"metadata"`
	Spec struct {
		Project     string     `yaml:"project"`
		Source      argoSource `yaml:"source"`
		Destination struct {
			Server    string `yaml:"server"`
			Namespace string `yaml:"namespace"`
		} `yaml:"destination"`
		SyncPolicy struct {
			Automated *struct {
				Prune      bool `yaml:"prune"`
				SelfHeal   bool `yaml:"selfHeal"`
				AllowEmpty bool `yaml:"allowEmpty"`
			} `yaml:"automated"`
			Retry *struct {
				Limit   int `yaml:"limit"`
				Backoff *struct {
					Duration    string `yaml:"duration"`
					Factor      int    `yaml:"factor"`
					MaxDuration string `yaml:"maxDuration"`
				} `yaml:"backoff"`
			} `yaml:"retry"`
			SyncOptions []string `yaml:"syncOptions"`
		} `yaml:"syncPolicy"`
	} `yaml:"spec"`
}

type argoSource struct {
	RepoURL        string `yaml:"repoURL"`
	TargetRevision string `yaml:"targetRevision"`
	Path           string `yaml:"path"`
	Chart          string `yaml:"chart"`
	Helm           *struct {
		ReleaseName  string         `yaml:"releaseName"`
		ValueFiles   []string       `yaml:"valueFiles"`
		ValuesObject map[string]any `yaml:"valuesObject"`
	} `yaml:"helm"`
	Directory *struct {
		Recurse bool   `yaml:"recurse"`
		Include string `yaml:"include"`
		Exclude string `yaml:"exclude"`
	} `yaml:"directory"`
}

// problems collects the disagreements of one check.
type problems []string

func (p *problems) add(file, format string, args ...any) {
	*p = append(*p, file+": "+fmt.Sprintf(format, args...))
}

// CheckArgoCD checks the Argo CD manifests under root (ArgoRoot and
// ArgoAppsDir) against the environments: every library, library
// configuration and app of every environment has its child Application
// (ArgoAppName), with the environment's repository, revision, destination
// server and namespace, the same chart path, values files (or upstream chart,
// version and values) and release name, a sync wave that keeps the deploy
// order, and the sync policy of the platform (automated prune and self-heal,
// retry with backoff, CreateNamespace=true); every path exists; and there is
// no Application the environments do not explain. The error lists every
// problem, one per line.
func CheckArgoCD(root string, envs []*Environment) error {
	if len(envs) == 0 {
		return errors.New("CheckArgoCD: no environments")
	}
	var p problems
	checkArgoRoot(root, envs, &p)

	expected := map[string]bool{}
	for _, env := range envs {
		for i := range env.Libraries {
			lib := &env.Libraries[i]
			name := ArgoAppName(lib.Name, env)
			expected[name] = true
			if a := readArgoApp(root, name, env, "library "+lib.Name, &p); a != nil {
				checkLibraryApp(root, a, env, lib, &p)
			}
		}
		if cfg := env.configFiles(); len(cfg) > 0 {
			name := ArgoAppName("platform-config", env)
			expected[name] = true
			if a := readArgoApp(root, name, env, "the library configuration "+strings.Join(cfg, ", "), &p); a != nil {
				checkConfigApp(root, a, env, cfg, &p)
			}
		}
		for i := range env.Apps {
			app := &env.Apps[i]
			name := ArgoAppName(app.Name, env)
			expected[name] = true
			if a := readArgoApp(root, name, env, "app "+app.Name, &p); a != nil {
				checkPlateApp(root, a, env, app, &p)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(ArgoAppsDir), "*"))
	for _, f := range files {
		base := filepath.Base(f)
		if !expected[strings.TrimSuffix(base, ".yaml")] {
			p.add(ArgoAppsDir+"/"+base, "unexpected file: no environment deploys %s (Applications are named <app>-<shortName>.yaml)", strings.TrimSuffix(base, ".yaml"))
		}
	}
	if len(p) == 0 {
		return nil
	}
	sort.Strings(p)
	return fmt.Errorf("Argo CD manifests disagree with the environments (%d problem(s)):\n  %s", len(p), strings.Join(p, "\n  "))
}

// configFiles lists the library configuration files of env in order.
func (e *Environment) configFiles() []string {
	var out []string
	for _, l := range e.Libraries {
		out = append(out, l.Config...)
	}
	return out
}

func readArgoApp(root, name string, env *Environment, what string, p *problems) *argoApp {
	file := ArgoAppsDir + "/" + name + ".yaml"
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
	if errors.Is(err, os.ErrNotExist) {
		p.add(file, "missing: %s deploys %s, and Argo CD has no Application for it", env.File, what)
		return nil
	}
	if err != nil {
		p.add(file, "%v", err)
		return nil
	}
	a, err := decodeArgoApp(data)
	if err != nil {
		p.add(file, "%v", err)
		return nil
	}
	if a.Metadata.Name != name {
		p.add(file, "metadata.name is %q, want %q (the file name)", a.Metadata.Name, name)
	}
	return a
}

func decodeArgoApp(data []byte) (*argoApp, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var a argoApp
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("not a valid Application: %v", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document: one Application per file")
	}
	if a.APIVersion != "argoproj.io/v1alpha1" || a.Kind != "Application" {
		return nil, fmt.Errorf("apiVersion/kind is %s/%s, want argoproj.io/v1alpha1/Application", a.APIVersion, a.Kind)
	}
	return &a, nil
}

func checkArgoRoot(root string, envs []*Environment, p *problems) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(ArgoRoot)))
	if err != nil {
		p.add(ArgoRoot, "missing: the app of apps (%v)", err)
		return
	}
	a, err := decodeArgoApp(data)
	if err != nil {
		p.add(ArgoRoot, "%v", err)
		return
	}
	if a.Metadata.Namespace != "argocd" {
		p.add(ArgoRoot, "metadata.namespace is %q, want argocd", a.Metadata.Namespace)
	}
	for _, env := range envs {
		if a.Spec.Source.RepoURL != env.ArgoCD.RepoURL {
			p.add(ArgoRoot, "spec.source.repoURL is %q, %s says %q", a.Spec.Source.RepoURL, env.File, env.ArgoCD.RepoURL)
		}
	}
	if a.Spec.Source.Path != ArgoAppsDir {
		p.add(ArgoRoot, "spec.source.path is %q, want %q", a.Spec.Source.Path, ArgoAppsDir)
	}
	checkDir(root, ArgoRoot, a.Spec.Source.Path, p)
	if d := a.Spec.Source.Directory; d != nil && d.Recurse {
		p.add(ArgoRoot, "spec.source.directory.recurse must be false")
	}
	if a.Spec.Source.TargetRevision == "" {
		p.add(ArgoRoot, "spec.source.targetRevision is empty")
	}
	if a.Spec.Destination.Namespace != "argocd" {
		p.add(ArgoRoot, "spec.destination.namespace is %q, want argocd (the child Applications live there)", a.Spec.Destination.Namespace)
	}
	checkSyncPolicy(ArgoRoot, a, nil, p)
}

// checkCommon checks what every child Application of env shares.
func checkCommon(file string, a *argoApp, env *Environment, wave int, p *problems) {
	if a.Metadata.Namespace != "argocd" {
		p.add(file, "metadata.namespace is %q, want argocd", a.Metadata.Namespace)
	}
	if got := a.Metadata.Annotations["argocd.argoproj.io/sync-wave"]; got != strconv.Itoa(wave) {
		p.add(file, "sync wave (annotation argocd.argoproj.io/sync-wave) is %q, want %q to keep the deploy order of %s", got, strconv.Itoa(wave), env.File)
	}
	if got := a.Metadata.Labels["plate.dev/environment"]; got != env.Name {
		p.add(file, "label plate.dev/environment is %q, want %q", got, env.Name)
	}
	if a.Spec.Project != env.ArgoCD.Project {
		p.add(file, "spec.project is %q, %s says %q", a.Spec.Project, env.File, env.ArgoCD.Project)
	}
	if a.Spec.Destination.Server != env.ArgoCD.Server {
		p.add(file, "spec.destination.server is %q, %s says %q", a.Spec.Destination.Server, env.File, env.ArgoCD.Server)
	}
}

func checkPlateApp(root string, a *argoApp, env *Environment, app *App, p *problems) {
	file := ArgoAppsDir + "/" + ArgoAppName(app.Name, env) + ".yaml"
	checkCommon(file, a, env, env.AppWave(app.Name), p)
	src := a.Spec.Source
	checkRepo(file, src, env, p)
	if src.Chart != "" {
		p.add(file, "spec.source.chart is set (%q): an app's chart is a path in this repository", src.Chart)
	}
	if src.Path != app.Chart {
		p.add(file, "spec.source.path is %q, %s says %q", src.Path, env.File, app.Chart)
	}
	checkDir(root, file, src.Path, p)
	if src.Helm == nil {
		p.add(file, "spec.source.helm is missing")
	} else {
		if src.Helm.ReleaseName != app.Name {
			p.add(file, "spec.source.helm.releaseName is %q, want %q (plans name the release after the app)", src.Helm.ReleaseName, app.Name)
		}
		var got []string
		for _, vf := range src.Helm.ValueFiles {
			full := path.Join(src.Path, vf)
			got = append(got, full)
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(full))); err != nil {
				p.add(file, "spec.source.helm.valueFiles: %s (%s) does not exist", vf, full)
			}
		}
		if !reflect.DeepEqual(got, app.Values) && !(len(got) == 0 && len(app.Values) == 0) {
			p.add(file, "spec.source.helm.valueFiles are %s, %s says %s", list(got), env.File, list(app.Values))
		}
		if len(src.Helm.ValuesObject) > 0 {
			p.add(file, "spec.source.helm.valuesObject is set: an app's values come only from its values files")
		}
	}
	if a.Spec.Destination.Namespace != env.Namespace {
		p.add(file, "spec.destination.namespace is %q, %s says %q", a.Spec.Destination.Namespace, env.File, env.Namespace)
	}
	checkSyncPolicy(file, a, nil, p)
}

func checkLibraryApp(root string, a *argoApp, env *Environment, lib *Library, p *problems) {
	file := ArgoAppsDir + "/" + ArgoAppName(lib.Name, env) + ".yaml"
	checkCommon(file, a, env, WaveLibraries, p)
	src := a.Spec.Source
	if src.RepoURL != lib.Repo {
		p.add(file, "spec.source.repoURL is %q, %s says %q", src.RepoURL, env.File, lib.Repo)
	}
	if src.Chart != lib.Chart {
		p.add(file, "spec.source.chart is %q, %s says %q", src.Chart, env.File, lib.Chart)
	}
	if src.Path != "" {
		p.add(file, "spec.source.path is set (%q): a library comes from its upstream chart repository", src.Path)
	}
	if src.TargetRevision != lib.Version {
		p.add(file, "spec.source.targetRevision is %q, %s pins %q", src.TargetRevision, env.File, lib.Version)
	}
	if src.Helm == nil {
		p.add(file, "spec.source.helm is missing")
	} else {
		if src.Helm.ReleaseName != lib.Name {
			p.add(file, "spec.source.helm.releaseName is %q, want %q", src.Helm.ReleaseName, lib.Name)
		}
		if !sameValues(src.Helm.ValuesObject, lib.Values) {
			p.add(file, "spec.source.helm.valuesObject differs from the values of library %s in %s", lib.Name, env.File)
		}
		if len(src.Helm.ValueFiles) > 0 {
			p.add(file, "spec.source.helm.valueFiles is set: a library's values are valuesObject")
		}
	}
	if a.Spec.Destination.Namespace != lib.Namespace {
		p.add(file, "spec.destination.namespace is %q, %s says %q", a.Spec.Destination.Namespace, env.File, lib.Namespace)
	}
	checkSyncPolicy(file, a, []string{"ServerSideApply=true"}, p)
}

func checkConfigApp(root string, a *argoApp, env *Environment, cfg []string, p *problems) {
	file := ArgoAppsDir + "/" + ArgoAppName("platform-config", env) + ".yaml"
	checkCommon(file, a, env, WaveLibraryConfig, p)
	src := a.Spec.Source
	checkRepo(file, src, env, p)
	if src.Path != LibraryConfigDir {
		p.add(file, "spec.source.path is %q, want %q", src.Path, LibraryConfigDir)
	}
	checkDir(root, file, src.Path, p)
	var names []string
	for _, c := range cfg {
		if path.Dir(c) != LibraryConfigDir {
			p.add(file, "%s lists the library configuration %s, outside %s, which Argo CD cannot include", env.File, c, LibraryConfigDir)
		}
		names = append(names, path.Base(c))
	}
	want := "{" + strings.Join(names, ",") + "}"
	if len(names) == 1 {
		want = names[0]
	}
	switch {
	case src.Directory == nil:
		p.add(file, "spec.source.directory is missing (include: %q)", want)
	case src.Directory.Include != want:
		p.add(file, "spec.source.directory.include is %q, %s says %q", src.Directory.Include, env.File, want)
	case src.Directory.Recurse:
		p.add(file, "spec.source.directory.recurse must be false")
	}
	checkSyncPolicy(file, a, []string{"SkipDryRunOnMissingResource=true"}, p)
}

func checkRepo(file string, src argoSource, env *Environment, p *problems) {
	if src.RepoURL != env.ArgoCD.RepoURL {
		p.add(file, "spec.source.repoURL is %q, %s says %q", src.RepoURL, env.File, env.ArgoCD.RepoURL)
	}
	if src.TargetRevision != env.ArgoCD.TargetRevision {
		p.add(file, "spec.source.targetRevision is %q, %s says %q", src.TargetRevision, env.File, env.ArgoCD.TargetRevision)
	}
}

func checkDir(root, file, dir string, p *problems) {
	if dir == "" {
		return
	}
	if err := checkPath(dir); err != nil {
		p.add(file, "spec.source.path: %v", err)
		return
	}
	if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir))); err != nil || !st.IsDir() {
		p.add(file, "spec.source.path %s does not exist in the repository", dir)
	}
}

// checkSyncPolicy checks the platform's sync policy: automated with prune
// and selfHeal, retry with backoff, CreateNamespace=true and extra options.
func checkSyncPolicy(file string, a *argoApp, extra []string, p *problems) {
	sp := a.Spec.SyncPolicy
	if sp.Automated == nil || !sp.Automated.Prune || !sp.Automated.SelfHeal {
		p.add(file, "spec.syncPolicy.automated must set prune: true and selfHeal: true")
	}
	if sp.Retry == nil || sp.Retry.Limit <= 0 || sp.Retry.Backoff == nil || sp.Retry.Backoff.Duration == "" || sp.Retry.Backoff.MaxDuration == "" || sp.Retry.Backoff.Factor < 1 {
		p.add(file, "spec.syncPolicy.retry must set a positive limit and a backoff (duration, factor, maxDuration)")
	}
	for _, o := range append([]string{"CreateNamespace=true"}, extra...) {
		found := false
		for _, s := range sp.SyncOptions {
			found = found || s == o
		}
		if !found {
			p.add(file, "spec.syncPolicy.syncOptions lacks %s", o)
		}
	}
}

// sameValues compares values decoded from two YAML files, where the same
// number may have decoded as an int or a float.
func sameValues(a, b map[string]any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return nil
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return v
}

func list(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	return "[" + strings.Join(s, ", ") + "]"
}
