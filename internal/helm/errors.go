package helm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/plate-dev/plate/internal/exit"
	"github.com/plate-dev/plate/internal/kube"
)

func validName(name string) error {
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return exit.Errorf(exit.Usage, "release name %q is invalid: lowercase letters, digits and '-', at most 53 characters, starting and ending with a letter or digit", name)
	}
	return nil
}

// isClusterErr reports whether err came from talking to the cluster
// rather than from the chart or its values.
func isClusterErr(err error) bool {
	var st apierrors.APIStatus
	var ne net.Error
	var ue *url.Error
	var we *kube.ErrWrite
	return errors.As(err, &st) || errors.As(err, &ne) || errors.As(err, &ue) || errors.As(err, &we) ||
		strings.Contains(err.Error(), "Kubernetes cluster unreachable")
}

// clusterErr turns a failed request to the cluster into a run-time error;
// a cluster that cannot be reached is named with its context and server.
func (c *Client) clusterErr(kc *kube.Client, err error) error {
	var ne net.Error
	var ue *url.Error
	if kc != nil && (errors.As(err, &ne) || errors.As(err, &ue)) {
		return c.unreachable(kc, err)
	}
	return exit.Wrap(exit.PlanFailed, err)
}

var (
	// parse error at (web/templates/x.yaml:12): msg
	// execution error at (web/templates/x.yaml:12:3): msg
	helmTemplateErr = regexp.MustCompile(`^(?:parse|execution) error (?:at|in) \(([^)]+)\): (.*)$`)
	// template: web/templates/x.yaml:12:3: executing "…" at <…>: msg
	goTemplateErr = regexp.MustCompile(`^template: ([^:\s]+:\d+(?::\d+)?): (?:executing "[^"]*" at <([^>]*)>: )?(.*)$`)
	yamlParseErr  = regexp.MustCompile(`^YAML parse error on ([^:]+): (?:error converting YAML to JSON: )?(.*)$`)
)

// renderErr explains an error from rendering a chart (templates, values,
// schema, manifest validation) as a usage error; errors from the cluster
// stay run-time errors.
func (c *Client) renderErr(kc *kube.Client, src ChartSource, err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isClusterErr(err) {
		return c.clusterErr(kc, err)
	}
	msg := strings.TrimSpace(err.Error())
	if m := helmTemplateErr.FindStringSubmatch(msg); m != nil {
		return exit.Errorf(exit.Usage, "chart %s: template %s: %s", src, m[1], m[2])
	}
	if m := goTemplateErr.FindStringSubmatch(msg); m != nil {
		detail := m[3]
		if m[2] != "" {
			detail = "at <" + m[2] + ">: " + detail
		}
		return exit.Errorf(exit.Usage, "chart %s: template %s: %s", src, m[1], detail)
	}
	if m := yamlParseErr.FindStringSubmatch(msg); m != nil {
		return exit.Errorf(exit.Usage, "chart %s: template %s renders invalid YAML: %s", src, m[1], m[2])
	}
	if rest, ok := strings.CutPrefix(msg, "values don't meet the specifications of the schema(s) in the following chart(s):"); ok {
		if vs := parseSchemaReport(rest); len(vs) > 0 {
			se := &SchemaError{Chart: src.String(), Violations: vs}
			return &exit.Error{Code: exit.Usage, Msg: se.Error(), Err: se}
		}
		return exit.Errorf(exit.Usage, "chart %s: values do not match values.schema.json:%s", src, schemaDetail(rest))
	}
	if i := strings.Index(msg, "Unable to continue with "); i >= 0 {
		// An object of the chart exists and belongs to no release or to
		// another one: a state of the cluster, not a mistake in the plan.
		detail := msg[i:]
		if j := strings.Index(detail, ": "); j >= 0 {
			detail = detail[j+2:]
		}
		return exit.Errorf(exit.PlanFailed, "chart %s: %s", src, detail).
			WithHint("delete the object, or give it the release's meta.helm.sh/release-name and meta.helm.sh/release-namespace annotations and app.kubernetes.io/managed-by=Helm label to adopt it")
	}
	if strings.Contains(msg, "unable to build kubernetes objects") {
		return exit.Errorf(exit.Usage, "chart %s renders objects the cluster rejects: %s", src, trimBuild(msg))
	}
	return exit.Errorf(exit.Usage, "chart %s: %s", src, msg)
}

// attributeErr names, in a values.schema.json refusal among err, the
// values file or set= that gave each bad value (see attribute), in its
// message and in its SchemaError.
func attributeErr(err error, srcs []valuesSource, defaults map[string]any) error {
	var xe *exit.Error
	var se *SchemaError
	if !errors.As(err, &xe) || !errors.As(err, &se) {
		return err
	}
	attribute(se.Violations, srcs, defaults)
	xe.Msg = se.Error()
	return err
}

// schemaDetail formats the schema validator's report, one violation a line.
func schemaDetail(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return b.String()
}

func trimBuild(msg string) string {
	for _, p := range []string{
		"unable to build kubernetes objects from release manifest: ",
		"unable to build kubernetes objects from new release manifest: ",
	} {
		if i := strings.Index(msg, p); i >= 0 {
			return msg[i+len(p):]
		}
	}
	return msg
}

// runErr explains an error of an install, upgrade, rollback or uninstall
// that had started to change the cluster.
func (c *Client) runErr(kc *kube.Client, what string, timeout time.Duration, err error) error {
	var xe *exit.Error
	if errors.As(err, &xe) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &exit.Error{Code: exit.Timeout, Msg: fmt.Sprintf("%s: timed out after %s", what, timeout), Err: err}
	}
	if strings.Contains(err.Error(), "timed out waiting for the condition") {
		// A hook outlived the timeout (Helm's own wait gave up first).
		return &exit.Error{Code: exit.Timeout, Msg: fmt.Sprintf("%s: timed out after %s: %v", what, timeout, err), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return &exit.Error{Code: exit.Interrupted, Msg: what + ": interrupted", Err: err}
	}
	var ne net.Error
	if kc != nil && errors.As(err, &ne) {
		return c.unreachable(kc, err)
	}
	return &exit.Error{Code: exit.PlanFailed, Msg: fmt.Sprintf("%s: %v", what, err), Err: err}
}

// ended gives err, from an operation whose context (op, made from ctx with
// a timeout) ended, the code of why it ended: an interrupt when ctx was
// cancelled, a timeout otherwise. Errors that already say so, and errors
// of operations whose context is still live, are returned as they are.
func ended(ctx, op context.Context, what string, timeout time.Duration, err error) error {
	if !kube.Ended(op) {
		return err
	}
	var xe *exit.Error
	if errors.As(err, &xe) && (xe.Code == exit.Timeout || xe.Code == exit.Interrupted) {
		return err
	}
	if ctx.Err() != nil {
		return &exit.Error{Code: exit.Interrupted, Msg: what + ": interrupted", Err: err}
	}
	return &exit.Error{Code: exit.Timeout, Msg: fmt.Sprintf("%s: timed out after %s", what, timeout), Err: err}
}
