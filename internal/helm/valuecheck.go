package helm

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/suggest"
)

// valuesSource is one source of a release's values: a values file or the
// set= dict, decoded.
type valuesSource struct {
	// Name is how messages name it: "values file values/prod.yaml" or
	// "set=".
	Name   string
	Values map[string]any
}

// sources reads the files and expands Set, in the order they apply.
func (v Values) sources() ([]valuesSource, error) {
	var out []valuesSource
	for _, f := range v.Files {
		m, err := readValuesFile(f)
		if err != nil {
			return nil, err
		}
		name := f.Name
		if name == "" {
			name = f.Path
		}
		out = append(out, valuesSource{Name: "values file " + name, Values: m})
	}
	if len(v.Set) > 0 {
		set, err := expandSet(v.Set)
		if err != nil {
			return nil, err
		}
		out = append(out, valuesSource{Name: "set=", Values: set})
	}
	return out, nil
}

// UnknownValue is a values key that the chart neither has in its
// values.yaml nor allows in its values.schema.json.
type UnknownValue struct {
	// Key is the dotted path of the key ("image.tga").
	Key string `json:"key"`
	// Source is the values file or set= that gave it.
	Source string `json:"source"`
	// Suggestion is the nearest key the chart has at that level, if any.
	Suggestion string `json:"suggestion,omitempty"`
}

func (u UnknownValue) String() string {
	s := fmt.Sprintf("%s: %s: not a value of the chart", u.Source, u.Key)
	if u.Suggestion != "" {
		s += "; did you mean " + u.Suggestion + "?"
	}
	return s
}

