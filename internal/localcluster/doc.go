// Package localcluster runs a real, local Kubernetes control plane for
// plate's tests, benchmarks and demos.
//
// There is no container engine here, so the cluster is made of the real
// control-plane binaries (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) plus kwok, which simulates nodes and kubelets: pods are
// scheduled onto fake nodes and turn Ready without running any container.
//
// The binaries are built from pinned versions through the Go module proxy
// into a cache directory keyed by version (see [EnsureBinaries]); the build
// uses a generated throwaway module in a temporary directory, so none of
// these build-only dependencies enter plate's own go.mod.
//
// Everything listens on 127.0.0.1 only. Each process is started in its own
// process group and recorded in a pid file; [Cluster.Stop] stops exactly
// those pids, and a later Start or `plate-localcluster down` cleans up
// leftovers of a run that was killed.
//
// Simulated behaviour (kwok stages, see stages/*.yaml):
//
//   - a pod without annotations turns Running and Ready right away;
//   - annotation plate.dev/ready-delay: "3s" keeps a pod Running but not
//     Ready for that long (a "slow branch");
//   - annotation plate.dev/simulate selects a failure:
//     image-pull-backoff (ErrImagePull, then ImagePullBackOff),
//     crash-loop (CrashLoopBackOff with a rising restartCount),
//     never-ready (Running, never Ready),
//     init-fail (first init container terminated with exit code 1);
//     an image from the registry "registry.invalid/" also gets
//     image-pull-backoff;
//   - StorageClass "standard" (Immediate): claims are provisioned and Bound
//     at once; StorageClass "openebs-hostpath" (WaitForFirstConsumer): claims
//     stay Pending until the scheduler selects a node for a consuming pod,
//     then they are provisioned and Bound;
//   - IngressClass "nginx" (not the default; no controller serves it), as
//     the platform's clusters have it;
//   - Services of type LoadBalancer get a loopback ingress IP
//     (127.240.x.y) like MetalLB would give one, unless annotated
//     plate.dev/lb-pending: "true".
//
// Admission webhooks work (see webhook.go): the API server resolves a
// webhook's Service to a ready endpoint (--enable-aggregator-routing) and
// dials it through its "cluster" egress, an HTTP CONNECT proxy on a unix
// socket served by the webhook backend, a component process of the
// cluster (the starting binary run again). The backend answers
// AdmissionReviews in place of the webhook's pods (allow by default;
// annotation plate.dev/webhook: "deny" on the object, or
// [Cluster.SetWebhookMode] deny / unavailable), logs each one to
// admission.log ([Cluster.AdmissionReviews]) and fills the empty caBundle
// of webhook configurations with its CA, as cert-manager's cainjector or
// MetalLB's controller would. A webhook whose pods are not ready gets the
// API server's own "no endpoints available for service" error. Job pods
// complete; plate.dev/simulate: "fail" makes them fail. No component has
// proxy variables in its environment.
//
// Tests use one shared control plane per package:
//
//	func TestMain(m *testing.M) { localcluster.Main(m) }
//
//	func TestDeploy(t *testing.T) {
//		c := localcluster.ForTest(t) // skips under -short
//		ns := c.TestNamespace(t)
//		cs := c.Clientset() // or c.RESTConfig(), c.KubeconfigPath()
//		...
//	}
//
// PLATE_LOCALCLUSTER_KUBECONFIG points tests at a cluster started by
// `make cluster-up` instead. Under -short nothing is built or started.
// Without -short a test that needs the cluster fails (never skips) when the
// binaries cannot be built or the cluster cannot start. Because `go test`
// kills a test binary that runs past -timeout plus a minute, a cold build
// (several minutes) belongs before `go test`: run `make cluster-build` (or
// `go run ./internal/localcluster/cmd/plate-localcluster build`) first.
//
// Proof that something wrote nothing: the API server's audit log (Metadata
// level) is read by [Cluster.BeginAudit] / [AuditWindow.Mutations] and
// [Cluster.CountMutations]; they filter by user (e.g. [AdminUser], or an
// impersonated user from [Cluster.RESTConfigAs]) and drop dry runs, and
// they wait for a marker request to show up in the log, so nothing that
// happened in the window is still unwritten.
//
// Fault tests: [Cluster.KillAPIServer], [Cluster.StopAPIServer],
// [Cluster.StartAPIServer], [Cluster.RestartAPIServer].
package localcluster
