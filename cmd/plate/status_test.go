package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/plate-dev/plate/internal/iostreams"
	"github.com/plate-dev/plate/internal/localcluster"
)

// helmRecord writes a release record the way Helm's Secret storage does
// (base64 of gzipped JSON, labels name/owner/status/version).
func helmRecord(t *testing.T, cs kubernetes.Interface, ns, name string, version int, status string) {
	t.Helper()
	rel, _ := json.Marshal(map[string]any{
		"name": name, "version": version, "namespace": ns,
		"info":   map[string]any{"status": status, "description": "Install complete", "last_deployed": time.Now().UTC().Format(time.RFC3339)},
		"chart":  map[string]any{"metadata": map[string]any{"name": name, "version": "0.3.1", "appVersion": "2.4.0"}},
		"config": map[string]any{"password": "never-shown"},
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(rel)
	_ = zw.Close()
	v := itoa(version)
	_, err := cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1." + name + ".v" + v,
			Labels: map[string]string{"name": name, "owner": "helm", "status": status, "version": v}},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(gz.Bytes()))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// statusFixture deploys, in ns, what a Helm release "web" of the web chart
// would: a Deployment with an init-less pod, a LoadBalancer Service and an
// Ingress with TLS; plus a Deployment of release "worker" whose image cannot
// be pulled.
func statusFixture(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	one := int32(1)
	owned := func(rel string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: rel, Annotations: map[string]string{"meta.helm.sh/release-name": rel}}
	}
	deploy := func(rel string, ann map[string]string) *appsv1.Deployment {
		lbl := map[string]string{"app": rel}
		return &appsv1.Deployment{ObjectMeta: owned(rel), Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl, Annotations: ann},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "plate.dev/" + rel + ":1"}}},
			}}}
	}
	for _, d := range []*appsv1.Deployment{deploy("web", nil), deploy("worker", map[string]string{localcluster.AnnotationSimulate: localcluster.SimulateImagePullBackOff})} {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: owned("web"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	class := "nginx"
	ing := &networkingv1.Ingress{ObjectMeta: owned("web"), Spec: networkingv1.IngressSpec{
		IngressClassName: &class,
		Rules:            []networkingv1.IngressRule{{Host: "web.plate.test"}},
		TLS:              []networkingv1.IngressTLS{{Hosts: []string{"web.plate.test"}, SecretName: "web-tls"}},
	}}
	if _, err := cs.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	helmRecord(t, cs, ns, "web", 1, "superseded")
	helmRecord(t, cs, ns, "web", 2, "deployed")
	helmRecord(t, cs, ns, "worker", 1, "deployed")
}

// settle waits until the web pod is ready, the worker pod backs off pulling
// its image and the load balancer has an address.
func settle(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		webReady, workerCrashed := false, false
		for i := range pods.Items {
			p := &pods.Items[i]
			if strings.HasPrefix(p.Name, "web-") && localcluster.PodReady(p) {
				webReady = true
			}
			for _, c := range p.Status.ContainerStatuses {
				if strings.HasPrefix(p.Name, "worker-") && c.State.Waiting != nil && c.State.Waiting.Reason == "ImagePullBackOff" {
					workerCrashed = true
				}
			}
		}
		svc, err := cs.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err == nil && webReady && workerCrashed && len(svc.Status.LoadBalancer.Ingress) > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond) // test setup only; plate itself watches
	}
	t.Fatal("the fixture did not settle")
}

var statusMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b(web|worker)-[a-z0-9]{8,10}-[a-z0-9]{5}`), "$1-<hash>"},
	{regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`), "<ip>"},
	{regexp.MustCompile(`\(\d+ restarts\)`), "(<n> restarts)"},
	{regexp.MustCompile(`\([0-9a-f-]{36}\)`), "(<uid>)"},
	{regexp.MustCompile(`^(\d+):\d+/`), "$1:<nodeport>/"},
}

// maskColumn masks the cells whose value changes from run to run: ages,
// and restart counts of crash-looping pods.
func maskColumn(header, cell string) string {
	switch header {
	case "AGE", "UPDATED":
		return regexp.MustCompile(`^\d+[smhd]$`).ReplaceAllString(cell, "<age>")
	case "RESTARTS":
		if cell != "0" {
			return "<n>"
		}
	}
	return cell
}

// normalizeStatus checks that every table row starts its cells where the
// header starts its columns, then returns the output with one " | " between
// cells and the varying values masked.
func normalizeStatus(t *testing.T, out, ns string) string {
	t.Helper()
	split := regexp.MustCompile(`\S+(?: \S+)*`)
	var b strings.Builder
	var cols []int
	var headers []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		line = strings.ReplaceAll(line, ns, "<ns>")
		if line == "" || !strings.Contains(line, "  ") || strings.HasPrefix(line, "  ") {
			cols = nil
			if strings.HasPrefix(line, "  ") {
				for _, m := range statusMasks {
					line = m.re.ReplaceAllString(line, m.with)
				}
			}
			b.WriteString(line + "\n")
			continue
		}
		idx := split.FindAllStringIndex(line, -1)
		header := cols == nil
		if header {
			cols = make([]int, len(idx))
			headers = headers[:0]
			for i, p := range idx {
				cols[i] = p[0]
				headers = append(headers, line[p[0]:p[1]])
			}
		} else {
			for i, p := range idx {
				if i >= len(cols) || p[0] != cols[i] {
					t.Errorf("cell %d of %q does not start in its column (%v)", i, line, cols)
				}
			}
		}
		var cells []string
		for i, p := range idx {
			cell := line[p[0]:p[1]]
			for _, m := range statusMasks {
				cell = m.re.ReplaceAllString(cell, m.with)
			}
			if !header && i < len(headers) {
				cell = maskColumn(headers[i], cell)
			}
			cells = append(cells, cell)
		}
		b.WriteString(strings.Join(cells, " | ") + "\n")
	}
	return b.String()
}

func TestStatusCommand(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	cs := c.Clientset()
	statusFixture(t, cs, ns)
	settle(t, cs, ns)

	run := func(args ...string) result {
		io, out, errOut := iostreams.Test("")
		f := &Factory{IO: io, Now: time.Now, Plugins: nil}
		code := Main(append([]string{"status", "--kubeconfig", c.KubeconfigPath(), "-n", ns}, args...), f)
		return result{code: code, out: out.String(), errOut: errOut.String()}
	}
	r := run()
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	got := normalizeStatus(t, r.out, ns)
	golden := filepath.Join("testdata", "golden", "status.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("plate status (-want +got):\n%s\nraw:\n%s", d, r.out)
	}
	if strings.Contains(r.out, "never-shown") {
		t.Error("release values leaked")
	}

	r = run("-o", "json", "worker")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	var rep struct {
		Releases []struct {
			Name     string `json:"name"`
			Revision int    `json:"revision"`
		} `json:"releases"`
		Pods []struct {
			Name    string `json:"name"`
			Problem string `json:"problem"`
		} `json:"pods"`
		Services []any `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.out)
	}
	if len(rep.Releases) != 1 || rep.Releases[0].Name != "worker" || len(rep.Pods) != 1 ||
		rep.Pods[0].Problem != "ImagePullBackOff" || len(rep.Services) != 0 {
		t.Errorf("json report for worker:\n%s", r.out)
	}
}
