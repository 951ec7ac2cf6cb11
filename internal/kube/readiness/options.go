package readiness

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Defaults used for zero fields of Options.
const (
	// DefaultImagePullGrace covers the kubelet's first pull retry (its image
	// back-off starts at 10s), so a registry hiccup does not fail a deploy
	// while a missing image or tag fails within seconds.
	DefaultImagePullGrace = 15 * time.Second
	// DefaultContainerErrorGrace gives controllers that produce referenced
	// Secrets and ConfigMaps (external-secrets, cert-manager, sealed-secrets)
	// a moment before CreateContainerConfigError fails the object.
	DefaultContainerErrorGrace = 10 * time.Second
	// DefaultCrashLoopRestarts is the restart count at which a container in
	// CrashLoopBackOff fails the object (about 70s of back-off: 10+20+40s).
	DefaultCrashLoopRestarts int32 = 3
	// DefaultOOMKills is the restart count at which a container whose last
	// termination was OOMKilled fails the object.
	DefaultOOMKills int32 = 2
	// DefaultUnschedulableGrace is how long a pod may stay unschedulable.
	DefaultUnschedulableGrace = 15 * time.Second
	// DefaultReplicaFailureGrace is how long ReplicaFailure=True (e.g. quota
	// exceeded while old pods still hold the quota) is tolerated.
	DefaultReplicaFailureGrace = 10 * time.Second
	// DefaultStorageClassGrace is how long a claim may name a storage class
	// that does not exist (the release may create it a moment later).
	DefaultStorageClassGrace = 10 * time.Second
	// DefaultProvisioningGrace is how long a claim's provisioner may keep
	// failing (ProvisioningFailed events): provisioners retry with a
	// back-off, and a cloud API hiccup heals within it.
	DefaultProvisioningGrace = 60 * time.Second
	// DefaultMaxEvents is how many events a Failed result carries.
	DefaultMaxEvents = 5
)

// Options tunes Evaluate. The zero value means all defaults.
//
// For durations, zero means the default and a negative value means no grace
// at all (fail on first sight). For counts, zero means the default and a
// negative value disables the check, leaving the problem to the caller's
// timeout.
type Options struct {
	// ImagePullGrace is how long ErrImagePull/ImagePullBackOff may last
	// before the object fails.
	ImagePullGrace time.Duration
	// ContainerErrorGrace is how long CreateContainerConfigError,
	// CreateContainerError and RunContainerError may last.
	ContainerErrorGrace time.Duration
	// CrashLoopRestarts fails a container in CrashLoopBackOff (or terminated
	// with a non-zero exit code and about to restart) once its restart count
	// reaches this number.
	CrashLoopRestarts int32
	// OOMKills fails a container whose last termination was OOMKilled once
	// its restart count reaches this number. The kubelet does not count OOM
	// kills separately, so this is the restart count with an OOM as the
	// latest cause.
	OOMKills int32
	// UnschedulableGrace is how long a pod may be unschedulable, measured
	// from the PodScheduled condition's lastTransitionTime.
	UnschedulableGrace time.Duration
	// ReplicaFailureGrace is how long ReplicaFailure=True may last on a
	// Deployment, ReplicaSet or ReplicationController, measured from the
	// condition's lastTransitionTime.
	ReplicaFailureGrace time.Duration
	// StorageClassGrace is how long a PersistentVolumeClaim may name a
	// storage class that does not exist, measured from the claim's creation.
	// It applies only when Related.StorageClasses was listed.
	StorageClassGrace time.Duration
	// ProvisioningGrace is how long a pending claim's provisioner may keep
	// failing, measured from the first ProvisioningFailed event.
	ProvisioningGrace time.Duration
	// ControllerGrace is how long a custom resource may have no status at
	// all (its kind has a status subresource, or is an operator kind with a
	// built-in rule) before it fails as having no controller, measured from
	// its creation.
	ControllerGrace time.Duration
	// MaxEvents caps Result.Events (default DefaultMaxEvents; negative: none).
	MaxEvents int
	// Rules are plan-declared readiness rules. The first rule matching an
	// object's group and kind replaces the built-in evaluation.
	Rules []Rule
}

// withDefaults resolves zero and negative values into effective ones:
// durations become >= 0, counts become > 0 or 0 for "disabled".
func (o Options) withDefaults() Options {
	o.ImagePullGrace = duration(o.ImagePullGrace, DefaultImagePullGrace)
	o.ContainerErrorGrace = duration(o.ContainerErrorGrace, DefaultContainerErrorGrace)
	o.UnschedulableGrace = duration(o.UnschedulableGrace, DefaultUnschedulableGrace)
	o.ReplicaFailureGrace = duration(o.ReplicaFailureGrace, DefaultReplicaFailureGrace)
	o.StorageClassGrace = duration(o.StorageClassGrace, DefaultStorageClassGrace)
	o.ProvisioningGrace = duration(o.ProvisioningGrace, DefaultProvisioningGrace)
	o.CrashLoopRestarts = count(o.CrashLoopRestarts, DefaultCrashLoopRestarts)
	o.OOMKills = count(o.OOMKills, DefaultOOMKills)
	switch {
	case o.MaxEvents == 0:
		o.MaxEvents = DefaultMaxEvents
	case o.MaxEvents < 0:
		o.MaxEvents = 0
	}
	return o
}

func duration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func count(n, def int32) int32 {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// Related carries the objects Evaluate needs besides the object itself. All
// fields are optional; Evaluate only reads them.
type Related struct {
	// Pods are the pods owned by the object, directly or through a
	// ReplicaSet (see OwnedPods). Order does not matter.
	Pods []*corev1.Pod
	// ReplicaSets are the ReplicaSets owned by a Deployment. With them,
	// Evaluate inspects only the pods of the newest ReplicaSet, so a crashing
	// pod of the previous revision does not fail a rollout that replaces it.
	ReplicaSets []*appsv1.ReplicaSet
	// Events are recent events of the object, its ReplicaSets and its pods.
	Events []*corev1.Event
	// StorageClasses by name, for PersistentVolumeClaims. Include the
	// default class so claims without storageClassName can be judged. A
	// non-nil map is taken as every class of the cluster: a claim that names
	// a class it lacks fails after StorageClassGrace. Nil means the classes
	// are not known, and such a claim is only waited for.
	StorageClasses map[string]*storagev1.StorageClass
	// EndpointSlices by "namespace/service", for admission webhook
	// configurations: one is ready when every Service it calls has a ready
	// endpoint. Nil means the slices were not read, and the configuration
	// is judged by its existence alone.
	EndpointSlices map[string][]*discoveryv1.EndpointSlice
	// StatusSubresource is true when the object's CRD declares a status
	// subresource for its version: a controller is expected to write a
	// status, and an object without one is not ready yet.
	StatusSubresource bool
	// Since is caller-kept memory of when pod problems were first seen; see
	// Since.Observe. Nil is fine.
	Since Since
}
