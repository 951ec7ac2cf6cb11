package readiness

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Long strings shared by several expectations.
const (
	imagePullPodMsg  = `pod api-7d6c5b4a3-q8wzt container backend: ImagePullBackOff: Back-off pulling image "ghcr.io/example/api:1.7.0-nope"`
	errImagePullMsg  = `ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/example/app:2.3.0": failed to resolve reference "ghcr.io/example/app:2.3.0": not found`
	unschedulableMsg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, " +
		"2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, " +
		"2 No preemption victims found for incoming pod."
	panicTermination = "Error, exit code 1: panic: DATABASE_URL is not set goroutine 1 [running]: main.main() /src/cmd/api/main.go:42 +0x1d4"
	quotaMsg         = `FailedCreate: pods "api-7c9d8f6b5-4xw2p" is forbidden: exceeded quota: compute, requested: requests.cpu=2, used: requests.cpu=3, limited: requests.cpu=4`
	configErrPodMsg  = `pod migrate-x7k2p container migrate: CreateContainerConfigError: secret "db-credentials" not found`
	crashyBackoff    = "back-off %s restarting failed container=app pod=api-crashy_shop(7f9b1d3f-5a6c-4e8a-9b1d-3f5a7c9e1fd9) (%d restarts)"
)

var pullEvents = []string{
	`Normal Pulling Pod/api-7d6c5b4a3-q8wzt: Pulling image "ghcr.io/example/api:1.7.0-nope" (x2)`,
	`Warning Failed Pod/api-7d6c5b4a3-q8wzt: Failed to pull image "ghcr.io/example/api:1.7.0-nope": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/example/api:1.7.0-nope": failed to resolve reference "ghcr.io/example/api:1.7.0-nope": ghcr.io/example/api:1.7.0-nope: not found (x2)`,
	`Warning Failed Pod/api-7d6c5b4a3-q8wzt: Error: ErrImagePull (x2)`,
	`Normal BackOff Pod/api-7d6c5b4a3-q8wzt: Back-off pulling image "ghcr.io/example/api:1.7.0-nope" (x2)`,
	`Warning Failed Pod/api-7d6c5b4a3-q8wzt: Error: ImagePullBackOff (x2)`,
}

// widgetRule is a plan rule by condition for the example Widget kind.
func widgetRule(ready, failed, failedStatus string) Rule {
	return Rule{Group: "example.com", Kind: "Widget", ReadyCondition: ready, FailedCondition: failed, FailedStatus: failedStatus}
}

