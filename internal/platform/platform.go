// Package platform loads the environment files of the plate platform
// (environments/staging.yaml, environments/production.yaml): the one source
// of truth for what each environment carries, in which order, from which
// charts and values files. Plans read the same files with read_yaml; this
// package is what checks them (strict decoding and validation) and what the
// tests use to check that the charts, the stand-in library charts and the
// Argo CD manifests agree with them. docs/platform.md describes the schema.
//
// Every path in an environment file is relative to the repository root and
// uses forward slashes; a plan prefixes it with "//".
package platform

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Environment is one environment file.
type Environment struct {
	// Name is the environment's name: "staging", "production".
	Name string `yaml:"name"`
	// ShortName is the suffix of its values overlays and Argo CD
	// Applications: "stg", "prod".
	ShortName string `yaml:"shortName"`
	// Namespace holds the plate apps.
	Namespace string `yaml:"namespace"`
	// KubeContext is a Go regular expression that the name of the kube
	// context a plan runs against must match (unanchored, like
	// regexp.MatchString).
	KubeContext string `yaml:"kubeContext"`
	// Protected environments are confirmed before any write.
	Protected bool `yaml:"protected"`
	// BackupDir is where plans back releases up before changing them.
	BackupDir string `yaml:"backupDir"`
	// Timeouts bound the plans' waits.
	Timeouts Timeouts `yaml:"timeouts"`
	// ArgoCD is where the GitOps path takes the same charts from and sends
	// them to.
	ArgoCD ArgoCD `yaml:"argocd"`
	// Libraries are installed first, in this order.
	Libraries []Library `yaml:"libraries"`
	// Apps are deployed after the libraries, in this order.
	Apps []App `yaml:"apps"`

	// File is the file the environment was loaded from, and Root the
	// repository root its paths are relative to.
	File string `yaml:"-"`
	Root string `yaml:"-"`

	contextRE *regexp.Regexp
}

// Timeouts are Go durations ("5m", "90s"), as helm_install and wait_ready take them.
type Timeouts struct {
	// Install bounds one helm_install.
	Install string `yaml:"install"`
	// Ready bounds one wait for readiness.
	Ready string `yaml:"ready"`
	// CRDs bounds the wait for a library's CRDs to be Established.
	CRDs string `yaml:"crds"`
}

// ArgoCD describes the environment's Argo CD Applications.
type ArgoCD struct {
	// RepoURL is this repository's git URL as Argo CD reaches it.
	RepoURL string `yaml:"repoURL"`
	// TargetRevision is the branch, tag or commit Argo CD follows.
	TargetRevision string `yaml:"targetRevision"`
	// Server is the destination cluster's API server URL.
	Server string `yaml:"server"`
	// Project is the Argo CD project of the Applications.
	Project string `yaml:"project"`
}

// Library is a cluster-wide upstream chart installed before the apps.
type Library struct {
	// Name is the release name.
	Name string `yaml:"name"`
	// Chart is the chart's name in Repo.
	Chart string `yaml:"chart"`
	// Repo is the upstream chart repository URL; a plan's mirror parameter
	// replaces it.
	Repo string `yaml:"repo"`
	// Version is the pinned chart version.
	Version string `yaml:"version"`
	// Namespace is the release namespace.
	Namespace string `yaml:"namespace"`
	// StandIn is a local chart with the same name and version used by tests
	// and the demo instead of the upstream chart.
	StandIn string `yaml:"standIn"`
	// Values are the release's values.
	Values map[string]any `yaml:"values"`
	// CRDs are the CRDs the release creates that must be Established before
	// Config is applied.
	CRDs []string `yaml:"crds"`
	// Config are YAML files of objects applied once the library is ready.
	Config []string `yaml:"config"`
}

// App is a plate app: a chart of this repository deployed as a release named
// after the app in the environment's namespace.
type App struct {
	Name string `yaml:"name"`
	// Chart is the chart directory.
	Chart string `yaml:"chart"`
	// Values are overlays applied over the chart's values.yaml, in order.
	Values []string `yaml:"values"`
	// Needs are the apps that must be deployed (and ready) first.
	Needs []string `yaml:"needs"`
	// Secrets are the Secrets the release reads, which must exist in the
	// namespace before it is deployed.
	Secrets []SecretRef `yaml:"secrets"`
}

