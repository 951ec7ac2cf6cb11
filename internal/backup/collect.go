package backup

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
)

// Part is one release's share of a backup, read from the cluster and not
// yet written.
type Part struct {
	Release Release
	// Files are the part's files by path relative to the backup directory.
	Files map[string][]byte
	// Skip says why nothing is saved (the release does not exist yet, or
	// is uninstalled); Files is empty then.
	Skip string
	// Unread is true when the pass read nothing (an offline dry run): the
	// release may or may not exist.
	Unread bool
	// Scripted is true in a plan test: the release comes from the scripted
	// cluster; its objects and files are not known.
	Scripted bool
}

// Size is the total size of the part's files.
func (p *Part) Size() Size {
	var n int
	for _, d := range p.Files {
		n += len(d)
	}
	return Size(n)
}

// Saved counts the live objects the part holds: those of the manifest
// plus those outside it.
func (p *Part) Saved() (manifest, extra int) {
	for _, o := range p.Release.Objects {
		if !o.Missing {
			manifest++
		}
	}
	return manifest, len(p.Release.Extra)
}

// Collect reads what a backup holds of release name in namespace. It only
// reads, so it works in dry passes. A release that does not exist yet is a
// Part with Skip set, not an error.
func Collect(ctx context.Context, kc *kube.Client, hc *helm.Client, name, namespace string) (*Part, error) {
	snap, err := hc.Snapshot(ctx, name, namespace)
	if err != nil {
		return nil, err
	}
	p := &Part{Release: Release{Name: name, Namespace: namespace}, Files: map[string][]byte{}}
	if snap == nil {
		p.Skip = fmt.Sprintf("release %s does not exist in namespace %s yet", name, namespace)
		return p, nil
	}
	if snap.Latest.Status == helm.StatusUninstalled {
		p.Skip = fmt.Sprintf("release %s in namespace %s is uninstalled (rev %d, history kept): no live objects", name, namespace, snap.Latest.Revision)
		return p, nil
	}
	dir := path.Join("releases", namespace, name)
	r := &p.Release
	r.Dir = dir
	r.Revision = snap.Latest.Revision
	r.Status = snap.Latest.Status
	r.RestoreRevision = snap.Target.Revision
	r.Chart = snap.Chart
	if snap.Pending() {
		r.Notes = append(r.Notes, fmt.Sprintf("rev %d is %s: an operation did not finish; a restore brings back rev %d", snap.Latest.Revision, snap.Latest.Status, snap.Target.Revision))
	} else if snap.Target.Revision != snap.Latest.Revision {
		r.Notes = append(r.Notes, fmt.Sprintf("the latest rev %d is %s; a restore brings back rev %d, the last deployed", snap.Latest.Revision, snap.Latest.Status, snap.Target.Revision))
	}

	put := func(file string, v any) error {
		data, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("backup of %s: %s: %w", name, file, err)
		}
		p.Files[file] = data
		return nil
	}
	for _, s := range snap.Storage {
		f := path.Join(dir, "storage", s.Name+".yaml")
		if err := put(f, s); err != nil {
			return nil, err
		}
		rev := helm.StorageRevision(s)
		status := s.Labels["status"]
		r.Revisions = append(r.Revisions, Revision{Revision: rev, Status: status, File: f})
	}
	r.Values = path.Join(dir, "values.yaml")
	if err := put(r.Values, snap.Values); err != nil {
		return nil, err
	}
	if snap.Computed != nil {
		r.ComputedValues = path.Join(dir, "values-computed.yaml")
		if err := put(r.ComputedValues, snap.Computed); err != nil {
			return nil, err
		}
	}
	r.Manifest = path.Join(dir, "manifest.yaml")
	p.Files[r.Manifest] = []byte(snap.Target.Manifest)
	if strings.TrimSpace(snap.Hooks) != "" {
		r.Hooks = path.Join(dir, "hooks.yaml")
		p.Files[r.Hooks] = []byte(snap.Hooks)
	}

	inManifest := map[string]bool{}
	var live []*unstructured.Unstructured
	r.Objects = []Object{}
	for _, ref := range snap.Target.Objects {
		o := Object{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
		inManifest[key(o.APIVersion, o.Kind, o.Namespace, o.Name)] = true
		obj, err := kc.Get(ctx, schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind), ref.Namespace, ref.Name)
		if err != nil {
			return nil, fmt.Errorf("backup of %s: reading %s: %w", name, o.Ref(), err)
		}
		if obj == nil {
			o.Missing = true
			r.Notes = append(r.Notes, o.Ref()+" of the manifest did not exist")
			r.Objects = append(r.Objects, o)
			continue
		}
		o.Keep = obj.GetAnnotations()[helm.ResourcePolicyAnnotation] == helm.ResourcePolicyKeep
		o.File = objectFile(path.Join(dir, "live"), ref.APIVersion, ref.Kind, ref.Namespace, ref.Name)
		if err := put(o.File, strip(obj).Object); err != nil {
			return nil, err
		}
		live = append(live, obj)
		r.Objects = append(r.Objects, o)
	}

	for _, need := range needed(ctx, kc, live, snap.Kept) {
		k := key(need.APIVersion, need.Kind, need.Namespace, need.Name)
		if inManifest[k] {
			continue
		}
		inManifest[k] = true
		obj, err := kc.Get(ctx, schema.FromAPIVersionAndKind(need.APIVersion, need.Kind), need.Namespace, need.Name)
		if err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%s (%s) could not be read: %v", need.Ref(), need.Reason, err))
			continue
		}
		if obj == nil {
			if !need.optional {
				r.Notes = append(r.Notes, fmt.Sprintf("%s (%s) does not exist", need.Ref(), need.Reason))
			}
			continue
		}
		o := need.Object
		o.Keep = obj.GetAnnotations()[helm.ResourcePolicyAnnotation] == helm.ResourcePolicyKeep
		o.File = objectFile(path.Join(dir, "extra"), o.APIVersion, o.Kind, o.Namespace, o.Name)
		if err := put(o.File, strip(obj).Object); err != nil {
			return nil, err
		}
		live = append(live, obj)
		r.Extra = append(r.Extra, o)
	}

	for _, obj := range live {
		if obj.GetKind() != "PersistentVolumeClaim" {
			continue
		}
		v := Volume{Namespace: obj.GetNamespace(), Claim: obj.GetName()}
		v.StorageClass, _, _ = unstructured.NestedString(obj.Object, "spec", "storageClassName")
		v.VolumeName, _, _ = unstructured.NestedString(obj.Object, "spec", "volumeName")
		v.Capacity, _, _ = unstructured.NestedString(obj.Object, "status", "capacity", "storage")
		if v.Capacity == "" {
			v.Capacity, _, _ = unstructured.NestedString(obj.Object, "spec", "resources", "requests", "storage")
		}
		r.Volumes = append(r.Volumes, v)
	}
	return p, nil
}

