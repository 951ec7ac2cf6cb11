package localcluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/plate-dev/plate/internal/localcluster"
)

func TestMain(m *testing.M) { localcluster.Main(m) }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func labels(app string) map[string]string { return map[string]string{"app": app} }

func deployment(name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(name), Annotations: annotations},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
				},
			},
		},
	}
}

func pod(name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
		},
	}
}

// waitPod polls the pod until cond holds, failing the test with the last
// status seen otherwise.
func waitPod(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 25*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		if last != nil {
			t.Fatalf("pod %s/%s: %s: not seen within %s; last phase %s, conditions %+v, containers %+v, init containers %+v",
				ns, name, what, timeout, last.Status.Phase, last.Status.Conditions, last.Status.ContainerStatuses, last.Status.InitContainerStatuses)
		}
		t.Fatalf("pod %s/%s: %s: not seen within %s (pod never read)", ns, name, what, timeout)
	}
	return last
}

func TestDeploymentAvailable(t *testing.T) {
	c := localcluster.ForTest(t)
	cs := c.Clientset()
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	start := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last *appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas != 3 || d.Status.UpdatedReplicas != 3 {
			return false, nil
		}
		for _, cond := range d.Status.Conditions {
			if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("deployment not Available: %v; status %+v", err, last.Status)
	}
	t.Logf("3-replica Deployment Available %s after create", time.Since(start).Round(time.Millisecond))
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning || !localcluster.PodReady(&p) || p.Status.PodIP == "" {
			t.Errorf("pod %s: node %q phase %s ready %v ip %q", p.Name, p.Spec.NodeName, p.Status.Phase, localcluster.PodReady(&p), p.Status.PodIP)
		}
	}
}

func waitingReason(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil {
			return s.State.Waiting.Reason
		}
	}
	return ""
}

