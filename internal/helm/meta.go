package helm

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
)

// ReleaseMeta is what a storage Secret says about its revision without its
// values or manifest: enough to list releases (plate status) without
// holding anything a release may keep secret.
type ReleaseMeta struct {
	Name         string
	Namespace    string
	Revision     int
	Status       string
	Chart        string
	ChartVersion string
	AppVersion   string
	// Description is the description Helm stored with the revision, as
	// stored.
	Description string
	// Updated is when the revision was deployed, else when its Secret was
	// last modified (zero when neither is known).
	Updated time.Time
}

// metaPayload is the part of a stored release that ReleaseMeta needs. The
// values (config), the manifest, the hooks and the chart's files are not
// fields, so decoding skips them.
type metaPayload struct {
	Info struct {
		LastDeployed helmtime.Time `json:"last_deployed"`
		Description  string        `json:"description"`
		Status       string        `json:"status"`
	} `json:"info"`
	Chart struct {
		Metadata struct {
			Name       string `json:"name"`
			Version    string `json:"version"`
			AppVersion string `json:"appVersion"`
		} `json:"metadata"`
	} `json:"chart"`
}

// maxMetaPayload bounds the decompressed payload DecodeMeta reads.
const maxMetaPayload = 64 << 20

// DecodeMeta reads the metadata of the revision a storage Secret holds. The
// Secret's labels give the name, revision, status and modification time;
// the payload adds the chart, the app version, the description and the
// deploy time, and its status wins over the label's. When the payload
// cannot be decoded, the metadata from the labels is returned with the
// error.
func DecodeMeta(s *corev1.Secret) (ReleaseMeta, error) {
	m := ReleaseMeta{Name: s.Labels["name"], Namespace: s.Namespace, Revision: StorageRevision(s), Status: s.Labels["status"]}
	if ts, err := strconv.ParseInt(s.Labels["modifiedAt"], 10, 64); err == nil {
		m.Updated = time.Unix(ts, 0)
	}
	data, err := storagePayload(s, maxMetaPayload)
	if err != nil {
		return m, err
	}
	var p metaPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return m, fmt.Errorf("release payload: %w", err)
	}
	m.Chart, m.ChartVersion, m.AppVersion = p.Chart.Metadata.Name, p.Chart.Metadata.Version, p.Chart.Metadata.AppVersion
	m.Description = p.Info.Description
	if !p.Info.LastDeployed.IsZero() {
		m.Updated = p.Info.LastDeployed.Time
	}
	if p.Info.Status != "" {
		m.Status = p.Info.Status
	}
	return m, nil
}

// LatestReleases reads the metadata of the latest stored revision of each
// release in namespace (of the releases named, when names is not empty),
// sorted by name. A revision whose payload cannot be decoded is listed with
// what its labels say.
func LatestReleases(ctx context.Context, cs kubernetes.Interface, namespace string, names []string) ([]ReleaseMeta, error) {
	sel := labels.SelectorFromSet(labels.Set{"owner": "helm"})
	if len(names) > 0 {
		req, err := labels.NewRequirement("name", selection.In, names)
		if err != nil {
			return nil, err
		}
		sel = sel.Add(*req)
	}
	secrets, err := cs.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	latest := map[string]*corev1.Secret{}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		name := s.Labels["name"]
		if name == "" {
			continue
		}
		if cur, ok := latest[name]; !ok || StorageRevision(s) > StorageRevision(cur) {
			latest[name] = s
		}
	}
	out := make([]ReleaseMeta, 0, len(latest))
	for _, s := range latest {
		m, _ := DecodeMeta(s)
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
