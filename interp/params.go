package interp

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/suggest"
)

// Param is a parameter a plan declares with
// param(name, default, choices=None, help="").
type Param struct {
	Name    string
	Default starlark.Value
	// Type is the default's type: "string", "int", "float" or "bool".
	Type    string
	Choices []starlark.Value
	Help    string
	Pos     string
}

// KV is one -p name=value flag.
type KV struct{ Name, Value string }

// ParseKV splits "name=value".
func ParseKV(s string) (KV, error) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return KV{}, fmt.Errorf("parameter %q: want name=value", s)
	}
	name := strings.TrimSpace(s[:i])
	if !validName(name) {
		return KV{}, fmt.Errorf("parameter %q: want name=value with an identifier as name", s)
	}
	return KV{Name: name, Value: s[i+1:]}, nil
}

// declaredParams finds the plan's top-level param(...) statements. Their
// arguments must be literals, so parameters are known, checked and listed
// before anything runs.
func declaredParams(file string, f *syntax.File) ([]*Param, error) {
	var out []*Param
	seen := map[string]string{}
	top := map[*syntax.CallExpr]bool{}
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.ExprStmt:
			c, _ := s.X.(*syntax.CallExpr)
			top[c] = true
		case *syntax.AssignStmt:
			c, _ := s.RHS.(*syntax.CallExpr)
			top[c] = true
		}
	}
	// A param() call anywhere else would not be known before the plan
	// runs: say so where it is, instead of "unknown parameter" later.
	var nested error
	syntax.Walk(f, func(n syntax.Node) bool {
		c, ok := n.(*syntax.CallExpr)
		if nested != nil || !ok || top[c] {
			return nested == nil
		}
		if id, ok := c.Fn.(*syntax.Ident); ok && id.Name == "param" {
			start, _ := c.Span()
			nested = &exit.Error{Code: exit.Usage, Pos: posString(start), Msg: "param: parameters are declared only at the top level of the plan, as statements of their own (name = param(...)); use the value afterwards: a param() inside an expression or a function is not known before the plan runs"}
		}
		return true
	})
	if nested != nil {
		return nil, nested
	}
	for _, stmt := range f.Stmts {
		var call *syntax.CallExpr
		switch s := stmt.(type) {
		case *syntax.ExprStmt:
			call, _ = s.X.(*syntax.CallExpr)
		case *syntax.AssignStmt:
			call, _ = s.RHS.(*syntax.CallExpr)
		}
		if call == nil {
			continue
		}
		if id, ok := call.Fn.(*syntax.Ident); !ok || id.Name != "param" {
			continue
		}
		p, err := paramFromCall(call)
		if err != nil {
			start, _ := call.Span()
			return nil, &exit.Error{Code: exit.Usage, Pos: posString(start), Msg: "param: " + err.Error()}
		}
		start, _ := call.Span()
		p.Pos = posString(start)
		if prev, ok := seen[p.Name]; ok {
			return nil, &exit.Error{Code: exit.Usage, Pos: p.Pos, Msg: fmt.Sprintf("param: %q is already declared at %s", p.Name, prev)}
		}
		seen[p.Name] = p.Pos
		out = append(out, p)
	}
	return out, nil
}

