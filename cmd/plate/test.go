package main

import (
	"errors"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/plantest"
)

func newTestCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run plan tests (*_test.star) against scripted clusters",
		Long: `Test finds *_test.star files under the paths (default ".") and calls every
test_* function in them with a t value. t.run(plan, params={...}, cluster={...})
runs a plan against a scripted cluster (no real cluster is touched) and returns
its effects, the same events as the trace. See docs/testing.md.

Output and exit codes follow go test: each failing test with its failure
positions, a line per file, a summary line, and exit code 1 on any failure.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := plantest.Options{Paths: args, Verbose: g.Verbose > 0, Root: g.Root, Out: f.IO.Out, Plugins: f.Plugins, JSON: g.Output == "json"}
			if run != "" {
				re, err := regexp.Compile(run)
				if err != nil {
					return exit.Errorf(exit.Usage, "-run: %v", err)
				}
				o.Run = re
			}
			_, err := plantest.Run(cmd.Context(), o)
			var coded interface{ ExitCode() int }
			if errors.As(err, &coded) {
				return &silent{code: coded.ExitCode()}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "run only the tests whose names match this regular expression")
	return cmd
}