func key(apiVersion, kind, namespace, name string) string {
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return group + "/" + kind + "/" + namespace + "/" + name
}

// strip returns a copy of obj without its managed fields (bookkeeping of
// the API server that nobody restores).
func strip(obj *unstructured.Unstructured) *unstructured.Unstructured {
	c := obj.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	return c
}

// need is an object outside the manifest that the release relies on.
type need struct {
	Object
	// optional needs are not reported when missing (a secret an optional
	// volume names, say).
	optional bool
}

// needed lists the objects outside a release's manifest that its live
// objects rely on: the claims of StatefulSet volumeClaimTemplates, the TLS
// Secrets of Ingresses and cert-manager Certificates (made by operators),
// the Secrets, ConfigMaps and claims pod templates use, and the objects
// annotated helm.sh/resource-policy: keep that earlier revisions left.
func needed(ctx context.Context, kc *kube.Client, live []*unstructured.Unstructured, kept []helm.KeptObject) []need {
	var out []need
	add := func(apiVersion, kind, ns, name, reason string, optional bool) {
		if name == "" {
			return
		}
		out = append(out, need{Object: Object{APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Reason: reason}, optional: optional})
	}
	for _, obj := range live {
		ns, ref := obj.GetNamespace(), obj.GetKind()+"/"+obj.GetName()
		gv, _ := schema.ParseGroupVersion(obj.GetAPIVersion())
		switch {
		case obj.GetKind() == "StatefulSet" && gv.Group == "apps":
			out = append(out, claimsOf(ctx, kc, obj)...)
		case obj.GetKind() == "Ingress" && gv.Group == "networking.k8s.io":
			tls, _, _ := unstructured.NestedSlice(obj.Object, "spec", "tls")
			for _, t := range tls {
				tm, _ := t.(map[string]any)
				name, _ := tm["secretName"].(string)
				add("v1", "Secret", ns, name, "TLS secret of Ingress "+obj.GetName(), false)
			}
		case obj.GetKind() == "Certificate" && gv.Group == "cert-manager.io":
			name, _, _ := unstructured.NestedString(obj.Object, "spec", "secretName")
			add("v1", "Secret", ns, name, "secret of Certificate "+obj.GetName()+" (made by cert-manager)", false)
		}
		spec := podSpec(obj)
		if spec == nil {
			continue
		}
		for _, r := range podRefs(spec) {
			add("v1", r.kind, ns, r.name, "used by "+ref, r.optional)
		}
	}
	for _, k := range kept {
		add(k.APIVersion, k.Kind, k.Namespace, k.Name, fmt.Sprintf("helm.sh/resource-policy: keep (rev %d)", k.Revision), true)
	}
	return out
}

