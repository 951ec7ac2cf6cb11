package helm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// storedSecret encodes r the way Helm's Secret driver stores it.
func storedSecret(t *testing.T, r *release.Release, modifiedAt int64) *corev1.Secret {
	t.Helper()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(js)
	_ = zw.Close()
	v := strconv.Itoa(r.Version)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "sh.helm.release.v1." + r.Name + ".v" + v, Namespace: r.Namespace,
			Labels: map[string]string{"owner": "helm", "name": r.Name, "version": v, "status": string(r.Info.Status), "modifiedAt": strconv.FormatInt(modifiedAt, 10)},
		},
		Type: StorageSecretType,
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(gz.Bytes()))},
	}
}

func storedRelease(name string, version int, status release.Status, deployed time.Time) *release.Release {
	return &release.Release{
		Name: name, Namespace: "stg", Version: version,
		Info:     &release.Info{Status: status, Description: "Upgrade complete", LastDeployed: helmtime.Time{Time: deployed}},
		Chart:    &chart.Chart{Metadata: &chart.Metadata{Name: name, Version: "1.2.0", AppVersion: "1.2"}, Values: map[string]any{"token": "CHART-DEFAULT-SECRET"}},
		Config:   map[string]any{"password": "CANARY-VALUE"},
		Manifest: "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {key: CANARY-MANIFEST}\n",
	}
}

func TestDecodeMeta(t *testing.T) {
	deployed := time.Date(2026, 3, 4, 11, 56, 0, 0, time.UTC)
	s := storedSecret(t, storedRelease("api", 3, release.StatusDeployed, deployed), 1700000000)
	m, err := DecodeMeta(s)
	if err != nil {
		t.Fatal(err)
	}
	want := ReleaseMeta{Name: "api", Namespace: "stg", Revision: 3, Status: "deployed", Chart: "api", ChartVersion: "1.2.0", AppVersion: "1.2", Description: "Upgrade complete", Updated: deployed}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("DecodeMeta (-want +got):\n%s", diff)
	}
	if got := fmt.Sprintf("%#v", m); bytes.Contains([]byte(got), []byte("CANARY")) || bytes.Contains([]byte(got), []byte("SECRET")) {
		t.Errorf("the metadata holds values or the manifest: %s", got)
	}

	// The payload's status wins over the label's; without a deploy time,
	// the Secret's modification time is the update time.
	r := storedRelease("api", 4, release.StatusFailed, time.Time{})
	s = storedSecret(t, r, 1700000000)
	s.Labels["status"] = "pending-upgrade"
	m, err = DecodeMeta(s)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "failed" || !m.Updated.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("status %q, updated %s", m.Status, m.Updated)
	}

	// An undecodable payload leaves what the labels say, with the error.
	s.Data["release"] = []byte("%%%")
	m, err = DecodeMeta(s)
	if err == nil {
		t.Error("decoded a broken payload")
	}
	want = ReleaseMeta{Name: "api", Namespace: "stg", Revision: 4, Status: "pending-upgrade", Updated: time.Unix(1700000000, 0)}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("labels only (-want +got):\n%s", diff)
	}
}

func TestLatestReleases(t *testing.T) {
	deployed := time.Date(2026, 3, 4, 11, 56, 0, 0, time.UTC)
	broken := storedSecret(t, storedRelease("db", 1, release.StatusDeployed, deployed), 1700000000)
	broken.Data["release"] = []byte("bm90IGpzb24=")
	other := storedSecret(t, storedRelease("api", 9, release.StatusDeployed, deployed), 0)
	other.Namespace = "prod"
	objs := []runtime.Object{
		storedSecret(t, storedRelease("api", 1, release.StatusSuperseded, deployed), 0),
		storedSecret(t, storedRelease("api", 2, release.StatusDeployed, deployed), 0),
		storedSecret(t, storedRelease("cache", 1, release.StatusFailed, deployed), 0),
		broken, other,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: "stg", Labels: map[string]string{"name": "api", "version": "7"}}},
	}
	cs := fake.NewClientset(objs...)
	got, err := LatestReleases(context.Background(), cs, "stg", nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range got {
		lines = append(lines, fmt.Sprintf("%s %d %s %s-%s", m.Name, m.Revision, m.Status, m.Chart, m.ChartVersion))
	}
	if diff := cmp.Diff([]string{"api 2 deployed api-1.2.0", "cache 1 failed cache-1.2.0", "db 1 deployed -"}, lines); diff != "" {
		t.Errorf("LatestReleases (-want +got):\n%s", diff)
	}

	got, err = LatestReleases(context.Background(), cs, "stg", []string{"cache", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "cache" {
		t.Errorf("named releases: %+v", got)
	}
}
