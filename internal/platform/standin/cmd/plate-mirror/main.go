// Command plate-mirror builds the chart repository mirror of an
// environment's libraries from their stand-in charts and, with -serve,
// serves it on loopback until interrupted. The demo points a plan's mirror
// parameter at the URL it prints:
//
//	go run ./internal/platform/standin/cmd/plate-mirror -env environments/staging.yaml -dir /tmp/plate-mirror -serve 127.0.0.1:0
//	PLATE_MIRROR=http://127.0.0.1:40123
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/plate-dev/plate/internal/platform"
	"github.com/plate-dev/plate/internal/platform/standin"
)

func main() {
	envFile := flag.String("env", "environments/staging.yaml", "environment file whose libraries to mirror")
	dir := flag.String("dir", "", "directory for the packaged charts and index.yaml (required)")
	serve := flag.String("serve", "", "serve the mirror on this loopback address (127.0.0.1:0 picks a port) until interrupted")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "plate-mirror: -dir is required")
		os.Exit(2)
	}
	env, err := platform.Load(*envFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plate-mirror:", err)
		os.Exit(2)
	}
	idx, err := standin.Build(env, *dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plate-mirror:", err)
		os.Exit(1)
	}
	for name, versions := range idx.Entries {
		for _, v := range versions {
			fmt.Fprintf(os.Stderr, "plate-mirror: %s %s\n", name, v.Version)
		}
	}
	if *serve == "" {
		return
	}
	srv, err := standin.Serve(*dir, *serve)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plate-mirror:", err)
		os.Exit(1)
	}
	fmt.Printf("PLATE_MIRROR=%s\n", srv.URL)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = srv.Close()
}
