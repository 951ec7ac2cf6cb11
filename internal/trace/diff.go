package trace

import (
	"fmt"
	"strings"
)

// DiffMode says how much of a step's diff the text trace shows.
type DiffMode string

// The diff modes of `plate run --diff`.
const (
	// DiffFull shows one line per object that changes, the unified diff
	// of each (live against new) under it, and every value that changes
	// with its old and new value (masked).
	DiffFull DiffMode = "full"
	// DiffSummary shows one line per object that changes and one line
	// naming the values that change, without their contents.
	DiffSummary DiffMode = "summary"
	// DiffNone shows no diff: the trace line's counts only.
	DiffNone DiffMode = "none"
)

// ParseDiffMode parses the value of --diff.
func ParseDiffMode(s string) (DiffMode, error) {
	switch m := DiffMode(s); m {
	case DiffFull, DiffSummary, DiffNone:
		return m, nil
	}
	return "", fmt.Errorf("want none, summary or full, got %q", s)
}

// Diff is what a step changes (in a dry pass: would change), as data: the
// objects that are created, changed or removed, with a unified diff of
// live against new for each, how many stay unchanged, and the values of a
// release that change. Every string in it is already masked: Secret data
// and secret values read <redacted>.
type Diff struct {
	Objects   []ObjectDiff `json:"objects,omitempty"`
	Unchanged int          `json:"unchanged,omitempty"`
	Values    []ValueDiff  `json:"values,omitempty"`
}

// The changes an ObjectDiff or a ValueDiff records.
const (
	DiffCreated = "created"
	DiffChanged = "changed"
	DiffRemoved = "removed"
	DiffAdded   = "added"
)

// ObjectDiff is the change to one object.
type ObjectDiff struct {
	// Object is "Kind/namespace/name" ("Kind/name" for a cluster-scoped
	// object).
	Object string `json:"object"`
	// Change is created, changed or removed.
	Change string `json:"change"`
	// Diff is a unified diff of the object's YAML, live ("---") against
	// new ("+++"), without the fields that are not changes (managed
	// fields, status, resourceVersion, uid, generation,
	// creationTimestamp, Helm's own annotations).
	Diff string `json:"diff,omitempty"`
}

// ValueDiff is the change to one value of a release: Key is its dotted
// path ("image.tag"); From and To are the old and new values (absent for
// an added or a removed key), masked.
type ValueDiff struct {
	Key    string `json:"key"`
	Change string `json:"change"`
	From   any    `json:"from,omitempty"`
	To     any    `json:"to,omitempty"`
}

// Empty reports whether d records no change.
func (d *Diff) Empty() bool {
	return d == nil || len(d.Objects) == 0 && len(d.Values) == 0
}

// diffLine is one line of a rendered diff with its colour.
type diffLine struct {
	color, text string
}

// lines renders d for mode: a line per object that changes ("~
// Deployment/shop/web changed"), its unified diff under it in full mode,
// "= 3 unchanged", then the values ("values: ~ image.tag, + extra" in
// summary mode, one line per value in full mode).
func (d *Diff) lines(mode DiffMode) []diffLine {
	if d.Empty() || mode == DiffNone {
		return nil
	}
	var out []diffLine
	for _, o := range d.Objects {
		mark, color := changeMark(o.Change)
		out = append(out, diffLine{color, fmt.Sprintf("%s %s %s", mark, o.Object, o.Change)})
		if mode != DiffFull || o.Diff == "" {
			continue
		}
		for _, l := range strings.Split(strings.TrimRight(o.Diff, "\n"), "\n") {
			out = append(out, diffLine{unifiedColor(l), "    " + l})
		}
	}
	if d.Unchanged > 0 && len(d.Objects) > 0 {
		out = append(out, diffLine{ansiDim, fmt.Sprintf("= %d unchanged", d.Unchanged)})
	}
	if len(d.Values) == 0 {
		return out
	}
	if mode == DiffSummary {
		keys := make([]string, 0, len(d.Values))
		for _, v := range d.Values {
			mark, _ := changeMark(v.Change)
			keys = append(keys, mark+" "+v.Key)
		}
		return append(out, diffLine{"", "values: " + strings.Join(keys, ", ")})
	}
	out = append(out, diffLine{"", "values:"})
	for _, v := range d.Values {
		mark, color := changeMark(v.Change)
		var s string
		switch v.Change {
		case DiffAdded:
			s = fmt.Sprintf("  %s %s: %s", mark, v.Key, compactJSON(v.To))
		case DiffRemoved:
			s = fmt.Sprintf("  %s %s (was %s)", mark, v.Key, compactJSON(v.From))
		default:
			s = fmt.Sprintf("  %s %s: %s → %s", mark, v.Key, compactJSON(v.From), compactJSON(v.To))
		}
		out = append(out, diffLine{color, s})
	}
	return out
}

func changeMark(change string) (string, string) {
	switch change {
	case DiffCreated, DiffAdded:
		return "+", ansiGreen
	case DiffRemoved:
		return "-", ansiRed
	}
	return "~", ansiYellow
}

func unifiedColor(l string) string {
	switch {
	case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
		return ansiBold
	case strings.HasPrefix(l, "@@"):
		return ansiCyan
	case strings.HasPrefix(l, "+"):
		return ansiGreen
	case strings.HasPrefix(l, "-"):
		return ansiRed
	}
	return ""
}
