package helm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ValuesDigest is "sha256:HEX" over merged values (JSON, keys sorted).
func ValuesDigest(vals map[string]any) string {
	b, _ := json.Marshal(vals)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ManifestDigest is "sha256:HEX" over a release manifest.
func ManifestDigest(manifest string) string {
	sum := sha256.Sum256([]byte(manifest))
	return "sha256:" + hex.EncodeToString(sum[:])
}
