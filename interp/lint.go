package interp

import (
	"fmt"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/syntax"
)

// Warning is a finding of `plate check` that does not stop a plan: a
// position and what is wrong there.
type Warning struct {
	Pos string
	Msg string
}

func (w Warning) String() string { return w.Pos + ": " + w.Msg }

// schedulingDefaults finds helper parameters whose default would change
// scheduling: `def f(..., needs = [plan_start])` (any default but None, []
// or ()) whose value the helper passes on to a needs= argument. A call of
// the helper that leaves the parameter out then becomes a concurrent step
// without saying so; with None or [] it stays in sequence, and a caller that
// wants a concurrent step says so itself (needs = [plan_start]).
func schedulingDefaults(f *syntax.File) []Warning {
	var out []Warning
	syntax.Walk(f, func(n syntax.Node) bool {
		def, ok := n.(*syntax.DefStmt)
		if !ok {
			return true
		}
		for _, p := range def.Params {
			b, ok := p.(*syntax.BinaryExpr)
			if !ok || b.Op != syntax.EQ {
				continue
			}
			param, ok := b.X.(*syntax.Ident)
			if !ok || keepsSequence(b.Y) {
				continue
			}
			use := forwardedToNeeds(def.Body, param)
			if use == nil {
				continue
			}
			start, _ := b.Y.Span()
			upos, _ := use.Span()
			out = append(out, Warning{Pos: posString(start), Msg: fmt.Sprintf(
				"%s(): parameter %s defaults to %s and is passed to needs= at line %d: every call that leaves it out becomes a concurrent step; "+
					"default it to None (in sequence) and let the callers that want concurrency pass needs = [plan_start]",
				def.Name.Name, param.Name, exprString(b.Y), upos.Line)})
		}
		return true
	})
	return out
}

// keepsSequence reports whether a default leaves a forwarded needs= in
// sequence: None, [] or ().
func keepsSequence(e syntax.Expr) bool {
	switch x := e.(type) {
	case *syntax.Ident:
		return x.Name == "None"
	case *syntax.ListExpr:
		return len(x.List) == 0
	case *syntax.TupleExpr:
		return len(x.List) == 0
	case *syntax.ParenExpr:
		return keepsSequence(x.X)
	}
	return false
}

// forwardedToNeeds returns the first needs= argument in body whose value
// mentions param, or nil.
func forwardedToNeeds(body []syntax.Stmt, param *syntax.Ident) syntax.Node {
	var found syntax.Node
	for _, st := range body {
		syntax.Walk(st, func(n syntax.Node) bool {
			if found != nil {
				return false
			}
			call, ok := n.(*syntax.CallExpr)
			if !ok {
				return true
			}
			for _, a := range call.Args {
				kw, ok := a.(*syntax.BinaryExpr)
				if !ok || kw.Op != syntax.EQ {
					continue
				}
				if k, ok := kw.X.(*syntax.Ident); ok && k.Name == "needs" && mentions(kw.Y, param) {
					found = kw
					return false
				}
			}
			return true
		})
		if found != nil {
			break
		}
	}
	return found
}

// mentions reports whether e refers to the parameter param (the same
// binding, or a nested function's free variable of that name).
func mentions(e syntax.Expr, param *syntax.Ident) bool {
	pb, _ := param.Binding.(*resolve.Binding)
	hit := false
	syntax.Walk(e, func(n syntax.Node) bool {
		id, ok := n.(*syntax.Ident)
		if !ok || hit || id.Name != param.Name {
			return !hit
		}
		b, _ := id.Binding.(*resolve.Binding)
		if pb == nil || b == nil || b == pb || b.Scope == resolve.Free {
			hit = true
		}
		return !hit
	})
	return hit
}

// exprString renders a short default for a message.
func exprString(e syntax.Expr) string {
	switch x := e.(type) {
	case *syntax.Ident:
		return x.Name
	case *syntax.Literal:
		return x.Raw
	case *syntax.ListExpr:
		return "[" + exprList(x.List) + "]"
	case *syntax.TupleExpr:
		return "(" + exprList(x.List) + ")"
	case *syntax.ParenExpr:
		return exprString(x.X)
	case *syntax.DotExpr:
		return exprString(x.X) + "." + x.Name.Name
	case *syntax.CallExpr:
		return exprString(x.Fn) + "(…)"
	}
	return "an expression"
}

func exprList(list []syntax.Expr) string {
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = exprString(e)
	}
	return strings.Join(parts, ", ")
}
