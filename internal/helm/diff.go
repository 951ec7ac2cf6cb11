package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/plate-dev/plate/internal/trace"
)

// Change is what happens to one object of a release.
type Change string

// The changes an install, upgrade or rollback makes to an object.
const (
	Created   Change = "created"
	Changed   Change = "changed"
	Unchanged Change = "unchanged"
	Removed   Change = "removed"
)

// ObjectChange is the change to one object, with a unified diff of its
// YAML when it changed. Secret data is never shown.
type ObjectChange struct {
	ObjectRef
	Change Change `json:"change"`
	Diff   string `json:"diff,omitempty"`
}

// Diff compares the objects of a release's live manifest with the objects
// of a new render.
type Diff struct {
	Objects []ObjectChange `json:"objects"`
}

// Count returns how many objects have change ch.
func (d Diff) Count(ch Change) int {
	n := 0
	for _, o := range d.Objects {
		if o.Change == ch {
			n++
		}
	}
	return n
}

// Empty reports whether no object is created, changed or removed.
func (d Diff) Empty() bool {
	return d.Count(Created)+d.Count(Changed)+d.Count(Removed) == 0
}

// Counts is "2 changed, 1 added, 0 removed".
func (d Diff) Counts() string {
	return fmt.Sprintf("%d changed, %d added, %d removed", d.Count(Changed), d.Count(Created), d.Count(Removed))
}

// Text renders the diff for the verbose trace: one line per object that
// changes, the unified diff of changed objects under it, and a count of
// the unchanged ones.
func (d Diff) Text() string {
	var b strings.Builder
	unchanged := 0
	for _, o := range d.Objects {
		mark := ""
		switch o.Change {
		case Created:
			mark = "+"
		case Changed:
			mark = "~"
		case Removed:
			mark = "-"
		default:
			unchanged++
			continue
		}
		fmt.Fprintf(&b, "%s %s %s\n", mark, o.ObjectRef, o.Change)
		if o.Diff != "" {
			for _, l := range strings.Split(strings.TrimRight(o.Diff, "\n"), "\n") {
				b.WriteString("    ")
				b.WriteString(l)
				b.WriteByte('\n')
			}
		}
	}
	if unchanged > 0 {
		fmt.Fprintf(&b, "= %d unchanged\n", unchanged)
	}
	return b.String()
}

// diffObjects compares the live objects with the new ones. Objects are
// matched by group, kind, namespace and name. Documents with the same bytes
// are unchanged without being decoded; others are compared decoded, and
// the diff of a changed object is computed on normalised YAML with Secret
// data redacted and every string of secrets replaced by <redacted>.
func diffObjects(live, next []*object, secrets []string) Diff {
	old := make(map[string]*object, len(live))
	for _, o := range live {
		old[o.key()] = o
	}
	var d Diff
	seen := map[string]bool{}
	for _, n := range next {
		k := n.key()
		seen[k] = true
		o, ok := old[k]
		if !ok {
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Created, Diff: oneSided(n, "", secrets)})
			continue
		}
		if sameDocument(o, n) {
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Unchanged})
			continue
		}
		ob, oerr := o.Body()
		nb, nerr := n.Body()
		if err := errors.Join(oerr, nerr); err != nil {
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Changed, Diff: scrub(fmt.Sprintf("# cannot compare: %v\n", err), secrets)})
			continue
		}
		if reflect.DeepEqual(ob, nb) {
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Unchanged})
			continue
		}
		ob, nb = withoutNoise(ob), withoutNoise(nb)
		if reflect.DeepEqual(ob, nb) {
			// Only fields that are not changes differ.
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Unchanged})
			continue
		}
		a, b := redactPair(ob, nb)
		text := unifiedDiff(toYAMLLines(a), toYAMLLines(b), "live "+o.ObjectRef.String(), "new  "+n.ObjectRef.String(), 3)
		d.Objects = append(d.Objects, ObjectChange{ObjectRef: n.ObjectRef, Change: Changed, Diff: scrub(text, secrets)})
	}
	for _, o := range live {
		if !seen[o.key()] {
			d.Objects = append(d.Objects, ObjectChange{ObjectRef: o.ObjectRef, Change: Removed, Diff: oneSided(o, "-", secrets)})
		}
	}
	return d
}

