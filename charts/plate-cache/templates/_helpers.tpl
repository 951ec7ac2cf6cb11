{{/*
plate-cache.name: the chart name, or nameOverride-free: this chart keeps it simple.
*/}}
{{- define "plate-cache.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
plate-cache.fullname: the name of the chart's objects: the release name when it
already contains the chart name (release "plate-cache" gives "plate-cache"), else
"<release>-<chart>".
*/}}
{{- define "plate-cache.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "plate-cache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plate-cache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "plate-cache.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plate-cache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: plate
{{- end }}
