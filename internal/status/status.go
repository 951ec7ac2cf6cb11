// Package status collects what `plate status` and the status builtin show
// about a namespace: the Helm releases (their metadata, which internal/helm
// reads from Helm's storage Secrets), the pods with their readiness and problems, the Services
// with their addresses and the Ingresses with their hosts and TLS.
//
// It only reads. Helm release Secrets hold the release's values, which may
// contain secrets: only the chart metadata and the release info reach the
// report (helm.LatestReleases), never the values or the manifest.
package status

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/plate-dev/plate/internal/helm"
	"github.com/plate-dev/plate/internal/kube/readiness"
)

// Options select what to collect.
type Options struct {
	// Namespace to look in.
	Namespace string
	// Releases restricts the report to these Helm releases and the objects
	// they own; empty means everything in the namespace.
	Releases []string
	// Now is the time ages are measured against.
	Now time.Time
}

// Report is the status of one namespace.
type Report struct {
	Namespace string    `json:"namespace"`
	Releases  []Release `json:"releases"`
	Pods      []Pod     `json:"pods"`
	Services  []Service `json:"services"`
	Ingresses []Ingress `json:"ingresses"`
	// Missing lists requested releases that have no Helm record.
	Missing []string `json:"missing,omitempty"`
	// Warnings are things that could not be read (e.g. no permission to
	// list Secrets), so the report is partial.
	Warnings []string `json:"warnings,omitempty"`

	now time.Time
}

// Release is the latest revision of a Helm release.
type Release struct {
	Name        string    `json:"name"`
	Revision    int       `json:"revision"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart,omitempty"`
	AppVersion  string    `json:"app_version,omitempty"`
	Updated     time.Time `json:"updated"`
	Description string    `json:"description,omitempty"`
}

// Pod is one pod's state.
type Pod struct {
	Name     string    `json:"name"`
	Ready    int       `json:"ready"`
	Total    int       `json:"total"`
	Status   string    `json:"status"`
	Restarts int32     `json:"restarts"`
	Created  time.Time `json:"created"`
	Node     string    `json:"node,omitempty"`
	// Problem is the readiness verdict's reason when the pod is not Ready
	// (e.g. CrashLoopBackOff), and Message its explanation.
	Problem string `json:"problem,omitempty"`
	Message string `json:"message,omitempty"`
}

// Service is one Service with its addresses.
type Service struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	ClusterIP string   `json:"cluster_ip,omitempty"`
	External  []string `json:"external,omitempty"`
	Ports     []string `json:"ports,omitempty"`
	// Pending is true for a LoadBalancer Service without an address.
	Pending bool `json:"pending,omitempty"`
}

// Ingress is one Ingress with its hosts and TLS.
type Ingress struct {
	Name    string   `json:"name"`
	Class   string   `json:"class,omitempty"`
	Hosts   []string `json:"hosts"`
	TLS     []string `json:"tls,omitempty"`
	Address []string `json:"address,omitempty"`
}

const (
	releaseNameAnnotation = "meta.helm.sh/release-name"
	instanceLabel         = "app.kubernetes.io/instance"
)

// Collect reads the status of a namespace.
func Collect(ctx context.Context, cs kubernetes.Interface, opts Options) (*Report, error) {
	r := &Report{Namespace: opts.Namespace, now: opts.Now, Releases: []Release{}, Pods: []Pod{}, Services: []Service{}, Ingresses: []Ingress{}}
	if r.now.IsZero() {
		r.now = time.Now()
	}
	ns := opts.Namespace
	want := map[string]bool{}
	for _, n := range opts.Releases {
		want[n] = true
	}
	rels, err := releases(ctx, cs, ns, opts.Releases)
	if err != nil {
		r.Warnings = append(r.Warnings, "Helm releases: "+err.Error())
	}
	r.Releases = append(r.Releases, rels...)
	found := map[string]bool{}
	for _, rel := range rels {
		found[rel.Name] = true
	}
	for _, n := range opts.Releases {
		if !found[n] {
			r.Missing = append(r.Missing, n)
		}
	}
	owned := func(meta metav1.Object) bool {
		return len(want) == 0 || want[meta.GetAnnotations()[releaseNameAnnotation]] || want[meta.GetLabels()[instanceLabel]]
	}

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
	}
	var workloads map[string]bool
	if len(want) > 0 {
		workloads = releaseWorkloads(ctx, cs, ns, owned, r)
	}
	var events []*corev1.Event
	if evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range evs.Items {
			events = append(events, &evs.Items[i])
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if len(want) > 0 && !owned(p) && !workloads[controllerKey(p.OwnerReferences)] {
			continue
		}
		r.Pods = append(r.Pods, podRow(p, events, r.now))
	}

	svcs, err := cs.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.Warnings = append(r.Warnings, "services: "+err.Error())
	} else {
		for i := range svcs.Items {
			if s := &svcs.Items[i]; owned(s) {
				r.Services = append(r.Services, serviceRow(s))
			}
		}
	}
	ings, err := cs.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.Warnings = append(r.Warnings, "ingresses: "+err.Error())
	} else {
		for i := range ings.Items {
			ing := &ings.Items[i]
			if !owned(ing) {
				continue
			}
			row := Ingress{Name: ing.Name, Hosts: []string{}}
			if ing.Spec.IngressClassName != nil {
				row.Class = *ing.Spec.IngressClassName
			}
			for _, rule := range ing.Spec.Rules {
				h := rule.Host
				if h == "" {
					h = "*"
				}
				row.Hosts = appendUnique(row.Hosts, h)
			}
			for _, t := range ing.Spec.TLS {
				name := t.SecretName
				if name == "" {
					name = "(default certificate)"
				}
				row.TLS = append(row.TLS, fmt.Sprintf("%s (%s)", strings.Join(t.Hosts, ","), name))
			}
			for _, in := range ing.Status.LoadBalancer.Ingress {
				row.Address = append(row.Address, firstNonEmpty(in.IP, in.Hostname))
			}
			r.Ingresses = append(r.Ingresses, row)
		}
	}
	sort.Slice(r.Pods, func(i, j int) bool { return r.Pods[i].Name < r.Pods[j].Name })
	sort.Slice(r.Services, func(i, j int) bool { return r.Services[i].Name < r.Services[j].Name })
	sort.Slice(r.Ingresses, func(i, j int) bool { return r.Ingresses[i].Name < r.Ingresses[j].Name })
	return r, nil
}

