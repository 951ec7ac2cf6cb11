package trace

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Graph is the step graph of a pass: which step waits for which.
type Graph struct {
	Nodes []Event // one closing event per step, in plan order
	Edges [][2]string
	// Namespace is the run's default namespace (see Subject.Text).
	Namespace string
}

// BuildGraph derives the step graph from a pass's events. A concurrent step
// (needs=) waits for its needs, or for the last step in sequence before it
// when it names none; a step in sequence waits for every step that nothing
// has waited for yet. print lines are not steps.
func BuildGraph(events []Event) Graph {
	var g Graph
	seen := map[string]bool{}
	open := map[string]bool{}
	var openOrder []string
	lastSeq := ""
	addEdge := func(from, to string) { g.Edges = append(g.Edges, [2]string{from, to}) }
	for _, e := range events {
		if e.Builtin == "print" || seen[e.Step] {
			continue
		}
		switch e.Phase {
		case Planned, Done, Failed, Skipped:
		default:
			continue
		}
		seen[e.Step] = true
		g.Nodes = append(g.Nodes, e)
		if e.Concurrent {
			preds := e.Needs
			if len(preds) == 0 && lastSeq != "" {
				preds = []string{lastSeq}
			}
			for _, p := range preds {
				addEdge(p, e.Step)
				delete(open, p)
			}
		} else {
			for _, p := range openOrder {
				if open[p] {
					addEdge(p, e.Step)
				}
			}
			open = map[string]bool{}
			openOrder = nil
			lastSeq = e.Step
		}
		open[e.Step] = true
		openOrder = append(openOrder, e.Step)
	}
	sort.SliceStable(g.Edges, func(i, j int) bool { return stepNum(g.Edges[i][1]) < stepNum(g.Edges[j][1]) })
	return g
}

func stepNum(id string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(id, "s"), "%d", &n)
	return n
}

// WriteMermaid prints the graph as a Mermaid flowchart; each node names
// its subject first, then the step, its summary and the plan's own call.
func (g Graph) WriteMermaid(w io.Writer) {
	fmt.Fprintln(w, "flowchart TD")
	for _, n := range g.Nodes {
		label := fmt.Sprintf("%s %s<br/>%s<br/>%s", n.Step, n.Builtin, mermaidEscape(n.Summary), LinePos(n))
		if subj := n.Subject.Text(g.Namespace); subj != "" {
			label = mermaidEscape(subj) + "<br/>" + label
		}
		fmt.Fprintf(w, "  %s[\"%s\"]\n", n.Step, label)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(w, "  %s --> %s\n", e[0], e[1])
	}
}

func mermaidEscape(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return r.Replace(s)
}
