package helm

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// StorageSecretType is the type of the Secrets in which Helm stores the
// revisions of a release (one Secret, sh.helm.release.v1.NAME.vN, per
// revision).
const StorageSecretType = "helm.sh/release.v1"

// ResourcePolicyKeep is the annotation value that keeps an object when its
// release is uninstalled or no longer renders it.
const (
	ResourcePolicyAnnotation = "helm.sh/resource-policy"
	ResourcePolicyKeep       = "keep"
)

// Snapshot is what a backup keeps of a release, read from the cluster.
type Snapshot struct {
	Name      string
	Namespace string
	// Latest is the latest stored revision.
	Latest Release
	// Target is the revision a restore brings back: the last deployed
	// one, else the latest. Its Manifest is set.
	Target Release
	// History lists every stored revision, oldest first.
	History []Revision
	// Storage are the storage Secrets of every stored revision, oldest
	// first, as the cluster holds them (without managed fields). They hold
	// the values in clear: never print them.
	Storage []*corev1.Secret
	// Values are the user-supplied values of Target; Computed are the
	// values its templates saw (merged with the chart's defaults).
	Values   map[string]any
	Computed map[string]any
	// Hooks is the manifest of Target's hooks.
	Hooks string
	// Chart describes Target's chart.
	Chart ChartRef
	// Kept are the objects of any stored revision annotated
	// helm.sh/resource-policy: keep, with the last revision that had them.
	Kept []KeptObject
}

// ChartRef identifies the chart of a revision.
type ChartRef struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	AppVersion string   `json:"app_version,omitempty"`
	Home       string   `json:"home,omitempty"`
	Sources    []string `json:"sources,omitempty"`
	// Digest is "sha256:HEX" over the chart as the release stores it
	// (metadata, templates, default values, schema and files). The release
	// does not keep the chart archive, so this is not the .tgz digest of a
	// chart repository.
	Digest string `json:"digest"`
}

// KeptObject is an object annotated helm.sh/resource-policy: keep.
type KeptObject struct {
	ObjectRef
	Revision int `json:"revision"`
}

// Pending reports whether the latest revision is pending-install,
// pending-upgrade or pending-rollback.
func (s *Snapshot) Pending() bool { return isPending(s.Latest.Status) }

func isPending(status string) bool {
	return release.Status(status).IsPending()
}

// IsPending reports whether status is one of Helm's pending states, the
// state a killed install, upgrade or rollback leaves behind.
func IsPending(status string) bool { return isPending(status) }

// storageSecrets lists the storage Secrets of release name, oldest revision
// first, with their decoded releases.
func storageSecrets(ctx context.Context, cs interface {
	List(context.Context, metav1.ListOptions) (*corev1.SecretList, error)
}, name string) ([]*corev1.Secret, []*release.Release, error) {
	list, err := cs.List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		return nil, nil, err
	}
	type pair struct {
		s *corev1.Secret
		r *release.Release
	}
	var ps []pair
	for i := range list.Items {
		s := &list.Items[i]
		if string(s.Type) != StorageSecretType {
			continue
		}
		r, err := DecodeStorage(s)
		if err != nil {
			return nil, nil, fmt.Errorf("storage secret %s: %w", s.Name, err)
		}
		if r.Name != name {
			continue
		}
		ps = append(ps, pair{cleanSecret(s), r})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].r.Version < ps[j].r.Version })
	secrets := make([]*corev1.Secret, len(ps))
	rels := make([]*release.Release, len(ps))
	for i, p := range ps {
		secrets[i], rels[i] = p.s, p.r
	}
	return secrets, rels, nil
}

// cleanSecret drops what the API server manages (managed fields) from a
// copy of s; the rest is kept as stored.
func cleanSecret(s *corev1.Secret) *corev1.Secret {
	c := s.DeepCopy()
	c.ManagedFields = nil
	if c.APIVersion == "" {
		c.APIVersion, c.Kind = "v1", "Secret"
	}
	return c
}