// gadgetsRule is a plan rule by callback: ready when all gadgets are ready.
var gadgetsRule = Rule{Name: "gadgets", Group: "example.com", Kind: "Widget",
	Func: func(obj *unstructured.Unstructured) (State, string, error) {
		ready, _, _ := unstructured.NestedInt64(obj.Object, "status", "readyGadgets")
		total, found, _ := unstructured.NestedInt64(obj.Object, "status", "gadgets")
		if !found {
			return "", "", errors.New("status.gadgets missing")
		}
		msg := fmt.Sprintf("%d/%d gadgets ready", ready, total)
		if ready < total {
			return Progressing, msg, nil
		}
		return Ready, msg, nil
	}}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		file string
		at   time.Duration // offset from baseNow
		opts Options
		obj  func(*unstructured.Unstructured) // optional change to the object
		rel  func(*Related)                   // optional change to the related objects
		want Result
	}{
		// Deployments.
		{name: "deployment ready", file: "deployment-ready.yaml",
			want: Result{State: Ready, Message: "3/3 replicas available"}},
		{name: "deployment generation not observed", file: "deployment-generation-behind.yaml",
			want: Result{State: Progressing, Reason: ReasonGenerationNotObserved,
				Message: "waiting for controller to observe generation 3 (observed 2)"}},
		{name: "deployment maxUnavailable: helm ready, plate not", file: "deployment-maxunavailable.yaml",
			want: Result{State: Progressing, Reason: "ReplicasUnavailable", Message: "2/3 updated replicas available"}},
		{name: "deployment rolling with old pod left", file: "deployment-rolling.yaml",
			want: Result{State: Progressing, Reason: "OldReplicasPending",
				Message: "3/3 replicas updated, 1 old replica pending termination"}},
		{name: "deployment rolling without replica sets judges old pods too", file: "deployment-rolling.yaml",
			rel: func(r *Related) { r.ReplicaSets = nil },
			want: Result{State: Failed, Reason: ReasonCrashLoopBackOff,
				Message: "pod web-6c4d8b7f9-7kq2d container nginx: CrashLoopBackOff: back-off 2m40s restarting failed " +
					"container=nginx pod=web-6c4d8b7f9-7kq2d_shop(c1e3a5b7-9d2f-4b6c-8e0a-4c6e8a0b2d31) (6 restarts)",
				Pod: "web-6c4d8b7f9-7kq2d", Container: "nginx",
				LastTermination: `Error, exit code 1: nginx: [emerg] host not found in upstream "legacy-backend"`}},
		{name: "deployment paused", file: "deployment-paused.yaml",
			want: Result{State: Ready, Reason: ReasonPaused,
				Message: "deployment is paused, rollout not awaited (0/2 replicas updated, 2 available)"}},
		{name: "deployment progress deadline exceeded", file: "deployment-progress-deadline.yaml",
			want: Result{State: Failed, Reason: ReasonProgressDeadline,
				Message: `ReplicaSet "api-9b8c7d6e5" has timed out progressing.`,
				Events: []string{
					"Normal ScalingReplicaSet Deployment/api: Scaled up replica set api-9b8c7d6e5 from 0 to 1",
					"Warning Unhealthy Pod/api-9b8c7d6e5-fx7lm: Readiness probe failed: HTTP probe failed with statuscode: 503 (x27)",
				}}},
		{name: "deployment replica failure past grace", file: "deployment-replica-failure.yaml",
			want: Result{State: Failed, Reason: ReasonReplicaFailure, Message: quotaMsg}},
		{name: "deployment replica failure within grace", file: "deployment-replica-failure.yaml", at: -35 * time.Second,
			want: Result{State: Progressing, Reason: ReasonReplicaFailure, Message: "0/2 replicas updated; " + quotaMsg,
				RecheckAfter: 6 * time.Second}},
		{name: "deployment whose pods need a missing ServiceAccount", file: "deployment-replica-failure.yaml",
			obj: func(u *unstructured.Unstructured) {
				conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
				for _, c := range conds {
					if m := c.(map[string]any); m["type"] == "ReplicaFailure" {
						m["message"] = missingSADeploy
					}
				}
				_ = unstructured.SetNestedSlice(u.Object, conds, "status", "conditions")
			},
			want: Result{State: Failed, Reason: ReasonReplicaFailure, Message: "FailedCreate: " + missingSADeploy}},
		{name: "deployment image pull within grace", file: "deployment-imagepull.yaml",
			want: Result{State: Progressing, Reason: "ImagePullBackOff", Message: "1/3 replicas updated; " + imagePullPodMsg,
				Pod: "api-7d6c5b4a3-q8wzt", Container: "backend", RecheckAfter: 5 * time.Second}},
		{name: "deployment image pull after grace", file: "deployment-imagepull.yaml", at: 10 * time.Second,
			want: Result{State: Failed, Reason: "ImagePullBackOff", Message: imagePullPodMsg,
				Pod: "api-7d6c5b4a3-q8wzt", Container: "backend", Events: pullEvents}},
		{name: "deployment image pull with longer grace", file: "deployment-imagepull.yaml", at: 10 * time.Second,
			opts: Options{ImagePullGrace: time.Minute},
			want: Result{State: Progressing, Reason: "ImagePullBackOff", Message: "1/3 replicas updated; " + imagePullPodMsg,
				Pod: "api-7d6c5b4a3-q8wzt", Container: "backend", RecheckAfter: 40 * time.Second}},
		{name: "deployment failed without events when MaxEvents is negative", file: "deployment-imagepull.yaml",
			at: 10 * time.Second, opts: Options{MaxEvents: -1},
			want: Result{State: Failed, Reason: "ImagePullBackOff", Message: imagePullPodMsg,
				Pod: "api-7d6c5b4a3-q8wzt", Container: "backend"}},
		{name: "deployment failed with two events", file: "deployment-imagepull.yaml",
			at: 10 * time.Second, opts: Options{MaxEvents: 2},
			want: Result{State: Failed, Reason: "ImagePullBackOff", Message: imagePullPodMsg,
				Pod: "api-7d6c5b4a3-q8wzt", Container: "backend", Events: pullEvents[3:]}},

		// StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers.
		{name: "statefulset ready", file: "statefulset-ready.yaml",
			want: Result{State: Ready, Message: "3/3 replicas ready"}},
		{name: "statefulset partition reached", file: "statefulset-partition.yaml",
			want: Result{State: Ready, Message: "5/5 replicas ready"}},
		{name: "statefulset partition not reached", file: "statefulset-partition-progressing.yaml",
			want: Result{State: Progressing, Reason: "ReplicasUpdating",
				Message: "1/2 replicas at or above partition 3 updated to revision db-7c9e0a8d6"}},
		{name: "statefulset revision mismatch", file: "statefulset-revision-mismatch.yaml",
			want: Result{State: Progressing, Reason: "ReplicasUpdating",
				Message: "1/3 replicas updated to revision db-7c9e0a8d6"}},
		{name: "statefulset OnDelete only needs readiness", file: "statefulset-ondelete.yaml",
			want: Result{State: Ready, Message: "3/3 replicas ready"}},
		{name: "statefulset that cannot create its pods, within grace", file: "statefulset-revision-mismatch.yaml",
			rel: func(r *Related) {
				ev := failedCreateEvent("StatefulSet", "db", missingSASts, -4*time.Second)
				ev.Namespace, ev.InvolvedObject.Namespace = "data", "data"
				r.Events = append(r.Events, ev)
			},
			want: Result{State: Progressing, Reason: ReasonReplicaFailure,
				Message:      "1/3 replicas updated to revision db-7c9e0a8d6; FailedCreate: " + missingSASts,
				RecheckAfter: 6 * time.Second}},
		{name: "statefulset that cannot create its pods, past grace", file: "statefulset-revision-mismatch.yaml",
			opts: Options{MaxEvents: -1},
			rel: func(r *Related) {
				ev := failedCreateEvent("StatefulSet", "db", missingSASts, -10*time.Second)
				ev.Namespace, ev.InvolvedObject.Namespace = "data", "data"
				r.Events = append(r.Events, ev)
			},
			want: Result{State: Failed, Reason: ReasonReplicaFailure, Message: "FailedCreate: " + missingSASts}},
		{name: "daemonset that cannot create its pods", file: "daemonset-updating.yaml", opts: Options{MaxEvents: -1},
			rel: func(r *Related) {
				ev := failedCreateEvent("DaemonSet", "node-exporter", `Error creating: pods "node-exporter-" is forbidden: error looking up service account monitoring/node-exporter: serviceaccount "node-exporter" not found`, -time.Minute)
				ev.Namespace, ev.InvolvedObject.Namespace = "monitoring", "monitoring"
				r.Events = append(r.Events, ev)
			},
			want: Result{State: Failed, Reason: ReasonReplicaFailure,
				Message: `FailedCreate: Error creating: pods "node-exporter-" is forbidden: error looking up service account monitoring/node-exporter: serviceaccount "node-exporter" not found`}},
		{name: "daemonset ready", file: "daemonset-ready.yaml",
			want: Result{State: Ready, Message: "3/3 scheduled pods available"}},
		{name: "daemonset updating", file: "daemonset-updating.yaml",
			want: Result{State: Progressing, Reason: "ReplicasUpdating", Message: "1/3 scheduled pods updated"}},
		{name: "replicaset ready", file: "replicaset-ready.yaml",
			want: Result{State: Ready, Message: "2/2 replicas available"}},
		{name: "replicationcontroller unavailable", file: "replicationcontroller-unavailable.yaml",
			want: Result{State: Progressing, Reason: "ReplicasUnavailable", Message: "1/2 replicas available"}},

		// Jobs.
		{name: "job complete", file: "job-complete.yaml",
			want: Result{State: Ready, Message: "job complete (1/1 succeeded)"}},
		{name: "job failed: the last failed pod says why", file: "job-failed.yaml",
			want: Result{State: Failed, Reason: "BackoffLimitExceeded",
				Message: "Job has reached the specified backoff limit; pod migrate-q7x2m failed: container migrate exited with code 1",
				Pod:     "migrate-q7x2m", Container: "migrate",
				LastTermination: `Error, exit code 1: error: migration 0042_add_orders_index failed: pq: relation "orders" does not exist`,
				Events:          []string{"Warning BackoffLimitExceeded Job/migrate: Job has reached the specified backoff limit"}}},
		{name: "job failed without its pods", file: "job-failed.yaml", rel: func(r *Related) { r.Pods, r.Events = nil, nil },
			want: Result{State: Failed, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}},
		{name: "job that cannot create its pod: missing ServiceAccount, within grace", file: "job-config-error.yaml",
			rel: func(r *Related) {
				r.Pods, r.Events = nil, []*corev1.Event{failedCreateEvent("Job", "migrate", missingSAJob, -5*time.Second)}
			},
			want: Result{State: Progressing, Reason: ReasonReplicaFailure,
				Message: "0/1 completions, 1 active; FailedCreate: " + missingSAJob, RecheckAfter: 5 * time.Second}},
		{name: "job that cannot create its pod: missing ServiceAccount, past grace", file: "job-config-error.yaml",
			rel: func(r *Related) {
				r.Pods, r.Events = nil, []*corev1.Event{failedCreateEvent("Job", "migrate", missingSAJob, -20*time.Second)}
			},
			want: Result{State: Failed, Reason: ReasonReplicaFailure, Message: "FailedCreate: " + missingSAJob,
				Events: []string{"Warning FailedCreate Job/migrate: " + missingSAJob + " (x3)"}}},
		{name: "job whose pods were created after a failure", file: "job-config-error.yaml",
			rel: func(r *Related) {
				ok := failedCreateEvent("Job", "migrate", "Created pod: migrate-x7k2p", -time.Second)
				ok.Reason, ok.Type = "SuccessfulCreate", corev1.EventTypeNormal
				r.Pods, r.Events = nil, []*corev1.Event{failedCreateEvent("Job", "migrate", missingSAJob, -20*time.Second), ok}
				r.Events[0].LastTimestamp = metav1.NewTime(baseNow.Add(-2 * time.Second))
			},
			want: Result{State: Progressing, Reason: "JobRunning", Message: "0/1 completions, 1 active"}},
		{name: "job suspended", file: "job-suspended.yaml",
			want: Result{State: Ready, Reason: ReasonSuspended, Message: "job is suspended, completion not awaited"}},
		{name: "job suspended by kueue", file: "job-suspended-kueue.yaml",
			want: Result{State: Progressing, Reason: ReasonSuspended,
				Message: "job is suspended, waiting for admission by queue team-a"}},
		{name: "job pod CreateContainerConfigError after grace", file: "job-config-error.yaml",
			want: Result{State: Failed, Reason: "CreateContainerConfigError", Message: configErrPodMsg,
				Pod: "migrate-x7k2p", Container: "migrate", Events: []string{
					"Normal SuccessfulCreate Job/migrate: Created pod: migrate-x7k2p",
					`Warning Failed Pod/migrate-x7k2p: Error: secret "db-credentials" not found (x11)`,
				}}},
		{name: "job pod CreateContainerConfigError within grace", file: "job-config-error.yaml", at: -115 * time.Second,
			want: Result{State: Progressing, Reason: "CreateContainerConfigError",
				Message: "0/1 completions, 1 active; " + configErrPodMsg,
				Pod:     "migrate-x7k2p", Container: "migrate", RecheckAfter: 7 * time.Second}},

		{name: "job pod missing a ConfigMap: the reason names it", file: "job-config-error.yaml", opts: Options{MaxEvents: -1},
			rel: func(r *Related) {
				r.Pods[0].Status.ContainerStatuses[0].State.Waiting.Message = `configmap "migrate-config" not found`
			},
			want: Result{State: Failed, Reason: "CreateContainerConfigError",
				Message: `pod migrate-x7k2p container migrate: CreateContainerConfigError: configmap "migrate-config" not found`,
				Pod:     "migrate-x7k2p", Container: "migrate"}},
		{name: "job pod whose volume's Secret is missing, within grace", file: "job-config-error.yaml", at: -112 * time.Second,
			rel: failedMount,
			want: Result{State: Progressing, Reason: ReasonFailedMount,
				Message: "0/1 completions, 1 active; pod migrate-x7k2p: FailedMount: " + failedMountMsg,
				Pod:     "migrate-x7k2p", RecheckAfter: 4 * time.Second}},
		{name: "job pod whose volume's Secret is missing, past grace", file: "job-config-error.yaml",
			rel: failedMount,
			want: Result{State: Failed, Reason: ReasonFailedMount, Message: "pod migrate-x7k2p: FailedMount: " + failedMountMsg,
				Pod: "migrate-x7k2p", Events: []string{
					"Normal SuccessfulCreate Job/migrate: Created pod: migrate-x7k2p",
					"Warning FailedMount Pod/migrate-x7k2p: " + failedMountMsg + " (x7)",
				}}},
		{name: "job pod with a slow volume is not a missing one", file: "job-config-error.yaml",
			rel: func(r *Related) {
				failedMount(r)
				r.Events[0].Message = `Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data]: timed out waiting for the condition`
			},
			want: Result{State: Progressing, Reason: "JobRunning", Message: "0/1 completions, 1 active"}},

		// Pods.
		{name: "pod ready", file: "pod-ready.yaml",
			want: Result{State: Ready, Message: "1/1 containers ready"}},
		{name: "pod succeeded with restartPolicy Never", file: "pod-succeeded.yaml",
			want: Result{State: Ready, Message: "pod completed"}},
		{name: "pod failed", file: "pod-failed.yaml",
			want: Result{State: Failed, Reason: ReasonPodFailed, Message: "pod smoke-test failed: container app exited with code 2",
				Pod: "smoke-test", Container: "app",
				LastTermination: "Error, exit code 2: smoke test failed: GET http://api:8080/healthz: connection refused"}},
		{name: "pod ErrImagePull within grace", file: "pod-imagepull.yaml",
			want: Result{State: Progressing, Reason: "ErrImagePull", Message: "pod api-canary container app: " + errImagePullMsg,
				Pod: "api-canary", Container: "app", RecheckAfter: 7 * time.Second}},
		{name: "pod ErrImagePull after grace", file: "pod-imagepull.yaml", at: 10 * time.Second,
			want: Result{State: Failed, Reason: "ErrImagePull", Message: "pod api-canary container app: " + errImagePullMsg,
				Pod: "api-canary", Container: "app", Events: []string{
					`Normal Pulling Pod/api-canary: Pulling image "ghcr.io/example/app:2.3.0"`,
					`Warning Failed Pod/api-canary: Failed to pull image "ghcr.io/example/app:2.3.0": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/example/app:2.3.0": failed to resolve reference "ghcr.io/example/app:2.3.0": not found`,
					`Warning Failed Pod/api-canary: Error: ErrImagePull`,
				}}},
		{name: "pod ErrImagePull with no grace", file: "pod-imagepull.yaml", opts: Options{ImagePullGrace: -1, MaxEvents: -1},
			want: Result{State: Failed, Reason: "ErrImagePull", Message: "pod api-canary container app: " + errImagePullMsg,
				Pod: "api-canary", Container: "app"}},
		{name: "pod ErrImagePull dated by caller's Since", file: "pod-imagepull-old.yaml",
			rel: func(r *Related) {
				r.Since = Since{{PodUID: "5b7d9f1b-3c4e-4a6c-9d9f-1b3d5f7b9c57", Container: "app", Problem: ProblemImagePull}: baseNow.Add(-3 * time.Second)}
			},
			want: Result{State: Progressing, Reason: "ErrImagePull", Message: "pod api-old container app: " + errImagePullMsg,
				Pod: "api-old", Container: "app", RecheckAfter: 12 * time.Second}},
		{name: "pod ErrImagePull without evidence dated by pod creation", file: "pod-imagepull-old.yaml",
			want: Result{State: Failed, Reason: "ErrImagePull", Message: "pod api-old container app: " + errImagePullMsg,
				Pod: "api-old", Container: "app"}},
		{name: "pod InvalidImageName fails at once", file: "pod-invalid-image-name.yaml",
			want: Result{State: Failed, Reason: "InvalidImageName",
				Message: `pod api-typo container app: InvalidImageName: Failed to apply default image tag "ghcr.io/example/app:": couldn't parse image name "ghcr.io/example/app:": invalid reference format`,
				Pod:     "api-typo", Container: "app",
				Events: []string{`Warning InspectFailed Pod/api-typo: Failed to apply default image tag "ghcr.io/example/app:": couldn't parse image name "ghcr.io/example/app:": invalid reference format`}}},
		{name: "pod CreateContainerError", file: "pod-create-container-error.yaml",
			want: Result{State: Failed, Reason: "CreateContainerError",
				Message: `pod api-cmd container app: CreateContainerError: failed to generate container "7d9f1b3d" spec: failed to apply OCI options: exec: "/app/serve": stat /app/serve: no such file or directory`,
				Pod:     "api-cmd", Container: "app",
				Events: []string{`Warning Failed Pod/api-cmd: Error: failed to generate container "7d9f1b3d" spec: failed to apply OCI options: exec: "/app/serve": stat /app/serve: no such file or directory (x8)`}}},
		{name: "pod CrashLoopBackOff below threshold", file: "pod-crashloop-below.yaml",
			want: Result{State: Progressing, Reason: ReasonCrashLoopBackOff,
				Message: "pod api-crashy container app: CrashLoopBackOff: " + fmt.Sprintf(crashyBackoff, "20s", 2),
				Pod:     "api-crashy", Container: "app", LastTermination: panicTermination}},
		{name: "pod CrashLoopBackOff above threshold", file: "pod-crashloop-above.yaml",
			want: Result{State: Failed, Reason: ReasonCrashLoopBackOff,
				Message: "pod api-crashy container app: CrashLoopBackOff: " + fmt.Sprintf(crashyBackoff, "2m40s", 4),
				Pod:     "api-crashy", Container: "app", LastTermination: panicTermination}},
		{name: "pod CrashLoopBackOff check disabled", file: "pod-crashloop-above.yaml", opts: Options{CrashLoopRestarts: -1},
			want: Result{State: Progressing, Reason: ReasonCrashLoopBackOff,
				Message: "pod api-crashy container app: CrashLoopBackOff: " + fmt.Sprintf(crashyBackoff, "2m40s", 4),
				Pod:     "api-crashy", Container: "app", LastTermination: panicTermination}},
		{name: "pod CrashLoopBackOff with higher threshold", file: "pod-crashloop-above.yaml", opts: Options{CrashLoopRestarts: 5},
			want: Result{State: Progressing, Reason: ReasonCrashLoopBackOff,
				Message: "pod api-crashy container app: CrashLoopBackOff: " + fmt.Sprintf(crashyBackoff, "2m40s", 4),
				Pod:     "api-crashy", Container: "app", LastTermination: panicTermination}},
		{name: "pod OOMKilled repeatedly", file: "pod-oomkilled.yaml",
			want: Result{State: Failed, Reason: ReasonOOMKilled,
				Message: "pod api-hungry container app: OOMKilled: killed for exceeding its memory limit (128Mi), 2 restarts",
				Pod:     "api-hungry", Container: "app", LastTermination: "OOMKilled, exit code 137"}},
		{name: "pod OOMKilled below threshold is running", file: "pod-oomkilled.yaml", opts: Options{OOMKills: 3},
			want: Result{State: Progressing, Reason: "ContainersNotReady", Message: "0/1 containers ready"}},
		{name: "pod unschedulable within grace", file: "pod-unschedulable.yaml",
			want: Result{State: Progressing, Reason: ReasonUnschedulable, Message: "pod search-0: Unschedulable: " + unschedulableMsg,
				Pod: "search-0", RecheckAfter: 5 * time.Second}},
		{name: "pod unschedulable after grace", file: "pod-unschedulable.yaml", at: 10 * time.Second,
			want: Result{State: Failed, Reason: ReasonUnschedulable, Message: "pod search-0: Unschedulable: " + unschedulableMsg,
				Pod: "search-0", Events: []string{"Warning FailedScheduling Pod/search-0: " + unschedulableMsg + " (x3)"}}},
		{name: "pod unschedulable while autoscaler adds a node", file: "pod-unschedulable-scaleup.yaml",
			want: Result{State: Progressing, Reason: ReasonUnschedulable,
				Message: "pod search-1: Unschedulable: " + unschedulableMsg +
					" (scale-up triggered: pod triggered scale-up: [{eks-workers-c6a1 2->3 (max: 6)}])",
				Pod: "search-1"}},
		{name: "pod init container crash-looping", file: "pod-init-crashloop.yaml",
			want: Result{State: Failed, Reason: ReasonCrashLoopBackOff,
				Message: "pod api-6f8a0c2e4-r2d2x init container migrate: CrashLoopBackOff: back-off 40s restarting failed " +
					"container=migrate pod=api-6f8a0c2e4-r2d2x_shop(2e4a6c8e-0f1b-4d3f-8a6c-8e0a2c4e6f24) (3 restarts)",
				Pod: "api-6f8a0c2e4-r2d2x", Container: "migrate", InitContainer: true,
				LastTermination: `Error, exit code 1: error: migration 0042_add_orders_index failed: pq: relation "orders" does not exist`}},
		{name: "pod init container just exited", file: "pod-init-crashloop.yaml", obj: initExited,
			want: Result{State: Progressing, Reason: ReasonContainerFailed,
				Message: "pod api-6f8a0c2e4-r2d2x init container migrate: ContainerFailed: exited with code 1 (1 crash)",
				Pod:     "api-6f8a0c2e4-r2d2x", Container: "migrate", InitContainer: true,
				LastTermination: "Error, exit code 1: migration failed"}},
		{name: "pod init container exited at the crash threshold", file: "pod-init-crashloop.yaml", obj: initExited,
			opts: Options{CrashLoopRestarts: 1},
			want: Result{State: Failed, Reason: ReasonContainerFailed,
				Message: "pod api-6f8a0c2e4-r2d2x init container migrate: ContainerFailed: exited with code 1 (1 crash)",
				Pod:     "api-6f8a0c2e4-r2d2x", Container: "migrate", InitContainer: true,
				LastTermination: "Error, exit code 1: migration failed"}},
		{name: "pod init container failed", file: "pod-init-failed.yaml",
			want: Result{State: Failed, Reason: ReasonPodFailed, Message: "pod seed-data failed: init container fetch exited with code 22",
				Pod: "seed-data", Container: "fetch", InitContainer: true,
				LastTermination: "Error, exit code 22: curl: (22) The requested URL returned error: 404"}},

		// Storage.
		{name: "pvc bound", file: "pvc-bound.yaml",
			want: Result{State: Ready, Message: "bound to volume pvc-6c8e0a2c-4d5f-4b7d-8e0a-2c4d6f8a0c68"}},
		{name: "pvc pending on Immediate class, provisioning failing within grace", file: "pvc-pending-immediate.yaml",
			want: Result{State: Progressing, Reason: ReasonProvisioningFailed,
				Message: "waiting for a volume from storage class standard; last event: " + provisioningFailedMsg, RecheckAfter: 41 * time.Second}},
		{name: "pvc provisioning failing past grace", file: "pvc-pending-immediate.yaml", at: 41 * time.Second,
			want: Result{State: Failed, Reason: ReasonProvisioningFailed,
				Message: "waiting for a volume from storage class standard; last event: " + provisioningFailedMsg,
				Events: []string{
					`Normal Provisioning PersistentVolumeClaim/data-db-0: External provisioner is provisioning volume for claim "data/data-db-0" (x4)`,
					"Warning ProvisioningFailed PersistentVolumeClaim/data-db-0: " + provisioningFailedEvent + " (x4)",
				}}},
		{name: "pvc provisioning failing with a shorter grace", file: "pvc-pending-immediate.yaml",
			opts: Options{ProvisioningGrace: 5 * time.Second, MaxEvents: -1},
			want: Result{State: Failed, Reason: ReasonProvisioningFailed,
				Message: "waiting for a volume from storage class standard; last event: " + provisioningFailedMsg}},
		{name: "pvc pending on Immediate class, provisioner silent", file: "pvc-pending-immediate.yaml",
			rel:  func(r *Related) { r.Events = nil },
			want: Result{State: Progressing, Reason: "Pending", Message: "waiting for a volume from storage class standard"}},
		{name: "pvc of a class that does not exist, within grace", file: "pvc-pending-immediate.yaml", at: -15 * time.Second,
			rel: missingClass,
			want: Result{State: Progressing, Reason: ReasonStorageClassNotFound,
				Message:      `storage class "standard" does not exist; last event: ProvisioningFailed: storageclass.storage.k8s.io "standard" not found`,
				RecheckAfter: 5 * time.Second}},
		{name: "pvc of a class that does not exist, past grace", file: "pvc-pending-immediate.yaml",
			rel: missingClass,
			want: Result{State: Failed, Reason: ReasonStorageClassNotFound,
				Message: `storage class "standard" does not exist; last event: ProvisioningFailed: storageclass.storage.k8s.io "standard" not found`,
				Events:  []string{`Warning ProvisioningFailed PersistentVolumeClaim/data-db-0: storageclass.storage.k8s.io "standard" not found (x2)`}}},
		{name: "pvc of a class that does not exist, longer grace", file: "pvc-pending-immediate.yaml",
			rel: missingClass, opts: Options{StorageClassGrace: time.Minute},
			want: Result{State: Progressing, Reason: ReasonStorageClassNotFound,
				Message:      `storage class "standard" does not exist; last event: ProvisioningFailed: storageclass.storage.k8s.io "standard" not found`,
				RecheckAfter: 40 * time.Second}},
		{name: "pvc provisioning for selected node failing past grace", file: "pvc-selected-node.yaml", at: 2 * time.Minute,
			rel: func(r *Related) {
				r.Events = []*corev1.Event{provisioningFailed("cache", "7d9f1b3d-5e6a-4c8e-9f1b-3d5e7a9b1d79",
					"failed to provision volume with StorageClass \"local-path\": no space left on node worker-2", 3)}
			},
			want: Result{State: Failed, Reason: ReasonProvisioningFailed,
				Message: `provisioning a volume for node worker-2; last event: ProvisioningFailed: failed to provision volume with StorageClass "local-path": no space left on node worker-2`,
				Events:  []string{`Warning ProvisioningFailed PersistentVolumeClaim/cache: failed to provision volume with StorageClass "local-path": no space left on node worker-2 (x3)`}}},
		{name: "pvc pending on WaitForFirstConsumer class", file: "pvc-pending-wffc.yaml",
			want: Result{State: Ready, Reason: ReasonAwaitingFirstConsumer,
				Message: "storage class local-path binds when the first pod using the claim is scheduled"}},
		{name: "pvc pending on unknown class", file: "pvc-pending-wffc.yaml",
			rel: func(r *Related) { r.StorageClasses = nil },
			want: Result{State: Progressing, Reason: "Pending",
				Message: `waiting for a volume (storage class "local-path" not known)`}},
		{name: "pvc without class uses newest default class", file: "pvc-default-class.yaml",
			want: Result{State: Ready, Reason: ReasonAwaitingFirstConsumer,
				Message: "storage class gp3 binds when the first pod using the claim is scheduled"}},
		{name: "pvc without class and without default class", file: "pvc-default-class.yaml",
			rel: func(r *Related) { delete(r.StorageClasses, "gp3"); delete(r.StorageClasses, "old-default") },
			want: Result{State: Progressing, Reason: "Pending",
				Message: "waiting for a volume (no storage class named and no default class)"}},
		{name: "pvc lost", file: "pvc-lost.yaml",
			want: Result{State: Failed, Reason: "Lost", Message: "claim lost its volume pvc-9f1b3d5f-7a8c-4e0a-9b3d-5f7a9c1e3f9b"}},
		{name: "pvc provisioning for selected node", file: "pvc-selected-node.yaml",
			want: Result{State: Progressing, Reason: "Provisioning", Message: "provisioning a volume for node worker-2"}},

		// Services.
		{name: "service LoadBalancer with address", file: "service-lb-ready.yaml",
			want: Result{State: Ready, Message: "load balancer at 192.168.1.240"}},
		{name: "service LoadBalancer without address", file: "service-lb-pending.yaml",
			want: Result{State: Progressing, Reason: ReasonAwaitingLoadBalancer,
				Message: LoadBalancerHint + `; last event: AllocationFailed: Failed to allocate IP for "shop/ingress-nginx": no available IPs`}},
		{name: "service ClusterIP", file: "service-clusterip.yaml",
			want: Result{State: Ready, Message: "ClusterIP service"}},
		{name: "service ExternalName", file: "service-externalname.yaml",
			want: Result{State: Ready, Message: "ExternalName service"}},

		// CRDs, namespaces, APIServices, exists-only kinds.
		{name: "crd established", file: "crd-established.yaml",
			want: Result{State: Ready, Message: "established"}},
		{name: "crd not established", file: "crd-not-established.yaml",
			want: Result{State: Progressing, Reason: "NotEstablished", Message: "Established=False: the initial names have been accepted"}},
		{name: "crd just created", file: "crd-established.yaml",
			obj:  func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "status") },
			want: Result{State: Progressing, Reason: "AwaitingNames", Message: "waiting for the names to be accepted"}},
		{name: "crd names conflict", file: "crd-names-conflict.yaml",
			want: Result{State: Failed, Reason: ReasonNamesNotAccepted, Message: `NamesAccepted=False: "wd" is already in use`}},
		{name: "namespace active", file: "namespace-active.yaml",
			want: Result{State: Ready, Message: "active"}},
		{name: "namespace terminating", file: "namespace-terminating.yaml",
			want: Result{State: Failed, Reason: ReasonTerminating,
				Message: "namespace is being deleted and will not become Active again; " +
					"NamespaceContentRemaining: Some resources are remaining: widgets.example.com has 1 resource instances; " +
					"NamespaceFinalizersRemaining: Some content in the namespace has finalizers remaining: widgets.example.com/cleanup in 1 resource instances"}},
		{name: "apiservice unavailable", file: "apiservice-unavailable.yaml",
			want: Result{State: Progressing, Reason: "MissingEndpoints",
				Message: `Available=False: endpoints for service/metrics-server in "kube-system" have no addresses with port name "https"`}},
		{name: "webhook configuration: its Service has no ready endpoint", file: "webhook-awaiting-endpoints.yaml",
			want: Result{State: Progressing, Reason: ReasonAwaitingEndpoints,
				Message: "its webhooks call Service metallb-system/metallb-webhook-service, which has no ready endpoint yet"}},
		{name: "webhook configuration: endpoint ready", file: "webhook-awaiting-endpoints.yaml",
			rel: func(r *Related) {
				ready := true
				r.EndpointSlices["metallb-system/metallb-webhook-service"][0].Endpoints[0].Conditions.Ready = &ready
			},
			want: Result{State: Ready, Message: "Service metallb-system/metallb-webhook-service has a ready endpoint"}},
		{name: "webhook configuration: no slices at all yet", file: "webhook-awaiting-endpoints.yaml",
			rel: func(r *Related) { r.EndpointSlices = map[string][]*discoveryv1.EndpointSlice{} },
			want: Result{State: Progressing, Reason: ReasonAwaitingEndpoints,
				Message: "its webhooks call Service metallb-system/metallb-webhook-service, which has no ready endpoint yet"}},
		{name: "webhook configuration: endpoints not read", file: "webhook-awaiting-endpoints.yaml",
			rel:  func(r *Related) { r.EndpointSlices = nil },
			want: Result{State: Ready, Message: "exists (endpoints of its Services not read)"}},
		{name: "configmap exists", file: "configmap.yaml",
			want: Result{State: Ready, Message: "exists"}},
		{name: "ingress exists, address not awaited", file: "ingress.yaml",
			want: Result{State: Ready, Message: "exists"}},

		// Custom resources: kstatus, then plan rules.
		// Operators' custom resources (built-in rules).
		{name: "cert-manager Certificate issued", file: "op-certificate-ready.yaml",
			want: Result{State: Ready, Message: "Ready=True: Certificate is up to date and has not expired"}},
		{name: "cert-manager Certificate issuance failed", file: "op-certificate-failed.yaml",
			want: Result{State: Failed, Reason: "IssuanceFailed", Message: `Issuing=False: The certificate request has failed to complete and will be retried: Failed to wait for order resource "web-tls-1-3866239571" to become ready: order is in "invalid" state`}},
		{name: "cert-manager ClusterIssuer ready", file: "op-clusterissuer-ready.yaml",
			want: Result{State: Ready, Message: "Ready=True (IsReady)"}},
		{name: "cert-manager Issuer not ready", file: "op-issuer-not-ready.yaml",
			want: Result{State: Progressing, Reason: "ErrRegisterACMEAccount", Message: "Ready=False: Failed to register ACME account: 429 too many requests"}},
		{name: "Prometheus without status: waiting for its operator", file: "op-prometheus-no-status.yaml",
			want: Result{State: Progressing, Reason: ReasonAwaitingController, Message: "waiting for the Prometheus operator to report a status", RecheckAfter: 40 * time.Second}},
		{name: "Prometheus without status past the grace", file: "op-prometheus-no-status.yaml", at: time.Minute,
			want: Result{State: Failed, Reason: ReasonNoController, Message: "no status 1m20s after creation: is the Prometheus operator installed and running, and does it watch this namespace?"}},
		{name: "Prometheus without status, shorter grace", file: "op-prometheus-no-status.yaml", opts: Options{ControllerGrace: 10 * time.Second},
			want: Result{State: Failed, Reason: ReasonNoController, Message: "no status 20s after creation: is the Prometheus operator installed and running, and does it watch this namespace?"}},
		{name: "Prometheus available and reconciled", file: "op-prometheus-available.yaml",
			want: Result{State: Ready, Message: "available and reconciled"}},
		{name: "Prometheus: a plan rule overrides the built-in one", file: "op-prometheus-no-status.yaml",
			opts: Options{Rules: []Rule{{Group: "monitoring.coreos.com", Kind: "Prometheus", Func: func(*unstructured.Unstructured) (State, string, error) { return Ready, "plan says so", nil }}}},
			want: Result{State: Ready, Message: "plan says so"}},
		{name: "Alertmanager degraded", file: "op-alertmanager-degraded.yaml",
			want: Result{State: Progressing, Reason: "SomePodsNotReady", Message: "Available=Degraded: shard 0: pod alertmanager-kps-alertmanager-1: containers with incomplete status: [init-config-reloader]"}},
		{name: "Argo CD Application healthy and synced", file: "op-argo-application-healthy.yaml",
			want: Result{State: Ready, Message: "Healthy and Synced"}},
		{name: "Argo CD Application degraded", file: "op-argo-application-degraded.yaml",
			want: Result{State: Failed, Reason: "Degraded", Message: `Deployment "plate-api" exceeded its progress deadline`}},
		{name: "Flux HelmRelease stalled", file: "op-helmrelease-stalled.yaml",
			want: Result{State: Failed, Reason: "RetriesExceeded", Message: "Stalled=True: Failed to install after 1 attempt(s)"}},
		{name: "Flux Kustomization ready", file: "op-kustomization-ready.yaml",
			want: Result{State: Ready, Message: "Ready=True: Applied revision: main@sha1:3f2a9c1"}},
		{name: "custom resource without status, CRD with a status subresource", file: "cr-no-status.yaml",
			rel:  func(r *Related) { r.StatusSubresource = true },
			want: Result{State: Progressing, Reason: ReasonAwaitingController, Message: "waiting for its controller to report a status", RecheckAfter: 50 * time.Second}},
		{name: "custom resource without status, no status subresource", file: "cr-no-status.yaml",
			want: Result{State: Ready, Message: "Resource is current"}},
		{name: "custom resource Ready=True", file: "cr-ready.yaml",
			want: Result{State: Ready, Message: "Resource is Ready"}},
		{name: "custom resource Stalled", file: "cr-stalled.yaml",
			want: Result{State: Failed, Reason: "InvalidSpec", Message: `color "red" is not available in size large`}},
		{name: "custom resource Reconciling", file: "cr-reconciling.yaml",
			want: Result{State: Progressing, Reason: "Provisioning", Message: "creating 2 of 3 gadgets"}},
		{name: "custom resource with unknown conditions is current for kstatus", file: "cr-custom-conditions.yaml",
			want: Result{State: Ready, Message: "Resource is current"}},
		{name: "rule by condition: ready", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "", "")}},
			want: Result{State: Ready, Message: "Synced=True (ReconcileSuccess)"}},
		{name: "rule by condition: not ready", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Healthy", "", "")}},
			want: Result{State: Progressing, Reason: "ProbeFailing", Message: "Healthy=False: 2 of 3 gadgets unhealthy"}},
		{name: "rule by condition: failed", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "Healthy", "False")}},
			want: Result{State: Failed, Reason: "ProbeFailing", Message: "Healthy=False: 2 of 3 gadgets unhealthy"}},
		{name: "rule by condition: failed result carries events", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "Healthy", "False")}},
			rel: func(r *Related) {
				r.Events = []*corev1.Event{{
					ObjectMeta: metav1.ObjectMeta{Name: "purple.18a3c6f9", Namespace: "shop"},
					InvolvedObject: corev1.ObjectReference{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "shop",
						Name: "purple"},
					Reason: "ProbeFailed", Message: "gadget-2: connection refused", Type: corev1.EventTypeWarning,
					FirstTimestamp: metav1.NewTime(baseNow.Add(-time.Minute)), LastTimestamp: metav1.NewTime(baseNow.Add(-time.Second)), Count: 6,
				}}
			},
			want: Result{State: Failed, Reason: "ProbeFailing", Message: "Healthy=False: 2 of 3 gadgets unhealthy",
				Events: []string{"Warning ProbeFailed Widget/purple: gadget-2: connection refused (x6)"}}},
		{name: "rule by condition: object being deleted", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "", "")}},
			obj: func(u *unstructured.Unstructured) {
				ts := metav1.NewTime(baseNow.Add(-time.Second))
				u.SetDeletionTimestamp(&ts)
			},
			want: Result{State: Progressing, Reason: ReasonTerminating, Message: "object is being deleted"}},
		{name: "rule by condition: condition not reported", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Available", "", "")}},
			want: Result{State: Progressing, Reason: "AwaitingAvailable", Message: "condition Available not reported yet"}},
		{name: "rule by condition: stale condition", file: "cr-stale-condition.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "", "")}},
			want: Result{State: Progressing, Reason: ReasonGenerationNotObserved,
				Message: "condition Synced describes generation 4, waiting for generation 5"}},
		{name: "rule for another group does not apply", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{{Group: "other.example.org", Kind: "Widget", ReadyCondition: "Healthy"}}},
			want: Result{State: Ready, Message: "Resource is current"}},
		{name: "rule by callback: progressing", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{gadgetsRule}},
			want: Result{State: Progressing, Reason: "gadgets", Message: "1/3 gadgets ready"}},
		{name: "rule by callback: ready", file: "cr-stale-condition.yaml",
			opts: Options{Rules: []Rule{gadgetsRule}},
			want: Result{State: Ready, Message: "3/3 gadgets ready"}},
		{name: "rule by callback: error", file: "cr-ready.yaml",
			opts: Options{Rules: []Rule{gadgetsRule}},
			want: Result{State: Unknown, Reason: ReasonRuleError, Message: "gadgets: status.gadgets missing"}},
		{name: "first matching rule wins", file: "cr-custom-conditions.yaml",
			opts: Options{Rules: []Rule{widgetRule("Synced", "", ""), gadgetsRule}},
			want: Result{State: Ready, Message: "Synced=True (ReconcileSuccess)"}},
		{name: "rule overrides a built-in kind", file: "ingress.yaml",
			opts: Options{Rules: []Rule{{Group: "networking.k8s.io", Kind: "Ingress",
				Func: func(obj *unstructured.Unstructured) (State, string, error) {
					lb, _, _ := unstructured.NestedSlice(obj.Object, "status", "loadBalancer", "ingress")
					if len(lb) == 0 {
						return Progressing, "no address yet", nil
					}
					return Ready, "has address", nil
				}}}},
			want: Result{State: Progressing, Reason: "PlanRule", Message: "no address yet"}},
		{name: "invalid rule", file: "cr-ready.yaml",
			opts: Options{Rules: []Rule{{Group: "example.com", Kind: "Widget"}}},
			want: Result{State: Unknown, Reason: ReasonRuleError,
				Message: "readiness rule for Widget: needs a ready condition or a function"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := loadFixture(t, tt.file)
			if tt.obj != nil {
				tt.obj(f.obj)
			}
			if tt.rel != nil {
				tt.rel(&f.rel)
			}
			got := Evaluate(f.obj, f.rel, tt.opts, baseNow.Add(tt.at))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate(%s) mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

const (
	missingSADeploy = `pods "api-7c9d8f6b5-4xw2p" is forbidden: error looking up service account shop/api: serviceaccount "api" not found`
	missingSASts    = `create Pod db-0 in StatefulSet db failed error: pods "db-0" is forbidden: error looking up service account data/db: serviceaccount "db" not found`
)

const failedMountMsg = `MountVolume.SetUp failed for volume "credentials" : secret "db-credentials" not found`

// failedMount turns the pod of job-config-error into one whose Secret is
// mounted as a volume: its container is never created, and the kubelet
// records FailedMount events instead (first at 11:58:02).
func failedMount(r *Related) {
	r.Pods[0].Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	ev := r.Events[0]
	ev.InvolvedObject.FieldPath = ""
	ev.Reason, ev.Message, ev.Count = "FailedMount", failedMountMsg, 7
}

const missingSAJob = `Error creating: pods "migrate-" is forbidden: error looking up service account shop/migrator: serviceaccount "migrator" not found`

// failedCreateEvent is a controller's Warning FailedCreate event about a
// workload in namespace shop, first seen at baseNow+first and repeated
// since.
func failedCreateEvent(kind, name, msg string, first time.Duration) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name + ".18a3c7a0", Namespace: "shop"},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "shop", Name: name},
		Reason:         "FailedCreate", Message: msg, Type: corev1.EventTypeWarning, Count: 3,
		FirstTimestamp: metav1.NewTime(baseNow.Add(first)), LastTimestamp: metav1.NewTime(baseNow),
	}
}