func TestSimulatedPodStates(t *testing.T) {
	c := localcluster.ForTest(t)
	cs := c.Clientset()
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, 2*time.Minute)
	create := func(t *testing.T, p *corev1.Pod) {
		t.Helper()
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sim := func(mode string) map[string]string {
		return map[string]string{localcluster.AnnotationSimulate: mode}
	}

	t.Run("image-pull-backoff", func(t *testing.T) {
		create(t, pod("pull", sim(localcluster.SimulateImagePullBackOff)))
		waitPod(t, cs, ns, "pull", 10*time.Second, "ErrImagePull", func(p *corev1.Pod) bool {
			r := waitingReason(p)
			return r == "ErrImagePull" || r == "ImagePullBackOff"
		})
		p := waitPod(t, cs, ns, "pull", 10*time.Second, "ImagePullBackOff", func(p *corev1.Pod) bool {
			return waitingReason(p) == "ImagePullBackOff"
		})
		if p.Status.Phase != corev1.PodPending || localcluster.PodReady(p) {
			t.Errorf("phase %s ready %v, want Pending and not Ready", p.Status.Phase, localcluster.PodReady(p))
		}
	})

	t.Run("image-from-invalid-registry", func(t *testing.T) {
		p := pod("badimage", nil)
		p.Spec.Containers[0].Image = localcluster.FailingImageRegistry + "nope:1"
		create(t, p)
		waitPod(t, cs, ns, "badimage", 10*time.Second, "ImagePullBackOff", func(p *corev1.Pod) bool {
			return waitingReason(p) == "ImagePullBackOff"
		})
	})

	t.Run("crash-loop", func(t *testing.T) {
		create(t, pod("crash", sim(localcluster.SimulateCrashLoop)))
		sawBackOff := false
		p := waitPod(t, cs, ns, "crash", 20*time.Second, "restartCount >= 3", func(p *corev1.Pod) bool {
			if waitingReason(p) == "CrashLoopBackOff" {
				sawBackOff = true
			}
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 3
		})
		if !sawBackOff {
			waitPod(t, cs, ns, "crash", 10*time.Second, "CrashLoopBackOff", func(p *corev1.Pod) bool {
				return waitingReason(p) == "CrashLoopBackOff"
			})
		}
		st := p.Status.ContainerStatuses[0]
		if st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode == 0 {
			t.Errorf("lastState %+v, want terminated with non-zero exit code", st.LastTerminationState)
		}
		if p.Status.Phase != corev1.PodRunning || localcluster.PodReady(p) {
			t.Errorf("phase %s ready %v, want Running and not Ready", p.Status.Phase, localcluster.PodReady(p))
		}
	})

	t.Run("never-ready", func(t *testing.T) {
		create(t, pod("lazy", sim(localcluster.SimulateNeverReady)))
		waitPod(t, cs, ns, "lazy", 10*time.Second, "Running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning
		})
		time.Sleep(1500 * time.Millisecond)
		p := waitPod(t, cs, ns, "lazy", time.Second, "still Running", func(p *corev1.Pod) bool { return true })
		if p.Status.Phase != corev1.PodRunning || localcluster.PodReady(p) {
			t.Errorf("phase %s ready %v, want Running and never Ready", p.Status.Phase, localcluster.PodReady(p))
		}
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil || p.Status.ContainerStatuses[0].Ready {
			t.Errorf("container statuses %+v, want running and not ready", p.Status.ContainerStatuses)
		}
	})

	t.Run("init-fail", func(t *testing.T) {
		p := pod("initfail", sim(localcluster.SimulateInitFail))
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}}
		create(t, p)
		got := waitPod(t, cs, ns, "initfail", 10*time.Second, "init container terminated", func(p *corev1.Pod) bool {
			return len(p.Status.InitContainerStatuses) == 1 && p.Status.InitContainerStatuses[0].State.Terminated != nil
		})
		if code := got.Status.InitContainerStatuses[0].State.Terminated.ExitCode; code == 0 {
			t.Errorf("init container exit code %d, want non-zero", code)
		}
		if got.Status.Phase != corev1.PodPending || localcluster.PodReady(got) {
			t.Errorf("phase %s ready %v, want Pending and not Ready", got.Status.Phase, localcluster.PodReady(got))
		}
	})

	t.Run("ready-delay", func(t *testing.T) {
		start := time.Now()
		create(t, pod("slow", map[string]string{localcluster.AnnotationReadyDelay: "2s"}))
		waitPod(t, cs, ns, "slow", 10*time.Second, "Running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning
		})
		if p := waitPod(t, cs, ns, "slow", time.Second, "read", func(*corev1.Pod) bool { return true }); localcluster.PodReady(p) {
			t.Fatalf("Ready after %s, want not before 2s", time.Since(start))
		}
		waitPod(t, cs, ns, "slow", 15*time.Second, "Ready", localcluster.PodReady)
		if el := time.Since(start); el < 2*time.Second {
			t.Errorf("Ready after %s, want >= 2s", el)
		} else {
			t.Logf("Ready %s after create (delay 2s)", el.Round(time.Millisecond))
		}
	})

	t.Run("fail", func(t *testing.T) {
		p := pod("hook", sim(localcluster.SimulateFail))
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		create(t, p)
		waitPod(t, cs, ns, "hook", 10*time.Second, "Failed", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodFailed
		})
	})

	t.Run("job-completes", func(t *testing.T) {
		job := func(name string, annotations map[string]string) *batchv1.Job {
			return &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "job", Image: "example.com/job:1"}},
					},
				}},
			}
		}
		start := time.Now()
		for _, j := range []*batchv1.Job{job("once", nil), job("slow-once", map[string]string{localcluster.AnnotationReadyDelay: "1s"})} {
			if _, err := cs.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"once", "slow-once"} {
			err := wait.PollUntilContextTimeout(ctx, 25*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
				j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				for _, c := range j.Status.Conditions {
					if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatalf("job %s not Complete: %v", name, err)
			}
			t.Logf("job %s Complete after %s", name, time.Since(start).Round(time.Millisecond))
		}
		if el := time.Since(start); el < time.Second {
			t.Errorf("slow job complete after %s, want >= 1s", el)
		}
	})
}

func pvc(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			},
		},
	}
}

