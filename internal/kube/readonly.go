package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// deleteBodyIsDryRun reads a DELETE's DeleteOptions body (and puts it
// back) and reports whether it asks for a server-side dry run.
func deleteBodyIsDryRun(req *http.Request) bool {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	var opts struct {
		DryRun []string `json:"dryRun"`
	}
	if json.Unmarshal(body, &opts) != nil {
		return false
	}
	for _, v := range opts.DryRun {
		if v == "All" {
			return true
		}
	}
	return false
}

// ErrWrite is returned by a read-only transport for a request that would
// change the cluster.
type ErrWrite struct {
	Method string
	Path   string
}

func (e *ErrWrite) Error() string {
	return fmt.Sprintf("dry-run: refused %s %s: this pass cannot write to the cluster", e.Method, e.Path)
}

// IsMutating reports whether an HTTP method changes state on the API server.
func IsMutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// ReadOnly wraps rt so that every mutating request is refused unless it is a
// server-side dry run (dryRun=All), which the API server validates and
// admits but never persists. Authorization reviews (SelfSubjectAccessReview
// and friends) are creates that write nothing and are let through too.
func ReadOnly(rt http.RoundTripper) http.RoundTripper {
	return readOnly{next: rt}
}

type readOnly struct{ next http.RoundTripper }

func (r readOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if IsMutating(req.Method) && !allowedInDryRun(req) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &ErrWrite{Method: req.Method, Path: req.URL.Path}
	}
	return r.next.RoundTrip(req)
}

func allowedInDryRun(req *http.Request) bool {
	for _, v := range req.URL.Query()["dryRun"] {
		if v == "All" {
			return true
		}
	}
	// client-go sends a DELETE's options, dryRun among them, in the body.
	if req.Method == http.MethodDelete && req.Body != nil && deleteBodyIsDryRun(req) {
		return true
	}
	if req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/apis/authorization.k8s.io/") {
		return true
	}
	return false
}
