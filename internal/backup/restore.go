package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
)

// IdentityError is a restore refused because the backup was made from
// another cluster.
type IdentityError struct {
	Backup, Target Cluster
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("the backup was made from another cluster: backup: %s; target: %s", e.Backup, e.Target)
}

// CheckCluster refuses target unless it is the cluster the backup was made
// from: the same kube-system UID, or, when a namespace-scoped user could not
// read it on either side, the same API server.
func CheckCluster(m *Manifest, target Cluster) error {
	if m.Cluster.UID != "" && target.UID != "" {
		if m.Cluster.UID == target.UID {
			return nil
		}
	} else if m.Cluster.Server != "" && m.Cluster.Server == target.Server {
		return nil
	}
	return &IdentityError{Backup: m.Cluster, Target: target}
}

// ExtraAction is what a restore does with an object outside a release's
// manifest.
type ExtraAction string

// The actions on objects outside the manifest.
const (
	ExtraCreated     ExtraAction = "created"
	ExtraWouldCreate ExtraAction = "would be created"
	ExtraExists      ExtraAction = "exists, left as it is"
)

// ExtraResult is the restore of one object outside the manifest.
type ExtraResult struct {
	Object
	Action ExtraAction `json:"action"`
	// Note says what was not restored (a claim comes back empty).
	Note string `json:"note,omitempty"`
}

// ReleaseResult is the restore of one release.
type ReleaseResult struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// CreatesNamespace is true when the namespace was (or would be) made.
	CreatesNamespace bool                `json:"creates_namespace,omitempty"`
	Helm             *helm.RestoreResult `json:"helm"`
	Extra            []ExtraResult       `json:"extra,omitempty"`
}

// Summary is one line: the Helm restore and what happened outside it.
func (r *ReleaseResult) Summary() string {
	s := fmt.Sprintf("%s in %s: %s", r.Name, r.Namespace, r.Helm.Summary())
	counts := map[ExtraAction]int{}
	for _, e := range r.Extra {
		counts[e.Action]++
	}
	var parts []string
	for _, a := range []ExtraAction{ExtraCreated, ExtraWouldCreate, ExtraExists} {
		if n := counts[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
		}
	}
	if len(parts) > 0 {
		s += "; outside the release: " + strings.Join(parts, ", ")
	}
	return s
}

// ReadStorage reads the backed-up storage Secrets of r.
func ReadStorage(dir string, m *Manifest, r *Release) ([]*corev1.Secret, error) {
	var out []*corev1.Secret
	for _, rev := range r.Revisions {
		data, err := readFile(dir, m, rev.File)
		if err != nil {
			return nil, err
		}
		var s corev1.Secret
		if err := yaml.Unmarshal(data, &s); err != nil {
			return nil, exit.Errorf(exit.PlanFailed, "backup %s: %s: %v", m.ID, rev.File, err)
		}
		out = append(out, &s)
	}
	return out, nil
}

// ReadObject reads a backed-up object.
func ReadObject(dir string, m *Manifest, file string) (*unstructured.Unstructured, error) {
	data, err := readFile(dir, m, file)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %s: %v", m.ID, file, err)
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// readFile reads a file of backup m, checking its checksum.
func readFile(dir string, m *Manifest, file string) ([]byte, error) {
	sum, ok := m.Files[file]
	if !ok {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %s is not listed in %s", m.ID, file, ManifestFile)
	}
	data, err := os.ReadFile(filepath.Join(dir, m.ID, filepath.FromSlash(file)))
	if err != nil {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %v", m.ID, err)
	}
	if Checksum(data) != sum {
		return nil, exit.Errorf(exit.PlanFailed, "backup %s: %s does not match its checksum: it changed since the backup", m.ID, file)
	}
	return data, nil
}

// Restore brings release r of backup m back: its namespace when missing,
// the objects outside its manifest that are missing (never overwriting
// one that exists), then the release itself through helm.Client.Restore
// (storage written back where missing, then a rollback to the backed-up
// revision, which re-applies the manifest's objects). Over read-only
// clients it says what it would do.
func Restore(ctx context.Context, kc *kube.Client, hc *helm.Client, dir string, m *Manifest, r *Release, timeout time.Duration) (*ReleaseResult, error) {
	storage, err := ReadStorage(dir, m, r)
	if err != nil {
		return nil, err
	}
	res := &ReleaseResult{Name: r.Name, Namespace: r.Namespace}
	_, err = kc.Clientset.CoreV1().Namespaces().Get(ctx, r.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		res.CreatesNamespace = true
		if !kc.ReadOnly {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.Namespace}}
			if _, err := kc.Clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
				return nil, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore of %s: creating namespace %s: %w", r.Name, r.Namespace, err))
			}
		}
	case err != nil:
		return nil, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore of %s: reading namespace %s: %w", r.Name, r.Namespace, err))
	}
	for _, o := range r.Extra {
		er, err := restoreExtra(ctx, kc, dir, m, o)
		if err != nil {
			return nil, err
		}
		res.Extra = append(res.Extra, er)
	}
	hr, err := hc.Restore(ctx, helm.RestoreRequest{
		Release:   r.Name,
		Namespace: r.Namespace,
		Storage:   storage,
		Target:    r.RestoreRevision,
		Backup:    m.ID,
		Timeout:   timeout,
	})
	if err != nil {
		return nil, err
	}
	res.Helm = hr
	return res, nil
}

// restoreExtra creates a backed-up object outside the manifest when it is
// missing. Fields the API server owns are dropped; a claim loses its
// binding to the old volume, so it comes back empty.
func restoreExtra(ctx context.Context, kc *kube.Client, dir string, m *Manifest, o Object) (ExtraResult, error) {
	res := ExtraResult{Object: o}
	if o.Kind == "PersistentVolumeClaim" {
		res.Note = "volume data is not in the backup: a claim that is created comes back empty"
	}
	gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
	live, err := kc.Get(ctx, gvk, o.Namespace, o.Name)
	if err != nil {
		return res, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore: reading %s: %w", o.Ref(), err))
	}
	if live != nil {
		res.Action = ExtraExists
		return res, nil
	}
	if kc.ReadOnly {
		res.Action = ExtraWouldCreate
		return res, nil
	}
	obj, err := ReadObject(dir, m, o.File)
	if err != nil {
		return res, err
	}
	clean(obj)
	ri, _, err := kc.Resource(gvk, o.Namespace)
	if err != nil {
		return res, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore: %s: %w", o.Ref(), err))
	}
	if _, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: "plate"}); err != nil {
		return res, exit.Wrap(exit.PlanFailed, fmt.Errorf("restore: creating %s: %w", o.Ref(), err))
	}
	res.Action = ExtraCreated
	return res, nil
}

// clean drops what the API server and controllers own from a backed-up
// object, so that it can be created again.
func clean(obj *unstructured.Unstructured) {
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
		"selfLink", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(obj.Object, "status")
	if obj.GetKind() == "PersistentVolumeClaim" {
		unstructured.RemoveNestedField(obj.Object, "spec", "volumeName")
		ann := obj.GetAnnotations()
		for k := range ann {
			if strings.HasPrefix(k, "pv.kubernetes.io/") || strings.HasPrefix(k, "volume.kubernetes.io/") || strings.HasPrefix(k, "volume.beta.kubernetes.io/") {
				delete(ann, k)
			}
		}
		obj.SetAnnotations(ann)
	}
}
