package kube

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestReadOnlyTransport(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	client := &http.Client{Transport: ReadOnly(http.DefaultTransport)}
	tests := []struct {
		method, path string
		allowed      bool
		body         string
	}{
		{"DELETE", "/api/v1/namespaces/x", true, `{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"]}`},
		{"DELETE", "/api/v1/namespaces/x", false, `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Foreground"}`},
		{"GET", "/api/v1/namespaces", true, ""},
		{"HEAD", "/api/v1/namespaces", true, ""},
		{"POST", "/api/v1/namespaces", false, ""},
		{"PUT", "/api/v1/namespaces/x", false, ""},
		{"PATCH", "/api/v1/namespaces/x", false, ""},
		{"DELETE", "/api/v1/namespaces/x", false, ""},
		{"PATCH", "/api/v1/namespaces/x?fieldManager=plate&dryRun=All", true, ""},
		{"POST", "/api/v1/namespaces?dryRun=All", true, ""},
		{"DELETE", "/api/v1/namespaces/x?dryRun=All", true, ""},
		{"POST", "/api/v1/namespaces?dryRun=true", false, ""},
		{"POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", true, ""},
	}
	for _, tt := range tests {
		before := reached.Load()
		body := tt.body
		if body == "" {
			body = "{}"
		}
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(body))
		resp, err := client.Do(req)
		if resp != nil {
			resp.Body.Close()
		}
		got := reached.Load() > before
		if got != tt.allowed {
			t.Errorf("%s %s: reached server %v, want %v (err %v)", tt.method, tt.path, got, tt.allowed, err)
		}
		if !tt.allowed {
			var we *ErrWrite
			if !errors.As(err, &we) {
				t.Errorf("%s %s: error %v, want *ErrWrite", tt.method, tt.path, err)
			}
		}
	}
}
