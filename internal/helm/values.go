package helm

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/plate-dev/plate/internal/exit"
)

// ValuesFile is a values file a plan names.
type ValuesFile struct {
	// Path is the file to read.
	Path string
	// Name is the file as the user knows it (relative to the project
	// root), for messages.
	Name string
}

// Values are a release's values as a plan gives them: files applied in
// order (a later file wins), then Set.
type Values struct {
	Files []ValuesFile
	// Set holds values that override the files. Its top-level keys may be
	// dotted paths: "image.tag" is {"image": {"tag": …}}; a literal dot is
	// written "\.". Keys of nested dicts are taken literally. Values keep
	// their types (an int stays an int, unlike helm --set).
	Set map[string]any
	// Secrets are the strings among the values that must never be shown:
	// diffs replace them with <redacted>.
	Secrets []string
}

// Merge reads the files and merges them and Set into one map. A missing
// file or a YAML error is a usage error naming the file and line.
func (v Values) Merge() (map[string]any, error) {
	srcs, err := v.sources()
	if err != nil {
		return nil, err
	}
	return mergeSources(srcs), nil
}

// mergeSources merges the sources in order: a later one wins.
func mergeSources(srcs []valuesSource) map[string]any {
	out := map[string]any{}
	for _, s := range srcs {
		out = mergeMaps(out, s.Values)
	}
	return out
}

var yamlLine = regexp.MustCompile(`(?:yaml|json): line (\d+): `)

func readValuesFile(f ValuesFile) (map[string]any, error) {
	name := f.Name
	if name == "" {
		name = f.Path
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exit.Errorf(exit.Usage, "values file %s: no such file", name)
		}
		return nil, exit.Errorf(exit.Usage, "values file %s: %v", name, err)
	}
	m, err := decodeYAML(data)
	if err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
		msg = strings.TrimPrefix(msg, "error unmarshaling JSON: while decoding JSON: ")
		if loc := yamlLine.FindStringSubmatchIndex(msg); loc != nil {
			line := msg[loc[2]:loc[3]]
			msg = msg[:loc[0]] + msg[loc[1]:]
			return nil, exit.Errorf(exit.Usage, "values file %s:%s: %s", name, line, strings.TrimPrefix(msg, "yaml: "))
		}
		if strings.Contains(msg, "cannot unmarshal") {
			return nil, exit.Errorf(exit.Usage, "values file %s: want a mapping of values at the top level", name)
		}
		return nil, exit.Errorf(exit.Usage, "values file %s: %s", name, msg)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// mergeMaps merges src into dst, recursively for maps: src wins. dst is
// modified and returned; src's maps are copied, never shared.
func mergeMaps(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergeMaps(dm, sm)
				continue
			}
			dst[k] = mergeMaps(map[string]any{}, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// expandSet turns the dotted top-level keys of set into nested maps. Keys
// are applied in sorted order, so "a" is set before "a.b" (which then
// overrides one field of it).
func expandSet(set map[string]any) (map[string]any, error) {
	out := map[string]any{}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path, err := splitPath(k)
		if err != nil {
			return nil, err
		}
		v := set[k]
		if m, ok := v.(map[string]any); ok {
			v = mergeMaps(map[string]any{}, m)
		}
		cur := out
		for i, p := range path {
			if i == len(path)-1 {
				if m, ok := v.(map[string]any); ok {
					if existing, ok := cur[p].(map[string]any); ok {
						cur[p] = mergeMaps(existing, m)
						break
					}
				}
				cur[p] = v
				break
			}
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
	}
	return out, nil
}

// splitPath splits a set= key at unescaped dots.
func splitPath(key string) ([]string, error) {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		switch ch := key[i]; {
		case ch == '\\' && i+1 < len(key) && key[i+1] == '.':
			b.WriteByte('.')
			i++
		case ch == '.':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(ch)
		}
	}
	parts = append(parts, b.String())
	for _, p := range parts {
		if p == "" {
			return nil, exit.Errorf(exit.Usage, "set: key %s has an empty path element", strconv.Quote(key))
		}
	}
	return parts, nil
}

// exactChartValues gives the chart's default values (values.yaml, its own
// and its subcharts') the integers beyond ±2^53 that Helm's loader turned
// into float64s: they are decoded again from the file (decodeYAML). Charts
// without such a number are left as Helm loaded them.
func exactChartValues(ch *chart.Chart) {
	for _, f := range ch.Raw {
		if f.Name != chartutil.ValuesfileName || !hasLongNumber(f.Data) {
			continue
		}
		if m, err := decodeYAML(f.Data); err == nil && m != nil {
			ch.Values = m
		}
	}
	for _, d := range ch.Dependencies() {
		exactChartValues(d)
	}
}

// hasLongNumber reports whether data holds a run of 16 or more digits, the
// shortest an integer beyond 2^53 can be written with.
func hasLongNumber(data []byte) bool {
	run := 0
	for _, b := range data {
		if b >= '0' && b <= '9' {
			run++
			if run >= 16 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