// claimsOf lists the claims a StatefulSet's volumeClaimTemplates made:
// <template>-<statefulset>-<ordinal>, scaled-down ordinals included.
func claimsOf(ctx context.Context, kc *kube.Client, sts *unstructured.Unstructured) []need {
	tmpls, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	if len(tmpls) == 0 {
		return nil
	}
	list, err := kc.Clientset.CoreV1().PersistentVolumeClaims(sts.GetNamespace()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []need
	for _, t := range tmpls {
		tm, _ := t.(map[string]any)
		md, _ := tm["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if name == "" {
			continue
		}
		re := regexp.MustCompile("^" + regexp.QuoteMeta(name+"-"+sts.GetName()+"-") + `\d+$`)
		var names []string
		for _, pvc := range list.Items {
			if re.MatchString(pvc.Name) {
				names = append(names, pvc.Name)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, need{Object: Object{APIVersion: "v1", Kind: "PersistentVolumeClaim", Namespace: sts.GetNamespace(), Name: n,
				Reason: fmt.Sprintf("volumeClaimTemplate %s of StatefulSet %s", name, sts.GetName())}})
		}
	}
	return out
}

// podSpec returns the pod spec of a workload or pod, or nil.
func podSpec(obj *unstructured.Unstructured) map[string]any {
	var fields []string
	switch obj.GetKind() {
	case "Pod":
		fields = []string{"spec"}
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
		fields = []string{"spec", "template", "spec"}
	case "CronJob":
		fields = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	default:
		return nil
	}
	m, ok, _ := unstructured.NestedMap(obj.Object, fields...)
	if !ok {
		return nil
	}
	return m
}

type podRef struct {
	kind, name string
	optional   bool
}

// podRefs lists the Secrets, ConfigMaps and claims a pod spec names.
func podRefs(spec map[string]any) []podRef {
	var out []podRef
	opt := func(m map[string]any) bool { b, _ := m["optional"].(bool); return b }
	for _, v := range slice(spec["volumes"]) {
		if s := mapOf(v["secret"]); s != nil {
			out = append(out, podRef{"Secret", str(s["secretName"]), opt(s)})
		}
		if c := mapOf(v["configMap"]); c != nil {
			out = append(out, podRef{"ConfigMap", str(c["name"]), opt(c)})
		}
		if c := mapOf(v["persistentVolumeClaim"]); c != nil {
			out = append(out, podRef{"PersistentVolumeClaim", str(c["claimName"]), false})
		}
		if pr := mapOf(v["projected"]); pr != nil {
			for _, src := range slice(pr["sources"]) {
				if s := mapOf(src["secret"]); s != nil {
					out = append(out, podRef{"Secret", str(s["name"]), opt(s)})
				}
				if c := mapOf(src["configMap"]); c != nil && str(c["name"]) != "kube-root-ca.crt" {
					out = append(out, podRef{"ConfigMap", str(c["name"]), opt(c)})
				}
			}
		}
	}
	for _, s := range slice(spec["imagePullSecrets"]) {
		out = append(out, podRef{"Secret", str(s["name"]), true})
	}
	for _, field := range []string{"initContainers", "containers"} {
		for _, c := range slice(spec[field]) {
			for _, e := range slice(c["envFrom"]) {
				if s := mapOf(e["secretRef"]); s != nil {
					out = append(out, podRef{"Secret", str(s["name"]), opt(s)})
				}
				if m := mapOf(e["configMapRef"]); m != nil {
					out = append(out, podRef{"ConfigMap", str(m["name"]), opt(m)})
				}
			}
			for _, e := range slice(c["env"]) {
				vf := mapOf(e["valueFrom"])
				if vf == nil {
					continue
				}
				if s := mapOf(vf["secretKeyRef"]); s != nil {
					out = append(out, podRef{"Secret", str(s["name"]), opt(s)})
				}
				if m := mapOf(vf["configMapKeyRef"]); m != nil {
					out = append(out, podRef{"ConfigMap", str(m["name"]), opt(m)})
				}
			}
		}
	}
	return out
}

func slice(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }

func str(v any) string { s, _ := v.(string); return s }
