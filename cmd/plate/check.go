package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/interp"
)

func newCheckCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check PLAN...",
		Short: "Parse and resolve plans and the modules they load, and list their parameters",
		Long: `Check parses and resolves each plan and every module it loads, without running
any builtin: syntax errors, unknown names, missing modules, load cycles and
names a module does not define are reported with file:line:col (exit code 2).
For each good plan it prints the parameters it declares.

Warnings do not change the exit code. One names a helper whose parameter
default would change scheduling: def deploy(..., needs = [plan_start]) that
passes needs on to a builtin makes every call that leaves it out a concurrent
step; default it to None (in sequence) and let callers ask for concurrency.`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return []string{"star"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pre, err := registry.Predeclared(f.Plugins())
			if err != nil {
				return err
			}
			var first error
			warned := map[string]bool{}
			asJSON := g.Output == "json"
			reports := []checkReport{}
			for _, path := range args {
				plan, err := interp.Open(path, g.Root, pre)
				if err == nil {
					var warnings []interp.Warning
					warnings, err = plan.CheckWithWarnings(pre)
					for _, w := range warnings {
						// A module loaded by several plans is reported once.
						if !warned[w.String()] {
							warned[w.String()] = true
							fmt.Fprintf(f.IO.ErrOut, "plate: warning: %s\n", w)
						}
					}
				}
				if err != nil {
					if first == nil {
						first = err
					}
					printError(f, err)
					if asJSON {
						reports = append(reports, checkReport{Plan: path, Error: errorReport(err)})
					}
					continue
				}
				if asJSON {
					reports = append(reports, checkReport{Plan: plan.Name, OK: true, Params: paramReports(plan.Params)})
					continue
				}
				fmt.Fprintf(f.IO.Out, "ok  %s\n", plan.Name)
				fmt.Fprintln(f.IO.Out, indent(plan.ParamTable()))
			}
			if asJSON {
				if err := writeJSON(f.IO.Out, reports); err != nil {
					return err
				}
			}
			if first != nil {
				var xe *exit.Error
				if errors.As(first, &xe) {
					return &silent{code: xe.Code}
				}
				return &silent{code: exit.Usage}
			}
			return nil
		},
	}
}

// checkReport is one plan in `plate check -o json` (an array of them).
type checkReport struct {
	Plan   string        `json:"plan"`
	OK     bool          `json:"ok"`
	Params []paramReport `json:"params,omitempty"`
	Error  *errorJSON    `json:"error,omitempty"`
}

type paramReport struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Default any      `json:"default"`
	Choices []string `json:"choices,omitempty"`
	Help    string   `json:"help,omitempty"`
	Pos     string   `json:"pos,omitempty"`
}

// errorJSON is an error as -o json prints it.
type errorJSON struct {
	ExitCode int    `json:"exit_code"`
	Pos      string `json:"pos,omitempty"`
	Message  string `json:"message"`
	Hint     string `json:"hint,omitempty"`
}

func errorReport(err error) *errorJSON {
	var xe *exit.Error
	if errors.As(err, &xe) {
		return &errorJSON{ExitCode: xe.Code, Pos: xe.Pos, Message: xe.Msg, Hint: xe.Hint}
	}
	return &errorJSON{ExitCode: exit.Code(err), Message: err.Error()}
}

func paramReports(ps []*interp.Param) []paramReport {
	out := make([]paramReport, 0, len(ps))
	for _, p := range ps {
		var def any
		if p.Default != nil {
			if v, err := builtins.ToGo(p.Default); err == nil {
				def = v
			} else {
				def = p.Default.String()
			}
		}
		out = append(out, paramReport{Name: p.Name, Type: p.Type, Default: def, Choices: p.ChoiceStrings(), Help: p.Help, Pos: p.Pos})
	}
	return out
}

// silent is an error already printed; it only carries the exit code.
type silent struct{ code int }

func (s *silent) Error() string { return "" }

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
