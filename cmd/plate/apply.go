package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
	"github.com/plate-dev/plate/internal/planfile"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// ApplyOptions are the options of `plate apply`.
type ApplyOptions struct {
	*GlobalOptions
	File              string
	Params            []string
	Yes               bool
	MaxAge            time.Duration
	DetailedExitcode  bool
	LockNamespace     string
	Concurrency       int
	RollbackOnFailure bool
	MaxSteps          uint64
}

func newApplyCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &ApplyOptions{GlobalOptions: g}
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Run a saved plan, if the plan's files and the cluster are still as it saw them",
		Long: `Run a plan saved with plate run --dry-run --save-plan FILE.

Before the first write, plate apply checks that nothing the saved plan depends
on has changed: the plan and its modules, the parameters, the cluster (server
and UID), the charts and values, the revision and manifest of every release the
plan acts on, the resourceVersion (or absence) of every object it would touch,
and the effects a fresh preflight plans. If anything drifted, it lists what and
exits 1 without writing. Then it runs the plan for real with the saved
parameters, and checks each write against the saved effects (same builtin,
target and kind of change): a write that is not the next saved effect of its
step is refused before it is made, and the run stops (exit 1).

Parameters whose names look secret are not stored in the plan file: give them
again with -p; their values must be the saved ones. A saved plan does not
answer confirm(): it asks as plate run does, unless --yes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runApply(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Params, "param", "p", nil, "the value of a secret parameter, which the plan file does not hold: -p name=value (repeatable)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "answer yes to every confirm() (recorded in the trace); a saved plan alone does not")
	fl.DurationVar(&opts.MaxAge, "max-age", 0, "refuse a plan saved longer ago than this (e.g. 2h; 0: no limit)")
	fl.BoolVar(&opts.DetailedExitcode, "detailed-exitcode", false, "exit 0 when the run changed nothing, 2 when it made the saved changes (other codes as usual)")
	fl.StringVar(&opts.LockNamespace, "lock-namespace", "default", "namespace of the Lease that keeps two runs of a plan for one environment apart")
	fl.BoolVar(&opts.RollbackOnFailure, "rollback-on-failure", false, "if the run fails, stops at a divergent write or is interrupted, roll back every release it changed")
	fl.IntVar(&opts.Concurrency, "concurrency", engine.DefaultConcurrency, "how many concurrent steps (calls with needs=) may run at once")
	fl.Uint64Var(&opts.MaxSteps, "max-steps", interp.DefaultMaxSteps, "Starlark execution step limit per module")
	return cmd
}

// saveHook returns the runner hook that writes the saved plan of a dry run
// to path.
func saveHook(f *Factory, g *GlobalOptions, path string) func(ctx context.Context, p *runner.Plan, eng *engine.Engine) error {
	return func(ctx context.Context, p *runner.Plan, eng *engine.Engine) error {
		fail := func(err error) error {
			return exit.Errorf(exit.PlanFailed, "--save-plan %s: %v; no plan was saved", path, err)
		}
		salt, err := planfile.NewSalt()
		if err != nil {
			return fail(err)
		}
		src, mods, err := planfile.Sources(p.Plan, p.Predeclared)
		if err != nil {
			return fail(err)
		}
		events := eng.Recorder().Events()
		cl, st, err := planfile.Snapshot(ctx, eng, events, nil)
		if err != nil {
			return fail(err)
		}
		pf := &planfile.File{
			Kind: planfile.Kind, Version: planfile.Version, Created: f.Now().UTC(), Plate: version, Salt: salt,
			Plan: src, Modules: mods, Params: planfile.Params(p.Plan, p.Params, salt),
			Kube:    planfile.Kube{Root: p.Root, Context: g.Context, Namespace: g.Namespace},
			Cluster: cl, State: st, Effects: planfile.Effects(events),
		}
		if err := planfile.Write(path, pf); err != nil {
			return fail(err)
		}
		fmt.Fprintf(f.IO.ErrOut, "plate: plan saved to %s (%d effects; %d releases, %d objects bound); run it with: plate apply %s\n",
			path, len(pf.Effects), len(st.Releases), len(st.Objects), path)
		return nil
	}
}

func runApply(ctx context.Context, f *Factory, opts *ApplyOptions) error {
	if opts.Concurrency < 1 {
		return exit.Errorf(exit.Usage, "--concurrency: want at least 1, got %d", opts.Concurrency)
	}
	g := opts.GlobalOptions
	pf, err := planfile.Read(opts.File)
	if err != nil {
		return exit.Wrap(exit.Usage, err)
	}
	if err := planfile.CheckAge(pf, opts.MaxAge, f.Now()); err != nil {
		return refuse(f, g, pf, opts.File, []string{err.Error()})
	}
	params, err := applyParams(pf, opts.Params)
	if err != nil {
		return err
	}
	root := g.Root
	if root == "" {
		root = pf.Kube.Root
	}
	kctx, ns := g.Context, g.Namespace
	if kctx == "" {
		kctx = pf.Kube.Context
	}
	if ns == "" {
		ns = pf.Kube.Namespace
	}
	ro := runner.Options{
		Plan:              filepath.Join(root, filepath.FromSlash(pf.Plan.Name)),
		Root:              root,
		Params:            params,
		Plugins:           f.Plugins,
		RollbackOnFailure: opts.RollbackOnFailure,
		Kube:              kube.Settings{Kubeconfig: g.Kubeconfig, Context: kctx, Namespace: ns},
		Yes:               opts.Yes,
		Prompter:          f.IO,
		Concurrency:       opts.Concurrency,
		MaxSteps:          opts.MaxSteps,
		LockNamespace:     opts.LockNamespace,
		Out:               f.IO.Out,
		ErrOut:            f.IO.ErrOut,
		JSON:              g.Output == "json",
		Text:              trace.TextOptions{Color: f.IO.ColorEnabled(), Verbose: g.Verbose, ShowStarted: g.Verbose > 0},
		TTY:               f.IO.IsStdoutTTY(),
		Now:               f.Now,
	}
	p, err := runner.Prepare(ro)
	if err != nil {
		// Say first which files changed, when the plan opens without the
		// saved parameters (one may no longer be declared).
		bare := ro
		bare.Params = nil
		if p0, err0 := runner.Prepare(bare); err0 == nil {
			if src, mods, err1 := planfile.Sources(p0.Plan, p0.Predeclared); err1 == nil {
				if d := planfile.SourceDrift(pf, src, mods); len(d) > 0 {
					return refuse(f, g, pf, opts.File, d)
				}
			}
		}
		return refuse(f, g, pf, opts.File, []string{fmt.Sprintf("the plan %s cannot be prepared: %v", pf.Plan.Name, err)})
	}
	// The files first: a changed plan or module is refused before the
	// cluster is contacted.
	src, mods, err := planfile.Sources(p.Plan, p.Predeclared)
	if err != nil {
		return refuse(f, g, pf, opts.File, []string{err.Error()})
	}
	drift := planfile.SourceDrift(pf, src, mods)
	drift = append(drift, planfile.ParamDrift(pf, planfile.Params(p.Plan, p.Params, pf.Salt))...)
	if len(drift) > 0 {
		return refuse(f, g, pf, opts.File, drift)
	}
	guard := planfile.NewGuard(pf.Effects)
	ro.Check = guard
	ro.Checked = func(ctx context.Context, _ *runner.Plan, eng *engine.Engine) error {
		events := eng.Recorder().Events()
		cl, st, err := planfile.Snapshot(ctx, eng, events, pf.State.Objects)
		if err != nil {
			return refuse(f, g, pf, opts.File, []string{"reading the cluster: " + err.Error()})
		}
		if d := planfile.StateDrift(pf, cl, st, planfile.Effects(events)); len(d) > 0 {
			return refuse(f, g, pf, opts.File, d)
		}
		return nil
	}
	changed := false
	ro.Sinks = append(ro.Sinks, trace.SinkFunc(func(e trace.Event) {
		if e.Pass == trace.Run && trace.ChangesPending([]trace.Event{e}) {
			changed = true
		}
	}))
	if ro.Out != nil && !ro.JSON {
		fmt.Fprintf(ro.Out, "saved plan %s (made %s): %d effects; checking it before any write\n", opts.File, pf.Created.Format(time.RFC3339), len(pf.Effects))
	}
	err = runner.New(p, ro).Run(ctx)
	if err != nil {
		return err
	}
	if missing := guard.Missing(); len(missing) > 0 {
		var lines []string
		for _, m := range missing {
			lines = append(lines, "  - "+m.String())
		}
		return &exit.Error{Code: exit.PlanFailed, Msg: fmt.Sprintf("the run made %d fewer changes than the saved plan %s planned:\n%s", len(missing), opts.File, strings.Join(lines, "\n"))}
	}
	if opts.DetailedExitcode && changed {
		return &silent{code: exit.ChangesPending}
	}
	return nil
}

// applyParams turns the saved parameters and the -p given (secret ones
// only) into -p arguments for the run.
func applyParams(pf *planfile.File, given []string) ([]string, error) {
	kvs, err := runner.ParseParams(given)
	if err != nil {
		return nil, err
	}
	secret := map[string]string{}
	saved := map[string]planfile.Param{}
	for _, p := range pf.Params {
		saved[p.Name] = p
	}
	for _, kv := range kvs {
		p, ok := saved[kv.Name]
		switch {
		case !ok:
			return nil, exit.Errorf(exit.Usage, "-p %s: the saved plan has no parameter %s", kv.Name, kv.Name)
		case !p.Secret:
			return nil, exit.Errorf(exit.Usage, "-p %s: the saved plan holds this parameter's value (%q); only secret parameters are given again", kv.Name, p.Value)
		}
		secret[kv.Name] = kv.Value
	}
	var out []string
	for _, p := range pf.Params {
		v := p.Value
		if p.Secret {
			s, ok := secret[p.Name]
			if !ok {
				return nil, exit.Errorf(exit.Usage, "-p %s: secret parameter, not stored in the saved plan: give it again (-p %s=...)", p.Name, p.Name)
			}
			v = s
		}
		out = append(out, p.Name+"="+v)
	}
	return out, nil
}

// refuse reports what drifted since the plan was saved; nothing was
// written.
func refuse(f *Factory, g *GlobalOptions, pf *planfile.File, file string, drift []string) error {
	if g.Output == "json" {
		b, _ := json.Marshal(map[string]any{"saved_plan": file, "refused": true, "drift": drift})
		fmt.Fprintln(f.IO.Out, string(b))
	}
	return &exit.Error{Code: exit.PlanFailed, Msg: refusal(file, drift),
		Hint: "nothing was written; make the plan again: plate run --dry-run --save-plan " + file + " " + planArg(pf)}
}

func refusal(file string, drift []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "saved plan %s no longer matches (%d):", file, len(drift))
	for _, d := range drift {
		b.WriteString("\n  - " + d)
	}
	return b.String()
}

// planArg is the saved plan's path for a command line.
func planArg(pf *planfile.File) string {
	if pf.Plan.Name == "" {
		return "PLAN"
	}
	return filepath.Join(pf.Kube.Root, filepath.FromSlash(pf.Plan.Name))
}
