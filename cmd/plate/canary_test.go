package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The canaries: distinctive secret values that must never be printed.
var canaries = []string{
	"CANARY-set-token-4f1d",       // set={"token": secret(...)}
	"CANARY-values-password-8c2e", // a values file's db.password
	"CANARY-values-apikey-77aa",   // a values file's apiKey, at the top
	"CANARY-stringdata-5b9e",      // kube_apply of a Secret
	"CANARY-env-secret-0d3c",      // an env var of a Deployment, secret()
	"CANARY-next-password-91ab",   // the password of the upgrade
}

// canaryChart renders the values into a Secret, into env vars of a
// Deployment (the way charts leak them into diffs) and, with bad=true,
// into a label the API server rejects (an error message that quotes it).
const canaryChartFiles = `Chart.yaml=apiVersion: v2
name: canary
version: 0.1.0
---
values.yaml=db: {password: ""}
apiKey: ""
token: ""
bad: false
---
templates/secret.yaml=apiVersion: v1
kind: Secret
metadata: {name: canary-app}
stringData:
  password: {{ .Values.db.password | quote }}
  token: {{ .Values.token | quote }}
---
templates/deployment.yaml=apiVersion: apps/v1
kind: Deployment
metadata:
  name: canary-app
  {{- if .Values.bad }}
  labels: {pw: {{ printf "%s !" .Values.db.password | quote }}}
  {{- end }}
spec:
  replicas: 1
  selector: {matchLabels: {app: canary}}
  template:
    metadata: {labels: {app: canary}}
    spec:
      containers:
        - name: app
          image: registry.example/app:1
          env:
            - {name: DB_PASSWORD, value: {{ .Values.db.password | quote }}}
            - {name: API_KEY, value: {{ .Values.apiKey | quote }}}
            - {name: API_TOKEN, value: {{ .Values.token | quote }}}
          envFrom:
            - secretRef: {name: canary-creds}
`

func writeFiles(t *testing.T, dir, spec string) {
	t.Helper()
	files := map[string]string{}
	for _, f := range strings.Split(spec, "\n---\n") {
		name, data, _ := strings.Cut(f, "=")
		files[name] = data
	}
	writeTree(t, dir, files)
}

// noCanary fails when any canary, or its base64 form, is in out.
func noCanary(t *testing.T, what, out string) {
	t.Helper()
	for _, c := range canaries {
		for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
			if i := strings.Index(out, form); i >= 0 {
				lo, hi := max(0, i-200), min(len(out), i+len(form)+100)
				t.Errorf("%s shows the secret %q:\n...%s...", what, c, out[lo:hi])
			}
		}
	}
}

