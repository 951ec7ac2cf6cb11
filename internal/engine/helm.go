package engine

import (
	"runtime"
	"sync"
	"weak"

	"github.com/plate-dev/plate/internal/helm"
)

// helmState is an engine's Helm client, made on first use.
type helmState struct {
	once sync.Once
	c    *helm.Client
	err  error
}

// helmStates maps each engine (weakly, so that a finished pass is
// collected) to its Helm client. It lives beside the Engine rather than in
// it so that the Helm adapter stays in this file.
var helmStates sync.Map // weak.Pointer[Engine] → *helmState

// Helm returns the Helm client of this pass, made on first use over the
// engine's Kubernetes client: in dry passes Helm gets the same transport
// that refuses writes, and the same discovery cache and REST mapper. In an
// offline dry run the client renders charts client-only for KubeVersion().
// A cluster that cannot be configured is reported by the Helm operations
// that need it, not here, so that client-only rendering still works.
func (e *Engine) Helm() (*helm.Client, error) {
	key := weak.Make(e)
	v, loaded := helmStates.LoadOrStore(key, &helmState{})
	st := v.(*helmState)
	if !loaded {
		runtime.AddCleanup(e, func(k weak.Pointer[Engine]) { helmStates.Delete(k) }, key)
	}
	st.once.Do(func() {
		opts := helm.Options{Offline: e.Offline(), KubeVersion: e.KubeVersion()}
		if !e.Offline() {
			opts.Kube, opts.KubeErr = e.Kube()
		}
		st.c, st.err = helm.New(opts)
	})
	return st.c, st.err
}
