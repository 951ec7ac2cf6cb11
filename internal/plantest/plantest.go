// Package plantest runs plan tests: `plate test` finds *_test.star files and
// calls each test_* function with a `t` value whose t.run executes a plan
// against a scripted cluster (engine.Script) and returns the recorded
// effects — the same events as the trace, with arguments and positions.
// Nothing touches a real cluster: a scripted pass is an offline dry run
// whose reads the script answers. The builtins are plate's own.
package plantest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/plate-dev/plate/builtins"
	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/engine"
	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/runner"
	"github.com/plate-dev/plate/internal/trace"
	"github.com/plate-dev/plate/interp"
)

// Options configure a test run.
type Options struct {
	// Paths are files or directories (searched recursively for
	// *_test.star); empty means ".".
	Paths []string
	// Run selects tests by name (-run).
	Run *regexp.Regexp
	// Verbose prints every test (-v).
	Verbose bool
	// Root is the project root (--root); empty finds it per file.
	Root    string
	Out     io.Writer
	Plugins func() []builtins.Plugin
	// JSON prints one JSON object per line instead of text (-o json):
	// {"action":"pass"|"fail","file","test","elapsed_s","failures"} per
	// test, {"action":"ok"|"fail"|"no-tests"|"load-failed","file",…} per
	// file, and a last {"action":"summary","passed","failed","exit_code"}.
	JSON bool
}

// jsonLine is one line of `plate test -o json`.
type jsonLine struct {
	Action   string   `json:"action"`
	File     string   `json:"file,omitempty"`
	Test     string   `json:"test,omitempty"`
	Elapsed  *float64 `json:"elapsed_s,omitempty"`
	Failures []string `json:"failures,omitempty"`
	Error    string   `json:"error,omitempty"`
	Passed   *int     `json:"passed,omitempty"`
	Failed   *int     `json:"failed,omitempty"`
	ExitCode *int     `json:"exit_code,omitempty"`
}

func (o Options) emit(l jsonLine) {
	enc := json.NewEncoder(o.Out)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l)
}

// text prints a text line unless the output is JSON.
func (o Options) text(format string, args ...any) {
	if !o.JSON {
		fmt.Fprintf(o.Out, format, args...)
	}
}

func ptr[T any](v T) *T { return &v }

// Result counts what ran.
type Result struct {
	Passed, Failed int
}

// Find lists the test files under paths.
func Find(paths []string) ([]string, error) {
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, exit.Errorf(exit.Usage, "%s: no such file or directory", p)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), "_test.star") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run runs the tests and prints go test style output. The error is non-nil
// (exit code 1) when a test failed, or a usage error when a file could not
// be loaded.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Plugins == nil {
		o.Plugins = registry.Plugins
	}
	files, err := Find(o.Paths)
	if err != nil {
		return Result{}, err
	}
	if len(files) == 0 {
		return Result{}, exit.Errorf(exit.Usage, "no *_test.star files in %s", strings.Join(o.Paths, " "))
	}
	pre, err := registry.Predeclared(o.Plugins())
	if err != nil {
		return Result{}, err
	}
	var total Result
	var loadErr error
	for _, f := range files {
		r, err := runFile(ctx, o, pre, f)
		total.Passed += r.Passed
		total.Failed += r.Failed
		if err != nil {
			o.text("FAIL\t%s\t[load failed]\nplate: %s\n", f, describeErr(err))
			if o.JSON {
				o.emit(jsonLine{Action: "load-failed", File: f, Error: describeErr(err)})
			}
			if loadErr == nil {
				loadErr = err
			}
		}
	}
	o.text("%d passed, %d failed\n", total.Passed, total.Failed)
	code := exit.OK
	switch {
	case loadErr != nil:
		code = exit.Code(loadErr)
	case total.Failed > 0:
		code = exit.PlanFailed
	}
	if o.JSON {
		o.emit(jsonLine{Action: "summary", Passed: ptr(total.Passed), Failed: ptr(total.Failed), ExitCode: ptr(code)})
	}
	if code != exit.OK {
		return total, &silentErr{code: code}
	}
	return total, nil
}

