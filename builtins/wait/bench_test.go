package wait_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/plate-dev/plate/internal/helmcli"
	"github.com/plate-dev/plate/internal/kube/readiness"
	"github.com/plate-dev/plate/internal/localcluster"
	"github.com/plate-dev/plate/internal/trace"
)

// Benchmarks of wait_ready on the local control plane. They report their
// figures as metrics (ms, median/min/max over the iterations); ns/op is the
// cost of a whole iteration (apply, wait, clean-up) and means little.
// Reproduce (see BENCHMARKS.md, "Readiness"):
//
//	go test -run '^$' -bench 'ReadyLatency|FailFast' -benchtime 20x -count 5 ./builtins/wait/
//	go test -run '^$' -bench InstallAndWait -benchtime 5x -count 5 ./builtins/wait/

// report adds the median, minimum and maximum of ds as metrics.
func report(b *testing.B, prefix string, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(med), prefix+"-median-ms")
	b.ReportMetric(ms(s[0]), prefix+"-min-ms")
	b.ReportMetric(ms(s[len(s)-1]), prefix+"-max-ms")
}

// firstTime returns a channel that receives the time the watch first shows
// an object for which ok is true.
func firstTime(ctx context.Context, b *testing.B, watchFn func(context.Context) (<-chan runtime.Object, func()), ok func(runtime.Object) bool) <-chan time.Time {
	ch := make(chan time.Time, 1)
	objs, stop := watchFn(ctx)
	go func() {
		defer stop()
		for o := range objs {
			if ok(o) {
				ch <- time.Now()
				return
			}
		}
	}()
	return ch
}

// BenchmarkReadyLatency measures the time from the moment a Deployment is
// Ready on the API server (its status update, as an independent watch sees
// it) to the moment wait_ready returns (its closing trace event).
func BenchmarkReadyLatency(b *testing.B) {
	c := localcluster.ForTest(b)
	kc, ns, cs := c.KubeconfigPath(), c.TestNamespace(b), c.Clientset()
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("lat-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		readyAt := firstTime(ctx, b, func(ctx context.Context) (<-chan runtime.Object, func()) {
			w, err := cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
			if err != nil {
				b.Fatal(err)
			}
			out := make(chan runtime.Object)
			go func() {
				defer close(out)
				for ev := range w.ResultChan() {
					out <- ev.Object
				}
			}()
			return out, w.Stop
		}, func(o runtime.Object) bool {
			d, ok := o.(*appsv1.Deployment)
			if !ok {
				return false
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
			if err != nil {
				return false
			}
			u := &unstructured.Unstructured{Object: m}
			u.SetAPIVersion("apps/v1")
			u.SetKind("Deployment")
			return readiness.Evaluate(u, readiness.Related{}, readiness.Options{}, time.Now()).State == readiness.Ready
		})
		o := runPlan(b, manifests+fmt.Sprintf("kube_apply(deployment(%q))\nwait_ready(\"deployment/%s\", timeout = \"60s\")\n", name, name), liveOnly, kc, ns)
		if o.err != nil {
			b.Fatalf("plan failed: %v", o.err)
		}
		evs := o.closing("wait_ready", trace.Run)
		select {
		case r := <-readyAt:
			lat = append(lat, evs[0].Time.Sub(r))
		case <-ctx.Done():
			b.Fatal("the independent watch never saw the Deployment ready")
		}
		cancel()
	}
	b.StopTimer()
	report(b, "ready-to-return", lat)
}

