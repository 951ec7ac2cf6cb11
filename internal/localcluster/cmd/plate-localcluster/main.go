// Command plate-localcluster builds, starts and stops plate's local
// Kubernetes control plane (see internal/localcluster).
//
//	plate-localcluster build          build/cache the pinned binaries
//	plate-localcluster up [-nodes N]  start a control plane that outlives the command
//	plate-localcluster env            print export lines for the running one
//	plate-localcluster status         list control planes and their pids
//	plate-localcluster down [-all]    stop it (-all: every one, test leftovers too)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/internal/localcluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "build":
		err = build(ctx, args)
	case "up":
		err = up(ctx, args)
	case "down":
		err = down(args)
	case "env":
		err = env(args)
	case "status":
		err = status(args)
	case "-h", "--help", "help":
		usage()
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "plate-localcluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: plate-localcluster <command> [flags]

  build              build the pinned control-plane binaries into the cache
  up [-nodes N]      start a local control plane (context "plate-local") that
                     keeps running after the command; prints the KUBECONFIG
  env                print export lines for the running control plane
  status             list control planes and whether their processes run
  down [-all]        stop the control plane started by up (-all: every one,
                     including leftovers of killed test runs)

All take -name NAME (default "up") to pick a control plane.
Environment: PLATE_LOCALCLUSTER_CACHE (cache root), XDG_CACHE_HOME,
PLATE_LOCALCLUSTER_BIN (use prebuilt binaries), PLATE_LOCALCLUSTER_VERBOSE=1.
`)
}

func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	force := fs.Bool("force", false, "rebuild even if cached")
	_ = fs.Parse(args)
	start := time.Now()
	b, err := localcluster.EnsureBinaries(ctx, localcluster.BuildOptions{Log: os.Stderr, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "binaries ready in %s (%s)\n", b.Dir, time.Since(start).Round(time.Millisecond))
	fmt.Println(b.Dir)
	return nil
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	name := fs.String("name", "up", "control plane name")
	nodes := fs.Int("nodes", 1, "number of fake nodes")
	_ = fs.Parse(args)
	dir, err := localcluster.RunDir(*name)
	if err != nil {
		return err
	}
	if kc := filepath.Join(dir, "kubeconfig"); fileExists(filepath.Join(dir, "state.json")) {
		if c, err := localcluster.Attach(kc); err == nil && allRunning(c) {
			fmt.Fprintf(os.Stderr, "control plane %q already running at %s\n", *name, c.Server())
			printEnv(c)
			return nil
		}
	}
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Name:     *name,
		Nodes:    *nodes,
		Detached: true,
		Log:      os.Stderr,
	})
	if err != nil {
		return err
	}
	// The context must answer.
	v, err := c.Clientset().Discovery().ServerVersion()
	if err != nil {
		_ = c.Stop()
		return err
	}
	ns, err := c.Clientset().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		_ = c.Stop()
		return err
	}
	fmt.Fprintf(os.Stderr, "control plane %q up in %s: Kubernetes %s, %d node(s), API %s, logs and audit log in %s\n",
		*name, time.Since(start).Round(time.Millisecond), v.GitVersion, len(ns.Items), c.Server(), c.Dir())
	printEnv(c)
	return nil
}

func printEnv(c *localcluster.Cluster) {
	fmt.Printf("KUBECONFIG=%s\n", c.KubeconfigPath())
	fmt.Printf("export KUBECONFIG=%s\n", c.KubeconfigPath())
	fmt.Printf("export %s=%s\n", localcluster.EnvKubeconfig, c.KubeconfigPath())
}

func allRunning(c *localcluster.Cluster) bool {
	recs := c.Records()
	if len(recs) == 0 {
		return false
	}
	for _, r := range recs {
		if !localcluster.Running(r) {
			return false
		}
	}
	return true
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	name := fs.String("name", "up", "control plane name")
	all := fs.Bool("all", false, "stop every control plane, including leftovers of test runs")
	_ = fs.Parse(args)
	var dirs []string
	if *all {
		var err error
		if dirs, err = localcluster.RunDirs(); err != nil {
			return err
		}
	} else {
		dir, err := localcluster.RunDir(*name)
		if err != nil {
			return err
		}
		if !fileExists(filepath.Join(dir, "state.json")) {
			fmt.Fprintf(os.Stderr, "no control plane %q is running\n", *name)
			return nil
		}
		dirs = []string{dir}
	}
	var errs []error
	for _, dir := range dirs {
		n, err := localcluster.StopDir(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dir, err))
			continue
		}
		fmt.Fprintf(os.Stderr, "stopped %d process(es) of %s\n", n, filepath.Base(dir))
	}
	return errors.Join(errs...)
}

func env(args []string) error {
	fs := flag.NewFlagSet("env", flag.ExitOnError)
	name := fs.String("name", "up", "control plane name")
	_ = fs.Parse(args)
	dir, err := localcluster.RunDir(*name)
	if err != nil {
		return err
	}
	c, err := localcluster.Attach(filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return fmt.Errorf("no control plane %q (start one with `make cluster-up`): %w", *name, err)
	}
	if !allRunning(c) {
		return fmt.Errorf("control plane %q is not (fully) running; run `make cluster-down cluster-up`", *name)
	}
	printEnv(c)
	return nil
}

func status(args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	_ = fs.Parse(args)
	dirs, err := localcluster.RunDirs()
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		fmt.Println("no control planes")
	}
	for _, dir := range dirs {
		c, err := localcluster.Attach(filepath.Join(dir, "kubeconfig"))
		if err != nil {
			fmt.Printf("%s: %v\n", filepath.Base(dir), err)
			continue
		}
		st := c.State()
		owner := "detached"
		if st.OwnerPid != 0 {
			owner = fmt.Sprintf("owner pid %d", st.OwnerPid)
			if !localcluster.Running(localcluster.ProcRecord{Pid: st.OwnerPid, StartTicks: st.OwnerStartTicks}) {
				owner += " (gone: a leftover, `down -all` removes it)"
			}
		}
		fmt.Printf("%s: %s, %s, kubeconfig %s\n", st.Name, st.Server, owner, st.Kubeconfig)
		recs := c.Records()
		sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
		for _, r := range recs {
			state := "running"
			if !localcluster.Running(r) {
				state = "gone"
			}
			fmt.Printf("  %-24s pid %-8d %s\n", r.Name, r.Pid, state)
		}
	}
	return nil
}