// unknownValues lists the keys of srcs that ch does not know. A key is
// known when the chart's values.yaml has it, when its schema lists it
// (properties, patternProperties) or allows any key at that level
// (additionalProperties true or a schema), or when it is "global" or the
// name (or alias) of a dependency, whose own values and schema then judge
// the keys under it. Under a key whose default is an empty map or null
// (podAnnotations: {}) and in lists, every key is taken as known: the
// chart leaves them free.
func unknownValues(ch *chart.Chart, srcs []valuesSource) []UnknownValue {
	var out []UnknownValue
	seen := map[string]bool{}
	for _, s := range srcs {
		var found []UnknownValue
		checkLevel(levelOf(ch), s.Values, "", &found)
		for _, u := range found {
			u.Source = s.Name
			if !seen[u.Source+"\x00"+u.Key] {
				seen[u.Source+"\x00"+u.Key] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// level is what the chart knows at one level of its values: the defaults
// and the schema there, and the dependencies at the top.
type level struct {
	defaults map[string]any
	schema   map[string]any
	deps     map[string]*chart.Chart
	top      bool
}

func levelOf(ch *chart.Chart) level {
	l := level{defaults: ch.Values, top: true, deps: map[string]*chart.Chart{}}
	if len(ch.Schema) > 0 {
		_ = json.Unmarshal(ch.Schema, &l.schema)
	}
	loaded := map[string]*chart.Chart{}
	for _, d := range ch.Dependencies() {
		if d.Metadata != nil {
			loaded[d.Metadata.Name] = d
		}
	}
	if ch.Metadata != nil {
		for _, d := range ch.Metadata.Dependencies {
			name := d.Name
			if d.Alias != "" {
				name = d.Alias
			}
			l.deps[name] = loaded[d.Name]
		}
	}
	for name, d := range loaded {
		if _, ok := l.deps[name]; !ok {
			l.deps[name] = d
		}
	}
	return l
}

func checkLevel(l level, given map[string]any, prefix string, out *[]UnknownValue) {
	if len(l.defaults) == 0 && l.schema == nil && len(l.deps) == 0 {
		return // a free-form map
	}
	props, _ := l.schema["properties"].(map[string]any)
	patterns, _ := l.schema["patternProperties"].(map[string]any)
	anyKey := false
	switch ap := l.schema["additionalProperties"].(type) {
	case bool:
		anyKey = ap
	case map[string]any:
		anyKey = true
	}
	if anyKey {
		return
	}
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := prefix + strings.ReplaceAll(k, ".", `\.`)
		sub, isMap := given[k].(map[string]any)
		if l.top && k == "global" {
			continue
		}
		if d, ok := l.deps[k]; ok && l.top {
			if d != nil && isMap {
				checkLevel(levelOf(d), sub, path+".", out)
			}
			continue
		}
		def, inDefaults := l.defaults[k]
		propSchema, inProps := props[k].(map[string]any)
		if !inDefaults && !inProps && !matchesPattern(k, patterns) {
			*out = append(*out, UnknownValue{Key: path, Suggestion: suggestKey(prefix, k, l, props)})
			continue
		}
		if !isMap {
			continue
		}
		next := level{schema: propSchema}
		if dm, ok := def.(map[string]any); ok {
			next.defaults = dm
		} else if inDefaults && def != nil {
			continue // a map given where the chart has a scalar or a list: the schema or the templates judge it
		}
		if len(next.defaults) == 0 && (propSchema == nil || propSchema["properties"] == nil) {
			continue // free-form: podAnnotations: {}
		}
		checkLevel(next, sub, path+".", out)
	}
}

func matchesPattern(k string, patterns map[string]any) bool {
	for p := range patterns {
		if re, err := regexp.Compile(p); err == nil && re.MatchString(k) {
			return true
		}
	}
	return false
}

// suggestKey is the nearest key the chart has at the level of k, as a
// dotted path.
func suggestKey(prefix, k string, l level, props map[string]any) string {
	var cands []string
	for c := range l.defaults {
		cands = append(cands, c)
	}
	for c := range props {
		cands = append(cands, c)
	}
	if l.top {
		for c := range l.deps {
			cands = append(cands, c)
		}
	}
	sort.Strings(cands)
	if n := suggest.Nearest(k, cands); n != "" && n != k {
		return prefix + strings.ReplaceAll(n, ".", `\.`)
	}
	return ""
}

// unknownValuesError is --strict's refusal of unknown values keys.
func unknownValuesError(src ChartSource, unknown []UnknownValue) error {
	lines := make([]string, len(unknown))
	for i, u := range unknown {
		lines[i] = u.String()
	}
	return &exit.Error{Code: exit.Usage,
		Msg:  fmt.Sprintf("chart %s: %s", src, strings.Join(lines, "; ")),
		Hint: "--strict refuses values keys the chart does not have; fix the key, or run without --strict to only warn",
		Err:  &UnknownValuesError{Chart: src.String(), Unknown: unknown}}
}

// UnknownValuesError carries the unknown keys --strict refused, for the
// trace's detail.
type UnknownValuesError struct {
	Chart   string         `json:"chart"`
	Unknown []UnknownValue `json:"unknown_values"`
}

func (e *UnknownValuesError) Error() string {
	return fmt.Sprintf("chart %s: %d values keys the chart does not have", e.Chart, len(e.Unknown))
}

// SchemaViolation is one reason the values do not match the chart's
// values.schema.json.
type SchemaViolation struct {
	// Path is the dotted path of the value ("image.tag", "hosts[0].name");
	// empty for the values as a whole.
	Path string `json:"path"`
	// Reason is what the schema wants and what the value is: "got string,
	// want integer", "minimum: got 0, want 1".
	Reason string `json:"reason"`
	// Source is the values file or set= that gave the value, or the
	// chart's values.yaml; empty when no value is there (a missing
	// property).
	Source string `json:"source,omitempty"`
}

func (v SchemaViolation) String() string {
	s := v.Reason
	if v.Path != "" {
		s = v.Path + ": " + s
	}
	if v.Source != "" {
		s += " (from " + v.Source + ")"
	}
	return s
}

// SchemaError is a values.schema.json refusal, violation by violation.
type SchemaError struct {
	Chart      string            `json:"chart"`
	Violations []SchemaViolation `json:"schema_violations"`
}

func (e *SchemaError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.String()
	}
	return fmt.Sprintf("chart %s: values do not match values.schema.json: %s", e.Chart, strings.Join(parts, "; "))
}

// "- at '/image/tag': minLength: got 0, want 1"
var schemaLine = regexp.MustCompile(`^-?\s*at '([^']*)': (.*)$`)

// parseSchemaReport turns the validator's report into violations.
func parseSchemaReport(report string) []SchemaViolation {
	var out []SchemaViolation
	for _, l := range strings.Split(report, "\n") {
		l = strings.TrimSpace(l)
		m := schemaLine.FindStringSubmatch(l)
		if m == nil {
			if strings.HasPrefix(l, "- ") {
				out = append(out, SchemaViolation{Reason: strings.TrimPrefix(l, "- ")})
			}
			continue
		}
		out = append(out, SchemaViolation{Path: pointerPath(m[1]), Reason: m[2]})
	}
	// The validator's order varies from run to run.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// pointerPath turns a JSON pointer ("/hosts/0/name") into a dotted path
// ("hosts[0].name").
func pointerPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return ""
	}
	var b strings.Builder
	for i, seg := range strings.Split(p, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(seg); err == nil && i > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ReplaceAll(seg, ".", `\.`))
	}
	return b.String()
}

// attribute names, for each violation, the source that gave its value:
// the last of srcs whose values hold the path (set= wins over files, a
// later file over an earlier one), else the chart's values.yaml when its
// defaults hold it.
func attribute(vs []SchemaViolation, srcs []valuesSource, defaults map[string]any) {
	for i := range vs {
		if vs[i].Path == "" {
			continue
		}
		segs := pathSegments(vs[i].Path)
		for j := len(srcs) - 1; j >= 0; j-- {
			if holds(srcs[j].Values, segs) {
				vs[i].Source = srcs[j].Name
				break
			}
		}
		if vs[i].Source == "" && holds(defaults, segs) {
			vs[i].Source = "the chart's values.yaml"
		}
	}
}

// pathSegments splits a dotted path back into its keys, dropping list
// indexes: the value of a list comes whole from one source.
func pathSegments(path string) []string {
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	segs, err := splitPath(path)
	if err != nil {
		return nil
	}
	return segs
}

func holds(m map[string]any, segs []string) bool {
	if len(segs) == 0 {
		return false
	}
	cur := m
	for i, s := range segs {
		v, ok := cur[s]
		if !ok {
			return false
		}
		if i == len(segs)-1 {
			return true
		}
		if cur, ok = v.(map[string]any); !ok {
			return false
		}
	}
	return false
}