// BenchmarkFailFastLatency measures the time from the moment a pod shows
// ImagePullBackOff (as an independent watch sees it) to the moment
// wait_ready fails, with image_pull_grace="2s". The grace period starts at
// the first evidence of the problem (the ErrImagePull event, half a second
// before the back-off, on second-resolution timestamps), so the figure is
// near the grace and can be below it.
func BenchmarkFailFastLatency(b *testing.B) {
	const grace = 2 * time.Second
	c := localcluster.ForTest(b)
	kc, ns, cs := c.KubeconfigPath(), c.TestNamespace(b), c.Clientset()
	var lat, after []time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("pull-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		backoffAt := firstTime(ctx, b, func(ctx context.Context) (<-chan runtime.Object, func()) {
			w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			if err != nil {
				b.Fatal(err)
			}
			out := make(chan runtime.Object)
			go func() {
				defer close(out)
				for ev := range w.ResultChan() {
					out <- ev.Object
				}
			}()
			return out, w.Stop
		}, func(o runtime.Object) bool {
			p, ok := o.(*corev1.Pod)
			if !ok {
				return false
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil && cs.State.Waiting.Reason == "ImagePullBackOff" {
					return true
				}
			}
			return false
		})
		o := runPlan(b, manifests+fmt.Sprintf(`kube_apply(deployment(%q, annotations = {"plate.dev/simulate": "image-pull-backoff"}))
wait_ready("deployment/%s", image_pull_grace = "2s", timeout = "60s")
`, name, name), liveOnly, kc, ns)
		if o.err == nil {
			b.Fatal("wait_ready did not fail")
		}
		evs := o.closing("wait_ready", trace.Run)
		select {
		case t := <-backoffAt:
			d := evs[0].Time.Sub(t)
			lat = append(lat, d)
			after = append(after, d-grace)
		case <-ctx.Done():
			b.Fatal("the independent watch never saw ImagePullBackOff")
		}
		cancel()
	}
	b.StopTimer()
	report(b, "backoff-to-fail", lat)
	report(b, "after-grace", after)
}

// BenchmarkInstallAndWait installs the web test chart as a release and
// waits for it, once with plate (helm_install, then wait_ready on the
// release) and once with `helm upgrade --install --wait` built from the same
// Helm module, each into a fresh namespace, and reports both and their
// ratio. plate's figure is the run pass in-process (no process start, no
// preflight); helm's is the CLI process, whose start-up (helm version) is
// reported separately, and so is how often helm returned while the
// Deployment had no available pod yet (helm v3 counts a 1-replica
// Deployment ready with replicas - maxUnavailable = 0 pods). The helm binary is $PLATE_BENCH_HELM or built once
// into the user cache directory.
func BenchmarkInstallAndWait(b *testing.B) {
	helm := helmBinary(b)
	c := localcluster.ForTest(b)
	kc := c.KubeconfigPath()
	root := b.TempDir()
	copyDir(b, "../../testdata/charts/web", filepath.Join(root, "web"))
	home := b.TempDir()
	var plate, helmTimes, startup []time.Duration
	early := 0
	for i := 0; i < b.N; i++ {
		ns := c.TestNamespace(b)
		start := time.Now()
		o := runPlan(b, fmt.Sprintf(`
r = helm_install("web", %q, namespace = %q)
wait_ready(r, timeout = "2m")
`, filepath.Join(root, "web"), ns), liveOnly, kc, ns)
		if o.err != nil {
			b.Fatalf("plate: %v\n%s", o.err, o.text)
		}
		plate = append(plate, time.Since(start))

		ns2 := c.TestNamespace(b)
		cmd := exec.Command(helm, "upgrade", "--install", "web", filepath.Join(root, "web"), "--namespace", ns2,
			"--wait", "--timeout", "2m", "--kubeconfig", kc)
		cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
			"HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_NAMESPACE=", "HELM_KUBECONTEXT=")
		start = time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("helm: %v\n%s", err, out)
		}
		helmTimes = append(helmTimes, time.Since(start))
		// Did helm call the release ready before its pod was?
		if d, err := c.Clientset().AppsV1().Deployments(ns2).Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
			b.Fatal(err)
		} else if d.Status.AvailableReplicas < *d.Spec.Replicas {
			early++
		}

		// The helm figure includes starting a process; this is its share.
		start = time.Now()
		if out, err := exec.Command(helm, "version", "--short").CombinedOutput(); err != nil {
			b.Fatalf("helm version: %v\n%s", err, out)
		}
		startup = append(startup, time.Since(start))
	}
	b.StopTimer()
	report(b, "plate", plate)
	report(b, "helm", helmTimes)
	report(b, "helm-startup", startup)
	b.ReportMetric(float64(median(helmTimes))/float64(median(plate)), "helm/plate")
	b.ReportMetric(float64(early), "helm-returned-unavailable")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func copyDir(b testing.TB, src, dst string) {
	b.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// helmBinary returns a helm CLI built from the Helm module version plate
// uses (internal/helmcli: $PLATE_BENCH_HELM, or a build cached in plate's
// Helm cache, made once through the Go module proxy in a throwaway module).
func helmBinary(b *testing.B) string {
	b.Helper()
	bin, err := helmcli.Binary(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return bin
}
