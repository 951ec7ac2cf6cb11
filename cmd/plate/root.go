package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/iostreams"
)

// Factory holds what commands need from the outside world, so tests can
// swap it: streams, the clock and the builtin families.
type Factory struct {
	IO      *iostreams.IOStreams
	Now     func() time.Time
	Plugins func() []builtins.Plugin
	// Interrupts delivers the first SIGINT/SIGTERM (signalInterrupts); Main
	// turns it into the cancellation of the context every command gets.
	// Tests inject a channel here; nil means no interrupts.
	Interrupts func() (<-chan struct{}, func())
}

func defaultFactory() *Factory {
	return &Factory{
		IO:         iostreams.System(),
		Now:        time.Now,
		Plugins:    registry.Plugins,
		Interrupts: signalInterrupts,
	}
}

// GlobalOptions are the flags every command shares.
type GlobalOptions struct {
	Kubeconfig string
	Context    string
	Namespace  string
	Output     string
	NoColor    bool
	Verbose    int
	Root       string
}

// NewRootCmd builds the plate command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:   "plate",
		Short: "Run Kubernetes deploy plans written in Starlark",
		Long: `plate runs deploy plans written in Starlark. A plan's builtins install Helm
charts, wait for readiness, back up and roll back, on a real cluster through the
Helm SDK and client-go; no helm or kubectl binary is needed.

  plate run --dry-run plans/deploy_stg.star   print every side effect, write nothing
  plate run plans/deploy_stg.star             preflight, then deploy

Exit codes: 0 ok, 1 plan failed, 2 bad input or usage, 3 timeout,
4 not confirmed or aborted, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	pf := root.PersistentFlags()
	pf.StringVar(&g.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&g.Context, "context", "", "kubeconfig context to use (default the current context)")
	pf.StringVarP(&g.Namespace, "namespace", "n", "", "default namespace for builtins (default the context's)")
	pf.StringVarP(&g.Output, "output", "o", "text", "output format: text or json (JSON lines, see docs/trace.md)")
	pf.BoolVar(&g.NoColor, "no-color", false, "disable colour (also NO_COLOR)")
	pf.CountVarP(&g.Verbose, "verbose", "v", "more detail: arguments, call stacks, diffs (repeat for more)")
	pf.StringVar(&g.Root, "root", "", "project root for // paths (default: nearest .plateroot or .git above the plan)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if g.Output != "text" && g.Output != "json" {
			return exit.Errorf(exit.Usage, "--output: want text or json, got %q", g.Output)
		}
		if g.NoColor {
			f.IO.NoColor = true
		}
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exit.Error{Code: exit.Usage, Msg: err.Error(), Hint: fmt.Sprintf("see '%s --help'", cmd.CommandPath())}
	})
	root.AddCommand(
		newRunCmd(f, g, nil),
		newCheckCmd(f, g),
		newVersionCmd(f, g),
		newDocsCmd(f),
		newTestCmd(f, g),
		newStatusCmd(f, g),
		newBackupCmd(f, g),
		newRollbackCmd(f, g),
		newHistoryCmd(f, g),
		newRecoverCmd(f, g),
		newApplyCmd(f, g),
		newUninstallCmd(f, g),
		newListCmd(f, g),
		newReleaseTestCmd(f, g),
		newInitCmd(f),
	)
	root.SetHelpCommand(newHelpCmd(f, root))
	_ = root.RegisterFlagCompletionFunc("namespace", completeNamespaces(g))
	_ = root.RegisterFlagCompletionFunc("context", completeContexts(g))
	return root
}

// Main runs plate with args and returns the exit code. Signals are handled
// here, once for every command: the first SIGINT or SIGTERM cancels the
// context the command gets (cmd.Context()), which then stops cleanly (exit
// code 130); a second one exits at once with code 130.
func Main(args []string, f *Factory) int {
	ctx, stop := interruptContext(context.Background(), f.Interrupts)
	defer stop()
	root := NewRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exit.OK
	}
	var s *silent
	if errors.As(err, &s) {
		return s.code
	}
	printError(f, err)
	return exit.Code(usageCode(err))
}

// usageCode gives cobra's own argument errors (unknown command, wrong
// number of arguments) the usage exit code.
func usageCode(err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		return err
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand", "invalid argument"} {
		if strings.Contains(msg, p) {
			return &exit.Error{Code: exit.Usage, Msg: msg}
		}
	}
	return err
}

func printError(f *Factory, err error) {
	w := f.IO.ErrOut
	var xe *exit.Error
	if !errors.As(err, &xe) {
		fmt.Fprintf(w, "plate: %v\n", err)
		return
	}
	// The traceback first and the error after it, as Python prints them:
	// the reason is the last thing a user sees (the hint aside). The lines
	// that detail an error of the plan (a wait's objects and events) come
	// before its first line, which ends the output.
	if xe.Backtrace != "" && xe.Code != exit.Aborted {
		fmt.Fprintln(w, "Traceback (most recent call last):")
		fmt.Fprintln(w, strings.TrimRight(xe.Backtrace, "\n"))
		first, detail, multi := strings.Cut(xe.Msg, "\n")
		if multi {
			fmt.Fprintln(w, strings.TrimRight(detail, "\n"))
			cp := *xe
			cp.Msg = first
			xe = &cp
		}
	}
	fmt.Fprintf(w, "plate: %s\n", xe.Error())
	if xe.Hint != "" {
		fmt.Fprintln(w, xe.Hint)
	}
}
