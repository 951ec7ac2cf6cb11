package main

import (
	"fmt"
	"runtime"
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

// versionInfo is what `plate version -o json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	HelmSDK  string `json:"helm_sdk"`
	ClientGo string `json:"client_go"`
	Go       string `json:"go"`
}

func newVersionCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print plate's version and the Helm SDK and Kubernetes client versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ver, rev, helm, cg := buildInfo()
			if g.Output == "json" {
				return writeJSON(f.IO.Out, versionInfo{Version: ver, Commit: rev, HelmSDK: helm, ClientGo: cg, Go: runtime.Version()})
			}
			fmt.Fprintf(f.IO.Out, "plate %s (commit %s)\nhelm SDK %s\nclient-go %s\n", ver, rev, helm, cg)
			return nil
		},
	}
}
