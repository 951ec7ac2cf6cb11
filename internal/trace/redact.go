package trace

import (
	"encoding/base64"
	"regexp"
	"sort"
	"strings"
)

// Redacted replaces every value that must not be shown.
const Redacted = "<redacted>"

// A secret() value that Starlark turns into text (formatting, str(),
// concatenation) becomes a sealed token, TokenOpen + payload + TokenClose:
// the payload is the value encrypted with a key of the running process
// (builtins/secret.go), so the text carries the secret to the builtins
// that reveal it, while anything that shows it shows only ciphertext, and
// every output replaces the token by Redacted.
const (
	TokenOpen  = "\u27e6plate-secret:"
	TokenClose = "\u27e7"
)

// SecretToken matches one whole token; its group is the payload.
var SecretToken = regexp.MustCompile(regexp.QuoteMeta(TokenOpen) + `([A-Za-z0-9_-]*)` + regexp.QuoteMeta(TokenClose))

// cutToken matches what remains of a token that a string operation cut:
// an opening (or a part of it, or the word plate-secret:) with the payload
// after it, or a payload with its close.
var cutToken = regexp.MustCompile("\u27e6[A-Za-z0-9_:-]*\u27e7?|plate-secret:[A-Za-z0-9_-]*\u27e7?|[A-Za-z0-9_-]*\u27e7")

// HasToken reports whether s holds a token, whole or cut (its brackets or
// the word plate-secret:). A piece cut from inside the payload holds
// neither and cannot be recognised; it is ciphertext, never the secret.
func HasToken(s string) bool {
	return strings.Contains(s, "\u27e6") || strings.Contains(s, TokenClose) || strings.Contains(s, "plate-secret:")
}

// RedactTokens replaces every token in s, whole or cut, by Redacted: the
// rest of the text (what the plan wrote around the secret) stays.
func RedactTokens(s string) string {
	if !HasToken(s) {
		return s
	}
	s = SecretToken.ReplaceAllLiteralString(s, Redacted)
	return cutToken.ReplaceAllLiteralString(s, Redacted)
}

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
			k = RedactTokens(k)
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
	case string:
		return RedactTokens(v)
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
		d.Objects[i].Diff = maskPaired(d.Objects[i].Diff, Scrub(d.Objects[i].Diff, secrets))
	}
}

// maskPaired masks, in a scrubbed unified diff, the old value of every key
// whose new value held a secret: a live object (a kube_apply target) may
// hold an earlier secret the plan no longer knows, under the same key.
// orig is the diff before scrubbing, line for line.
func maskPaired(orig, scrubbed string) string {
	ol, sl := strings.Split(orig, "\n"), strings.Split(scrubbed, "\n")
	if len(ol) != len(sl) {
		return scrubbed
	}
	keys := map[string]bool{}
	for i, l := range sl {
		if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") && l != ol[i] {
			if k := diffKey(l[1:]); k != "" {
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		return scrubbed
	}
	for i, l := range sl {
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") {
			if k := diffKey(l[1:]); keys[k] {
				sl[i] = "-" + k + Redacted
			}
		}
	}
	return strings.Join(sl, "\n")
}

// diffKey is the indentation and key of a YAML line ("  url: "), or "".
func diffKey(line string) string {
	i := strings.Index(line, ": ")
	if i < 0 || strings.TrimSpace(line[:i]) == "" {
		return ""
	}
	return line[:i+2]
}
