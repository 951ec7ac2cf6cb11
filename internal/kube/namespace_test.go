package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNamespaced(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	cfg := `apiVersion: v1
kind: Config
current-context: a
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {}
contexts:
- name: a
  context: {cluster: c, user: u, namespace: team-a}
- name: b
  context: {cluster: c, user: u}
`
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Settings
		arg  string
		want string
		err  string
	}{
		{name: "argument wins", s: Settings{Kubeconfig: kc, Namespace: "flag"}, arg: "arg", want: "arg"},
		{name: "flag", s: Settings{Kubeconfig: kc, Namespace: "flag"}, want: "flag"},
		{name: "context", s: Settings{Kubeconfig: kc}, want: "team-a"},
		{name: "context without namespace", s: Settings{Kubeconfig: kc, Context: "b"}, want: "default"},
		{name: "no kubeconfig at all", s: Settings{Kubeconfig: filepath.Join(dir, "missing")}, want: "default"},
		{name: "invalid argument", s: Settings{Kubeconfig: kc}, arg: "Bad_NS", err: `namespace "Bad_NS" is not a valid name`},
		{name: "invalid flag", s: Settings{Kubeconfig: kc, Namespace: "x.y"}, err: `namespace "x.y" is not a valid name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Namespaced(tc.arg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Namespaced(%q) = %q, %v; want error %q", tc.arg, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Namespaced(%q) = %q, %v; want %q", tc.arg, got, err, tc.want)
			}
		})
	}
}
