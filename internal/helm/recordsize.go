package helm

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"

	"github.com/plate-dev/plate/internal/exit"
)

// MaxRecordSize is the most Helm's Secret storage driver can store for
// one revision: the API server refuses a Secret whose data exceeds 1 MiB
// (corev1.MaxSecretSize), and the record is the Secret's only data.
const MaxRecordSize = corev1.MaxSecretSize

// recordSize is the size of the record Helm's Secret driver stores for
// rel, computed as the driver encodes it: the release as JSON, gzipped at
// the best compression, then base64. The best compression is slow on a
// big manifest (a CRD-heavy chart's 5 MB: about 100 ms), so a fast
// compression answers first when its result is at most half the limit:
// the best compression is never larger than the fastest in practice, let
// alone twice as large. Only a record near or over the limit pays for the
// exact size.
func recordSize(rel *release.Release) (int, error) {
	b, err := json.Marshal(rel)
	if err != nil {
		return 0, err
	}
	fast, err := gzipLen(b, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	if n := base64.StdEncoding.EncodedLen(fast); n <= MaxRecordSize/2 {
		return n, nil
	}
	best, err := gzipLen(b, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	return base64.StdEncoding.EncodedLen(best), nil
}

// gzipLen is the length of b gzipped at level.
func gzipLen(b []byte, level int) (int, error) {
	var n countingWriter
	w, err := gzip.NewWriterLevel(&n, level)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return int(n), nil
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// checkRecordSize refuses a revision whose stored record would be too
// large for the storage driver, in every pass and before any write: Helm
// would otherwise create the release's namespace and objects, then fail
// to store it ("request entity too large").
func checkRecordSize(rel *release.Release, name, namespace string) error {
	if rel == nil {
		return nil
	}
	// The record holds what the run pass will store: a deployed revision.
	stored := *rel
	if stored.Info != nil {
		info := *stored.Info
		info.Status = release.StatusDeployed
		stored.Info = &info
	}
	n, err := recordSize(&stored)
	if err != nil {
		return nil
	}
	if n > MaxRecordSize {
		return exit.Errorf(exit.Usage, "release %s in namespace %s: its stored record would be %s after Helm's gzip and base64 encoding, more than the %s a revision can hold in Helm's Secret storage; make the values or the chart smaller (large files belong in a ConfigMap or a volume of their own)",
			name, namespace, mib(n), mib(MaxRecordSize))
	}
	return nil
}

func mib(n int) string {
	return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
}