// oneSided is the diff of an object created (side "") or removed (side
// "-"): every line of its YAML added or removed, masked as a changed
// object's diff is.
func oneSided(o *object, side string, secrets []string) string {
	body, err := o.Body()
	if err != nil {
		return scrub(fmt.Sprintf("# cannot show: %v\n", err), secrets)
	}
	body = withoutNoise(body)
	ref := o.ObjectRef.String()
	var text string
	if side == "-" {
		a, _ := redactPair(body, nil)
		text = unifiedDiff(toYAMLLines(a), nil, "live "+ref, "new  (none)", 3)
	} else {
		_, b := redactPair(nil, body)
		text = unifiedDiff(nil, toYAMLLines(b), "live (none)", "new  "+ref, 3)
	}
	return scrub(text, secrets)
}

// noiseMeta are the metadata fields that change without the object
// changing: the API server's bookkeeping.
var noiseMeta = []string{"managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"}

// noiseAnnotation reports whether an annotation is bookkeeping of Helm or
// of the API machinery rather than a change a plan makes.
func noiseAnnotation(k string) bool {
	return strings.HasPrefix(k, "meta.helm.sh/") ||
		k == "kubectl.kubernetes.io/last-applied-configuration" ||
		k == "deployment.kubernetes.io/revision"
}

// withoutNoise returns body without the fields that are not changes:
// status, the server's bookkeeping in metadata (managed fields,
// resourceVersion, uid, generation, creationTimestamp) and Helm's own
// annotations. body is not modified.
func withoutNoise(body map[string]any) map[string]any {
	if body == nil {
		return nil
	}
	meta, _ := body["metadata"].(map[string]any)
	_, hasStatus := body["status"]
	noisy := hasStatus
	for _, f := range noiseMeta {
		if _, ok := meta[f]; ok {
			noisy = true
		}
	}
	ann, _ := meta["annotations"].(map[string]any)
	for k := range ann {
		if noiseAnnotation(k) {
			noisy = true
		}
	}
	if !noisy {
		return body
	}
	out := shallowCopy(body)
	delete(out, "status")
	if meta != nil {
		m := shallowCopy(meta)
		for _, f := range noiseMeta {
			delete(m, f)
		}
		if ann != nil {
			a := map[string]any{}
			for k, v := range ann {
				if !noiseAnnotation(k) {
					a[k] = v
				}
			}
			if len(a) == 0 {
				delete(m, "annotations")
			} else {
				m["annotations"] = a
			}
		}
		out["metadata"] = m
	}
	return out
}

// sameDocument reports whether two documents are the same bytes, apart
// from the "# Source:" comment that names their template.
func sameDocument(a, b *object) bool {
	return bytes.Equal(withoutSource(a.Raw), withoutSource(b.Raw))
}

func withoutSource(doc []byte) []byte {
	rest := doc
	for len(rest) > 0 {
		line := rest
		next := []byte(nil)
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i], rest[i+1:]
		}
		if bytes.HasPrefix(line, []byte("# Source: ")) {
			return next
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return doc
		}
		rest = next
	}
	return doc
}

