package wait

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// message renders an Error: a first line that says what happened and the
// last known reason of every object that was not ready (the line a trace,
// a stop report and a CI log show), then one block per object to blame
// (readiness.Summary: the verdict, the culprit pod and container, the last
// termination, recent events).
func (e *Error) message() string {
	var b strings.Builder
	var blame []ObjectStatus
	ready, total := 0, 0
	if e.Report != nil {
		ready, total = e.Report.Counts()
	}
	switch e.Cause {
	case CauseLost:
		if e.Lost != nil {
			b.WriteString(e.Lost.Error())
		} else {
			b.WriteString("lost the cluster")
		}
		fmt.Fprintf(&b, " (%d/%d ready when it stopped answering)", ready, total)
		return b.String()
	case CauseFailed:
		for _, o := range e.Report.Objects {
			if o.Result.State == readiness.Failed || (o.Result.State == readiness.Unknown && o.Result.Reason == readiness.ReasonRuleError) {
				blame = append(blame, o)
			}
		}
		if len(blame) == 1 {
			fmt.Fprintf(&b, "%s failed after %s (%d/%d ready): %s", blame[0].ID, round(e.Report.Elapsed), ready, total, reasonOf(blame[0]))
		} else {
			fmt.Fprintf(&b, "%s failed after %s (%d/%d ready): ", plural(len(blame), "object"), round(e.Report.Elapsed), ready, total)
			for i, o := range blame {
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "%s: %s", o.ID, reasonOf(o))
			}
		}
		b.WriteString(alsoNotReady(e.Report, blame))
	case CauseLoadBalancer:
		for _, o := range e.Report.Objects {
			if o.Result.Reason == readiness.ReasonAwaitingLoadBalancer {
				blame = append(blame, o)
			}
		}
		fmt.Fprintf(&b, "no load balancer address after %s for %s (%d/%d ready)", round(e.Timeout), ids(blame), ready, total)
		b.WriteString(alsoNotReady(e.Report, blame))
	default:
		if e.Report != nil {
			blame = e.Report.NotReady()
		}
		fmt.Fprintf(&b, "timed out after %s: %d/%d ready, not ready: ", round(e.Timeout), ready, total)
		if nr := e.Report.NotReadyReasons(); nr != "" {
			b.WriteString(nr)
		} else {
			b.WriteString("none")
		}
	}
	for _, o := range blame {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(readiness.Summary(o.ID, o.Result), "\n", "\n  "))
	}
	if e.Cause == CauseLoadBalancer {
		b.WriteString("\n  hint: check that a load balancer implementation runs (MetalLB: an IPAddressPool with free addresses and an L2Advertisement or BGPAdvertisement selecting it); raise lb_timeout if addresses are just slow")
	}
	if e.WatchErr != nil && e.Cause == CauseTimeout {
		fmt.Fprintf(&b, "\n  last watch error: %v", e.WatchErr)
	}
	return b.String()
}

// NotReadyReasons lists the objects that are not ready with their last
// known reason, on one line: "Deployment/ns/api (ReplicasUnavailable: 0/2
// updated replicas available); …", or "" when every object is ready.
func (r *Report) NotReadyReasons() string {
	if r == nil {
		return ""
	}
	var parts []string
	for _, o := range r.NotReady() {
		parts = append(parts, fmt.Sprintf("%s (%s)", o.ID, reasonOf(o)))
	}
	return strings.Join(parts, "; ")
}

// alsoNotReady lists, for the first line, the objects that were not ready
// besides those to blame: "; not ready yet: ID (reason); …".
func alsoNotReady(r *Report, blame []ObjectStatus) string {
	if r == nil {
		return ""
	}
	blamed := map[string]bool{}
	for _, o := range blame {
		blamed[o.ID] = true
	}
	var parts []string
	for _, o := range r.NotReady() {
		if !blamed[o.ID] {
			parts = append(parts, fmt.Sprintf("%s (%s)", o.ID, reasonOf(o)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; not ready yet: " + strings.Join(parts, "; ")
}

// maxReason bounds one object's reason on the first line of an error.
const maxReason = 300

// reasonOf is an object's last known reason on one line: "Reason: message"
// (the message alone when it names the reason already), with the culprit
// container's last termination.
func reasonOf(o ObjectStatus) string {
	r := o.Result
	reason := r.Reason
	if reason == "" {
		reason = string(r.State)
	}
	s := r.Message
	switch {
	case s == "":
		s = reason
	case !strings.Contains(s, reason):
		s = reason + ": " + s
	}
	if r.LastTermination != "" && !strings.Contains(s, r.LastTermination) {
		s += " (last termination: " + r.LastTermination + ")"
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReason {
		cut := maxReason - 3
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

func ids(objs []ObjectStatus) string {
	const max = 5
	var names []string
	for i, o := range objs {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(objs)-max))
			break
		}
		names = append(names, o.ID)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// round shortens a duration for messages: 1.2s, 350ms, 5m0s.
func round(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Text renders the report as aligned lines, one per object:
//
//	Deployment/plate-stg/api   Ready                      2.1s
//	Service/plate-stg/api-lb   Progressing (AwaitingLoadBalancer): …
func (r *Report) Text() string {
	if r == nil {
		return ""
	}
	w := 0
	for _, o := range r.Objects {
		if len(o.ID) > w {
			w = len(o.ID)
		}
	}
	var b strings.Builder
	for _, o := range r.Objects {
		fmt.Fprintf(&b, "%-*s  %s  (%s)\n", w, o.ID, o.Result.String(), round(o.Elapsed))
	}
	return b.String()
}