func waitPVC(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	t.Helper()
	var last *corev1.PersistentVolumeClaim
	err := wait.PollUntilContextTimeout(context.Background(), 25*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return p.Status.Phase == phase, nil
	})
	if err != nil {
		t.Fatalf("pvc %s: not %s within %s; last %+v", name, phase, timeout, last)
	}
	return last
}

func TestStorageClasses(t *testing.T) {
	c := localcluster.ForTest(t)
	cs := c.Clientset()
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)

	t.Run("standard binds immediately", func(t *testing.T) {
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc("data", localcluster.StorageClassStandard), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPVC(t, cs, ns, "data", 10*time.Second, corev1.ClaimBound)
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, got.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "data" {
			t.Errorf("pv claimRef %+v", pv.Spec.ClaimRef)
		}
	})

	t.Run("default class is standard", func(t *testing.T) {
		p := pvc("defaulted", "")
		p.Spec.StorageClassName = nil
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPVC(t, cs, ns, "defaulted", 10*time.Second, corev1.ClaimBound)
		if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != localcluster.StorageClassStandard {
			t.Errorf("storageClassName %v, want standard", got.Spec.StorageClassName)
		}
	})

	t.Run("openebs-hostpath waits for first consumer", func(t *testing.T) {
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc("cache", localcluster.StorageClassOpenEBSHostpath), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "cache", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != corev1.ClaimPending || got.Spec.VolumeName != "" {
			t.Fatalf("without a consumer: phase %s volume %q, want Pending and unbound", got.Status.Phase, got.Spec.VolumeName)
		}
		consumer := pod("consumer", nil)
		consumer.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cache"},
		}}}
		consumer.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, consumer, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		bound := waitPVC(t, cs, ns, "cache", 20*time.Second, corev1.ClaimBound)
		p := waitPod(t, cs, ns, "consumer", 20*time.Second, "Ready", localcluster.PodReady)
		if sel := bound.Annotations["volume.kubernetes.io/selected-node"]; sel != p.Spec.NodeName {
			t.Errorf("selected node %q, pod on %q", sel, p.Spec.NodeName)
		}
	})
}

