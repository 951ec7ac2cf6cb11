package trace

import (
	"regexp"
	"sort"
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
