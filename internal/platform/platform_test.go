package platform

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// copyPlatform copies the platform's data (environments/, charts/ and the
// stand-in library charts) into a fresh root marked with .plateroot, for
// tests that mutate it.
func copyPlatform(t *testing.T) string {
	t.Helper()
	src := repoRoot(t)
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, ".plateroot"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"environments", "charts", "testdata/charts/libraries"} {
		err := filepath.WalkDir(filepath.Join(src, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// edit replaces old with new in root/file; old must occur.
func edit(t *testing.T, root, file, old, new string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(file))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadEnvironments(t *testing.T) {
	envs := loadEnvs(t)
	if len(envs) != 2 || envs[0].Name != "production" || envs[1].Name != "staging" {
		t.Fatalf("environments %v, want production and staging", envs)
	}
	for _, e := range envs {
		if d := cmp.Diff([]string{"plate-cache", "plate-api", "plate-llm", "plate-web", "plate-ingress"}, e.AppNames()); d != "" {
			t.Errorf("%s: deploy order (-want +got):\n%s", e.Name, d)
		}
		var libs []string
		for _, l := range e.Libraries {
			libs = append(libs, l.Name)
		}
		if d := cmp.Diff([]string{"cert-manager", "jenkins", "metallb"}, libs); d != "" {
			t.Errorf("%s: libraries (-want +got):\n%s", e.Name, d)
		}
		// The needs of the spec: cache -> api & llm -> web -> ingress.
		for app, depth := range map[string]int{"plate-cache": 0, "plate-api": 1, "plate-llm": 1, "plate-web": 2, "plate-ingress": 3} {
			if got := e.Depth(app); got != depth {
				t.Errorf("%s: depth of %s is %d, want %d", e.Name, app, got, depth)
			}
		}
		for _, a := range e.Apps {
			if a.Chart != "charts/"+a.Name {
				t.Errorf("%s: app %s from %s", e.Name, a.Name, a.Chart)
			}
			if want := a.Chart + "/values-" + e.ShortName + ".yaml"; len(a.Values) != 1 || a.Values[0] != want {
				t.Errorf("%s: app %s values %v, want [%s]", e.Name, a.Name, a.Values, want)
			}
		}
	}
	prod, stg := envs[0], envs[1]
	if prod.Namespace != "plate-prod" || stg.Namespace != "plate-stg" {
		t.Errorf("namespaces %s, %s", prod.Namespace, stg.Namespace)
	}
	if !prod.Protected || stg.Protected {
		t.Error("production must be protected, staging not")
	}
	for _, tc := range []struct {
		env  *Environment
		ctx  string
		want bool
	}{
		{prod, "prod", true},
		{prod, "gke-prod-eu", true},
		{prod, "production", true},
		{prod, "plate-local", false},
		{prod, "staging", false},
		{prod, "stg-cluster", false},
		{stg, "plate-local", true},
		{stg, "stg-eu", true},
		{stg, "plate-staging", true},
		{stg, "gke-prod-eu", false},
		{stg, "minikube", false},
	} {
		if got := tc.env.ContextAllowed(tc.ctx); got != tc.want {
			t.Errorf("%s: ContextAllowed(%q) = %v, want %v", tc.env.Name, tc.ctx, got, tc.want)
		}
	}
	// Every library of both environments is pinned to the same version:
	// staging tests what production runs.
	for i, l := range stg.Libraries {
		p := prod.Libraries[i]
		if l.Chart != p.Chart || l.Repo != p.Repo || l.Version != p.Version || l.Namespace != p.Namespace {
			t.Errorf("library %s differs between staging and production: %+v vs %+v", l.Name, l, p)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name      string
		old, new  string
		wantParts []string
	}{
		{"unknown top-level field", "backupDir: backups/staging", "backupDir: backups/staging\nbackupDri: x",
			[]string{"environments/staging.yaml:", `unknown field "backupDri" in the environment`}},
		{"unknown app field", "    chart: charts/plate-api\n", "    chart: charts/plate-api\n    chrat: charts/plate-api\n",
			[]string{"environments/staging.yaml:", `unknown field "chrat" in an apps entry`}},
		{"unknown library field", "    version: 5.8.80\n", "    version: 5.8.80\n    verison: 5.8.80\n",
			[]string{`unknown field "verison" in a libraries entry`}},
		{"missing chart", "    chart: charts/plate-llm\n", "    chart: charts/plate-lml\n",
			[]string{"apps[2] (plate-llm).chart: charts/plate-lml does not exist"}},
		{"missing values file", "charts/plate-web/values-stg.yaml", "charts/plate-web/values-staging.yaml",
			[]string{"apps[3] (plate-web).values: charts/plate-web/values-staging.yaml does not exist"}},
		{"unknown need", "needs: [plate-api, plate-llm]", "needs: [plate-api, plate-lm]",
			[]string{`apps[3] (plate-web).needs: unknown app "plate-lm"`}},
		{"cycle", "    needs: []\n", "    needs: [plate-ingress]\n",
			[]string{"needs form a cycle: plate-cache -> plate-ingress -> plate-web -> plate-api -> plate-cache"}},
		{"order", "  - name: plate-cache\n    chart: charts/plate-cache\n    values:\n      - charts/plate-cache/values-stg.yaml\n    needs: []\n", "",
			[]string{"apps[0] (plate-api).needs: unknown app \"plate-cache\""}},
		{"bad regexp", `kubeContext: '^(plate-local|.*(stg|staging).*)$'`, `kubeContext: '(stg'`,
			[]string{"kubeContext: error parsing regexp"}},
		{"unpinned version", "version: v1.19.1", "version: ^1.19",
			[]string{`libraries[0] (cert-manager).version: "^1.19" is not a pinned version`}},
		{"stand-in version", "version: 0.15.2", "version: 0.15.3",
			[]string{"libraries[2] (metallb).standIn: testdata/charts/libraries/metallb is chart metallb 0.15.2, want metallb 0.15.3"}},
		{"missing config", "environments/libraries/metallb-pool.yaml", "environments/libraries/metallb.yaml",
			[]string{"libraries[2] (metallb).config: environments/libraries/metallb.yaml does not exist"}},
		{"escaping path", "    chart: charts/plate-cache\n", "    chart: ../plate/charts/plate-cache\n",
			[]string{"want a clean relative path"}},
		{"bad timeout", "  ready: 5m", "  ready: soon", []string{`timeouts.ready: "soon" is not a positive duration`}},
		{"bad namespace", "namespace: plate-stg", "namespace: Plate_Stg", []string{`namespace: "Plate_Stg" is not a valid name`}},
		{"two documents", "apps:\n", "---\napps:\n", []string{"more than one YAML document"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyPlatform(t)
			edit(t, root, "environments/staging.yaml", tc.old, tc.new)
			_, err := Load(filepath.Join(root, "environments", "staging.yaml"))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, part := range tc.wantParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error does not contain %q:\n%v", part, err)
				}
			}
		})
	}
	t.Run("order without cycle", func(t *testing.T) {
		root := copyPlatform(t)
		// Move plate-web before the apps it needs.
		web := "  - name: plate-web\n    chart: charts/plate-web\n    values:\n      - charts/plate-web/values-stg.yaml\n    needs: [plate-api, plate-llm]\n    secrets:\n      - name: plate-web-secrets\n        keys: [analytics-token]\n"
		edit(t, root, "environments/staging.yaml", web, "")
		edit(t, root, "environments/staging.yaml", "  - name: plate-api\n", web+"  - name: plate-api\n")
		_, err := Load(filepath.Join(root, "environments", "staging.yaml"))
		if err == nil || !strings.Contains(err.Error(), "plate-web is listed before plate-api, which it needs") {
			t.Errorf("got %v", err)
		}
	})
}

func TestLoadAllNamesEveryBadFile(t *testing.T) {
	root := copyPlatform(t)
	edit(t, root, "environments/staging.yaml", "shortName: stg", "shortNmae: stg")
	edit(t, root, "environments/production.yaml", "shortName: prod", "shortNmae: prod")
	_, err := LoadAll(filepath.Join(root, "environments"))
	if err == nil || !strings.Contains(err.Error(), "environments/staging.yaml:") || !strings.Contains(err.Error(), "environments/production.yaml:") {
		t.Errorf("got %v", err)
	}
}