// DecodeStorage decodes the release a Helm storage Secret holds: its
// "release" key is base64 text of (usually gzipped) JSON.
func DecodeStorage(s *corev1.Secret) (*release.Release, error) {
	data, err := storagePayload(s, 0)
	if err != nil {
		return nil, err
	}
	var r release.Release
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("release payload: %w", err)
	}
	if r.Info == nil {
		r.Info = &release.Info{}
	}
	return &r, nil
}

// storagePayload returns the JSON a storage Secret holds: its "release"
// key is base64 text of (usually gzipped) JSON. A max above zero bounds the
// decompressed size.
func storagePayload(s *corev1.Secret, max int64) ([]byte, error) {
	raw, ok := s.Data["release"]
	if !ok {
		return nil, fmt.Errorf("no release key")
	}
	data, err := base64.StdEncoding.DecodeString(string(raw))
	if err != nil {
		return nil, fmt.Errorf("release payload: %w", err)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("release payload: %w", err)
		}
		var r io.Reader = zr
		if max > 0 {
			r = io.LimitReader(zr, max)
		}
		if data, err = io.ReadAll(r); err != nil {
			return nil, fmt.Errorf("release payload: %w", err)
		}
	}
	return data, nil
}

// StorageRevision returns the revision a storage Secret holds, from its
// labels (0 when it has none).
func StorageRevision(s *corev1.Secret) int {
	n, _ := strconv.Atoi(s.Labels["version"])
	return n
}

// Snapshot reads what a backup needs of release name in namespace: its
// storage Secrets, the values, manifest, hooks and chart of the revision a
// restore would bring back, and the objects any revision keeps. It returns
// nil, nil when the release has no stored revision. It only reads, so it
// works in dry passes.
func (c *Client) Snapshot(ctx context.Context, name, namespace string) (*Snapshot, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	kc, err := c.kube(ctx)
	if err != nil {
		return nil, err
	}
	secrets, rels, err := storageSecrets(ctx, kc.Clientset.CoreV1().Secrets(namespace), name)
	if err != nil {
		return nil, c.clusterErr(kc, fmt.Errorf("reading the stored revisions of release %s in namespace %s: %w", name, namespace, err))
	}
	if len(rels) == 0 {
		return nil, nil
	}
	latest := rels[len(rels)-1]
	target := latest
	for i := len(rels) - 1; i >= 0; i-- {
		if rels[i].Info.Status == release.StatusDeployed {
			target = rels[i]
			break
		}
	}
	s := &Snapshot{
		Name:      name,
		Namespace: namespace,
		Latest:    c.summarize(latest, kc.Mapper),
		Target:    c.summarize(target, kc.Mapper),
		Storage:   secrets,
		Values:    target.Config,
		Hooks:     hookManifests(target.Hooks),
		Chart:     chartRef(target.Chart),
	}
	if s.Values == nil {
		s.Values = map[string]any{}
	}
	if target.Chart != nil {
		computed, err := chartutil.CoalesceValues(target.Chart, target.Config)
		if err != nil {
			return nil, fmt.Errorf("computing the values of release %s rev %d: %w", name, target.Version, err)
		}
		s.Computed = computed.AsMap()
	}
	for _, r := range rels {
		s.History = append(s.History, revisionOf(r))
	}
	s.Kept = keptObjects(rels, c.scope(kc.Mapper, crdKinds(target.Chart, nil)), namespace)
	return s, nil
}

