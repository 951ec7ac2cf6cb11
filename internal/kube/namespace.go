package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The default-namespace rule, in one place: a builtin argument or command
// flag that names no namespace means -n/--namespace, else the namespace of
// the kube context, else "default". It reads the kubeconfig only, never the
// cluster, so it gives the same answer in a live pass, a dry pass, an offline
// dry run and a plan test. Every builtin and every command resolves its
// namespace through Settings.Namespaced.

// DefaultNamespace is the namespace used when none is named: -n, else the
// context's, else "default".
func (s Settings) DefaultNamespace() string {
	if s.Namespace != "" {
		return s.Namespace
	}
	if cfg, err := LoadConfig(s); err == nil {
		if ns, _, err := cfg.Namespace(); err == nil && ns != "" {
			return ns
		}
	}
	return "default"
}

// Namespaced resolves a namespace argument (empty: none given) by the rule
// above and checks that the result is a valid namespace name.
func (s Settings) Namespaced(arg string) (string, error) {
	ns := arg
	if ns == "" {
		ns = s.DefaultNamespace()
	}
	if err := CheckNamespace(ns); err != nil {
		return "", err
	}
	return ns, nil
}

// CheckNamespace checks that ns is a valid namespace name (a DNS-1123
// label).
func CheckNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("namespace %q is not a valid name: %s", ns, errs[0])
	}
	return nil
}
