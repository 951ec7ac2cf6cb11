package helm

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/plate-dev/plate/internal/exit"
)

// Secret values reach Helm in the values of a release: marked with
// secret() (InstallRequest.Values.Secrets), or under secret-looking keys
// of values files and set= (password, token, key, …). They must not reach
// the user through a diff, an error message or a description Helm stores
// with a failed revision (plate history and status show those). This file
// scrubs them from all three; backups keep them.

// installSecrets are the strings an install request must never show: the
// secret() values and the values under secret-looking keys.
func installSecrets(req InstallRequest, vals map[string]any) []string {
	return append(append([]string(nil), req.Values.Secrets...), valueSecrets(vals)...)
}

// configSecrets are the secret values a stored revision holds: those under
// secret-looking keys, and those at the paths its install recorded as
// secret() (see SecretPathsKey).
func configSecrets(r *release.Release) []string {
	if r == nil {
		return nil
	}
	return append(valueSecrets(r.Config), recordedSecrets(r)...)
}

// SecretPathsKey is the annotation of the chart a release revision stores
// (release.Chart.Metadata.Annotations) in which plate records the values
// paths that held secret() values, as JSON: [["db","url"],["env",0,"value"]].
// Helm keeps it with the revision it belongs to (a rollback copies the
// target's chart, a backup holds the storage Secrets, a restore writes them
// back), so the diffs of rollback, restore and recover hide those values
// long after the plan that marked them ran. Only paths are recorded, never
// values; Helm's storage already holds the values.
//
// The chart's metadata was chosen over the alternatives: the values
// themselves (a reserved key would reach the templates and trip a
// values.schema.json that allows no extra keys), release labels (a label
// value holds 63 characters of a narrow alphabet, and Helm copies labels
// onto the storage Secret), and an object of plate's own (one more write
// and permission per release, and a record that a rollback or a backup
// would not carry along).
const SecretPathsKey = "plate.dev/secret-values"

// secretPaths lists the paths in vals of the strings that contain one of
// secrets (3 bytes or longer, as diffs scrub them), sorted.
func secretPaths(vals map[string]any, secrets []string) [][]any {
	var long []string
	for _, s := range secrets {
		if len(s) >= 3 {
			long = append(long, s)
		}
	}
	if len(long) == 0 {
		return nil
	}
	var out [][]any
	var walk func(v any, path []any, depth int)
	walk = func(v any, path []any, depth int) {
		if depth > 100 {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], append(path[:len(path):len(path)], k), depth+1)
			}
		case []any:
			for i, y := range x {
				walk(y, append(path[:len(path):len(path)], i), depth+1)
			}
		case string:
			for _, s := range long {
				if strings.Contains(x, s) {
					out = append(out, path)
					return
				}
			}
		}
	}
	walk(vals, nil, 0)
	return out
}

// markSecretPaths records paths in the annotations of ch's metadata (a
// copy: a loaded chart may serve other calls), or removes the record when
// there are none.
func markSecretPaths(ch *chart.Chart, paths [][]any) {
	if ch == nil || ch.Metadata == nil {
		return
	}
	if _, had := ch.Metadata.Annotations[SecretPathsKey]; !had && len(paths) == 0 {
		return
	}
	md := *ch.Metadata
	md.Annotations = make(map[string]string, len(ch.Metadata.Annotations)+1)
	for k, v := range ch.Metadata.Annotations {
		md.Annotations[k] = v
	}
	delete(md.Annotations, SecretPathsKey)
	if len(paths) > 0 {
		js, _ := json.Marshal(paths)
		md.Annotations[SecretPathsKey] = string(js)
	}
	ch.Metadata = &md
}

// recordedSecrets returns the strings of r's values at the paths its chart
// records as secret.
func recordedSecrets(r *release.Release) []string {
	if r.Chart == nil || r.Chart.Metadata == nil || r.Chart.Metadata.Annotations[SecretPathsKey] == "" {
		return nil
	}
	var paths [][]any
	if json.Unmarshal([]byte(r.Chart.Metadata.Annotations[SecretPathsKey]), &paths) != nil {
		return nil
	}
	var out []string
	for _, p := range paths {
		if s, ok := valueAt(r.Config, p); ok {
			out = append(out, s)
		}
	}
	return out
}

// valueAt returns the string at path in vals.
func valueAt(vals map[string]any, path []any) (string, bool) {
	var cur any = vals
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return "", false
			}
			cur = m[k]
		case float64:
			l, ok := cur.([]any)
			if !ok || k < 0 || int(k) >= len(l) || k != float64(int(k)) {
				return "", false
			}
			cur = l[int(k)]
		default:
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok
}

// hasSecret reports whether s contains one of secrets (or its base64).
func hasSecret(s string, secrets []string) bool {
	return s != "" && scrub(s, secrets) != s
}

// scrubError returns err with every secret replaced by <redacted> in its
// message and hint, keeping its exit code. An error without secrets is
// returned as it is.
func scrubError(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	var xe *exit.Error
	if errors.As(err, &xe) && xe == err {
		if !hasSecret(xe.Msg, secrets) && !hasSecret(xe.Hint, secrets) && !hasSecret(xe.Backtrace, secrets) {
			return err
		}
		cp := *xe
		cp.Msg, cp.Hint, cp.Backtrace = scrub(xe.Msg, secrets), scrub(xe.Hint, secrets), scrub(xe.Backtrace, secrets)
		cp.Err = redactedCause{err}
		return &cp
	}
	if !hasSecret(err.Error(), secrets) {
		return err
	}
	return &exit.Error{Code: exit.Code(err), Msg: scrub(err.Error(), secrets), Err: redactedCause{err}}
}

// redactedCause keeps an error for errors.Is and errors.As while its text
// says nothing: the message that wraps it is the scrubbed one.
type redactedCause struct{ err error }

func (r redactedCause) Error() string { return "(redacted)" }
func (r redactedCause) Unwrap() error { return r.err }

// scrubStored rewrites the description Helm stored with the latest
// revision of a release (a failed upgrade stores the error, which may
// quote a value) when it holds a secret. Best effort: the operation's own
// error is what the user needs.
func (c *Client) scrubStored(ctx context.Context, name, namespace string, secrets []string) {
	if !c.Writes() || len(secrets) == 0 {
		return
	}
	cfg, _, done, err := c.config(ctx, namespace)
	if err != nil {
		return
	}
	defer done()
	last, err := cfg.Releases.Last(name)
	if err != nil || last.Info == nil || !hasSecret(last.Info.Description, secrets) {
		return
	}
	last.Info.Description = scrub(last.Info.Description, secrets)
	_ = cfg.Releases.Update(last)
}

// scrubDescription hides the secret-looking values of r's own config in
// its description (for revisions that failed before plate scrubbed them,
// or that another tool made).
func scrubDescription(r *release.Release) string {
	if r.Info == nil {
		return ""
	}
	d := r.Info.Description
	if secrets := configSecrets(r); hasSecret(d, secrets) {
		return scrub(d, secrets)
	}
	return d
}
