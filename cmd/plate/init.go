package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/exit"
)

// scaffold is what `plate init` writes: a project root marker, a chart, a
// values layout per environment, a helper module that takes paths from its
// callers, a plan with parameters that uses it for two releases, and the
// plan's tests. `plate check plans/deploy.star` and `plate test plans/`
// pass on it as written (TestInitScaffold).
var scaffold = map[string]string{
	".plateroot": "",
	"README.md": `# Deploy plans

Written with plate (see its README and docs/writing-plans.md).

    plate check plans/deploy.star                 # parse, list the parameters
    plate test plans/                             # the plan's tests, no cluster
    plate run --dry-run plans/deploy.star         # what it would do, nothing written
    plate run plans/deploy.star -p env=staging    # preflight, then deploy

Layout:

    .plateroot                  the project root: "//x" paths start here
    charts/service/             one chart, used by every service
    values/<env>/<service>.yaml values per environment and service
    plans/lib/service.star      deploy_service(): install, then wait until ready
    plans/deploy.star           the plan: parameters, then one call per service
    plans/deploy_test.star      its tests (plate test)
`,
	"charts/service/Chart.yaml": `apiVersion: v2
name: service
description: A Deployment and a Service, for each of the plan's services
version: 0.1.0
appVersion: "1.0"
`,
	"charts/service/values.yaml": `image: nginx:1.27
replicas: 1
port: 80
`,
	"charts/service/templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: {{ .Values.image | quote }}
          ports: [{containerPort: {{ .Values.port }}}]
`,
	"charts/service/templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{port: {{ .Values.port }}, targetPort: {{ .Values.port }}}]
`,
	"values/staging/api.yaml":    "replicas: 1\n",
	"values/staging/web.yaml":    "replicas: 1\n",
	"values/production/api.yaml": "replicas: 3\n",
	"values/production/web.yaml": "replicas: 2\n",
	"plans/lib/service.star": `# Helpers shared by the plans. Relative paths that callers pass in resolve
# against the file whose top-level code is running (the plan), not this file,
# so deploy_service("api", "../values/staging/api.yaml") in plans/deploy.star
# means values/staging/api.yaml. "//x" paths start at the project root.

def deploy_service(name, values, namespace, image = None, chart = "//charts/service"):
    """Installs or upgrades release name from chart with one values file (and
    the image, when given), then waits until its objects are ready. Returns
    the release."""
    rel = helm_install(name, chart, namespace = namespace, values = [values],
                       set = {"image": image} if image else {})
    wait_ready(rel, timeout = "5m")
    return rel
`,
	"plans/deploy.star": `# Deploys the services to one environment:
#
#   plate run --dry-run plans/deploy.star -p env=staging
#   plate run plans/deploy.star -p env=production

load("lib/service.star", "deploy_service")

env = param("env", "staging", choices = ["staging", "production"], help = "the environment to deploy to")
version = param("version", "1.27", help = "the nginx image tag of both services")

ns = "hello-" + env

if env == "production":
    confirm("Deploy hello %s to production (namespace %s)?" % (version, ns))

kube_apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

# api first, then web: web calls api.
deploy_service("api", "../values/%s/api.yaml" % env, namespace = ns, image = "nginx:" + version)
deploy_service("web", "../values/%s/web.yaml" % env, namespace = ns, image = "nginx:" + version)
`,
	"plans/deploy_test.star": `# Tests of plans/deploy.star: plate test plans/

def test_staging_installs_api_then_web(t):
    r = t.run("deploy.star")
    t.eq(r.error, None)
    t.contains(r, {"builtin": "kube_apply", "summary": "re:Namespace/hello-staging"})
    t.before(r, {"builtin": "helm_install", "args": {"release": "api"}},
             {"builtin": "helm_install", "args": {"release": "web"}})
    t.contains(r, {"builtin": "wait_ready"})

def test_version_sets_the_image(t):
    r = t.run("deploy.star", params = {"version": "1.28"})
    t.contains(r, {"builtin": "helm_install", "args": {"release": "web", "set": {"image": "nginx:1.28"}}})

def test_production_asks_first(t):
    r = t.run("deploy.star", params = {"env": "production"}, cluster = {"confirm": [False]})
    t.fails(r, "aborted by user")
    t.eq(t.index(r, {"builtin": "helm_install"}), -1)

def test_a_wait_that_times_out_stops_the_plan(t):
    r = t.run("deploy.star", cluster = {"ready": {"api": "timeout"}})
    t.eq(r.code, 3)
    t.eq(t.index(r, {"builtin": "helm_install", "args": {"release": "web"}}), -1)
`,
}

func newInitCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "init [DIR]",
		Short: "Start a project: a root marker, a plan with parameters, a helper, a test, values",
		Long: `Init writes a small plate project into DIR (default: the current directory):

  .plateroot                  marks the project root ("//x" paths start here)
  charts/service/             a chart with a Deployment and a Service
  values/<env>/<service>.yaml values per environment and service
  plans/lib/service.star      a helper, deploy_service(), that takes paths from its callers
  plans/deploy.star           a plan with parameters that deploys two services with it
  plans/deploy_test.star      the plan's tests

It never overwrites: if any of these files exists, it writes nothing and says
which (exit code 2). Then: plate check plans/deploy.star, plate test plans/,
plate run --dry-run plans/deploy.star.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return initRun(f, dir)
		},
	}
}

func initRun(f *Factory, dir string) error {
	names := make([]string, 0, len(scaffold))
	for name := range scaffold {
		names = append(names, name)
	}
	sort.Strings(names)
	var exist []string
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
			exist = append(exist, name)
		}
	}
	if len(exist) > 0 {
		return exit.Errorf(exit.Usage, "init: %s already has %s: nothing was written", dir, strings.Join(exist, ", ")).
			WithHint("run plate init in an empty directory, or name one: plate init DIR")
	}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return exit.Errorf(exit.Usage, "init: %v", err)
		}
		if err := os.WriteFile(p, []byte(scaffold[name]), 0o644); err != nil {
			return exit.Errorf(exit.Usage, "init: %v", err)
		}
	}
	fmt.Fprintf(f.IO.Out, "wrote a plate project in %s:\n", dir)
	for _, name := range names {
		fmt.Fprintf(f.IO.Out, "  %s\n", name)
	}
	cd := ""
	if dir != "." {
		cd = "cd " + dir + " && "
	}
	fmt.Fprintf(f.IO.Out, "next:\n  %splate check plans/deploy.star && plate test plans/ && plate run --dry-run --offline plans/deploy.star\n", cd)
	return nil
}
