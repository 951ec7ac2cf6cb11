package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = ""
)

// buildInfo reports plate's version and commit and the versions of the
// Helm SDK and Kubernetes client it was built with.
func buildInfo() (ver, rev, helm, clientGo string) {
	ver, rev = version, commit
	helm, clientGo = "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && rev == "" {
				rev = s.Value
			}
		}
		for _, d := range bi.Deps {
			switch d.Path {
			case "helm.sh/helm/v3":
				helm = d.Version
			case "k8s.io/client-go":
				clientGo = d.Version
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	return
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print plate's version and the Helm SDK and Kubernetes client versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ver, rev, helm, cg := buildInfo()
			fmt.Fprintf(f.IO.Out, "plate %s (commit %s)\nhelm SDK %s\nclient-go %s\n", ver, rev, helm, cg)
			return nil
		},
	}
}