// SecretRef names a Secret and the keys read from it.
type SecretRef struct {
	Name string   `yaml:"name"`
	Keys []string `yaml:"keys"`
}

// FindRoot returns the repository root above dir: the nearest directory
// holding .plateroot, else the nearest holding .git.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for _, marker := range []string{".plateroot", ".git"} {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, marker)); err == nil {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("no .plateroot or .git above %s", dir)
}

// Load reads and validates an environment file. Its paths are relative to
// the repository root found above the file (FindRoot).
func Load(file string) (*Environment, error) {
	root, err := FindRoot(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return LoadWithRoot(file, root)
}

// LoadAll loads every environment file (*.yaml) directly in dir, sorted by
// file name.
func LoadAll(dir string) ([]*Environment, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no environment files (*.yaml)", dir)
	}
	sort.Strings(files)
	var (
		envs []*Environment
		errs []error
	)
	for _, f := range files {
		e, err := Load(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		envs = append(envs, e)
	}
	return envs, errors.Join(errs...)
}

// LoadWithRoot reads and validates an environment file whose paths are
// relative to root. Unknown fields are errors naming the file, the line and
// the field; validation errors name the file and every problem found.
func LoadWithRoot(file, root string) (*Environment, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name := displayName(file, root)
	e, err := decode(data, name)
	if err != nil {
		return nil, err
	}
	e.File = name
	e.Root = root
	if errs := e.validate(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = "  " + err.Error()
		}
		return nil, fmt.Errorf("%s: %d problem(s):\n%s", name, len(errs), strings.Join(msgs, "\n"))
	}
	return e, nil
}

func displayName(file, root string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return file
	}
	if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return file
}

// typeNames name the decoded types in unknown-field errors the way the file
// reads.
var typeNames = map[string]string{
	"Environment": "the environment",
	"Timeouts":    "timeouts",
	"ArgoCD":      "argocd",
	"Library":     "a libraries entry",
	"App":         "an apps entry",
	"SecretRef":   "an apps[].secrets entry",
}

var knownFieldErr = regexp.MustCompile(`line (\d+): field (\S+) not found in type platform\.(\w+)`)

func decode(data []byte, name string) (*Environment, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var e Environment
	if err := dec.Decode(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty environment file", name)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				if sm := knownFieldErr.FindStringSubmatch(m); sm != nil {
					where := typeNames[sm[3]]
					if where == "" {
						where = sm[3]
					}
					m = fmt.Sprintf("%s:%s: unknown field %q in %s", name, sm[1], sm[2], where)
				} else {
					m = name + ": " + m
				}
				msgs[i] = m
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document: an environment file holds one", name)
	}
	return &e, nil
}

var (
	// exactVersion is a pinned chart version (no ranges).
	exactVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	crdName      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)
	envVarKey    = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