func paramFromCall(call *syntax.CallExpr) (*Param, error) {
	p := &Param{}
	var positional []syntax.Expr
	named := map[string]syntax.Expr{}
	for _, a := range call.Args {
		if b, ok := a.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			named[b.X.(*syntax.Ident).Name] = b.Y
			continue
		}
		positional = append(positional, a)
	}
	order := []string{"name", "default", "choices", "help"}
	if len(positional) > len(order) {
		return nil, fmt.Errorf("too many arguments")
	}
	for i, a := range positional {
		if _, dup := named[order[i]]; dup {
			return nil, fmt.Errorf("got multiple values for %s", order[i])
		}
		named[order[i]] = a
	}
	for k := range named {
		if !contains(order, k) {
			return nil, fmt.Errorf("unexpected keyword argument %s%s", k, suggest.DidYouMean(k, order))
		}
	}
	nameExpr, ok := named["name"]
	if !ok {
		return nil, fmt.Errorf("missing argument for name")
	}
	v, err := literal(nameExpr)
	if err != nil {
		return nil, fmt.Errorf("name: %v", err)
	}
	s, ok := v.(starlark.String)
	if !ok || !validName(string(s)) {
		return nil, fmt.Errorf("name must be an identifier string, got %s", v)
	}
	p.Name = string(s)
	defExpr, ok := named["default"]
	if !ok {
		return nil, fmt.Errorf("%s: missing argument for default (its type sets the parameter's type)", p.Name)
	}
	if p.Default, err = literal(defExpr); err != nil {
		return nil, fmt.Errorf("%s: default: %v", p.Name, err)
	}
	switch p.Default.(type) {
	case starlark.String:
		p.Type = "string"
	case starlark.Int:
		p.Type = "int"
	case starlark.Float:
		p.Type = "float"
	case starlark.Bool:
		p.Type = "bool"
	default:
		return nil, fmt.Errorf("%s: default must be a string, int, float or bool, got %s", p.Name, p.Default.Type())
	}
	if e, ok := named["choices"]; ok {
		cv, err := literal(e)
		if err != nil {
			return nil, fmt.Errorf("%s: choices: %v", p.Name, err)
		}
		if cv != starlark.None {
			l, ok := cv.(*starlark.List)
			if !ok {
				return nil, fmt.Errorf("%s: choices must be a list", p.Name)
			}
			for i := 0; i < l.Len(); i++ {
				c := l.Index(i)
				if c.Type() != p.Default.Type() {
					return nil, fmt.Errorf("%s: choice %s is a %s, but the default is a %s", p.Name, c, c.Type(), p.Default.Type())
				}
				p.Choices = append(p.Choices, c)
			}
			if !p.allowed(p.Default) {
				return nil, fmt.Errorf("%s: default %s is not one of the choices %s", p.Name, p.Default, p.choiceList())
			}
		}
	}
	if e, ok := named["help"]; ok {
		hv, err := literal(e)
		if err != nil {
			return nil, fmt.Errorf("%s: help: %v", p.Name, err)
		}
		hs, ok := hv.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s: help must be a string", p.Name)
		}
		p.Help = string(hs)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// literal evaluates a constant expression: strings, numbers, True, False,
// None, negative numbers and lists of those.
func literal(e syntax.Expr) (starlark.Value, error) {
	switch e := e.(type) {
	case *syntax.Literal:
		switch v := e.Value.(type) {
		case string:
			return starlark.String(v), nil
		case int64:
			return starlark.MakeInt64(v), nil
		case float64:
			return starlark.Float(v), nil
		}
		return nil, fmt.Errorf("unsupported literal %s", e.Raw)
	case *syntax.Ident:
		switch e.Name {
		case "True":
			return starlark.True, nil
		case "False":
			return starlark.False, nil
		case "None":
			return starlark.None, nil
		}
	case *syntax.UnaryExpr:
		if e.Op == syntax.MINUS {
			v, err := literal(e.X)
			if err != nil {
				return nil, err
			}
			switch v := v.(type) {
			case starlark.Int:
				return starlark.MakeInt(0).Sub(v), nil
			case starlark.Float:
				return -v, nil
			}
		}
	case *syntax.ListExpr:
		var vals []starlark.Value
		for _, x := range e.List {
			v, err := literal(x)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
		}
		return starlark.NewList(vals), nil
	}
	return nil, fmt.Errorf("must be a literal (a string, number, True/False or a list of them)")
}

func (p *Param) allowed(v starlark.Value) bool {
	if len(p.Choices) == 0 {
		return true
	}
	for _, c := range p.Choices {
		if eq, _ := starlark.Equal(c, v); eq {
			return true
		}
	}
	return false
}

func (p *Param) choiceList() string {
	var s []string
	for _, c := range p.Choices {
		s = append(s, plain(c))
	}
	return strings.Join(s, "|")
}

// plain prints a value the way a user types it on the command line.
func plain(v starlark.Value) string {
	switch v := v.(type) {
	case starlark.String:
		if v == "" {
			return `""`
		}
		return string(v)
	case starlark.Bool:
		if v {
			return "true"
		}
		return "false"
	}
	return v.String()
}

