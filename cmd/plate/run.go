package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/lock"
	"github.com/plate-dev/plate/internal/progress"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// RunOptions are the options of `plate run`.
type RunOptions struct {
	*GlobalOptions
	Plan          string
	Params        []string
	DryRun        bool
	Yes           bool
	Offline       bool
	KubeVersion   string
	LockNamespace string
	Concurrency   int
	Graph         bool
	MaxSteps      uint64
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
	fl.BoolVar(&opts.Graph, "graph", false, "with --dry-run: print the step graph as a Mermaid flowchart instead of the trace")
	fl.IntVar(&opts.Concurrency, "concurrency", engine.DefaultConcurrency, "how many concurrent steps (calls with needs=) may run at once")
	fl.Uint64Var(&opts.MaxSteps, "max-steps", interp.DefaultMaxSteps, "Starlark execution step limit per module")
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

// prepared is a plan ready to run: parsed, checked and with its parameters
// bound.
type prepared struct {
	plan        *interp.Plan
	predeclared starlark.StringDict
	params      map[string]starlark.Value
}

func prepare(f *Factory, g *GlobalOptions, path string, rawParams []string) (*prepared, error) {
	var kvs []interp.KV
	for _, raw := range rawParams {
		kv, err := interp.ParseKV(raw)
		if err != nil {
			return nil, exit.Errorf(exit.Usage, "-p/--param: %v", err)
		}
		kvs = append(kvs, kv)
	}
	pre, err := registry.Predeclared(f.Plugins())
	if err != nil {
		return nil, exit.Wrap(exit.PlanFailed, err)
	}
	plan, err := interp.Open(path, g.Root, pre)
	if err != nil {
		return nil, err
	}
	if err := plan.Check(pre); err != nil {
		return nil, err
	}
	values, err := plan.Bind(kvs)
	if err != nil {
		return nil, err
	}
	return &prepared{plan: plan, predeclared: pre, params: values}, nil
}

func runRun(ctx context.Context, f *Factory, opts *RunOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Concurrency < 1 {
		return exit.Errorf(exit.Usage, "--concurrency: want at least 1, got %d", opts.Concurrency)
	}
	if opts.Graph && !opts.DryRun {
		return exit.Errorf(exit.Usage, "--graph goes with --dry-run")
	}
	if opts.Offline && !opts.DryRun {
		return exit.Errorf(exit.Usage, "--offline goes with --dry-run: a real run needs a cluster")
	}
	p, err := prepare(f, opts.GlobalOptions, opts.Plan, opts.Params)
	if err != nil {
		return err
	}
	out := newOutput(f, opts.GlobalOptions)
	kubeSettings := kube.Settings{Kubeconfig: opts.Kubeconfig, Context: opts.Context, Namespace: opts.Namespace}
	var preflight *engine.Engine
	pass := func(ps trace.Pass) error {
		rec, endOutput := out.recorder(f)
		eng := engine.New(engine.Options{
			Pass:        ps,
			Recorder:    rec,
			Prompter:    f.IO,
			Yes:         opts.Yes,
			Kube:        kubeSettings,
			Offline:     opts.Offline,
			KubeVersion: opts.KubeVersion,
			Concurrency: opts.Concurrency,
		})
		err := p.plan.Exec(ctx, interp.RunOptions{
			Engine:      eng,
			Predeclared: p.predeclared,
			Params:      p.params,
			MaxSteps:    opts.MaxSteps,
		})
		endOutput()
		out.footer(ps, rec.Events(), err)
		if ps == trace.Run && err != nil {
			why := "interrupted"
			if c := exit.Code(err); c != exit.Interrupted {
				why = "stopped: " + exit.Name(c)
			}
			stopReport(f.IO.ErrOut, rec.Events(), defaultNamespace(kubeSettings), why)
		}
		if ps == trace.Preflight {
			preflight = eng
		}
		return err
	}
	if opts.Graph {
		out.graph = true
		err := pass(trace.DryRun)
		if err == nil {
			trace.BuildGraph(out.events).WriteMermaid(f.IO.Out)
		}
		return err
	}
	if opts.DryRun {
		out.header(fmt.Sprintf("dry-run of %s: nothing will be written", p.plan.Name))
		return pass(trace.DryRun)
	}
	out.header(fmt.Sprintf("preflight of %s: nothing is written yet", p.plan.Name))
	if err := pass(trace.Preflight); err != nil {
		out.note("preflight failed: nothing was written")
		return err
	}
	if preflight.UsedCluster() {
		release, err := takeLock(ctx, f, opts, p, kubeSettings, out)
		if err != nil {
			return err
		}
		defer release()
	}
	out.header(fmt.Sprintf("run of %s", p.plan.Name))
	return pass(trace.Run)
}

// takeLock takes the run lock of the plan in its environment, so that a
// second run of it against the same cluster is refused while this one runs.
func takeLock(ctx context.Context, f *Factory, opts *RunOptions, p *prepared, s kube.Settings, out *output) (func(), error) {
	cl, err := kube.Connect(s, false)
	if err != nil {
		return nil, exit.Wrap(exit.Usage, err)
	}
	name, env := lock.Key(p.plan.Name, cl.Namespace, opts.Params)
	l, err := lock.Acquire(ctx, cl.Clientset, lock.Options{
		Namespace: opts.LockNamespace,
		Name:      name,
		Holder:    lock.Me(p.plan.Name, env, f.Now()),
	})
	var held *lock.HeldError
	if errors.As(err, &held) {
		return nil, &exit.Error{Code: exit.PlanFailed, Msg: err.Error(), Err: err,
			Hint: "wait for that run to finish; a lock whose run was killed expires after " + lock.DefaultTTL.String()}
	}
	if err != nil {
		return nil, exit.Wrap(exit.PlanFailed, err)
	}
	if l.TookOver != nil {
		out.note(fmt.Sprintf("lock %s: took over an expired lock of %s", l.Name(), l.TookOver))
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "plate: releasing the run lock %s: %v\n", l.Name(), err)
		}
	}, nil
}

