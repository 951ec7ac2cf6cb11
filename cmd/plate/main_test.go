package main

import (
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/plate-dev/plate/internal/localcluster"
)

// TestMain shares one local control plane among this package's end-to-end
// tests (none is started under -short).
func TestMain(m *testing.M) {
	klog.SetLogger(logr.Discard())
	localcluster.Main(m)
}
