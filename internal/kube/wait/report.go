package wait

import (
	"fmt"
	"strings"
	"time"

	"github.com/plate-dev/plate/internal/kube/readiness"
)

// message renders an Error: a first line that says what happened, then one
// block per object to blame (readiness.Summary: the verdict, the culprit
// pod and container, the last termination, recent events).
func (e *Error) message() string {
	var b strings.Builder
	var blame []ObjectStatus
	ready, total := 0, 0
	if e.Report != nil {
		ready, total = e.Report.Counts()
	}
	switch e.Cause {
	case CauseFailed:
		for _, o := range e.Report.Objects {
			if o.Result.State == readiness.Failed || (o.Result.State == readiness.Unknown && o.Result.Reason == readiness.ReasonRuleError) {
				blame = append(blame, o)
			}
		}
		fmt.Fprintf(&b, "%s failed", plural(len(blame), "object"))
		if len(blame) == 1 {
			b.Reset()
			fmt.Fprintf(&b, "%s failed", blame[0].ID)
		}
		fmt.Fprintf(&b, " after %s (%d/%d ready)", round(e.Report.Elapsed), ready, total)
	case CauseLoadBalancer:
		for _, o := range e.Report.Objects {
			if o.Result.Reason == readiness.ReasonAwaitingLoadBalancer {
				blame = append(blame, o)
			}
		}
		fmt.Fprintf(&b, "no load balancer address after %s for %s (%d/%d ready)", round(e.Timeout), ids(blame), ready, total)
	default:
		if e.Report != nil {
			blame = e.Report.NotReady()
		}
		fmt.Fprintf(&b, "timed out after %s: %d/%d ready, not ready: %s", round(e.Timeout), ready, total, ids(blame))
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
