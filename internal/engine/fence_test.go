package engine

import (
	"context"
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/trace"
)

// Every write of a run pass asks the fence first, and a fence that says no
// stops the write before it reaches any cluster (there is none here); dry
// passes are not fenced (they cannot write).
func TestWritesAreFenced(t *testing.T) {
	lost := errors.New("this run lost its lock")
	ctx := context.Background()
	writes := map[string]func(e *Engine) error{
		"install": func(e *Engine) error {
			_, err := e.Releases().Install(ctx, helm.InstallRequest{Release: "a", Namespace: "n"})
			return err
		},
		"uninstall": func(e *Engine) error {
			_, err := e.Releases().Uninstall(ctx, helm.UninstallRequest{Release: "a", Namespace: "n"})
			return err
		},
		"rollback": func(e *Engine) error {
			_, err := e.Releases().Rollback(ctx, helm.RollbackRequest{Release: "a", Namespace: "n"})
			return err
		},
		"verdict": func(e *Engine) error {
			_, err := e.Releases().MarkFailed(ctx, helm.VerdictRequest{Release: "a", Namespace: "n"})
			return err
		},
		"apply": func(e *Engine) error {
			_, err := e.Objects().Apply(ctx, []*unstructured.Unstructured{{Object: map[string]any{"kind": "ConfigMap"}}}, "n")
			return err
		},
		"delete": func(e *Engine) error { _, err := e.Objects().Delete(ctx, "ConfigMap", "n", "x"); return err },
	}
	unreachable := kube.Settings{Kubeconfig: "/nonexistent/kubeconfig"}
	for name, write := range writes {
		asked := 0
		fence := func(context.Context) error { asked++; return lost }
		run := New(Options{Pass: trace.Run, Kube: unreachable, Fence: fence})
		if err := write(run); !errors.Is(err, lost) || asked != 1 {
			t.Errorf("%s in a run: %v, fence asked %d times", name, err, asked)
		}
		asked = 0
		dry := New(Options{Pass: trace.Preflight, Kube: unreachable, Fence: fence})
		if err := write(dry); errors.Is(err, lost) || asked != 0 {
			t.Errorf("%s in a preflight: %v, fence asked %d times", name, err, asked)
		}
	}
}
