package refcheck

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/plate-dev/plate/internal/trace"
)

// checkIngress: an Ingress's class exists (or a default one), and the
// Services its backends name exist with the port they name.
func (r *run) checkIngress() {
	if r.obj.GroupVersionKind().GroupKind() != gkIngress {
		return
	}
	var ing networkingv1.Ingress
	if runtime.DefaultUnstructuredConverter.FromUnstructured(r.obj.Object, &ing) != nil {
		return
	}
	_, legacy := ing.Annotations["kubernetes.io/ingress.class"]
	if !legacy {
		l := r.objects(CheckIngressClass, gkIngressClass, "", false, "ingressclasses")
		switch {
		case !l.ok:
		case ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName != "":
			if name := *ing.Spec.IngressClassName; !l.has(name) {
				r.report(trace.SeverityError, CheckIngressClass, "spec.ingressClassName",
					fmt.Sprintf("IngressClass %s does not exist (classes: %s): no controller serves this Ingress", name, l.list(8)),
					"use an existing class, or install the ingress controller earlier in the plan")
			}
		default:
			found := false
			for _, c := range l.names {
				if c.GetAnnotations()[defaultIngressAnnotation] == "true" {
					found = true
				}
			}
			if !found {
				r.report(trace.SeverityWarning, CheckIngressClass, "spec.ingressClassName",
					fmt.Sprintf("the Ingress names no class and no IngressClass is the default (classes: %s): a controller may ignore it", l.list(8)),
					"name a class in spec.ingressClassName")
			}
		}
	}
	ns := r.obj.GetNamespace()
	var services lookup
	backend := func(b *networkingv1.IngressBackend, field string) {
		if b == nil || b.Service == nil || b.Service.Name == "" {
			return
		}
		if services.names == nil {
			services = r.objects(CheckService, gkService, ns, true, "services")
		}
		if !services.ok {
			return
		}
		svc, ok := services.names[b.Service.Name]
		if !ok {
			r.report(trace.SeverityError, CheckService, field+".service.name",
				fmt.Sprintf("Service %s/%s does not exist and no step of the plan creates it", ns, b.Service.Name),
				"fix the backend's service name, or create the Service before this step")
			return
		}
		var s corev1.Service
		if runtime.DefaultUnstructuredConverter.FromUnstructured(svc.Object, &s) != nil || s.Spec.Type == corev1.ServiceTypeExternalName {
			return
		}
		port := b.Service.Port
		for _, p := range s.Spec.Ports {
			if (port.Name != "" && p.Name == port.Name) || (port.Name == "" && p.Port == port.Number) {
				return
			}
		}
		want := port.Name
		if want == "" {
			want = fmt.Sprint(port.Number)
		}
		var have []string
		for _, p := range s.Spec.Ports {
			have = append(have, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		r.report(trace.SeverityError, CheckService, field+".service.port",
			fmt.Sprintf("Service %s/%s has no port %s (ports: %v)", ns, b.Service.Name, want, have),
			"name a port the Service has")
	}
	backend(ing.Spec.DefaultBackend, "spec.defaultBackend")
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for j := range rule.HTTP.Paths {
			backend(&rule.HTTP.Paths[j].Backend, fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j))
		}
	}
}
