package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
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
	noSecret(t, what, out, canaries)
}

// noSecret fails when any of secrets, or its base64 form, is in out.
func noSecret(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, c := range secrets {
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

// print() and the trace, text and JSON, show what a plan formats from a
// secret() (%, str(), format(), +, json.encode), the data of Secret
// objects and the values under secret-looking keys as <redacted>; errors
// that quote a formatted secret too. No cluster: an offline dry run.
func TestCanaryPrintAndFormatOffline(t *testing.T) {
	const pw = "CANARY-print-pw-6e1f"
	b64 := base64.StdEncoding.EncodeToString([]byte(pw))
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{".plateroot": "", "plan.star": fmt.Sprintf(`
pw = secret(%q)
url = "postgres://app:%%s@db" %% pw
print("url", url, str(pw), "{}".format(pw), pw + "!", json.encode({"p": pw}))
print({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": %q}, "stringData": {"url": %q}})
print(struct(api_token = %q, name = "db"), [{"password": %q}])
kube_apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db"}, "data": {"url": url}})
print("rendered", helm_template("chart", set = {"dbUrl": url}))
fail("cannot reach " + url)
`, pw, b64, pw, pw, pw),
		"chart/Chart.yaml":        "apiVersion: v2\nname: fmt\nversion: 0.1.0\n",
		"chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fmt}\ndata: {dbUrl: {{ .Values.dbUrl | quote }}, other: plain}\n",
	})
	plan := filepath.Join(dir, "plan.star")
	for _, args := range [][]string{
		{"run", "--dry-run", "--offline", plan},
		{"run", "--dry-run", "--offline", "-vv", plan},
		{"run", "--dry-run", "--offline", "-vv", "-o", "json", plan},
	} {
		r := runPlate(t, "", false, args...)
		what := strings.Join(args[:len(args)-1], " ")
		if r.code != exit.PlanFailed {
			t.Errorf("%s: exit %d\n%s%s", what, r.code, r.out, r.errOut)
		}
		noSecret(t, what, r.out+r.errOut, []string{pw, "plate-secret"})
		if !strings.Contains(r.errOut, "cannot reach postgres://app:<redacted>@db") {
			t.Errorf("%s: the error does not show the formatted secret redacted:\n%s", what, r.errOut)
		}
		out := strings.ReplaceAll(r.out, `\"`, `"`) // JSON quotes the printed text
		if !strings.Contains(out, "postgres://app:<redacted>@db <redacted> <redacted> <redacted>! {") ||
			!strings.Contains(out, `"data": {"password": <redacted>}`) || !strings.Contains(out, `api_token = <redacted>`) ||
			!strings.Contains(out, `"data": {"dbUrl": <redacted>, "other": "plain"}`) {
			t.Errorf("%s: print shows:\n%s", what, r.out)
		}
	}
}

// A secret() formatted into values (helm_install set=) and into manifests
// (kube_apply, a YAML string and a dict) reaches the cluster as its real
// text, while every output stays free of it: the runs (text, -vv, JSON),
// print() of what kube_apply and kube_get return, the rollback and restore
// diffs (the values sit under ordinary keys: the revision records where
// they are), the lock refusal and recover.
func TestE2EFormattedSecretDeploys(t *testing.T) {
	e := newE2E(t)
	secrets := []string{"CANARY-fmt-first-3a71", "CANARY-fmt-second-9c02", "CANARY-fmt-param-5d4e"}
	chart := t.TempDir()
	writeTree(t, chart, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: fmt\nversion: 0.1.0\n",
		"values.yaml": "dbUrl: \"\"\ndsn: \"\"\nplain: \"\"\n",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata: {name: fmt}
data:
  dbUrl: {{ .Values.dbUrl | quote }}
  dsn: {{ .Values.dsn | quote }}
  plain: {{ .Values.plain | quote }}
`,
	})
	plan := e.plan(t, `
ns = param("ns", "default")
db_pw = param("db_pw", "")
pw = secret(db_pw)
url = "postgres://app:%s@db" % pw
backup("fmt", namespace = ns)
helm_install("fmt", "`+chart+`", namespace = ns, set = {"dbUrl": url, "dsn": "host=db password={}".format(pw), "plain": str(pw)})
applied = kube_apply("""
apiVersion: v1
kind: ConfigMap
metadata: {name: fmt-direct}
data:
  url: %s
""" % json.encode(url), namespace = ns)
kube_apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fmt-creds"}, "stringData": {"url": url, "pw": pw + ""}}, namespace = ns)
print("applied", applied)
print("read back", kube_get("Secret", "fmt-creds", namespace = ns))
`)
	kc := []string{"--kubeconfig", e.kubeconfig, "-p", "ns=" + e.ns}
	check := func(what string, r result, wantCode int) {
		t.Helper()
		if r.code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, r.code, wantCode, r.out, r.errOut)
		}
		noSecret(t, what, r.out+r.errOut, append(secrets, "plate-secret"))
	}
	cs := e.c.Clientset()
	readBack := func(pw string) {
		t.Helper()
		ctx := context.Background()
		cm, err := cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "fmt", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		url := "postgres://app:" + pw + "@db"
		if cm.Data["dbUrl"] != url || cm.Data["dsn"] != "host=db password="+pw || cm.Data["plain"] != pw {
			t.Errorf("the release's ConfigMap holds %v, want the real text of %s", cm.Data, pw)
		}
		direct, err := cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "fmt-direct", metav1.GetOptions{})
		if err != nil || direct.Data["url"] != url {
			t.Errorf("kube_apply's ConfigMap: %v %v", direct, err)
		}
		sec, err := cs.CoreV1().Secrets(e.ns).Get(ctx, "fmt-creds", metav1.GetOptions{})
		if err != nil || string(sec.Data["url"]) != url || string(sec.Data["pw"]) != pw {
			t.Errorf("kube_apply's Secret: %v %v", sec, err)
		}
	}

	r := runPlateNow(t, "", false, append([]string{"run", "-vv", "-p", "db_pw=" + secrets[0], plan}, kc...)...)
	check("first run -vv", r, 0)
	if !strings.Contains(r.out, `"url": <redacted>`) {
		t.Errorf("print of kube_get shows no redacted Secret data:\n%s", r.out)
	}
	readBack(secrets[0])
	second := append([]string{"-p", "db_pw=" + secrets[1], plan}, kc...)
	check("dry run -vv", runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-vv"}, second...)...), 0)
	check("dry run -o json", runPlateNow(t, "", false, append([]string{"run", "--dry-run", "-vv", "-o", "json"}, second...)...), 0)
	check("second run -o json", runPlateNow(t, "", false, append([]string{"run", "-vv", "-o", "json"}, second...)...), 0)
	readBack(secrets[1])

	// Rollback and restore previews diff rev 2 against rev 1: the values
	// changed under ordinary keys (dbUrl, dsn, plain).
	rb := runPlateNow(t, "", false, "rollback", "fmt", "-n", e.ns, "--kubeconfig", e.kubeconfig, "-v")
	check("rollback preview -v", rb, exit.Aborted)
	if !strings.Contains(rb.out+rb.errOut, "<redacted>") || !strings.Contains(rb.out+rb.errOut, "ConfigMap") {
		t.Errorf("the rollback preview shows no masked diff:\n%s%s", rb.out, rb.errOut)
	}
	dir := filepath.Join(filepath.Dir(plan), "backups")
	m := latestBackup(t, dir)
	rs := runPlateNow(t, "", false, "backup", "restore", m.ID, "--dir", dir, "-v", "--kubeconfig", e.kubeconfig)
	check("restore preview -v", rs, exit.Aborted)
	if !strings.Contains(rs.out+rs.errOut, "<redacted>") {
		t.Errorf("the restore preview shows no masked diff:\n%s%s", rs.out, rs.errOut)
	}

	// A run that holds the release's lock, started with the secret as a
	// parameter: the refusal of a second run and recover name no value.
	held := e.plan(t, `
ns = param("ns", "default")
db_password = param("db_password", "")
helm_install("fmt", "`+chart+`", namespace = ns, set = {"plain": secret(db_password)})
block()
`)
	stop := blockedRun(t, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "db_password="+secrets[2], held)
	refused := runPlateWith(t, withTestPlugin, "run", "--yes", "--kubeconfig", e.kubeconfig, "-p", "ns="+e.ns, "-p", "db_password=x", held)
	check("refused run", refused, exit.PlanFailed)
	if !strings.Contains(refused.errOut, "another plate run holds the lock") || !strings.Contains(refused.errOut, "db_password=#") {
		t.Errorf("the refusal does not name the holder's parameters:\n%s", refused.errOut)
	}
	rc := runPlateNow(t, "", false, "recover", "fmt", "-n", e.ns, "--kubeconfig", e.kubeconfig)
	noSecret(t, "recover", rc.out+rc.errOut, secrets)
	leases, err := cs.CoordinationV1().Leases(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		noSecret(t, "lease "+l.Name, fmt.Sprint(l.Annotations, l.Labels), secrets)
	}
	check("held run", stop(), exit.Interrupted)
}
