package status

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Text renders the report as aligned tables, one per section, ages measured
// against the collection time:
//
//	RELEASE    REVISION  STATUS    CHART            APP VERSION  UPDATED
//	plate-api  3         deployed  plate-api-1.2.0  1.2.0        4m
//
//	POD                    READY  STATUS   RESTARTS  AGE  PROBLEM
//	plate-api-5d8f7-abcde  1/1    Running  0         4m   -
//
// followed by one line per pod problem with its explanation.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "namespace %s\n", r.Namespace)
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	section := func(header string, rows [][]string, empty string) {
		b.WriteString("\n")
		if len(rows) == 0 {
			b.WriteString(empty + "\n")
			return
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
	}
	var rows [][]string
	for _, rel := range r.Releases {
		rows = append(rows, []string{rel.Name, fmt.Sprint(rel.Revision), rel.Status, dash(rel.Chart), dash(rel.AppVersion), r.age(rel.Updated)})
	}
	empty := "no Helm releases"
	if len(r.Missing) > 0 {
		empty = "no Helm release named " + strings.Join(r.Missing, ", ")
	}
	section("RELEASE\tREVISION\tSTATUS\tCHART\tAPP VERSION\tUPDATED", rows, empty)
	if len(r.Missing) > 0 && len(r.Releases) > 0 {
		fmt.Fprintf(&b, "not installed: %s\n", strings.Join(r.Missing, ", "))
	}

	rows = nil
	var problems []string
	for _, p := range r.Pods {
		rows = append(rows, []string{p.Name, fmt.Sprintf("%d/%d", p.Ready, p.Total), p.Status, fmt.Sprint(p.Restarts), r.age(p.Created), dash(p.Problem)})
		if p.Problem != "" && p.Message != "" {
			if strings.HasPrefix(p.Message, "pod "+p.Name+" ") {
				// The verdict names the pod and container already.
				problems = append(problems, "  "+p.Message)
			} else {
				problems = append(problems, fmt.Sprintf("  %s: %s: %s", p.Name, p.Problem, p.Message))
			}
		}
	}
	section("POD\tREADY\tSTATUS\tRESTARTS\tAGE\tPROBLEM", rows, "no pods")
	if len(problems) > 0 {
		b.WriteString("problems:\n")
		b.WriteString(strings.Join(problems, "\n"))
		b.WriteString("\n")
	}

	rows = nil
	for _, s := range r.Services {
		ext := dash(strings.Join(s.External, ","))
		if s.Pending {
			ext = "<pending>"
		}
		rows = append(rows, []string{s.Name, s.Type, dash(s.ClusterIP), ext, dash(strings.Join(s.Ports, ","))})
	}
	section("SERVICE\tTYPE\tCLUSTER-IP\tEXTERNAL\tPORTS", rows, "no services")

	rows = nil
	for _, in := range r.Ingresses {
		rows = append(rows, []string{in.Name, dash(in.Class), dash(strings.Join(in.Hosts, ",")), dash(strings.Join(in.TLS, ",")), dash(strings.Join(in.Address, ","))})
	}
	section("INGRESS\tCLASS\tHOSTS\tTLS\tADDRESS", rows, "no ingresses")
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *Report) age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return Age(r.now.Sub(t))
}

// Age renders a duration the way kubectl shows ages: 45s, 12m, 5h, 3d.
func Age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
