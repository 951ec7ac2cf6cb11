package helm

import (
	"context"
	"errors"

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

// configSecrets are the secret-looking values a stored revision holds.
func configSecrets(r *release.Release) []string {
	if r == nil {
		return nil
	}
	return valueSecrets(r.Config)
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
