// Package selector picks the releases of a plan that a run acts on, as
// helmfile's --selector does: `plate run -l name=plate-api` changes only
// the release plate-api; every other release step is skipped with a trace
// line that says so.
//
// A selector is a comma-separated list of terms that must all hold
// (name=plate-api,namespace=plate-stg); terms are key=value or key!=value,
// and the keys are name (the release name) and namespace (the release's
// namespace). Several selectors (-l given more than once) select a release
// when any of them does. No selector selects every release.
package selector

import (
	"fmt"
	"strings"
)

// Keys are the keys a term may name.
var Keys = []string{"name", "namespace"}

type term struct {
	key, value string
	not        bool
}

// Set is the selectors of a run; the zero Set selects everything.
type Set struct {
	raw []string
	any [][]term
}

// Parse parses the -l arguments.
func Parse(args []string) (Set, error) {
	var s Set
	for _, a := range args {
		var terms []term
		for _, part := range strings.Split(a, ",") {
			part = strings.TrimSpace(part)
			t := term{}
			k, v, ok := strings.Cut(part, "!=")
			if ok {
				t.not = true
			} else if k, v, ok = strings.Cut(part, "="); !ok {
				return Set{}, fmt.Errorf("-l/--selector %q: want key=value or key!=value terms separated by commas, such as name=plate-api", a)
			}
			t.key, t.value = strings.TrimSpace(k), strings.TrimSpace(v)
			if t.key != "name" && t.key != "namespace" {
				return Set{}, fmt.Errorf("-l/--selector %q: unknown key %q; want one of %s", a, t.key, strings.Join(Keys, ", "))
			}
			if t.value == "" {
				return Set{}, fmt.Errorf("-l/--selector %q: %s has no value", a, t.key)
			}
			terms = append(terms, t)
		}
		s.any = append(s.any, terms)
		s.raw = append(s.raw, a)
	}
	return s, nil
}

// Empty reports whether s selects everything.
func (s Set) Empty() bool { return len(s.any) == 0 }

// Match reports whether s selects release name in namespace.
func (s Set) Match(name, namespace string) bool {
	if s.Empty() {
		return true
	}
	for _, terms := range s.any {
		ok := true
		for _, t := range terms {
			got := name
			if t.key == "namespace" {
				got = namespace
			}
			if (got == t.value) == t.not {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// String is the selectors as given: "-l name=a -l name=b".
func (s Set) String() string {
	parts := make([]string, len(s.raw))
	for i, r := range s.raw {
		parts[i] = "-l " + r
	}
	return strings.Join(parts, " ")
}