func (e *Environment) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	dns := func(field, v string) {
		if v == "" {
			add("%s: missing", field)
			return
		}
		if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
			add("%s: %q is not a valid name: %s", field, v, msgs[0])
		}
	}

	if e.Name == "" {
		add("name: missing")
	}
	dns("shortName", e.ShortName)
	dns("namespace", e.Namespace)
	if e.KubeContext == "" {
		add("kubeContext: missing (a regular expression for the kube context name)")
	} else if re, err := regexp.Compile(e.KubeContext); err != nil {
		add("kubeContext: %v", err)
	} else {
		e.contextRE = re
	}
	if e.BackupDir == "" {
		add("backupDir: missing")
	}
	for _, t := range []struct{ field, v string }{
		{"timeouts.install", e.Timeouts.Install},
		{"timeouts.ready", e.Timeouts.Ready},
		{"timeouts.crds", e.Timeouts.CRDs},
	} {
		if t.v == "" {
			add("%s: missing", t.field)
		} else if d, err := time.ParseDuration(t.v); err != nil || d <= 0 {
			add("%s: %q is not a positive duration like 5m or 90s", t.field, t.v)
		}
	}
	if e.ArgoCD.RepoURL == "" || e.ArgoCD.TargetRevision == "" || e.ArgoCD.Server == "" || e.ArgoCD.Project == "" {
		add("argocd: repoURL, targetRevision, server and project are all required")
	}
	for _, u := range []struct{ field, v string }{{"argocd.repoURL", e.ArgoCD.RepoURL}, {"argocd.server", e.ArgoCD.Server}} {
		if u.v != "" && !isHTTPURL(u.v) {
			add("%s: %q is not an https:// or http:// URL", u.field, u.v)
		}
	}

	libs := map[string]bool{}
	for i, l := range e.Libraries {
		at := fmt.Sprintf("libraries[%d] (%s)", i, l.Name)
		dns(fmt.Sprintf("libraries[%d].name", i), l.Name)
		if libs[l.Name] {
			add("%s: duplicate library name", at)
		}
		libs[l.Name] = true
		if l.Chart == "" {
			add("%s.chart: missing", at)
		}
		if !isHTTPURL(l.Repo) {
			add("%s.repo: %q is not an http(s) chart repository URL", at, l.Repo)
		}
		if !exactVersion.MatchString(l.Version) {
			add("%s.version: %q is not a pinned version (x.y.z)", at, l.Version)
		}
		dns(at+".namespace", l.Namespace)
		if l.StandIn != "" {
			if err := e.checkChartDir(l.StandIn); err != nil {
				add("%s.standIn: %v", at, err)
			} else if name, version, err := chartMeta(e.abs(l.StandIn)); err != nil {
				add("%s.standIn: %v", at, err)
			} else if name != l.Chart || version != l.Version {
				add("%s.standIn: %s is chart %s %s, want %s %s (the stand-in must have the upstream chart's name and pinned version)", at, l.StandIn, name, version, l.Chart, l.Version)
			}
		}
		for _, c := range l.CRDs {
			if !crdName.MatchString(c) {
				add("%s.crds: %q is not a CRD name (plural.group)", at, c)
			}
		}
		for _, c := range l.Config {
			if err := e.checkFile(c); err != nil {
				add("%s.config: %v", at, err)
			}
		}
	}

	apps := map[string]int{}
	for i, a := range e.Apps {
		at := fmt.Sprintf("apps[%d] (%s)", i, a.Name)
		dns(fmt.Sprintf("apps[%d].name", i), a.Name)
		if _, dup := apps[a.Name]; dup {
			add("%s: duplicate app name", at)
		} else {
			apps[a.Name] = i
		}
		if libs[a.Name] {
			add("%s: an app and a library have the same name", at)
		}
		if err := e.checkChartDir(a.Chart); err != nil {
			add("%s.chart: %v", at, err)
		}
		for _, v := range a.Values {
			if err := e.checkFile(v); err != nil {
				add("%s.values: %v", at, err)
			}
		}
		for _, s := range a.Secrets {
			if msgs := validation.IsDNS1123Subdomain(s.Name); len(msgs) > 0 {
				add("%s.secrets: %q is not a valid Secret name: %s", at, s.Name, msgs[0])
			}
			if len(s.Keys) == 0 {
				add("%s.secrets: %s lists no keys", at, s.Name)
			}
			for _, k := range s.Keys {
				if !envVarKey.MatchString(k) {
					add("%s.secrets: %s: %q is not a valid Secret key", at, s.Name, k)
				}
			}
		}
	}
	if len(e.Apps) == 0 {
		add("apps: none")
	}
	badNeeds := false
	for i, a := range e.Apps {
		for _, n := range a.Needs {
			if _, ok := apps[n]; !ok {
				add("apps[%d] (%s).needs: unknown app %q (known: %s)", i, a.Name, n, strings.Join(e.AppNames(), ", "))
				badNeeds = true
			} else if n == a.Name {
				add("apps[%d] (%s).needs: an app cannot need itself", i, a.Name)
				badNeeds = true
			}
		}
	}
	if !badNeeds {
		if cycle := e.findCycle(); cycle != nil {
			add("apps: needs form a cycle: %s", strings.Join(cycle, " -> "))
		} else {
			for i, a := range e.Apps {
				for _, n := range a.Needs {
					if apps[n] > i {
						add("apps: %s is listed before %s, which it needs (apps are listed in deploy order)", a.Name, n)
					}
				}
			}
		}
	}
	return errs
}