func toYAMLLines(body map[string]any) []string {
	data, err := yaml.Marshal(body)
	if err != nil {
		return []string{fmt.Sprintf("# cannot show: %v", err)}
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// redactPair returns copies of the two versions of an object in which the
// values of a Secret's data and stringData are replaced: by <redacted>, or
// on the new side by "<redacted, changed>" where the value differs from
// the live one, so that the diff shows which keys change and nothing more.
func redactPair(live, next map[string]any) (map[string]any, map[string]any) {
	if live["kind"] != "Secret" && next["kind"] != "Secret" {
		return live, next
	}
	if live == nil {
		live = map[string]any{}
	}
	if next == nil {
		next = map[string]any{}
	}
	a, b := shallowCopy(live), shallowCopy(next)
	for _, field := range []string{"data", "stringData"} {
		am, _ := live[field].(map[string]any)
		bm, _ := next[field].(map[string]any)
		if am != nil {
			ra := make(map[string]any, len(am))
			for k := range am {
				ra[k] = trace.Redacted
			}
			a[field] = ra
		} else if live[field] != nil {
			a[field] = trace.Redacted
		}
		if bm != nil {
			rb := make(map[string]any, len(bm))
			for k, v := range bm {
				if old, ok := am[k]; ok && !reflect.DeepEqual(old, v) {
					rb[k] = "<redacted, changed>"
				} else {
					rb[k] = trace.Redacted
				}
			}
			b[field] = rb
		} else if next[field] != nil {
			b[field] = trace.Redacted
		}
	}
	return a, b
}

func shallowCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// scrub replaces every secret (and its base64 form) in s (trace.Scrub).
func scrub(s string, secrets []string) string { return trace.Scrub(s, secrets) }

// ObjectDiff is the unified diff of one object outside a release (a
// kube_apply): live against next, or the whole of next when live is nil.
// Fields that are not changes are left out (withoutNoise); a Secret's
// data and every value under a secret-looking key are masked as the
// trace's arguments are (trace.Redact), showing "<redacted, changed>"
// where the value changes.
func ObjectDiff(ref string, live, next map[string]any) string {
	a, b := redactPair(withoutNoise(live), withoutNoise(next))
	ra, rb := redactKeysPair(a, b)
	am, _ := ra.(map[string]any)
	bm, _ := rb.(map[string]any)
	if live == nil {
		return unifiedDiff(nil, toYAMLLines(bm), "live (none)", "new  "+ref, 3)
	}
	return unifiedDiff(toYAMLLines(am), toYAMLLines(bm), "live "+ref, "new  "+ref, 3)
}

// redactKeysPair masks, in two versions of a value, what trace.Redact
// masks (values under secret-looking keys), keeping a change visible as
// "<redacted, changed>" on the new side.
func redactKeysPair(a, b any) (any, any) {
	_, al := a.([]any)
	_, bl := b.([]any)
	if al || bl {
		return trace.Redact(a), trace.Redact(b)
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok && !bok {
		return a, b
	}
	var ra, rb map[string]any
	if aok {
		ra = make(map[string]any, len(am))
	}
	if bok {
		rb = make(map[string]any, len(bm))
	}
	for k, v := range am {
		if trace.SecretName(k) && v != nil {
			ra[k] = trace.Redacted
			continue
		}
		ra[k], _ = redactKeysPair(v, nil)
		if bv, ok := bm[k]; ok {
			ra[k], _ = redactKeysPair(v, bv)
		}
	}
	for k, v := range bm {
		if trace.SecretName(k) && v != nil {
			if old, ok := am[k]; ok && !reflect.DeepEqual(old, v) {
				rb[k] = "<redacted, changed>"
			} else {
				rb[k] = trace.Redacted
			}
			continue
		}
		_, rb[k] = redactKeysPair(am[k], v)
	}
	if !aok {
		return a, rb
	}
	if !bok {
		return ra, b
	}
	return ra, rb
}

// unifiedDiff returns a unified diff of a and b with n lines of context,
// or "" when they are equal.
func unifiedDiff(a, b []string, nameA, nameB string, n int) string {
	ops := diffLines(a, b)
	changed := false
	for _, op := range ops {
		if op.kind != ' ' {
			changed = true
			break
		}
	}
	if !changed {
		return ""
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	// Group the ops into hunks: runs of changes with up to n lines of
	// context around them, merged when their contexts overlap.
	i := 0
	for i < len(ops) {
		for i < len(ops) && ops[i].kind == ' ' {
			i++
		}
		if i >= len(ops) {
			break
		}
		start := max(i-n, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			// A run of equal lines: end the hunk if it is longer than
			// 2n or reaches the end.
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j == len(ops) || j-end > 2*n {
				end = min(end+n, len(ops))
				break
			}
			end = j
		}
		aStart, bStart := ops[start].a, ops[start].b
		aLen, bLen := 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.line)
			out.WriteByte('\n')
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, length int) string {
	if length == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if length == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, length)
}

// diffOp is one line of an edit script: ' ' kept, '-' only in a, '+'
// only in b; a and b are the 0-based line numbers in each side where it
// sits.
type diffOp struct {
	kind byte
	line string
	a, b int
}

// maxLCSCells bounds the table of the longest-common-subsequence search;
// beyond it the differing middle is shown as replaced whole.
const maxLCSCells = 4 << 20

// diffLines computes an edit script from a to b: the common prefix and
// suffix are trimmed, and the middle is aligned by a longest common
// subsequence.
func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	for i := 0; i < pre; i++ {
		ops = append(ops, diffOp{' ', a[i], i, i})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	ops = append(ops, lcsOps(ma, mb, pre, pre)...)
	for i := 0; i < suf; i++ {
		ia, ib := len(a)-suf+i, len(b)-suf+i
		ops = append(ops, diffOp{' ', a[ia], ia, ib})
	}
	return ops
}

func lcsOps(a, b []string, offA, offB int) []diffOp {
	var ops []diffOp
	if len(a)*len(b) > maxLCSCells || len(a) == 0 || len(b) == 0 {
		for i, l := range a {
			ops = append(ops, diffOp{'-', l, offA + i, offB})
		}
		for j, l := range b {
			ops = append(ops, diffOp{'+', l, offA + len(a), offB + j})
		}
		return ops
	}
	// t[i][j] is the LCS length of a[i:] and b[j:].
	w := len(b) + 1
	t := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i*w+j] = t[(i+1)*w+j+1] + 1
			} else {
				t[i*w+j] = max(t[(i+1)*w+j], t[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], offA + i, offB + j})
			i++
			j++
		case t[(i+1)*w+j] >= t[i*w+j+1]:
			ops = append(ops, diffOp{'-', a[i], offA + i, offB + j})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], offA + i, offB + j})
			j++
		}
	}
	for ; i < len(a); i++ {
		ops = append(ops, diffOp{'-', a[i], offA + i, offB + j})
	}
	for ; j < len(b); j++ {
		ops = append(ops, diffOp{'+', b[j], offA + i, offB + j})
	}
	return ops
}

