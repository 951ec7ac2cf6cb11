package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// auditPolicy logs every request at Metadata level once it completed,
// except the read-only traffic of the cluster's own components, which would
// only bloat the log.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["` + ControllerManagerUser + `", "` + SchedulerUser + `", "` + KwokUser + `", "system:apiserver"]
  verbs: ["get", "list", "watch"]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*"]
- level: Metadata
`

// MutatingVerbs are the audit verbs that change state.
var MutatingVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// AuditEvent is the part of an audit.k8s.io/v1 Event that the helpers use.
type AuditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int32 `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp metav1.MicroTime `json:"requestReceivedTimestamp"`
	StageTimestamp           metav1.MicroTime `json:"stageTimestamp"`
}

// EffectiveUser is the impersonated user if any, else the authenticated one.
func (e AuditEvent) EffectiveUser() string {
	if e.ImpersonatedUser != nil && e.ImpersonatedUser.Username != "" {
		return e.ImpersonatedUser.Username
	}
	return e.User.Username
}

// DryRun reports whether the request was a server-side dry run
// (?dryRun=All), which the API server audits under its verb but never
// persists.
func (e AuditEvent) DryRun() bool {
	u, err := url.Parse(e.RequestURI)
	if err != nil {
		return false
	}
	return len(u.Query()["dryRun"]) > 0
}

// Code is the response status code (0 if unknown).
func (e AuditEvent) Code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return int(e.ResponseStatus.Code)
}

// String is a one-line summary, for test failure messages.
func (e AuditEvent) String() string {
	return fmt.Sprintf("%s %s %s by %s -> %d", e.RequestReceivedTimestamp.Format(time.RFC3339Nano), e.Verb, e.RequestURI, e.EffectiveUser(), e.Code())
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	// Users keeps events whose effective user (see EffectiveUser) is one of
	// these, e.g. []string{AdminUser}.
	Users []string
	// ExcludeUsers drops events of these effective users.
	ExcludeUsers []string
	// Verbs keeps events with these verbs; empty means MutatingVerbs.
	Verbs []string
	// Namespaces keeps events on objects in these namespaces.
	Namespaces []string
	// Resources keeps events on these resources ("deployments", ...).
	Resources []string
	// IncludeDryRun also keeps server-side dry-run requests; by default
	// they are dropped, since they write nothing.
	IncludeDryRun bool
	// OnlySucceeded keeps only requests answered with a 2xx code.
	OnlySucceeded bool
}

func (f AuditFilter) match(e AuditEvent) bool {
	verbs := f.Verbs
	if len(verbs) == 0 {
		verbs = MutatingVerbs
	}
	if !slices.Contains(verbs, e.Verb) {
		return false
	}
	u := e.EffectiveUser()
	if len(f.Users) > 0 && !slices.Contains(f.Users, u) {
		return false
	}
	if slices.Contains(f.ExcludeUsers, u) {
		return false
	}
	if len(f.Namespaces) > 0 && (e.ObjectRef == nil || !slices.Contains(f.Namespaces, e.ObjectRef.Namespace)) {
		return false
	}
	if len(f.Resources) > 0 && (e.ObjectRef == nil || !slices.Contains(f.Resources, e.ObjectRef.Resource)) {
		return false
	}
	if !f.IncludeDryRun && e.DryRun() {
		return false
	}
	if f.OnlySucceeded && (e.Code() < 200 || e.Code() > 299) {
		return false
	}
	return true
}

const markerPrefix = "plate-localcluster-audit-marker-"

// AuditEvents returns the audited requests received in [from, to] that
// match f, in log order. Before reading, it makes sure that the log holds
// everything up to to: it issues a marker request after to and waits until
// the audit log shows it (the log backend writes each event when its
// request completes, so an event can trail its response by a moment).
func (c *Cluster) AuditEvents(ctx context.Context, from, to time.Time, f AuditFilter) ([]AuditEvent, error) {
	return c.auditEvents(ctx, 0, from, to, f)
}

func (c *Cluster) auditEvents(ctx context.Context, off int64, from, to time.Time, f AuditFilter) ([]AuditEvent, error) {
	if wait := time.Until(to); wait > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := c.syncAudit(ctx); err != nil {
		return nil, err
	}
	var out []AuditEvent
	err := c.scanAudit(off, func(e AuditEvent) bool {
		t := e.RequestReceivedTimestamp.Time
		if t.Before(from) || t.After(to) || strings.Contains(e.RequestURI, markerPrefix) {
			return true
		}
		if f.match(e) {
			out = append(out, e)
		}
		return true
	})
	return out, err
}

// CountMutations counts the mutating requests (create, update, patch,
// delete, deletecollection; dry runs excluded) received in [from, to] that
// match f. See AuditEvents.
func (c *Cluster) CountMutations(ctx context.Context, from, to time.Time, f AuditFilter) (int, error) {
	f.Verbs = nil
	evs, err := c.AuditEvents(ctx, from, to, f)
	return len(evs), err
}

// AuditWindow is an open time window on the audit log; see BeginAudit.
type AuditWindow struct {
	c     *Cluster
	start time.Time
	// off is the audit log's size when the window opened: events of
	// requests received later can only be behind it.
	off int64
}

// BeginAudit opens a window now. Its Mutations (or Events) close it.
func (c *Cluster) BeginAudit() *AuditWindow {
	return &AuditWindow{c: c, start: time.Now(), off: c.auditSize()}
}

// Start is when the window opened.
func (w *AuditWindow) Start() time.Time { return w.start }

// Events closes the window now and returns the events in it matching f.
func (w *AuditWindow) Events(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	return w.c.auditEvents(ctx, w.off, w.start, time.Now(), f)
}

// Mutations closes the window now and returns the mutating requests in it
// matching f (dry runs excluded unless f.IncludeDryRun).
func (w *AuditWindow) Mutations(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	f.Verbs = nil
	return w.Events(ctx, f)
}

// syncAudit issues a uniquely named GET (answered 404) and waits until its
// audit event is in the log, then a moment more for requests that finished
// just before it.
func (c *Cluster) syncAudit(ctx context.Context) error {
	name := markerPrefix + randHex(6)
	off := c.auditSize()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.clientset.CoreV1().ConfigMaps("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			if time.Now().After(deadline) {
				return fmt.Errorf("localcluster: audit marker request: %w", err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		break
	}
	found := false
	for !found {
		err := c.scanAudit(off, func(e AuditEvent) bool {
			if strings.Contains(e.RequestURI, name) {
				found = true
				return false
			}
			return true
		})
		if err != nil {
			return err
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localcluster: audit marker %s not in %s after 30s", name, c.st.AuditLog)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond)
	return nil
}

func (c *Cluster) auditSize() int64 {
	st, err := os.Stat(c.st.AuditLog)
	if err != nil {
		return 0
	}
	return st.Size()
}

// scanAudit calls fn for each complete event in the audit log from byte
// offset off on, until fn returns false.
func (c *Cluster) scanAudit(off int64, fn func(AuditEvent) bool) error {
	f, err := os.Open(c.st.AuditLog)
	if err != nil {
		return err
	}
	defer f.Close()
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
	}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A last line without newline is still being written.
			return nil
		}
		if err != nil {
			return err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e AuditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			continue
		}
		if e.Stage != "" && e.Stage != "ResponseComplete" && e.Stage != "Panic" {
			continue
		}
		if !fn(e) {
			return nil
		}
	}
}
