package main

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/plate-dev/plate/builtins/registry"
	"github.com/plate-dev/plate/internal/backup"
	"github.com/plate-dev/plate/internal/kube"
)

// Shell completion of cluster objects reads the cluster lazily: only when
// the shell asks, with the flags typed so far (--kubeconfig, --context,
// -n), bounded by completionTimeout so that an unreachable cluster never
// hangs a shell. A failure completes nothing (and falls back to no file
// names), as kubectl does.

// completionTimeout bounds each cluster read of a completion.
var completionTimeout = 3 * time.Second

const noFiles = cobra.ShellCompDirectiveNoFileComp

// withPrefix keeps the candidates that start with prefix, sorted.
func withPrefix(all []string, prefix string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range all {
		if strings.HasPrefix(s, prefix) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func completionContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, completionTimeout)
}

// completeReleases completes the first argument with the names of the
// releases in the namespace of -n (or the context's); later arguments get
// nothing.
func completeReleases(g *GlobalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		ctx, cancel := completionContext(cmd)
		defer cancel()
		cl, err := connectRelease(g, true)
		if err != nil {
			return nil, noFiles
		}
		rels, err := cl.helm.List(ctx, cl.namespace)
		if err != nil {
			return nil, noFiles
		}
		var names []string
		for _, r := range rels {
			names = append(names, r.Name)
		}
		return withPrefix(names, toComplete), noFiles
	}
}

// completeNamespaces completes -n with the cluster's namespaces.
func completeNamespaces(g *GlobalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		ctx, cancel := completionContext(cmd)
		defer cancel()
		s := g.kubeSettings()
		s.Namespace = ""
		kc, err := kube.Connect(s, true)
		if err != nil {
			return nil, noFiles
		}
		list, err := kc.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, noFiles
		}
		var names []string
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		return withPrefix(names, toComplete), noFiles
	}
}

// completeContexts completes --context with the kubeconfig's contexts (no
// cluster is contacted).
func completeContexts(g *GlobalOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		loader, err := kube.LoadConfig(kube.Settings{Kubeconfig: g.Kubeconfig})
		if err != nil {
			return nil, noFiles
		}
		raw, err := loader.RawConfig()
		if err != nil {
			return nil, noFiles
		}
		var names []string
		for name := range raw.Contexts {
			names = append(names, name)
		}
		return withPrefix(names, toComplete), noFiles
	}
}

// completeBackupIDs completes the ID argument of plate backup show and
// restore with the backups in the backup directory.
func completeBackupIDs(opts *BackupOptions) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		dir, err := opts.backupsDir()
		if err != nil {
			return nil, noFiles
		}
		list, err := backup.List(dir)
		if err != nil {
			return nil, noFiles
		}
		var ids []string
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		return withPrefix(ids, toComplete), noFiles
	}
}

// completeHelp completes plate help with commands, "builtins" and the
// builtin names.
func completeHelp(f *Factory, root *cobra.Command) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		names := []string{"builtins"}
		if all, err := registry.All(f.Plugins()); err == nil {
			for _, b := range all {
				names = append(names, b.Name)
			}
		}
		for _, c := range root.Commands() {
			if c.IsAvailableCommand() {
				names = append(names, c.Name())
			}
		}
		return withPrefix(names, toComplete), noFiles
	}
}