// findCycle returns a cycle of needs (first app repeated at the end), or nil.
func (e *Environment) findCycle() []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case active:
			for i, s := range stack {
				if s == n {
					return append(append([]string{}, stack[i:]...), n)
				}
			}
		case done:
			return nil
		}
		state[n] = active
		stack = append(stack, n)
		if a := e.App(n); a != nil {
			for _, m := range a.Needs {
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, a := range e.Apps {
		if c := visit(a.Name); c != nil {
			return c
		}
	}
	return nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// checkPath checks that p is a clean relative path inside the root.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if strings.Contains(p, `\`) || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("%q: want a clean relative path from the repository root, with forward slashes", p)
	}
	return nil
}

func (e *Environment) checkFile(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	st, err := os.Stat(e.abs(p))
	if err != nil {
		return fmt.Errorf("%s does not exist", p)
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", p)
	}
	return nil
}

func (e *Environment) checkChartDir(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if st, err := os.Stat(e.abs(p)); err != nil || !st.IsDir() {
		return fmt.Errorf("%s does not exist or is not a directory", p)
	}
	if _, err := os.Stat(filepath.Join(e.abs(p), "Chart.yaml")); err != nil {
		return fmt.Errorf("%s is not a chart (no Chart.yaml)", p)
	}
	return nil
}

// chartMeta reads a chart directory's name and version.
func chartMeta(dir string) (name, version string, err error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return "", "", err
	}
	var meta struct {
		Name    string `yaml:"name"`
		Version string `yaml:"version"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return "", "", fmt.Errorf("%s/Chart.yaml: %v", dir, err)
	}
	return meta.Name, meta.Version, nil
}

// abs returns a path of the environment file as a local file name.
func (e *Environment) abs(p string) string { return filepath.Join(e.Root, filepath.FromSlash(p)) }

// Abs returns p, a path of the environment file, as a local file name.
func (e *Environment) Abs(p string) string { return e.abs(p) }

// App returns the app named name, or nil.
func (e *Environment) App(name string) *App {
	for i := range e.Apps {
		if e.Apps[i].Name == name {
			return &e.Apps[i]
		}
	}
	return nil
}

// Library returns the library named name, or nil.
func (e *Environment) Library(name string) *Library {
	for i := range e.Libraries {
		if e.Libraries[i].Name == name {
			return &e.Libraries[i]
		}
	}
	return nil
}

// AppNames lists the apps in deploy order.
func (e *Environment) AppNames() []string {
	out := make([]string, len(e.Apps))
	for i, a := range e.Apps {
		out[i] = a.Name
	}
	return out
}

// ContextAllowed reports whether a plan may run against the kube context
// named ctx.
func (e *Environment) ContextAllowed(ctx string) bool {
	re := e.contextRE
	if re == nil {
		var err error
		if re, err = regexp.Compile(e.KubeContext); err != nil {
			return false
		}
	}
	return re.MatchString(ctx)
}

// Depth is the length of the longest chain of needs below an app: 0 for an
// app that needs nothing. Apps of the same depth can be deployed together.
func (e *Environment) Depth(app string) int {
	memo := map[string]int{}
	var depth func(string, int) int
	depth = func(n string, guard int) int {
		if d, ok := memo[n]; ok {
			return d
		}
		a := e.App(n)
		if a == nil || guard > len(e.Apps) {
			return 0
		}
		d := 0
		for _, m := range a.Needs {
			if x := depth(m, guard+1) + 1; x > d {
				d = x
			}
		}
		memo[n] = d
		return d
	}
	return depth(app, 0)
}