// testClock is the clock of plan tests, for their traces and for
// time.now() in the tests and the plans they run: it starts at
// 2026-01-01T00:00:00Z and every reading advances it by a millisecond, so
// results do not depend on when or how fast the tests run.
func testClock() func() time.Time {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		clock = clock.Add(time.Millisecond)
		return clock
	}
}

type silentErr struct{ code int }

func (e *silentErr) Error() string { return "" }

// ExitCode is the code a failed run exits with.
func (e *silentErr) ExitCode() int { return e.code }

func describeErr(err error) string {
	if xe, ok := err.(*exit.Error); ok {
		s := xe.Error()
		if xe.Backtrace != "" {
			s += "\n" + xe.Backtrace
		}
		return s
	}
	return err.Error()
}

func runFile(ctx context.Context, o Options, pre starlark.StringDict, file string) (Result, error) {
	start := time.Now()
	plan, err := interp.Open(file, o.Root, pre)
	if err != nil {
		return Result{}, err
	}
	if err := plan.Check(pre); err != nil {
		return Result{}, err
	}
	// The test file itself runs as a scripted pass with an empty script.
	files := runner.New(&runner.Plan{Plan: plan, Predeclared: pre}, runner.Options{Script: &engine.Script{}, Now: testClock()})
	ropts := func() interp.RunOptions { return files.RunOptions(trace.DryRun) }
	globals, err := plan.ExecModule(ctx, ropts())
	if err != nil {
		return Result{}, err
	}
	type testFn struct {
		name string
		fn   *starlark.Function
	}
	var tests []testFn
	for name, v := range globals {
		if fn, ok := v.(*starlark.Function); ok && strings.HasPrefix(name, "test_") {
			if o.Run == nil || o.Run.MatchString(name) {
				tests = append(tests, testFn{name, fn})
			}
		}
	}
	sort.Slice(tests, func(i, j int) bool { return tests[i].fn.Position().Line < tests[j].fn.Position().Line })
	var res Result
	for _, tc := range tests {
		t := newT(tc.name, plan, o, pre)
		if o.Verbose {
			o.text("=== RUN   %s\n", tc.name)
		}
		tStart := time.Now()
		thread := plan.NewThread(ctx, ropts(), tc.name)
		if tc.fn.NumParams() != 1 {
			t.errorf(tc.fn.Position().String(), "%s must take one parameter, t", tc.name)
		} else if _, err := starlark.Call(thread, tc.fn, starlark.Tuple{t}, nil); err != nil {
			t.errorf("", "%s", describeErr(interp.Convert(err)))
		}
		t.uncheckedHarnessErrors()
		d := time.Since(tStart).Seconds()
		if len(t.failures) > 0 {
			res.Failed++
			o.text("--- FAIL: %s (%.2fs)\n", tc.name, d)
			for _, f := range t.failures {
				for _, line := range strings.Split(f, "\n") {
					o.text("    %s\n", line)
				}
			}
			if o.JSON {
				o.emit(jsonLine{Action: "fail", File: plan.Name, Test: tc.name, Elapsed: ptr(d), Failures: t.failures})
			}
			continue
		}
		res.Passed++
		if o.Verbose {
			o.text("--- PASS: %s (%.2fs)\n", tc.name, d)
		}
		if o.JSON {
			o.emit(jsonLine{Action: "pass", File: plan.Name, Test: tc.name, Elapsed: ptr(d)})
		}
	}
	status := "ok  "
	if res.Failed > 0 {
		status = "FAIL"
	}
	switch {
	case o.JSON && len(tests) == 0:
		o.emit(jsonLine{Action: "no-tests", File: plan.Name})
	case o.JSON:
		o.emit(jsonLine{Action: strings.TrimSpace(strings.ToLower(status)), File: plan.Name, Elapsed: ptr(time.Since(start).Seconds())})
	case len(tests) == 0:
		fmt.Fprintf(o.Out, "?   \t%s\t[no tests]\n", plan.Name)
	default:
		fmt.Fprintf(o.Out, "%s\t%s\t%.2fs\n", status, plan.Name, time.Since(start).Seconds())
	}
	return res, nil
}
