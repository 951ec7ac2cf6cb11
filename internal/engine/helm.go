package engine

import (
	"github.com/plate-dev/plate/internal/helm"
)

// helmClient returns the Helm client of this pass, made on first use over the
// engine's Kubernetes client: in dry passes Helm gets the same transport
// that refuses writes, and the same discovery cache and REST mapper. In an
// offline dry run the client renders charts client-only for KubeVersion().
// A cluster that cannot be configured is reported by the Helm operations
// that need it, not here, so that client-only rendering still works.
func (e *Engine) helmClient() (*helm.Client, error) {
	e.helmOnce.Do(func() {
		opts := helm.Options{Offline: e.opts.Offline, KubeVersion: e.KubeVersion(), Planned: e.planned}
		if !e.opts.Offline {
			opts.Kube, opts.KubeErr = e.kubeClient()
			if ch, err := e.checker(); ch != nil && err == nil {
				opts.Check = ch.Check
			}
		}
		e.helm, e.helmErr = helm.New(opts)
	})
	return e.helm, e.helmErr
}
