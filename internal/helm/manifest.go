package helm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// This file reads rendered manifests as Helm applies them: split into
// documents by the YAML document reader Kubernetes' resource builder uses
// (Helm's kube client builds its objects through it), each document kept
// byte for byte. releaseutil.SplitManifests, which trims every document,
// would drop the final newline of a block scalar that ends one.
//
// Reading is lazy: a document's identity (apiVersion, kind, metadata) is
// decoded from a skim of the document that leaves out everything else, a
// CRD's kind from a skim without its schemas, and the whole body only when
// something needs it (a diff whose documents differ, helm_template).

// splitDocuments splits a YAML stream into its documents, as the
// Kubernetes YAML reader does: at lines that start with "---", each
// document without its separator line and otherwise untouched. (The
// reader leaves the separator that opens a stream at the top of the first
// document; it is taken off, so that a document reads the same wherever it
// stands.)
func splitDocuments(stream []byte) ([][]byte, error) {
	if bytes.Index(stream, []byte("\n---")) < 0 {
		// No line but perhaps the first starts with "---": one document
		// (a CRD file, most often), which the reader would return whole.
		if first, rest, ok := bytes.Cut(stream, []byte("\n")); ok && bytes.HasPrefix(first, []byte("---")) {
			if t := bytes.TrimSpace(first[3:]); len(t) > 0 && t[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", t)
			}
			stream = rest
		} else if bytes.HasPrefix(stream, []byte("---")) {
			return splitWithReader(stream)
		}
		if len(stream) == 0 {
			return nil, nil
		}
		return [][]byte{stream}, nil
	}
	return splitWithReader(stream)
}

func splitWithReader(stream []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(doc, []byte("---")) {
			if i := bytes.IndexByte(doc, '\n'); i >= 0 {
				doc = doc[i+1:]
			} else {
				doc = nil
			}
		}
		docs = append(docs, doc)
	}
}

// blankDocument reports whether doc holds only blank lines and comments.
func blankDocument(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// sourceOf returns the chart template a document came from: the path of
// the "# Source: " comment Helm puts at its top.
func sourceOf(doc []byte) string {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		line = bytes.TrimRight(line, " \r")
		if s, ok := bytes.CutPrefix(line, []byte("# Source: ")); ok {
			return string(s)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return ""
		}
	}
	return ""
}

// skim returns doc without the block mapping entries that keep refuses.
// keep is asked about every line that starts a block mapping entry ("key:"
// after the line's indentation and any "- " of sequence entries), with the
// column of the key; a refused entry is left out with its value: the lines
// after it that are blank, comments, indented deeper than the key, or
// (a compact sequence) "- " entries at the key's column. An entry that
// starts a sequence entry leaves its "-" in place, so the entry's other
// keys still form one mapping.
//
// ok is false when doc does not start as a block mapping (a flow mapping,
// JSON, a sequence): skimming cannot tell its structure, decode it whole.
// The skim is only a shortcut: a caller that cannot decode what it
// returns decodes the whole document instead.
func skim(doc []byte, keep func(col int, key string) bool) (out []byte, ok bool) {
	out = make([]byte, 0, 512)
	drop := -1      // the column of the entry being left out, or -1
	dropSeq := true // its value may be a compact sequence at its column
	first := true
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i+1], doc[i+1:]
		} else {
			doc = nil
		}
		ind := 0
		for ind < len(line) && line[ind] == ' ' {
			ind++
		}
		if drop >= 0 && ind > drop {
			// Deeper than the entry left out (or blank): part of its value.
			continue
		}
		text := bytes.TrimRight(line, "\r\n")
		rest := text[min(ind, len(text)):]
		blank := len(bytes.TrimSpace(rest)) == 0 || rest[0] == '#'
		if drop >= 0 {
			if blank || (ind == drop && dropSeq && isSeqEntry(rest)) {
				continue
			}
			drop = -1
		}
		if blank {
			out = append(out, line...)
			continue
		}
		if first {
			first = false
			if rest[0] == '{' || rest[0] == '[' || rest[0] == '-' || bytes.HasPrefix(rest, []byte("%")) {
				return nil, false
			}
		}
		col := ind
		for isSeqEntry(rest) {
			n := 1
			for n < len(rest) && rest[n] == ' ' {
				n++
			}
			col += n
			rest = rest[n:]
		}
		key, value, isKey := mappingKey(rest)
		if !isKey || keep(col, key) {
			out = append(out, line...)
			continue
		}
		if col > ind {
			// Keep the "- " of the sequence entry the refused key starts.
			out = append(out, bytes.TrimRight(text[:col], " ")...)
			out = append(out, '\n')
		}
		drop = col
		value = bytes.TrimSpace(value)
		dropSeq = len(value) == 0 || value[0] == '#'
	}
	return out, true
}

