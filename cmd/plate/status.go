package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/status"
)

// StatusOptions are the options of `plate status`.
type StatusOptions struct {
	*GlobalOptions
	Releases []string
}

func newStatusCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &StatusOptions{GlobalOptions: g}
	return &cobra.Command{
		Use:   "status [RELEASE...]",
		Short: "Show the Helm releases, pods, services and ingresses of a namespace",
		Long: `Status shows what is deployed in a namespace (-n, default the context's): the
Helm releases with their revision, status, chart and app version; the pods with
ready/total, status, restarts, age and problems (CrashLoopBackOff, image pull
errors, unschedulable, ...); the Services with type, addresses and ports; the
Ingresses with hosts, TLS and addresses.

Given release names, it shows those releases and the objects they own. It only
reads (the client refuses writes), and never decodes the values stored with a
release. -o json prints the report as one JSON object.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Releases = args
			return statusRun(cmd.Context(), f, opts)
		},
	}
}

func statusRun(ctx context.Context, f *Factory, opts *StatusOptions) error {
	ns, err := opts.namespace()
	if err != nil {
		return err
	}
	cl, err := kube.Connect(opts.kubeSettings(), true)
	if err != nil {
		return exit.Wrap(exit.Usage, fmt.Errorf("cluster: %w", err))
	}
	r, err := status.Collect(ctx, cl.Clientset, status.Options{Namespace: ns, Releases: opts.Releases, Now: f.Now()})
	if err != nil {
		return exit.Wrap(exit.PlanFailed, fmt.Errorf("status of %s on %s: %w", ns, cl.Describe(), err))
	}
	if opts.Output == "json" {
		enc := json.NewEncoder(f.IO.Out)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err = fmt.Fprint(f.IO.Out, r.Text())
	return err
}
