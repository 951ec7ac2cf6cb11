{{/*
plate-api.name: the chart name, or nameOverride-free: this chart keeps it simple.
*/}}
{{- define "plate-api.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
plate-api.fullname: the name of the chart's objects: the release name when it
already contains the chart name (release "plate-api" gives "plate-api"), else
"<release>-<chart>".
*/}}
{{- define "plate-api.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "plate-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plate-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "plate-api.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plate-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: plate
{{- end }}

{{/* An image reference; the tag defaults to the chart's appVersion. */}}
{{- define "plate-api.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
