package helm

import (
	"context"
	"fmt"
)

// TemplateRequest asks for a chart to be rendered, as `helm template`
// does: client-only, never contacting a cluster.
type TemplateRequest struct {
	// Release is the release name templates see (default "release-name").
	Release   string
	Namespace string
	Chart     ChartSource
	Values    Values
	// KubeVersion overrides the client's Kubernetes version.
	KubeVersion string
}

// TemplateResult holds the rendered objects: the chart's CRDs (crds/ of
// the chart and of its enabled subcharts), then its manifest in install
// order, then its hooks, each decoded from the bytes Helm installs.
type TemplateResult struct {
	Chart        string           `json:"chart"`
	ChartVersion string           `json:"chart_version"`
	Objects      []map[string]any `json:"-"`
	Refs         []ObjectRef      `json:"objects"`
}

// Summary is "12 objects from web 1.2.0".
func (r *TemplateResult) Summary() string {
	return fmt.Sprintf("%s from %s %s", plural(len(r.Objects), "object"), r.Chart, r.ChartVersion)
}

// Template renders a chart client-only for the client's Kubernetes
// version, as helm template does: no lookups, no cluster capabilities (the
// chart's own CRDs are not among its API versions), nothing contacted.
func (c *Client) Template(ctx context.Context, req TemplateRequest) (*TemplateResult, error) {
	if req.Release == "" {
		req.Release = "release-name"
	}
	if err := validName(req.Release); err != nil {
		return nil, err
	}
	if req.Namespace == "" {
		req.Namespace = "default"
	}
	kv := req.KubeVersion
	if kv == "" {
		kv = c.opts.KubeVersion
	}
	ch, err := c.LoadChart(ctx, req.Chart)
	if err != nil {
		return nil, err
	}
	srcs, err := req.Values.sources()
	if err != nil {
		return nil, err
	}
	vals := mergeSources(srcs)
	if err := prepareChart(ch, vals); err != nil {
		return nil, attributeErr(c.renderErr(nil, req.Chart, err), srcs, ch.Values)
	}
	// Like helm template, the chart's own CRDs are not among the API
	// versions templates see: nothing installed them.
	rel, err := c.renderClientOnly(req.Release, req.Namespace, ch, vals, kv, nil, false, false)
	if err != nil {
		return nil, attributeErr(c.renderErr(nil, req.Chart, err), srcs, ch.Values)
	}
	// Each document as Helm installs it: the CRD files of the chart and
	// its enabled subcharts, the manifest, each hook's own manifest.
	var objs []*object
	for _, crd := range ch.CRDObjects() {
		docs, err := parseCRDFile(crd, nil, "")
		if err != nil {
			return nil, fmt.Errorf("chart %s: %v", req.Chart, err)
		}
		objs = append(objs, docs...)
	}
	scope := c.scope(nil, crdKinds(nil, objs))
	for _, o := range objs {
		o.scopeTo(scope, req.Namespace)
	}
	docs, err := parseManifest(rel.Manifest, scope, req.Namespace)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %v", req.Chart, err)
	}
	objs = append(objs, docs...)
	for _, h := range rel.Hooks {
		docs, err := parseDocuments([]byte(h.Manifest), h.Path, scope, req.Namespace, keepHead)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %v", req.Chart, err)
		}
		objs = append(objs, docs...)
	}
	res := &TemplateResult{Chart: ch.Metadata.Name, ChartVersion: ch.Metadata.Version}
	for _, o := range objs {
		body, err := o.Body()
		if err != nil {
			return nil, fmt.Errorf("chart %s: %s: invalid YAML: %v", req.Chart, o.Source, err)
		}
		res.Objects = append(res.Objects, body)
		res.Refs = append(res.Refs, o.ObjectRef)
	}
	return res, nil
}