func TestLoadBalancer(t *testing.T) {
	c := localcluster.ForTest(t)
	cs := c.Clientset()
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	svc := func(name string, annotations map[string]string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeLoadBalancer,
				Selector: labels(name),
				Ports:    []corev1.ServicePort{{Port: 80}},
			},
		}
	}
	for _, s := range []*corev1.Service{svc("public", nil), svc("pending", map[string]string{localcluster.AnnotationLBPending: "true"})} {
		if _, err := cs.CoreV1().Services(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got *corev1.Service
	err := wait.PollUntilContextTimeout(ctx, 25*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := cs.CoreV1().Services(ns).Get(ctx, "public", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = s
		return len(s.Status.LoadBalancer.Ingress) > 0, nil
	})
	if err != nil {
		t.Fatalf("no ingress IP: %v; status %+v", err, got.Status)
	}
	ip := net.ParseIP(got.Status.LoadBalancer.Ingress[0].IP)
	if ip == nil || !ip.IsLoopback() || !strings.HasPrefix(ip.String(), "127.240.") {
		t.Errorf("ingress IP %q, want one in 127.240.0.0/16", got.Status.LoadBalancer.Ingress[0].IP)
	}
	if cip := net.ParseIP(got.Spec.ClusterIP); cip == nil || !cip.IsLoopback() {
		t.Errorf("cluster IP %q, want a loopback address", got.Spec.ClusterIP)
	}
	time.Sleep(time.Second)
	pending, err := cs.CoreV1().Services(ns).Get(ctx, "pending", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pending.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("annotated service got ingress %+v, want pending", pending.Status.LoadBalancer.Ingress)
	}
}

func TestAuditCountsMutations(t *testing.T) {
	c := localcluster.ForTest(t)
	ns := c.TestNamespace(t)
	ctx := ctxFor(t, time.Minute)
	const user = "plate-audit-test"
	cs, err := kubernetes.NewForConfig(c.RESTConfigAs(user))
	if err != nil {
		t.Fatal(err)
	}
	filter := localcluster.AuditFilter{Users: []string{user}}

	w := c.BeginAudit()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "audited", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// A server-side dry run writes nothing and is not counted.
	dry := cm.DeepCopy()
	dry.Name = "dry"
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, dry, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatal(err)
	}
	// Mutations by another user are not counted.
	if _, err := c.Clientset().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "admin"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	evs, err := w.Mutations(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit window closed in %s", time.Since(start).Round(time.Millisecond))
	if len(evs) != 1 || evs[0].Verb != "create" || evs[0].ObjectRef == nil || evs[0].ObjectRef.Name != "audited" {
		t.Fatalf("mutations = %v, want exactly the create of configmap audited", evs)
	}

	// The same window with dry runs included sees the dry-run create.
	all, err := c.AuditEvents(ctx, w.Start(), time.Now(), localcluster.AuditFilter{Users: []string{user}, IncludeDryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("with dry runs: %v, want 2 creates", all)
	}
	reads, err := c.AuditEvents(ctx, w.Start(), time.Now(), localcluster.AuditFilter{Users: []string{user}, Verbs: []string{"get"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(reads) != 1 {
		t.Errorf("gets: %v, want 1", reads)
	}

	// An empty window counts nothing, and right after a write the count is
	// already complete (no flush delay).
	w2 := c.BeginAudit()
	n, err := c.CountMutations(ctx, w2.Start(), time.Now(), filter)
	if err != nil || n != 0 {
		t.Fatalf("empty window: %d, %v", n, err)
	}
	for i := 0; i < 5; i++ {
		w3 := c.BeginAudit()
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		evs, err := w3.Mutations(ctx, filter)
		if err != nil || len(evs) != 1 {
			t.Fatalf("round %d: %v, %v; want 1 create", i, evs, err)
		}
	}
}

// TestAPIServerRestart crashes the API server (SIGKILL), starts it again and
// sees it answer, and the rest of the control plane reconnect.
func TestAPIServerRestart(t *testing.T) {
	c := localcluster.ForTest(t)
	ctx := ctxFor(t, 3*time.Minute)
	cs := c.Clientset()
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Fatal(err)
	}
	old := c.Pids()[localcluster.ProcAPIServer]
	stop := time.Now()
	if err := c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server killed in %s", time.Since(stop).Round(time.Millisecond))
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answers after KillAPIServer")
	}
	start := time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server back after %s", time.Since(start).Round(time.Millisecond))
	if now := c.Pids()[localcluster.ProcAPIServer]; now == old {
		t.Errorf("pid unchanged (%d)", now)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// Controllers, scheduler and kwok reconnect: a new pod still turns Ready.
	ns := c.TestNamespace(t)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("after-restart", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, cs, ns, "after-restart", 90*time.Second, "Ready", localcluster.PodReady)
	t.Logf("pod Ready %s after the restart began", time.Since(start).Round(time.Millisecond))
}

// TestTeardownLeavesNoProcess starts a second control plane of its own and
// checks that Stop ends every process it started.
func TestTeardownLeavesNoProcess(t *testing.T) {
	localcluster.ForTest(t) // skip under -short, like the others
	if os.Getenv(localcluster.EnvKubeconfig) != "" {
		t.Skip("uses an external cluster")
	}
	start := time.Now()
	c, err := localcluster.Start(context.Background(), localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second control plane ready in %s", time.Since(start).Round(time.Millisecond))
	recs := c.Records()
	if len(recs) != 6 {
		t.Fatalf("records %+v, want 6 processes (5 components and the webhook backend)", recs)
	}
	dir := c.Dir()
	if _, err := c.Clientset().CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %s", time.Since(stop).Round(time.Millisecond))
	for _, r := range recs {
		if localcluster.Running(r) {
			t.Errorf("%s (pid %d) still running", r.Name, r.Pid)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.Pid)); err == nil {
			if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.Pid)); strings.Contains(string(data), r.Path) {
				t.Errorf("%s (pid %d) still exists", r.Name, r.Pid)
			}
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) && os.Getenv(localcluster.EnvKeep) != "1" {
		t.Errorf("run directory %s not removed: %v", dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
