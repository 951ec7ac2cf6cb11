// Package interp is plate's Starlark runtime: it finds the project root,
// loads plans and the modules they load(), binds plan parameters, runs a
// plan against an engine pass, and turns Starlark errors into positioned
// exit errors.
//
// # The project root
//
// `load("//plans/lib/apps.star", …)` and `//` paths in builtins are relative
// to the project root. The root is, in order: the --root flag (Options.Root),
// the PLATE_ROOT environment variable, the nearest ancestor directory of the
// plan that holds a `.plateroot` file, the nearest that holds `.git`, and
// else the plan's own directory. Plan files are named relative to the root in
// the trace and in errors.
package interp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.starlark.net/lib/json"
	"go.starlark.net/lib/time"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/internal/exit"
)

// fileOptions are the Starlark dialect of plans: sets, top-level if/for and
// reassignment of globals are allowed (a plan is a script); while loops and
// recursion are not, so every plan terminates.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	TopLevelControl: true,
	GlobalReassign:  true,
}

// FindRoot returns the project root of the plan at planAbs (see the package
// documentation).
func FindRoot(planAbs string) string {
	if r := os.Getenv("PLATE_ROOT"); r != "" {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
	}
	start := filepath.Dir(planAbs)
	for _, marker := range []string{".plateroot", ".git"} {
		for dir := start; ; {
			if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
				return dir
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return start
}

// displayName names path relative to root with forward slashes, or returns
// it unchanged when it lies outside root.
func displayName(root, path string) string {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// Standard are the predeclared names every plan has besides plate's
// builtins: struct, module, json, time and param. (print and fail are
// Starlark's own.)
func standard() starlark.StringDict {
	return starlark.StringDict{
		"struct": starlark.NewBuiltin("struct", starlarkstruct.Make),
		"module": starlark.NewBuiltin("module", starlarkstruct.MakeModule),
		"json":   json.Module,
		"time":   time.Module,
		"param":  starlark.NewBuiltin("param", paramBuiltin),
		"print":  starlark.NewBuiltin("print", printBuiltin),
	}
}

// Plan is a parsed and resolved plan file.
type Plan struct {
	Root string
	// Abs is the plan's absolute path; Name its name relative to Root.
	Abs  string
	Name string
	// Params are the parameters the plan declares, in order.
	Params []*Param

	src  []byte
	file *syntax.File
}

// Open reads, parses and resolves the plan at path against the given
// predeclared names, and collects its parameters. Errors carry exit code 2
// and the file:line:col.
func Open(path, root string, predeclared starlark.StringDict) (*Plan, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "plan %s: %v", path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "plan %s: no such file", path)
	}
	if st.IsDir() {
		return nil, exit.Errorf(exit.Usage, "plan %s is a directory; name a .star file", path)
	}
	if root == "" {
		root = FindRoot(abs)
	} else if root, err = filepath.Abs(root); err != nil {
		return nil, exit.Errorf(exit.Usage, "--root: %v", err)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, exit.Errorf(exit.Usage, "plan %s: %v", path, err)
	}
	name := displayName(root, abs)
	if src, err = cleanSource(name, src); err != nil {
		return nil, err
	}
	p := &Plan{Root: root, Abs: abs, Name: name, src: src}
	f, err := parseAndResolve(p.Name, src, withStandard(predeclared))
	if err != nil {
		return nil, err
	}
	p.file = f
	if p.Params, err = declaredParams(p.Name, f); err != nil {
		return nil, err
	}
	return p, nil
}

func withStandard(predeclared starlark.StringDict) starlark.StringDict {
	d := standard()
	for k, v := range predeclared {
		d[k] = v
	}
	return d
}

func parseAndResolve(name string, src []byte, predeclared starlark.StringDict) (*syntax.File, error) {
	f, err := fileOptions.Parse(name, src, syntax.RetainComments)
	if err != nil {
		return nil, convertStaticError(err)
	}
	isPredeclared := func(n string) bool { _, ok := predeclared[n]; return ok }
	isUniversal := func(n string) bool { _, ok := starlark.Universe[n]; return ok }
	if err := resolve.File(f, isPredeclared, isUniversal); err != nil {
		return nil, convertStaticError(err)
	}
	return f, nil
}

// convertStaticError turns a syntax or resolve error into a usage error
// naming file:line:col.
func convertStaticError(err error) error {
	switch e := err.(type) {
	case syntax.Error:
		return &exit.Error{Code: exit.Usage, Pos: posString(e.Pos), Msg: "syntax error: " + e.Msg, Err: err}
	case resolve.ErrorList:
		if len(e) == 0 {
			break
		}
		var more []string
		for _, x := range e[1:] {
			more = append(more, fmt.Sprintf("%s: %s", posString(x.Pos), x.Msg))
		}
		xe := &exit.Error{Code: exit.Usage, Pos: posString(e[0].Pos), Msg: e[0].Msg, Err: err}
		if len(more) > 0 {
			xe.Backtrace = strings.Join(more, "\n")
		}
		return xe
	}
	return exit.Wrap(exit.Usage, err)
}

func posString(p syntax.Position) string {
	if p.Col > 0 {
		return fmt.Sprintf("%s:%d:%d", p.Filename(), p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d", p.Filename(), p.Line)
}

// Globals returns the names a module defines at top level (those another
// file may load).
func globals(f *syntax.File) map[string]bool {
	out := map[string]bool{}
	if m, ok := f.Module.(*resolve.Module); ok {
		for _, b := range m.Globals {
			out[b.First.Name] = true
		}
	}
	return out
}