// output renders a run: the trace in text or JSON, plus headers and
// footers in text mode.
type output struct {
	w    io.Writer
	json bool
	text trace.TextOptions
	// graph collects events instead of printing them (--graph).
	graph  bool
	events []trace.Event
}

func newOutput(f *Factory, g *GlobalOptions) *output {
	return &output{
		w:    f.IO.Out,
		json: g.Output == "json",
		text: trace.TextOptions{Color: f.IO.ColorEnabled(), Verbose: g.Verbose, ShowStarted: g.Verbose > 0},
	}
}

// recorder returns the recorder of one pass and a function that ends its
// output (the live progress view) when the pass is over.
func (o *output) recorder(f *Factory) (*trace.Recorder, func()) {
	if o.graph {
		return trace.NewRecorder(f.Now, trace.SinkFunc(func(e trace.Event) { o.events = append(o.events, e) })), func() {}
	}
	if o.json {
		return trace.NewRecorder(f.Now, trace.NewJSON(o.w)), func() {}
	}
	// Waits report progress: a live view on a terminal, change lines
	// elsewhere (internal/progress).
	ps := progress.ForOutput(o.w, trace.NewText(o.w, o.text), f.IO.IsStdoutTTY())
	return trace.NewRecorder(f.Now, ps), func() { ps.Close() }
}

func (o *output) header(s string) {
	if !o.json && !o.graph {
		fmt.Fprintf(o.w, "== %s\n", s)
	}
}

func (o *output) note(s string) {
	if !o.json {
		fmt.Fprintln(o.w, s)
	}
}

func (o *output) footer(ps trace.Pass, events []trace.Event, err error) {
	if o.json || o.graph {
		return
	}
	status := "ok"
	if err != nil {
		status = "stopped: " + exit.Name(exit.Code(err))
	}
	fmt.Fprintf(o.w, "== %s %s: %s\n", ps, status, trace.SummaryLine(trace.Counts(events)))
}
