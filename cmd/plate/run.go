package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/selector"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// RunOptions are the options of `plate run`.
type RunOptions struct {
	*GlobalOptions
	Plan              string
	Params            []string
	DryRun            bool
	Yes               bool
	Offline           bool
	KubeVersion       string
	LockNamespace     string
	Concurrency       int
	Graph             bool
	RollbackOnFailure bool
	DetailedExitcode  bool
	SavePlan          string
	MaxSteps          uint64
	// Diff is --diff: none, summary or full.
	Diff string
	// Strict is --strict: a values key the chart does not have is an
	// error, not a warning.
	Strict    bool
	Selectors []string
	MaxMemory string
}

func newRunCmd(f *Factory, g *GlobalOptions, runF func(*RunOptions) error) *cobra.Command {
	opts := &RunOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "run PLAN",
		Short: "Run a plan (preflight first), or print what it would do with --dry-run",
		Long: `Run a plan.

Without --dry-run, plate first evaluates the whole plan in a preflight pass that
writes nothing and prints the planned trace; a plan that fails there (a bad
argument, a missing file, a confirmation that cannot be asked) makes no write
at all. Only then does the real pass run.

With --dry-run only the preflight-like pass runs: every side effect is printed
with its plan file:line, reads still happen (charts render against the cluster,
diffs are computed), nothing is written.`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return []string{"star"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Plan = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runRun(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Params, "param", "p", nil, "set a plan parameter: -p name=value (repeatable)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the trace of every side effect and write nothing")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "answer yes to every confirm() (recorded in the trace)")
	fl.BoolVar(&opts.Offline, "offline", false, "with --dry-run: contact no cluster; render and validate locally")
	fl.StringVar(&opts.KubeVersion, "kube-version", kube.DefaultVersion, "with --offline: the Kubernetes version charts are rendered for")
	fl.StringVar(&opts.LockNamespace, "lock-namespace", "default", "namespace of the Lease that keeps two runs of a plan for one environment apart")
	fl.StringVar(&opts.Diff, "diff", string(trace.DiffFull), "how much of each change the dry run and the preflight show: none, summary (the objects and values keys that change) or full (their diffs too)")
	fl.BoolVar(&opts.Strict, "strict", false, "a values key (of a values file or set=) that the chart does not have is an error, not a warning")
	fl.BoolVar(&opts.DetailedExitcode, "detailed-exitcode", false, "with --dry-run: exit 0 when nothing would change, 2 when changes are pending (other codes as usual)")
	fl.StringVar(&opts.SavePlan, "save-plan", "", "with --dry-run: save the plan to this file (owner-only), bound to the cluster's state; run it with plate apply FILE")
	fl.BoolVar(&opts.RollbackOnFailure, "rollback-on-failure", false, "if the run fails or is interrupted, roll back every release it changed (a first install is uninstalled) and wait for them")
	fl.BoolVar(&opts.Graph, "graph", false, "with --dry-run: print the step graph as a Mermaid flowchart instead of the trace")
	fl.IntVar(&opts.Concurrency, "concurrency", engine.DefaultConcurrency, "how many concurrent steps (calls with needs=) may run at once")
	fl.StringArrayVarP(&opts.Selectors, "selector", "l", nil, "act only on the releases selected: -l name=plate-api, -l namespace=plate-stg,name!=plate-web (repeatable: any may match); other release steps are skipped")
	fl.Uint64Var(&opts.MaxSteps, "max-steps", interp.DefaultMaxSteps, "Starlark execution step limit per module")
	fl.StringVar(&opts.MaxMemory, "max-memory", "2Gi", "memory the plan's evaluation may hold (512Mi, 4Gi, …); a plan that holds more is stopped")
	_ = cmd.RegisterFlagCompletionFunc("param", func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeParams(f, g, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	return cmd
}

// completeParams completes -p with the plan's declared names, then with a
// parameter's choices after "name=".
func completeParams(f *Factory, g *GlobalOptions, planPath, toComplete string) []string {
	pre, err := registry.Predeclared(f.Plugins())
	if err != nil {
		return nil
	}
	plan, err := interp.Open(planPath, g.Root, pre)
	if err != nil {
		return nil
	}
	var out []string
	if name, _, ok := strings.Cut(toComplete, "="); ok {
		for _, d := range plan.Params {
			if d.Name != name {
				continue
			}
			choices := d.ChoiceStrings()
			if d.Type == "bool" {
				choices = []string{"true", "false"}
			}
			for _, c := range choices {
				out = append(out, name+"="+c)
			}
		}
		return out
	}
	for _, d := range plan.Params {
		out = append(out, d.Name+"=\t"+d.Help)
	}
	return out
}

func runRun(ctx context.Context, f *Factory, opts *RunOptions) error {
	if opts.Concurrency < 1 {
		return exit.Errorf(exit.Usage, "--concurrency: want at least 1, got %d", opts.Concurrency)
	}
	if opts.Graph && !opts.DryRun {
		return exit.Errorf(exit.Usage, "--graph goes with --dry-run")
	}
	if opts.Offline && !opts.DryRun {
		return exit.Errorf(exit.Usage, "--offline goes with --dry-run: a real run needs a cluster")
	}
	diff, err := trace.ParseDiffMode(opts.Diff)
	if err != nil {
		return exit.Errorf(exit.Usage, "--diff: %v", err)
	}
	if opts.DetailedExitcode && !opts.DryRun {
		return exit.Errorf(exit.Usage, "--detailed-exitcode goes with --dry-run")
	}
	if opts.SavePlan != "" && (!opts.DryRun || opts.Offline || opts.Graph) {
		return exit.Errorf(exit.Usage, "--save-plan goes with --dry-run, without --offline or --graph")
	}
	sel, err := selector.Parse(opts.Selectors)
	if err != nil {
		return exit.Wrap(exit.Usage, err)
	}
	maxMemory, err := parseMemory(opts.MaxMemory)
	if err != nil {
		return err
	}
	g := opts.GlobalOptions
	// With --detailed-exitcode, the dry run's typed step records say
	// whether anything would change.
	var sinks []trace.Sink
	pending := false
	if opts.DetailedExitcode {
		sinks = append(sinks, trace.SinkFunc(func(e trace.Event) { pending = pending || trace.ChangesPending([]trace.Event{e}) }))
	}
	var checked func(context.Context, *runner.Plan, *engine.Engine) error
	if opts.SavePlan != "" {
		checked = saveHook(f, g, opts.SavePlan)
	}
	// -o json ends the stream with the outcome: status, exit code, the
	// last pass's change count and the duration.
	counter := &trace.OutcomeCounter{}
	asJSON := g.Output == "json" && !opts.Graph
	if asJSON {
		sinks = append(sinks, counter)
	}
	start := f.Now()
	err = runner.Run(ctx, runner.Options{
		Selector:          sel,
		Checked:           checked,
		Sinks:             sinks,
		Plan:              opts.Plan,
		Root:              g.Root,
		Params:            opts.Params,
		Plugins:           f.Plugins,
		DryRun:            opts.DryRun,
		Graph:             opts.Graph,
		RollbackOnFailure: opts.RollbackOnFailure,
		Offline:           opts.Offline,
		KubeVersion:       opts.KubeVersion,
		Kube:              kube.Settings{Kubeconfig: g.Kubeconfig, Context: g.Context, Namespace: g.Namespace},
		Yes:               opts.Yes,
		Strict:            opts.Strict,
		Prompter:          f.IO,
		Concurrency:       opts.Concurrency,
		MaxSteps:          opts.MaxSteps,
		MaxMemory:         maxMemory,
		LockNamespace:     opts.LockNamespace,
		Out:               f.IO.Out,
		ErrOut:            f.IO.ErrOut,
		JSON:              g.Output == "json",
		Text:              trace.TextOptions{Color: f.IO.ColorEnabled(), Verbose: g.Verbose, ShowStarted: g.Verbose > 0, Diff: diff},
		TTY:               f.IO.IsStdoutTTY(),
		Now:               f.Now,
	})
	if err == nil && pending {
		err = &silent{code: exit.ChangesPending}
	}
	if asJSON {
		code := exit.Code(err)
		status := exit.Name(code)
		var s *silent
		if errors.As(err, &s) && s.code == exit.ChangesPending {
			code = s.code
			status = "changes pending"
		}
		ps, n := counter.Last()
		trace.WriteOutcome(f.IO.Out, trace.Outcome{Status: status, ExitCode: code, Pass: ps, Changes: n, DurationMS: f.Now().Sub(start).Milliseconds()})
	}
	return err
}

// parseMemory reads --max-memory: a Kubernetes quantity ("512Mi", "4Gi").
func parseMemory(s string) (uint64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() <= 0 {
		return 0, exit.Errorf(exit.Usage, "--max-memory: want a positive size such as 512Mi or 4Gi, got %q", s)
	}
	return uint64(q.Value()), nil
}
