{{/*
plate-ingress.name: the chart name, or nameOverride-free: this chart keeps it simple.
*/}}
{{- define "plate-ingress.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
plate-ingress.fullname: the name of the chart's objects: the release name when it
already contains the chart name (release "plate-ingress" gives "plate-ingress"), else
"<release>-<chart>".
*/}}
{{- define "plate-ingress.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades. */}}
{{- define "plate-ingress.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plate-ingress.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "plate-ingress.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "plate-ingress.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: plate
{{- end }}