// Distinctive secret values in values (secret() in set=, a values file's
// password and apiKey), in a Secret (kube_apply) and in env vars never
// appear in the output of a run, a dry run (text, -v, -vv, JSON), a
// failure (error messages, diffs), status, history or the backup
// commands; they are in the backup files, owner-only.
func TestE2ECanarySecretsNeverPrinted(t *testing.T) {
	e := newE2E(t)
	chart := t.TempDir()
	writeFiles(t, chart, canaryChartFiles)
	plan := e.plan(t, fmt.Sprintf(`
ns = param("ns", "default")
values = param("values", "values-1.yaml")
bad = param("bad", False)
kube_apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "canary-creds"},
            "stringData": {"api_token": %q}}, namespace = ns)
kube_apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "canary-env"},
            "spec": {"selector": {"matchLabels": {"app": "env"}}, "template": {"metadata": {"labels": {"app": "env"}},
                     "spec": {"containers": [{"name": "c", "image": "registry.example/c:1",
                                              "env": [{"name": "DB_PASSWORD", "value": secret(%q)}]}]}}}}, namespace = ns)
b = backup("canary", namespace = ns)
rel = helm_install("canary", %q, namespace = ns, values = [values], set = {"token": secret(%q), "bad": bad})
print("installed", rel, "backup", b.id)
`, canaries[3], canaries[4], chart, canaries[0]))
	root := filepath.Dir(plan)
	writeFiles(t, root, fmt.Sprintf("values-1.yaml=db: {password: %s}\napiKey: %s\n---\nvalues-2.yaml=db: {password: %s}\napiKey: %s\n",
		canaries[1], canaries[2], canaries[5], canaries[2]))
	kc := []string{"--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns}
	check := func(what string, r result, wantCode int) {
		t.Helper()
		if r.code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, r.code, wantCode, r.out, r.errOut)
		}
		noCanary(t, what, r.out+r.errOut)
	}

	check("first run", runPlateNow(t, "", false, append([]string{"run", "-vv", plan}, kc...)...), 0)
	upgrade := append([]string{"-p", "values=values-2.yaml", plan}, kc...)
	check("dry run", runPlateNow(t, "", false, append([]string{"run", "--dry-run"}, upgrade...)...), 0)
	check("dry run -v", runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-v"}, upgrade...)...), 0)
	r := runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-vv"}, upgrade...)...)
	check("dry run -vv", r, 0)
	if !strings.Contains(r.out, "~ Deployment/"+e.ns+"/canary-app changed") || !strings.Contains(r.out, "<redacted>") {
		t.Errorf("the dry run shows no diff of the env vars:\n%s", r.out)
	}
	check("dry run -o json", runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-o", "json", "-vv"}, upgrade...)...), 0)
	check("upgrade -vv", runPlateNow(t, "", false, append([]string{"run", "-vv"}, upgrade...)...), 0)

	// A failure: the API server rejects a label made of the password, and
	// its message quotes the value. Helm's server-side dry run does not
	// validate label values, so the dry run passes; the run fails, and
	// Helm stores the message with the failed revision.
	bad := append([]string{"-p", "bad=true"}, upgrade...)
	check("dry run of the failing upgrade -vv", runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-vv"}, bad...)...), 0)
	r = runPlateNow(t, "", false, append([]string{"run", "-vv"}, bad...)...)
	check("failing run -vv", r, 1)
	if !strings.Contains(r.errOut, `metadata.labels: Invalid value: "<redacted> !"`) {
		t.Errorf("the error does not say what failed:\n%s", r.errOut)
	}
	check("failing run -o json", runPlateNow(t, "", false, append([]string{"run", "-o", "json"}, bad...)...), 1)

	check("status", runPlateNow(t, "", false, "status", "canary", "-n", e.ns, "--kubeconfig", e.kubeconfig), 0)
	check("status -o json", runPlateNow(t, "", false, "status", "canary", "-n", e.ns, "--kubeconfig", e.kubeconfig, "-o", "json"), 0)
	check("history", runPlateNow(t, "", false, "history", "canary", "-n", e.ns, "--kubeconfig", e.kubeconfig, "-o", "json"), 0)
	check("rollback preview -v", runPlateNow(t, "", false, "rollback", "canary", "-n", e.ns, "--kubeconfig", e.kubeconfig, "-v"), 4)

	dir := filepath.Join(root, "backups")
	m := latestBackup(t, dir)
	check("backup list", runPlateNow(t, "", false, "backup", "list", "--dir", dir, "-o", "json"), 0)
	check("backup show", runPlateNow(t, "", false, "backup", "show", m.ID, "--dir", dir), 0)
	check("backup show -o json", runPlateNow(t, "", false, "backup", "show", m.ID, "--dir", dir, "-o", "json"), 0)
	check("restore preview -v", runPlateNow(t, "", false, "backup", "restore", m.ID, "--dir", dir, "-v", "--kubeconfig", e.kubeconfig), 4)

	// The backup holds them, owner-only.
	var all strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %04o", p, fi.Mode().Perm())
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			all.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{canaries[0], canaries[2], canaries[5]} {
		if !strings.Contains(all.String(), c) {
			t.Errorf("the backup's values lack %s", c)
		}
	}
	// canary-creds, which the release's pods use, is in it (as Secret data).
	if !strings.Contains(all.String(), base64.StdEncoding.EncodeToString([]byte(canaries[3]))) {
		t.Errorf("the backup lacks the Secret canary-creds")
	}
}
