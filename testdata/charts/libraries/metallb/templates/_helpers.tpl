{{- define "metallb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: metallb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* A container that only sleeps, with probes that always pass. */}}
{{- define "metallb.standInContainer" -}}
image: {{ printf "%s:%s" .root.Values.image.repository .root.Values.image.tag | quote }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
command: ["sh", "-c", "exec sleep 2147483647"]
readinessProbe:
  exec:
    command: ["true"]
  periodSeconds: 10
livenessProbe:
  exec:
    command: ["true"]
  periodSeconds: 30
{{- with .resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