// releases reads the latest revision of each Helm release in ns (of those
// named, when names is not empty): the metadata internal/helm decodes from
// Helm's storage, never the values or the manifest.
func releases(ctx context.Context, cs kubernetes.Interface, ns string, names []string) ([]Release, error) {
	metas, err := helm.LatestReleases(ctx, cs, ns, names)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, m := range metas {
		rel := Release{Name: m.Name, Revision: m.Revision, Status: m.Status, AppVersion: m.AppVersion, Updated: m.Updated, Description: m.Description}
		if m.Chart != "" {
			rel.Chart = m.Chart + "-" + m.ChartVersion
		}
		out = append(out, rel)
	}
	return out, nil
}

// releaseWorkloads returns "Kind/name" of the controllers (and the
// ReplicaSets of Deployments) that belong to the selected releases.
func releaseWorkloads(ctx context.Context, cs kubernetes.Interface, ns string, owned func(metav1.Object) bool, r *Report) map[string]bool {
	out := map[string]bool{}
	apps := cs.AppsV1()
	if l, err := apps.Deployments(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			if owned(&l.Items[i]) {
				out["Deployment/"+l.Items[i].Name] = true
			}
		}
	}
	if l, err := apps.StatefulSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			if owned(&l.Items[i]) {
				out["StatefulSet/"+l.Items[i].Name] = true
			}
		}
	}
	if l, err := apps.DaemonSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			if owned(&l.Items[i]) {
				out["DaemonSet/"+l.Items[i].Name] = true
			}
		}
	}
	if l, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			if owned(&l.Items[i]) {
				out["Job/"+l.Items[i].Name] = true
			}
		}
	}
	if l, err := apps.ReplicaSets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range l.Items {
			rs := &l.Items[i]
			if owned(rs) || out[controllerKey(rs.OwnerReferences)] {
				out["ReplicaSet/"+rs.Name] = true
			}
		}
	} else {
		r.Warnings = append(r.Warnings, "replicasets: "+err.Error())
	}
	return out
}

func controllerKey(refs []metav1.OwnerReference) string {
	for _, ref := range refs {
		if ref.Controller != nil && *ref.Controller {
			return ref.Kind + "/" + ref.Name
		}
	}
	return ""
}

func podRow(p *corev1.Pod, events []*corev1.Event, now time.Time) Pod {
	row := Pod{Name: p.Name, Total: len(p.Spec.Containers), Created: p.CreationTimestamp.Time, Node: p.Spec.NodeName}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			row.Ready++
		}
		row.Restarts += cs.RestartCount
	}
	row.Status = podPhase(p)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err == nil {
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion("v1")
		u.SetKind("Pod")
		res := readiness.Evaluate(u, readiness.Related{Events: events}, readiness.Options{}, now)
		if res.State != readiness.Ready {
			row.Problem = firstNonEmpty(res.Reason, string(res.State))
			row.Message = res.Message
		}
	}
	return row
}

// podPhase is the STATUS kubectl shows: the reason of a waiting or
// terminated container, Terminating, or the phase.
func podPhase(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" && w.Reason != "ContainerCreating" {
				return w.Reason
			}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.Reason != "" && p.Status.Phase != corev1.PodRunning {
			return t.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	if p.Status.Phase == corev1.PodSucceeded {
		return "Completed"
	}
	return firstNonEmpty(string(p.Status.Phase), "Unknown")
}

func serviceRow(s *corev1.Service) Service {
	row := Service{Name: s.Name, Type: firstNonEmpty(string(s.Spec.Type), "ClusterIP"), ClusterIP: s.Spec.ClusterIP}
	for _, in := range s.Status.LoadBalancer.Ingress {
		row.External = append(row.External, firstNonEmpty(in.IP, in.Hostname))
	}
	row.External = append(row.External, s.Spec.ExternalIPs...)
	if s.Spec.Type == corev1.ServiceTypeExternalName {
		row.External = append(row.External, s.Spec.ExternalName)
	}
	row.Pending = s.Spec.Type == corev1.ServiceTypeLoadBalancer && len(s.Status.LoadBalancer.Ingress) == 0
	for _, p := range s.Spec.Ports {
		port := fmt.Sprintf("%d/%s", p.Port, firstNonEmpty(string(p.Protocol), "TCP"))
		if p.NodePort != 0 {
			port = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, firstNonEmpty(string(p.Protocol), "TCP"))
		}
		row.Ports = append(row.Ports, port)
	}
	return row
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
