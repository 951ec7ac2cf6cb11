package readiness

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	betaClassAnnotation        = "volume.beta.kubernetes.io/storage-class"
	selectedNodeAnnotation     = "volume.kubernetes.io/selected-node"
)

func (e *evaluator) pvc() Result {
	var c corev1.PersistentVolumeClaim
	if err := e.convert(&c); err != nil {
		return invalid(err)
	}
	switch c.Status.Phase {
	case corev1.ClaimBound:
		return Result{State: Ready, Message: "bound to volume " + c.Spec.VolumeName}
	case corev1.ClaimLost:
		return Result{State: Failed, Reason: "Lost", Message: fmt.Sprintf("claim lost its volume %s", c.Spec.VolumeName)}
	}
	if node := c.Annotations[selectedNodeAnnotation]; node != "" {
		return e.provisioning(Result{State: Progressing, Reason: "Provisioning",
			Message: joinMsg("provisioning a volume for node "+node, e.lastWarning())})
	}
	name, explicit := claimClassName(&c)
	var class *storagev1.StorageClass
	if explicit {
		class = e.rel.StorageClasses[name]
	} else {
		class = DefaultStorageClass(e.rel.StorageClasses)
	}
	switch {
	case explicit && name == "":
		return Result{State: Progressing, Reason: "Pending",
			Message: joinMsg("waiting for a matching pre-provisioned volume (no storage class)", e.lastWarning())}
	case class == nil && explicit && e.rel.StorageClasses != nil:
		return e.missingClass(&c, name)
	case class == nil && explicit:
		return Result{State: Progressing, Reason: "Pending",
			Message: joinMsg(fmt.Sprintf("waiting for a volume (storage class %q not known)", name), e.lastWarning())}
	case class == nil:
		return Result{State: Progressing, Reason: "Pending",
			Message: joinMsg("waiting for a volume (no storage class named and no default class)", e.lastWarning())}
	case class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return Result{State: Ready, Reason: ReasonAwaitingFirstConsumer, Message: fmt.Sprintf(
			"storage class %s binds when the first pod using the claim is scheduled", class.Name)}
	}
	return e.provisioning(Result{State: Progressing, Reason: "Pending",
		Message: joinMsg(fmt.Sprintf("waiting for a volume from storage class %s", class.Name), e.lastWarning())})
}

// missingClass judges a claim that names a storage class the cluster does
// not have: no provisioner will ever act on it. It fails once the claim is
// StorageClassGrace old (the class may be created a moment later by the
// same release or another controller).
func (e *evaluator) missingClass(c *corev1.PersistentVolumeClaim, name string) Result {
	res := Result{State: Progressing, Reason: ReasonStorageClassNotFound,
		Message: joinMsg(fmt.Sprintf("storage class %q does not exist", name), e.lastWarning())}
	elapsed := e.elapsedSince(c.CreationTimestamp.Time)
	if elapsed >= e.opts.StorageClassGrace {
		res.State = Failed
		return res
	}
	res.RecheckAfter = e.opts.StorageClassGrace - elapsed
	return res
}

// provisioning refines a pending claim's result with its ProvisioningFailed
// events: the provisioner tried and failed. It keeps retrying with a
// back-off, so the claim fails once the failures have lasted
// ProvisioningGrace, counted from the first one.
func (e *evaluator) provisioning(res Result) Result {
	ref := refOf(e.obj)
	var first time.Time
	for _, ev := range e.rel.Events {
		if ev == nil || ev.Type != corev1.EventTypeWarning || ev.Reason != ReasonProvisioningFailed || !ref.matches(ev.InvolvedObject) {
			continue
		}
		if t := eventFirstTime(ev); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return res
	}
	res.Reason = ReasonProvisioningFailed
	elapsed := e.elapsedSince(first)
	if elapsed >= e.opts.ProvisioningGrace {
		res.State = Failed
		return res
	}
	res.RecheckAfter = e.opts.ProvisioningGrace - elapsed
	return res
}

// claimClassName returns the class a claim asks for. explicit is false when
// the claim names no class at all, which means the default class.
func claimClassName(c *corev1.PersistentVolumeClaim) (name string, explicit bool) {
	if v, ok := c.Annotations[betaClassAnnotation]; ok {
		return v, true
	}
	if c.Spec.StorageClassName != nil {
		return *c.Spec.StorageClassName, true
	}
	return "", false
}

// DefaultStorageClass returns the default class among classes: the one
// annotated storageclass.kubernetes.io/is-default-class: "true" (or the beta
// annotation); with several, the newest, as the API server picks it. It
// returns nil when there is none.
func DefaultStorageClass(classes map[string]*storagev1.StorageClass) *storagev1.StorageClass {
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc == nil || (sc.Annotations[defaultClassAnnotation] != "true" && sc.Annotations[betaDefaultClassAnnotation] != "true") {
			continue
		}
		switch {
		case best == nil,
			sc.CreationTimestamp.After(best.CreationTimestamp.Time),
			sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name:
			best = sc
		}
	}
	return best
}

func (e *evaluator) pv() Result {
	var v corev1.PersistentVolume
	if err := e.convert(&v); err != nil {
		return invalid(err)
	}
	if v.Status.Phase == corev1.VolumeFailed {
		return Result{State: Failed, Reason: "VolumeFailed", Message: orDefault(v.Status.Message, "volume failed")}
	}
	return Result{State: Ready, Message: "volume is " + orDefault(string(v.Status.Phase), "created")}
}

// lastWarning renders the newest Warning event of the object as
// "last event: Reason: message", or "" when there is none.
func (e *evaluator) lastWarning() string {
	ref := refOf(e.obj)
	var last *corev1.Event
	for _, ev := range e.rel.Events {
		if ev == nil || ev.Type != corev1.EventTypeWarning || !ref.matches(ev.InvolvedObject) {
			continue
		}
		if last == nil || eventTime(ev).After(eventTime(last)) {
			last = ev
		}
	}
	if last == nil {
		return ""
	}
	return "last event: " + last.Reason + ": " + oneLine(last.Message)
}