// Trace returns the diff as the trace records it: the objects that
// change, with their masked unified diffs, and how many do not.
func (d Diff) Trace() *trace.Diff {
	out := &trace.Diff{}
	for _, o := range d.Objects {
		if o.Change == Unchanged {
			out.Unchanged++
			continue
		}
		out.Objects = append(out.Objects, trace.ObjectDiff{Object: o.ObjectRef.String(), Change: string(o.Change), Diff: o.Diff})
	}
	return out
}

// valuesDiff lists the values that change from old to next (a release's
// stored values and the new ones, before the chart's defaults): keys
// added, removed and changed, by dotted path, sorted. Maps are compared
// key by key; anything else (lists included) is compared whole. A value
// under a secret-looking key reads <redacted> (on the new side
// "<redacted, changed>" when it changed), and every secret string in the
// others is replaced by <redacted>.
func valuesDiff(old, next map[string]any, secrets []string) []trace.ValueDiff {
	a, _ := normalize(old).(map[string]any)
	b, _ := normalize(next).(map[string]any)
	var out []trace.ValueDiff
	walkValues(a, b, "", false, secrets, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func walkValues(a, b map[string]any, prefix string, secret bool, secrets []string, out *[]trace.ValueDiff) {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		path := prefix + strings.ReplaceAll(k, ".", `\.`)
		sec := secret || trace.SecretName(k)
		av, inA := a[k]
		bv, inB := b[k]
		am, aIsMap := av.(map[string]any)
		bm, bIsMap := bv.(map[string]any)
		switch {
		case aIsMap && bIsMap:
			walkValues(am, bm, path+".", sec, secrets, out)
		case !inA:
			*out = append(*out, trace.ValueDiff{Key: path, Change: trace.DiffAdded, To: maskValue(bv, sec, secrets)})
		case !inB:
			*out = append(*out, trace.ValueDiff{Key: path, Change: trace.DiffRemoved, From: maskValue(av, sec, secrets)})
		case !reflect.DeepEqual(av, bv):
			to := maskValue(bv, sec, secrets)
			if sec {
				to = "<redacted, changed>"
			}
			*out = append(*out, trace.ValueDiff{Key: path, Change: trace.DiffChanged, From: maskValue(av, sec, secrets), To: to})
		}
	}
}

// maskValue hides a value under a secret-looking key whole, and the
// secret strings and secret-looking keys inside any other.
func maskValue(v any, secret bool, secrets []string) any {
	if secret && v != nil {
		return trace.Redacted
	}
	switch x := trace.Redact(v).(type) {
	case string:
		return scrub(x, secrets)
	case map[string]any, []any:
		data, err := json.Marshal(x)
		if err != nil {
			return trace.Redacted
		}
		var back any
		if json.Unmarshal([]byte(scrub(string(data), secrets)), &back) != nil {
			return trace.Redacted
		}
		return back
	default:
		return x
	}
}