// ParseValue parses a -p value for a parameter of type typ.
func ParseValue(typ, raw string) (starlark.Value, error) {
	switch typ {
	case "string":
		return starlark.String(raw), nil
	case "int":
		i, err := strconv.ParseInt(strings.TrimSpace(raw), 0, 64)
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", raw)
		}
		return starlark.MakeInt64(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a number, got %q", raw)
		}
		return starlark.Float(f), nil
	case "bool":
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "yes", "y", "1", "on":
			return starlark.True, nil
		case "false", "no", "n", "0", "off":
			return starlark.False, nil
		}
		return nil, fmt.Errorf("want true or false, got %q", raw)
	}
	return nil, fmt.Errorf("unknown parameter type %s", typ)
}

// Bind checks -p values against the plan's declared parameters and returns
// every parameter's value. Any mistake is a usage error (exit 2) that lists
// the declared parameters.
func (p *Plan) Bind(kvs []KV) (map[string]starlark.Value, error) {
	values := map[string]starlark.Value{}
	byName := map[string]*Param{}
	var names []string
	for _, d := range p.Params {
		values[d.Name] = d.Default
		byName[d.Name] = d
		names = append(names, d.Name)
	}
	for _, kv := range kvs {
		d, ok := byName[kv.Name]
		if !ok {
			msg := fmt.Sprintf("unknown parameter %q%s", kv.Name, suggest.DidYouMean(kv.Name, names))
			return nil, p.paramError(msg)
		}
		v, err := ParseValue(d.Type, kv.Value)
		if err != nil {
			return nil, p.paramError(fmt.Sprintf("parameter %s: %v", d.Name, err))
		}
		if !d.allowed(v) {
			var choices []string
			for _, c := range d.Choices {
				choices = append(choices, plain(c))
			}
			return nil, p.paramError(fmt.Sprintf("parameter %s: %q is not one of %s%s", d.Name, kv.Value, d.choiceList(), suggest.DidYouMean(kv.Value, choices)))
		}
		values[d.Name] = v
	}
	return values, nil
}

func (p *Plan) paramError(msg string) error {
	return &exit.Error{Code: exit.Usage, Msg: msg, Hint: p.ParamTable()}
}

// ParamTable lists the declared parameters, one per line.
func (p *Plan) ParamTable() string {
	if len(p.Params) == 0 {
		return p.Name + " declares no parameters"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "parameters of %s:\n", p.Name)
	width := 0
	for _, d := range p.Params {
		width = max(width, len(d.Name))
	}
	for _, d := range p.Params {
		line := fmt.Sprintf("  -p %-*s  %-6s  default %s", width, d.Name, d.Type, plain(d.Default))
		if len(d.Choices) > 0 {
			line += "  (" + d.choiceList() + ")"
		}
		if d.Help != "" {
			line += "  " + d.Help
		}
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// ParamNames returns the declared names, sorted.
func (p *Plan) ParamNames() []string {
	var out []string
	for _, d := range p.Params {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}

// ChoiceStrings returns a parameter's choices as typed on a command line.
func (d *Param) ChoiceStrings() []string {
	var out []string
	for _, c := range d.Choices {
		out = append(out, plain(c))
	}
	return out
}

const paramsKey = "plate.params"

type boundParams struct {
	plan   string
	values map[string]starlark.Value
}

// paramBuiltin returns the bound value of a declared parameter. It may only
// be called as a top-level statement of the plan being run.
func paramBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var def, choices starlark.Value
	var help string
	if err := starlark.UnpackArgs("param", args, kwargs, "name", &name, "default", &def, "choices?", &choices, "help?", &help); err != nil {
		return nil, err
	}
	bp, _ := thread.Local(paramsKey).(*boundParams)
	caller := thread.CallFrame(1)
	if bp == nil || thread.CallStackDepth() != 2 || caller.Pos.Filename() != bp.plan {
		return nil, exit.Errorf(exit.Usage, "param: %q: parameters are declared only at the top level of the plan being run, with literal arguments", name)
	}
	v, ok := bp.values[name]
	if !ok {
		return nil, exit.Errorf(exit.Usage, "param: %q must be declared as a statement of its own at the top level of the plan, with literal arguments", name)
	}
	return v, nil
}

func didYouMean(name string, candidates []string) string {
	return suggest.DidYouMean(name, candidates)
}
