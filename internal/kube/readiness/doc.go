// Package readiness decides whether one Kubernetes object is ready, still
// progressing, or has failed. It is the specification, in code, of what
// plate's wait_ready builtin waits for.
//
// Evaluate is pure: it reads one object (as unstructured, because Helm release
// manifests are generic), the related objects the caller has already fetched
// (the pods it owns, recent events, storage classes, replica sets), the
// options, and the current time passed in as an argument. It does no I/O and
// keeps no state, so a watcher can call it on every watch event and tests can
// pin every decision to a fixture.
//
// # Why not helm --wait
//
// Helm v3 polls every two seconds, treats most kinds as ready at once, counts
// a Deployment ready with replicas - maxUnavailable available pods, and never
// fails early: a pod in ImagePullBackOff waits out the whole timeout. plate
// instead requires the complete rollout and fails fast on pod problems that
// will not heal by themselves.
//
// # The rules
//
// An object is judged only once its controller has observed the latest
// spec (status.observedGeneration == metadata.generation); until then it is
// Progressing with reason GenerationNotObserved. Per kind:
//
//   - Deployment: Ready when updatedReplicas == spec.replicas, status.replicas
//     == updatedReplicas (old pods gone) and availableReplicas ==
//     updatedReplicas. Failed on Progressing=False/ProgressDeadlineExceeded,
//     or on ReplicaFailure=True that has lasted ReplicaFailureGrace. A paused
//     Deployment is Ready with reason Paused: its rollout cannot progress
//     until someone resumes it, so waiting for it would only burn the timeout.
//   - StatefulSet: Ready when readyReplicas == status.replicas == spec.replicas
//     and, for RollingUpdate, the rollout is done: currentRevision ==
//     updateRevision, or with a partition p > 0, at least replicas - p pods
//     updated. OnDelete StatefulSets only need readiness.
//   - DaemonSet: Ready when updatedNumberScheduled and numberAvailable equal
//     desiredNumberScheduled (OnDelete: only availability).
//   - ReplicaSet, ReplicationController: Ready when readyReplicas and
//     availableReplicas equal spec.replicas; ReplicaFailure fails like a
//     Deployment's.
//   - Job: Ready on Complete=True; Failed on Failed=True or FailureTarget=True
//     with the Job's reason and message, and the last failed pod's verdict
//     (container, exit code, termination message): BackoffLimitExceeded
//     says that the pods failed, the pod says why. A suspended Job is Ready with reason
//     Suspended (it will not run until resumed), except when a queue
//     controller owns its admission (label kueue.x-k8s.io/queue-name): then
//     it is Progressing with reason Suspended, because admission is expected.
//   - Pod: Ready when the Ready condition is True; phase Succeeded is Ready for
//     restartPolicy Never/OnFailure; phase Failed is Failed.
//   - PersistentVolumeClaim: Bound is Ready; Pending on a WaitForFirstConsumer
//     storage class (the claim's class, or the default class when the claim
//     names none) is Ready with reason AwaitingFirstConsumer unless the
//     scheduler already selected a node; Lost is Failed. A claim that names a
//     storage class the cluster does not have (the caller listed the classes)
//     fails with reason StorageClassNotFound once it is StorageClassGrace old;
//     a pending claim whose provisioner reports ProvisioningFailed fails with
//     that reason once the failures have lasted ProvisioningGrace.
//   - Service: type LoadBalancer is Ready once status.loadBalancer.ingress is
//     set, else Progressing with reason AwaitingLoadBalancer and a hint about
//     MetalLB; every other Service is Ready once it exists.
//   - CustomResourceDefinition: Ready when Established and NamesAccepted are
//     True; NamesAccepted=False is Failed.
//   - Namespace: Active is Ready; Terminating is Failed, because a terminating
//     namespace never becomes Active again and rejects new content.
//   - APIService: Ready when Available=True.
//   - ConfigMap, Secret, ServiceAccount, RBAC, Ingress, NetworkPolicy,
//     PodDisruptionBudget and the other kinds without a meaningful status are
//     Ready once they exist (the list is existsKinds in evaluate.go).
//   - Anything else, notably custom resources: kstatus (status.Compute) with
//     its generic Ready/Reconciling/Stalled conditions; Current is Ready,
//     InProgress is Progressing, Failed is Failed.
//
// An object with a deletionTimestamp (other than a Namespace) is Progressing
// with reason Terminating: it will disappear, and a recreated object may
// follow. Kinds that are ready once they exist skip the generation check.
//
// Plan-declared Rules take precedence over all of the above for the kinds
// they match, built-in kinds included.
//
// # Failing fast on pods
//
// While a pod-owning workload (Deployment, StatefulSet, DaemonSet,
// ReplicaSet, ReplicationController, Job) or a bare Pod is not ready, its pods
// are inspected. A pod problem fails the object, naming the pod and container:
//
//   - InvalidImageName, ErrImageNeverPull: at once.
//   - ErrImagePull, ImagePullBackOff: after ImagePullGrace.
//   - CreateContainerConfigError, CreateContainerError, RunContainerError:
//     after ContainerErrorGrace (a referenced Secret is often produced a few
//     seconds later by another controller).
//   - CrashLoopBackOff: once restartCount reaches CrashLoopRestarts. A
//     container that has just exited with a non-zero code and will be
//     restarted (reason ContainerFailed) counts as restartCount + 1 crashes.
//   - OOMKilled as the last termination with restartCount >= OOMKills.
//   - PodScheduled=False/Unschedulable for longer than UnschedulableGrace,
//     unless a cluster autoscaler announced a scale-up for the pod or the pod
//     is nominated to a node.
//   - FailedMount events saying a volume's Secret or ConfigMap is "not found"
//     while no container was created: after ContainerErrorGrace (reason
//     FailedMount; CreateContainerConfigError is the same problem for
//     environment variables, and its message names the missing object).
//
// A workload whose controller cannot create its pods fails too: a
// Deployment, ReplicaSet or ReplicationController through its ReplicaFailure
// condition, a StatefulSet, DaemonSet or Job through Warning FailedCreate
// events newer than its last SuccessfulCreate, each once the failure has
// lasted ReplicaFailureGrace (reason ReplicaFailure, the controller's
// message: a missing ServiceAccount, a quota, an admission webhook).
//
// Init containers (including sidecars) are checked before app containers. A
// problem still inside its grace period, or below its threshold, makes the
// result Progressing with the problem as reason, and RecheckAfter tells the
// caller when to evaluate again even if no watch event arrives. Among several
// pods, a Failed problem wins over a pending one, then the pod name decides.
// Terminating pods and finished pods are not inspected: controllers replace
// evicted pods, and a Job's failed pods count against its own backoffLimit,
// which the Job reports through its Failed condition. For a Deployment whose
// ReplicaSets are supplied, only the pods of the newest ReplicaSet count, so
// a crashing pod of the revision being replaced does not fail the rollout.
//
// Failed results carry the most recent events of the object and the culprit
// pod (or all its pods when no pod is to blame), formatted by FormatEvent.
//
// Grace periods start at the earliest evidence of the problem: the first
// timestamp of a matching kubelet event, or the time recorded in the
// caller-kept Since map (see Since.Observe), never before the pod was created.
// Without either, the pod's creation time is used.
package readiness
