package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/builtins/docs"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/suggest"
)

// newHelpCmd extends cobra's help: `plate help builtins` lists the
// builtins and `plate help BUILTIN` shows one; anything else is help for a
// command.
func newHelpCmd(f *Factory, root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:               "help [command | builtins | BUILTIN]",
		Short:             "Help about a command or a plan builtin",
		ValidArgsFunction: completeHelp(f, root),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return root.Help()
			}
			if args[0] == "builtins" {
				fmt.Fprint(f.IO.Out, docs.Index(f.Plugins()))
				return nil
			}
			all, err := registry.All(f.Plugins())
			if err != nil {
				return err
			}
			for _, b := range all {
				if b.Name == args[0] {
					fmt.Fprint(f.IO.Out, docs.Terminal(b))
					return nil
				}
			}
			if c, _, err := root.Find(args); err == nil && c != root {
				return c.Help()
			}
			var names []string
			for _, b := range all {
				names = append(names, b.Name)
			}
			for _, c := range root.Commands() {
				names = append(names, c.Name())
			}
			return exit.Errorf(exit.Usage, "no command or builtin %q%s", args[0], suggest.DidYouMean(args[0], names))
		},
	}
}

func newDocsCmd(f *Factory) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Write the builtins reference (docs/builtins.md) from the builtins' source",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			md := docs.Markdown(f.Plugins())
			if out == "-" {
				fmt.Fprint(f.IO.Out, md)
				return nil
			}
			if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
				return exit.Errorf(exit.PlanFailed, "docs: %v", err)
			}
			fmt.Fprintf(f.IO.ErrOut, "wrote %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output-file", "f", "docs/builtins.md", "file to write, or - for stdout")
	return cmd
}
