package trace

import (
	"encoding/base64"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces every value that must not be shown.
const Redacted = "<redacted>"

var secretKey = regexp.MustCompile(`(?i)(password|passwd|token|secret|key|credential)`)

// SecretName reports whether a key or argument name looks like it holds a
// secret (password, token, secret, key, credential, in any case).
func SecretName(name string) bool { return secretKey.MatchString(name) }

// Secret marks a value that must never be printed, whatever its key.
type Secret struct{ Value any }

// Redact returns a copy of v in which every value under a secret-looking key,
// and every Secret, is replaced by Redacted. v is made of the values JSON
// decoding produces (maps, slices, strings, numbers, bools, nil) plus Secret.
func Redact(v any) any {
	switch v := v.(type) {
	case Secret, *Secret:
		return Redacted
	case map[string]any:
		out := make(map[string]any, len(v))
		isSecret := v["kind"] == "Secret"
		for k, x := range v {
			if isSecret && (k == "data" || k == "stringData") && x != nil {
				out[k] = redactValues(x)
				continue
			}
			if SecretName(k) && x != nil {
				out[k] = Redacted
				continue
			}
			out[k] = Redact(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = Redact(x)
		}
		return out
	default:
		return v
	}
}

// redactValues keeps a Secret's keys visible and hides every value.
func redactValues(x any) any {
	m, ok := x.(map[string]any)
	if !ok {
		return Redacted
	}
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = Redacted
	}
	return out
}

// RedactArgs redacts a builtin's arguments; an argument whose name looks
// secret is redacted whole.
func RedactArgs(args map[string]any) map[string]any {
	if len(args) == 0 {
		return nil
	}
	out := Redact(map[string]any(args)).(map[string]any)
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Scrub replaces every occurrence of a secret (and of its base64 form) in
// s by Redacted. Secrets shorter than 3 bytes are left alone: replacing
// them would mangle the text and hide nothing.
func Scrub(s string, secrets []string) string {
	if len(secrets) == 0 || s == "" {
		return s
	}
	var olds []string
	for _, sec := range secrets {
		if len(sec) < 3 {
			continue
		}
		olds = append(olds, sec, base64.StdEncoding.EncodeToString([]byte(sec)))
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	for _, o := range olds {
		s = strings.ReplaceAll(s, o, Redacted)
	}
	return s
}

// Scrub replaces every secret in d's unified diffs by Redacted (see
// Scrub).
func (d *Diff) Scrub(secrets []string) {
	if d == nil {
		return
	}
	for i := range d.Objects {
		d.Objects[i].Diff = Scrub(d.Objects[i].Diff, secrets)
	}
}
