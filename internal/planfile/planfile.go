// Package planfile is plate's saved plan: what `plate run --dry-run
// --save-plan FILE` planned, bound to the files and the cluster state it
// was planned from, and the checks `plate apply FILE` makes with it.
//
// A saved plan holds digests of the plan and of every module it loads, the
// parameters (those whose name looks secret as salted digests only), the
// cluster's server and UID, the digest of every chart and of the merged
// values of every helm_install, the revision and manifest digest of every
// release the plan acts on, the resourceVersion (or absence) of every
// object it would touch, and the planned effects in order, read from the
// typed change records of the trace. It never holds a secret value.
//
// `plate apply` compares a fresh snapshot, taken by its preflight, with the
// saved one (Drift) before the first write, and then checks each write of
// the run against the saved effects (Guard, an engine.WriteCheck). The
// file format is documented in docs/saved-plans.md.
package planfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Version is the version of the file format this plate writes and reads.
const Version = 1

// Kind marks a file as a plate saved plan.
const Kind = "plate-saved-plan"

// File is a saved plan.
type File struct {
	Kind    string    `json:"kind"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Plate is the version of plate that wrote the file.
	Plate string `json:"plate,omitempty"`
	// Salt salts the digests of parameters: hex, random per file.
	Salt string `json:"salt"`

	Plan    Source   `json:"plan"`
	Modules []Source `json:"modules"`
	Params  []Param  `json:"params"`
	Kube    Kube     `json:"kube"`
	Cluster Cluster  `json:"cluster"`
	State   State    `json:"state"`
	Effects []Effect `json:"effects"`
}

// Source is a plan or module file: its name relative to the project root
// and the sha256 digest of its bytes.
type Source struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Param is one plan parameter as the dry run bound it. A parameter whose
// name looks secret (password, token, secret, key, credential) has no
// Value: `plate apply` needs it again (-p) and checks it against Digest.
type Param struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Secret bool   `json:"secret,omitempty"`
	Digest string `json:"digest"`
}

// Kube is how the dry run chose its cluster and default namespace (the
// --context and -n flags; empty: the kubeconfig's).
type Kube struct {
	Root      string `json:"root"`
	Context   string `json:"context,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// Cluster is the cluster the plan was made against.
type Cluster struct {
	Context string `json:"context,omitempty"`
	Server  string `json:"server"`
	UID     string `json:"uid"`
}

// State is the part of the cluster and the charts the plan was made from.
type State struct {
	Releases []Release `json:"releases"`
	Charts   []Chart   `json:"charts"`
	Objects  []Object  `json:"objects"`
}

// Release is a release the plan acts on, as it was: Revision 0 and Status
// "absent" when it did not exist.
type Release struct {
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
	Revision       int    `json:"revision"`
	Status         string `json:"status"`
	ManifestDigest string `json:"manifest_digest,omitempty"`
}

// Chart is the chart and the merged values of one helm_install step.
type Chart struct {
	Step         string `json:"step"`
	Release      string `json:"release"`
	Namespace    string `json:"namespace"`
	Chart        string `json:"chart"`
	Version      string `json:"version"`
	ChartDigest  string `json:"chart_digest"`
	ValuesDigest string `json:"values_digest"`
}

// Object is an object the plan would touch: ResourceVersion "" and Absent
// when it did not exist. ContentDigest covers the object without its
// status, resourceVersion and managedFields: a write that changed only
// those (a controller's status update) is not drift.
type Object struct {
	// Kind is "apiVersion/Kind" when known, else the Kind.
	Kind            string `json:"kind"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name"`
	ResourceVersion string `json:"resource_version,omitempty"`
	ContentDigest   string `json:"content_digest,omitempty"`
	Absent          bool   `json:"absent,omitempty"`
}

// Ref is Kind/namespace/name.
func (o Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

func (o Object) state() string {
	if o.Absent {
		return "absent"
	}
	return "resourceVersion " + o.ResourceVersion
}

// Write writes f to path, owner-only (0600), replacing any file there.
func Write(path string, f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read reads a saved plan and checks its kind and version.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var head struct {
		Kind    string `json:"kind"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.Kind != Kind {
		return nil, fmt.Errorf("%s is not a plate saved plan (written by plate run --dry-run --save-plan)", path)
	}
	if head.Version != Version {
		return nil, fmt.Errorf("%s is a saved plan of format version %d; this plate reads version %d: make the plan again", path, head.Version, Version)
	}
	var f File
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &f, nil
}

// NewSalt returns a fresh random salt.
func NewSalt() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// ParamDigest is the salted digest of one parameter's value.
func ParamDigest(salt, name, value string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", salt, name, len(value))
	h.Write([]byte(value))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// FileDigest is the sha256 digest of a file's bytes.
func FileDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sortedObjects(objs map[string]Object) []Object {
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref() < out[j].Ref() })
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