// keptObjects lists the objects annotated helm.sh/resource-policy: keep in
// the manifests of rels, each with the last revision that had it.
func keptObjects(rels []*release.Release, scope scopeFunc, namespace string) []KeptObject {
	last := map[string]KeptObject{}
	var order []string
	for _, r := range rels {
		objs, err := parseManifest(r.Manifest, scope, namespace)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if o.Annotations()[ResourcePolicyAnnotation] != ResourcePolicyKeep {
				continue
			}
			k := o.key()
			if _, ok := last[k]; !ok {
				order = append(order, k)
			}
			last[k] = KeptObject{ObjectRef: o.ObjectRef, Revision: r.Version}
		}
	}
	out := make([]KeptObject, 0, len(order))
	for _, k := range order {
		out = append(out, last[k])
	}
	return out
}

func chartRef(ch *chart.Chart) ChartRef {
	if ch == nil || ch.Metadata == nil {
		return ChartRef{}
	}
	return ChartRef{
		Name:       ch.Metadata.Name,
		Version:    ch.Metadata.Version,
		AppVersion: ch.Metadata.AppVersion,
		Home:       ch.Metadata.Home,
		Sources:    ch.Metadata.Sources,
		Digest:     ChartDigest(ch),
	}
}

// ChartDigest is "sha256:HEX" over a chart as a release stores it: its
// metadata, templates and files (by name), default values and schema, and
// those of its subcharts. Two renders of the same chart have the same
// digest.
func ChartDigest(ch *chart.Chart) string {
	h := sha256.New()
	var walk func(ch *chart.Chart, prefix string)
	walk = func(ch *chart.Chart, prefix string) {
		meta, _ := json.Marshal(ch.Metadata)
		vals, _ := json.Marshal(ch.Values)
		part := func(name string, data []byte) {
			fmt.Fprintf(h, "%s%s\x00%d\x00", prefix, name, len(data))
			h.Write(data)
		}
		part("Chart.yaml", meta)
		part("values", vals)
		part("values.schema.json", ch.Schema)
		var files []*chart.File
		files = append(files, ch.Templates...)
		files = append(files, ch.Files...)
		sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
		for _, f := range files {
			part(f.Name, f.Data)
		}
		deps := ch.Dependencies()
		sort.Slice(deps, func(i, j int) bool { return deps[i].Name() < deps[j].Name() })
		for _, d := range deps {
			walk(d, prefix+"charts/"+d.Name()+"/")
		}
	}
	walk(ch, "")
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// sameRevision reports whether two stored releases are the same revision:
// same version, chart, values and manifest (their status may differ).
func sameRevision(a, b *release.Release) bool {
	if a.Version != b.Version || a.Manifest != b.Manifest || !sameValues(a.Config, b.Config) {
		return false
	}
	return sameChart(a.Chart, b.Chart)
}

// validateStorage checks that backed-up storage Secrets belong to release
// name and decodes them, by revision.
func validateStorage(name string, storage []*corev1.Secret) (map[int]*release.Release, map[int]*corev1.Secret, []int, error) {
	byRev := map[int]*release.Release{}
	bySecret := map[int]*corev1.Secret{}
	var revs []int
	for _, s := range storage {
		if string(s.Type) != StorageSecretType {
			return nil, nil, nil, exit.Errorf(exit.Usage, "%s is not a Helm storage secret (type %q)", s.Name, s.Type)
		}
		r, err := DecodeStorage(s)
		if err != nil {
			return nil, nil, nil, exit.Errorf(exit.Usage, "storage secret %s: %v", s.Name, err)
		}
		if r.Name != name {
			return nil, nil, nil, exit.Errorf(exit.Usage, "storage secret %s holds release %s, not %s", s.Name, r.Name, name)
		}
		if _, dup := byRev[r.Version]; dup {
			return nil, nil, nil, exit.Errorf(exit.Usage, "two storage secrets hold rev %d of %s", r.Version, name)
		}
		byRev[r.Version] = r
		bySecret[r.Version] = s
		revs = append(revs, r.Version)
	}
	sort.Ints(revs)
	return byRev, bySecret, revs, nil
}

// hookManifests joins a release's hooks into one manifest.
func hookManifests(hooks []*release.Hook) string {
	var b strings.Builder
	for _, h := range hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String()
}