// isSeqEntry reports whether a line's text (after its indentation) starts a
// block sequence entry: "-" then a space or the end of the line.
func isSeqEntry(rest []byte) bool {
	return len(rest) > 0 && rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}

// mappingKey parses "key: value" or "key:" at the start of rest: a plain
// key, or a double- or single-quoted one without escapes.
func mappingKey(rest []byte) (key string, value []byte, ok bool) {
	if len(rest) == 0 {
		return "", nil, false
	}
	switch rest[0] {
	case '"', '\'':
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 || bytes.IndexByte(rest[1:end+1], '\\') >= 0 {
			return "", nil, false
		}
		after := rest[end+2:]
		if len(after) == 0 || after[0] != ':' || (len(after) > 1 && after[1] != ' ') {
			return "", nil, false
		}
		return string(rest[1 : end+1]), after[1:], true
	case '{', '[', '&', '*', '!', '|', '>', '%', '@', '`', '?', ':', '#', ',':
		return "", nil, false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] == ':' && (i+1 == len(rest) || rest[i+1] == ' ') {
			return string(bytes.TrimRight(rest[:i], " ")), rest[i+1:], true
		}
		if rest[i] == '#' && i > 0 && rest[i-1] == ' ' {
			return "", nil, false
		}
	}
	return "", nil, false
}

// keepHead keeps what identifies an object: apiVersion, kind and metadata.
func keepHead(col int, key string) bool {
	return col > 0 || key == "apiVersion" || key == "kind" || key == "metadata"
}

// crdBulk are the parts of a CustomResourceDefinition that do not say which
// kind it defines: its schemas above all.
var crdBulk = map[string]bool{
	"schema": true, "openAPIV3Schema": true, "validation": true,
	"additionalPrinterColumns": true, "subresources": true, "conversion": true,
	"selectableFields": true,
}

// keepCRDKind keeps what says which kind a CRD defines: its group, names,
// scope and versions' names (spec.version of old CRDs too).
func keepCRDKind(col int, key string) bool {
	if col == 0 {
		return key == "apiVersion" || key == "kind" || key == "spec"
	}
	return !crdBulk[key]
}

// keepCRDHead keeps the identity of an object and, for a CRD, what says
// which kind it defines: for the files of crds/ directories.
func keepCRDHead(col int, key string) bool {
	if col == 0 {
		return key == "metadata" || keepCRDKind(col, key)
	}
	return keepCRDKind(col, key)
}

// decodeSkimmed decodes the part of doc that keep keeps; ok is false when
// that part cannot be decoded (then decode doc whole).
func decodeSkimmed(doc []byte, keep func(int, string) bool) (map[string]any, bool) {
	part, ok := skim(doc, keep)
	if !ok {
		return nil, false
	}
	m, err := decodeYAML(part)
	if err != nil {
		return nil, false
	}
	return m, true
}

// useNumber makes sigs.k8s.io/yaml's JSON step keep numbers as written.
func useNumber(d *json.Decoder) *json.Decoder {
	d.UseNumber()
	return d
}

// decodeYAML decodes one YAML document into a map as sigs.k8s.io/yaml
// does (numbers are float64, as Helm reads values), except that an integer
// beyond ±2^53, which a float64 cannot hold, stays an int64 of the same
// value. A document that is empty or null is a nil map.
func decodeYAML(doc []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m, useNumber); err != nil {
		return nil, err
	}
	for k, v := range m {
		m[k] = exactNumbers(v)
	}
	return m, nil
}

// exactNumbers replaces the json.Numbers in v (in place for maps and
// lists) by float64s, or int64s for integers beyond ±2^53.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
	case json.Number:
		return numberValue(x)
	}
	return v
}

// maxExact is the largest integer every smaller integer of which a float64
// holds exactly.
const maxExact = 1 << 53

func numberValue(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && (i > maxExact || i < -maxExact) {
			return i
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return f
}
