package refcheck

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plate-dev/plate/internal/trace"
)

func schemaGK(group, kind string) schema.GroupKind { return schema.GroupKind{Group: group, Kind: kind} }

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	defaultIngressAnnotation   = "ingressclass.kubernetes.io/is-default-class"
)

// checkStorage: the storage class of a PVC, or of each volumeClaimTemplate
// of a StatefulSet, exists; with none named, a default class exists.
func (r *run) checkStorage() {
	switch r.obj.GroupVersionKind().GroupKind() {
	case gkPVC:
		r.checkClaim(r.obj.Object, "spec")
	case schemaGK("apps", "StatefulSet"):
		vcts, _, _ := unstructured.NestedSlice(r.obj.Object, "spec", "volumeClaimTemplates")
		for i, v := range vcts {
			if m, ok := v.(map[string]any); ok {
				r.checkClaim(m, fmt.Sprintf("spec.volumeClaimTemplates[%d].spec", i))
			}
		}
	}
}

func (r *run) checkClaim(claim map[string]any, path string) {
	// claim is the PVC, or the volumeClaimTemplate: both hold a spec.
	spec, _, _ := unstructured.NestedMap(claim, "spec")
	if v, _, _ := unstructured.NestedString(spec, "volumeName"); v != "" {
		return // bound to a named volume
	}
	name, named, _ := unstructured.NestedString(spec, "storageClassName")
	if !named {
		if a, ok, _ := unstructured.NestedStringMap(claim, "metadata", "annotations"); ok {
			if v, ok := a["volume.beta.kubernetes.io/storage-class"]; ok {
				name, named = v, true
			}
		}
	}
	if named && name == "" {
		return // no class: binds to a volume made by hand
	}
	l := r.objects(CheckStorageClass, gkStorageClass, "", true, "storageclasses")
	if !l.ok {
		return
	}
	if named {
		if !l.has(name) {
			r.report(trace.SeverityError, CheckStorageClass, path+".storageClassName",
				fmt.Sprintf("StorageClass %s does not exist (classes: %s): the claim stays Pending", name, l.list(8)),
				"use one of the existing classes, or create the class earlier in the plan")
		}
		return
	}
	var defaults []*unstructured.Unstructured
	for _, sc := range l.names {
		a := sc.GetAnnotations()
		if a[defaultClassAnnotation] == "true" || a[betaDefaultClassAnnotation] == "true" {
			defaults = append(defaults, sc)
		}
	}
	switch {
	case len(defaults) == 0:
		r.report(trace.SeverityError, CheckStorageClass, path+".storageClassName",
			fmt.Sprintf("the claim names no storage class and the cluster has no default one (classes: %s): it stays Pending unless a volume is made for it by hand", l.list(8)),
			"name a class in storageClassName, or mark one default ("+defaultClassAnnotation+": \"true\")")
	case len(defaults) == 1:
		if mode, _, _ := unstructured.NestedString(defaults[0].Object, "volumeBindingMode"); mode == "WaitForFirstConsumer" {
			r.report(trace.SeverityWarning, CheckStorageClass, path+".storageClassName",
				fmt.Sprintf("the default StorageClass %s binds on first consumer: the claim stays Pending until a pod uses it", defaults[0].GetName()),
				"fine when a pod of the plan mounts it; wait_ready reports such a claim as ready, awaiting consumer")
		}
	}
}
