package helm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/plate-dev/plate/internal/localcluster"
)

// TestMain shares one local control plane among the package's cluster
// tests (none under -short), and keeps the developer's Helm configuration
// out of every test.
func TestMain(m *testing.M) {
	os.Setenv("HELM_CONFIG_HOME", filepath.Join(os.TempDir(), "plate-helm-test-no-config"))
	os.Unsetenv("HELM_REPOSITORY_CACHE")
	os.Unsetenv("HELM_REPOSITORY_CONFIG")
	os.Unsetenv("HELM_REGISTRY_CONFIG")
	localcluster.Main(m)
}
