{{/*
plate-llm.name: the chart name, or nameOverride-free: this chart keeps it simple.
*/}}
{{- define "plate-llm.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
plate-llm.fullname: the name of the chart's objects: the release name when it
already contains the chart name (release "plate-llm" gives "plate-llm"), else
"<release>-<chart>".
*/}}
{{- define "plate-llm.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "plate-llm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plate-llm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "plate-llm.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plate-llm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: plate
{{- end }}

{{/* An image reference; the tag defaults to the chart's appVersion. */}}
{{- define "plate-llm.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