const (
	provisioningFailedEvent = `failed to provision volume with StorageClass "standard": rpc error: code = Internal desc = Could not create volume "pvc-6c8e0a2c": UnauthorizedOperation: You are not authorized to perform this operation.`
	provisioningFailedMsg   = "ProvisioningFailed: " + provisioningFailedEvent
)

// provisioningFailed is the event the persistent volume controller (or an
// external provisioner) records on a claim it cannot provision, first seen a
// minute before baseNow.
func provisioningFailed(claim, uid, msg string, count int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: claim + ".18a3c6f1", Namespace: "data"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: "data",
			Name: claim, UID: types.UID(uid)},
		Reason: "ProvisioningFailed", Message: msg, Type: corev1.EventTypeWarning, Count: count,
		FirstTimestamp: metav1.NewTime(baseNow.Add(-time.Minute)), LastTimestamp: metav1.NewTime(baseNow.Add(-time.Second)),
	}
}

// missingClass lists the cluster's storage classes without the claim's
// ("standard"), with the persistent volume controller's event about it.
func missingClass(r *Related) {
	r.StorageClasses = map[string]*storagev1.StorageClass{}
	r.Events = []*corev1.Event{provisioningFailed("data-db-0", "6c8e0a2c-4d5f-4b7d-8e0a-2c4d6f8a0c68",
		`storageclass.storage.k8s.io "standard" not found`, 2)}
}

// initExited turns the crash-looping init container of pod-init-crashloop
// into one that has just exited for the first time.
func initExited(u *unstructured.Unstructured) {
	st, _, _ := unstructured.NestedSlice(u.Object, "status", "initContainerStatuses")
	c := st[0].(map[string]any)
	c["restartCount"] = int64(0)
	delete(c, "lastState")
	c["state"] = map[string]any{"terminated": map[string]any{"exitCode": int64(1), "reason": "Error", "message": "migration failed"}}
	_ = unstructured.SetNestedSlice(u.Object, st, "status", "initContainerStatuses")
}

func TestEvaluateNil(t *testing.T) {
	got := Evaluate(nil, Related{}, Options{}, baseNow)
	want := Result{State: NotFound, Reason: "NotFound", Message: "object does not exist"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Evaluate(nil) mismatch (-want +got):\n%s", diff)
	}
}
