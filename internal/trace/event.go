// Package trace holds plate's trace: the structured events that every builtin
// call produces, the redaction applied to their arguments, and the renderers
// that turn them into human lines or JSON lines.
//
// Renderers only read events. The same events drive the terminal output, the
// JSON lines, `plate test` recordings and golden files.
package trace

import (
	"fmt"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON lines schema (docs/trace.md).
const SchemaVersion = 1

// Phase is where a step is in its life.
type Phase string

// The phases of a step. A dry-run step ends in Planned; a live step goes
// Started → (Progress…) → Done or Failed. Skipped steps never started.
const (
	Planned  Phase = "planned"
	Started  Phase = "started"
	Progress Phase = "progress"
	Done     Phase = "done"
	Failed   Phase = "failed"
	Skipped  Phase = "skipped"
)

// Pass tells which evaluation of the plan an event belongs to.
type Pass string

// The passes of a run. `plate run` evaluates the plan in the Preflight pass
// (nothing written) and then in the Run pass; `plate run --dry-run` only in
// the DryRun pass.
const (
	DryRun    Pass = "dry-run"
	Preflight Pass = "preflight"
	Run       Pass = "run"
)

// Pos is a position in a plan file. File is relative to the project root
// when the file lies under it.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	if p.Col > 0 {
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Frame is one call frame of the Starlark stack.
type Frame struct {
	Func string `json:"func"`
	Pos  Pos    `json:"pos"`
}

func (f Frame) String() string { return f.Pos.String() + " in " + f.Func }

// Event is one thing that happened to one step.
type Event struct {
	Seq     int       `json:"seq"`
	Step    string    `json:"step"`
	Time    time.Time `json:"time"`
	Pass    Pass      `json:"pass"`
	Phase   Phase     `json:"phase"`
	Builtin string    `json:"builtin"`
	// Pos is the position of the builtin call in the plan.
	Pos Pos `json:"pos"`
	// Stack holds the enclosing Starlark frames, outermost first, when the
	// call happened inside a function (possibly of a loaded module).
	Stack []Frame `json:"stack,omitempty"`
	// Args are the call's arguments by parameter name, already redacted.
	Args map[string]any `json:"args,omitempty"`
	// Needs lists the steps this step waits for.
	Needs []string `json:"needs,omitempty"`
	// Concurrent marks a step started with needs=, which waits only for
	// its needs; other steps wait for every step before them.
	Concurrent bool `json:"concurrent,omitempty"`
	// Subject is what the step acts on, as the builtin resolved it (a
	// release and its namespace), recorded from its first event on.
	Subject *Subject `json:"subject,omitempty"`
	// Changes are the changes the step made (in dry passes: would make)
	// to releases, on its closing event.
	Changes []Change `json:"changes,omitempty"`
	// Interrupted marks the closing event of a step that an interrupt
	// (SIGINT/SIGTERM, a cancelled run) stopped.
	Interrupted bool `json:"interrupted,omitempty"`
	// Diff is what the step changes (would change), on its closing
	// event: the objects created, changed or removed, each with a
	// unified diff of live against new, and the values that change.
	Diff *Diff `json:"diff,omitempty"`
	// Warnings are mistakes that did not stop the step (a values key the
	// chart does not have), shown under its line whatever -v says.
	Warnings []string `json:"warnings,omitempty"`
	// Findings are what the reference check of a dry pass found about the
	// objects the step would create or update (docs/checks.md), on its
	// closing event.
	Findings []Finding     `json:"findings,omitempty"`
	Summary  string        `json:"summary,omitempty"`
	Duration time.Duration `json:"-"`
	// Detail holds structured detail: a diff, readiness reasons, a report.
	Detail any `json:"detail,omitempty"`
	// ShowDetail asks the text renderer to print Detail under the line
	// without -v: the step's detail is its output (the status table).
	ShowDetail bool `json:"-"`
}

// Subject is what a step acts on: a release, an object ("Kind/name"), or
// an object of a release, in a namespace.
type Subject struct {
	Release   string `json:"release,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Object is "Kind/name" (kube_apply, kube_delete, kube_get, a
	// wait_ready on one object), or "N objects" for several.
	Object string `json:"object,omitempty"`
}

// Text prints the subject the way trace lines and reports start: the
// release, then the object, each name prefixed with its namespace
// ("ns/name") unless that is defaultNS, as kubectl omits the namespace of
// the current context.
func (s *Subject) Text(defaultNS string) string {
	if s == nil {
		return ""
	}
	prefix := ""
	if s.Namespace != "" && s.Namespace != defaultNS {
		prefix = s.Namespace + "/"
	}
	var parts []string
	if s.Release != "" {
		parts = append(parts, prefix+s.Release)
	}
	if s.Object != "" {
		obj := s.Object
		if s.Release == "" && prefix != "" {
			if kind, name, ok := strings.Cut(obj, "/"); ok && !strings.Contains(name, "/") {
				obj = kind + "/" + prefix + name
			}
		}
		parts = append(parts, obj)
	}
	return strings.Join(parts, " ")
}

// ChangeAction is what a step did to a release.
type ChangeAction string

// The changes a step records.
const (
	Installed   ChangeAction = "install"
	Upgraded    ChangeAction = "upgrade"
	RolledBack  ChangeAction = "rollback"
	Uninstalled ChangeAction = "uninstall"
	// MarkedFailed: a revision the run made did not become ready and is
	// marked failed in Helm's history (To is that revision, Restores the
	// revision deployed again).
	MarkedFailed ChangeAction = "mark-failed"
	// Applied and Deleted are changes to plain objects (kube_apply,
	// kube_delete); Object names the object and Release is empty.
	Applied ChangeAction = "apply"
	Deleted ChangeAction = "delete"
)

// Change is one change a step made to a release: the step records it as
// data, so that the stop report, the rollback lines and --graph read it
// instead of argument names or summary wording.
type Change struct {
	Release string `json:"release,omitempty"`
	// Object is "Kind/namespace/name" for a change to a plain object.
	Object    string       `json:"object,omitempty"`
	Namespace string       `json:"namespace,omitempty"`
	Action    ChangeAction `json:"action"`
	// From is the revision before the change (0: none); To the revision
	// the change made (0 for an uninstall).
	From int `json:"from,omitempty"`
	To   int `json:"to,omitempty"`
	// FirstInstall is true when no earlier revision exists to roll back
	// to (a first install, or an install over an uninstalled release
	// whose history was not kept).
	FirstInstall bool `json:"first_install,omitempty"`
	// Restores is the revision a rollback brought back.
	Restores int `json:"restores,omitempty"`
	// Supersedes is the deployed revision an upgrade superseded: a
	// readiness failure deploys it again.
	Supersedes int `json:"supersedes,omitempty"`
}

// Severities of a Finding.
const (
	// SeverityError stops the pass before any write.
	SeverityError = "error"
	// SeverityWarning is reported and may be fine.
	SeverityWarning = "warning"
	// SeverityNote says what was not checked, and why.
	SeverityNote = "note"
)

// Finding is one result of the reference check (internal/refcheck) about
// an object a step would create or update: a reference to something that
// neither exists nor is created earlier, a conflict with what exists, or a
// note that a check was skipped.
type Finding struct {
	Severity string `json:"severity"`
	// Check names the check ("storage-class", "secret", …); the name
	// silences it.
	Check string `json:"check,omitempty"`
	// Object is Kind/namespace/name (Kind/name when cluster-scoped); empty
	// for a note about the whole pass.
	Object string `json:"object,omitempty"`
	// Field is the field path in the object ("spec.storageClassName").
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// String is the finding on one line: "error storage-class
// PersistentVolumeClaim/x/data spec.storageClassName: … (hint: …)".
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Severity)
	if f.Check != "" {
		b.WriteString(" " + f.Check)
	}
	if f.Object != "" {
		b.WriteString(" " + f.Object)
	}
	if f.Field != "" {
		b.WriteString(" " + f.Field)
	}
	b.WriteString(": " + f.Message)
	if f.Hint != "" {
		b.WriteString(" (hint: " + f.Hint + ")")
	}
	return b.String()
}

// ChangesPending reports whether any step of events made (in a dry pass:
// would make) a change: to a release or to an object.
func ChangesPending(events []Event) bool {
	for _, e := range events {
		for _, c := range e.Changes {
			if c.Action != MarkedFailed {
				return true
			}
		}
	}
	return false
}

// Site is the position of the plan's own call: the outermost frame, in the
// file whose top level is running (the plan, or a module being loaded).
// For a call made inside a helper function, that is the call of the helper;
// Pos and Stack keep the helper's frames.
func (e Event) Site() Pos {
	if len(e.Stack) > 0 && e.Stack[0].Pos.File != "" {
		return e.Stack[0].Pos
	}
	return e.Pos
}

// Where returns the position followed by the enclosing frames, the way the
// human renderer prints it under -v.
func (e Event) Where() string {
	if len(e.Stack) == 0 {
		return e.Pos.String()
	}
	parts := make([]string, 0, len(e.Stack)+1)
	parts = append(parts, e.Pos.String())
	for i := len(e.Stack) - 1; i >= 0; i-- {
		parts = append(parts, "called from "+e.Stack[i].String())
	}
	return strings.Join(parts, "\n    ")
}
