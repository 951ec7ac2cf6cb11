{{- define "cert-manager.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cert-manager
{{- end }}

{{- define "cert-manager.crdAnnotations" -}}
{{- if .Values.crds.keep }}
annotations:
  helm.sh/resource-policy: keep
{{- end }}
{{- end }}

{{/* A container that only sleeps, with probes that always pass. */}}
{{- define "cert-manager.standInContainer" -}}
image: {{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
command: ["sh", "-c", "exec sleep 2147483647"]
readinessProbe:
  exec:
    command: ["true"]
  periodSeconds: 10
livenessProbe:
  exec:
    command: ["true"]
  periodSeconds: 30
{{- with .Values.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The spec of Issuer and ClusterIssuer: exactly one of selfSigned, ca, acme. */}}
{{- define "cert-manager.issuerSpecSchema" -}}
type: object
maxProperties: 1
minProperties: 1
properties:
  selfSigned:
    type: object
    properties:
      crlDistributionPoints:
        type: array
        items:
          type: string
  ca:
    type: object
    required: [secretName]
    properties:
      secretName:
        type: string
  acme:
    type: object
    required: [server, privateKeySecretRef]
    properties:
      server:
        type: string
      email:
        type: string
      skipTLSVerify:
        type: boolean
      privateKeySecretRef:
        type: object
        required: [name]
        properties:
          name:
            type: string
          key:
            type: string
      solvers:
        type: array
        items:
          type: object
          x-kubernetes-preserve-unknown-fields: true
{{- end }}

{{/* The status of every cert-manager.io kind: conditions. */}}
{{- define "cert-manager.statusSchema" -}}
type: object
properties:
  conditions:
    type: array
    x-kubernetes-list-type: map
    x-kubernetes-list-map-keys: [type]
    items:
      type: object
      required: [type, status]
      properties:
        type:
          type: string
        status:
          type: string
          enum: ["True", "False", "Unknown"]
        reason:
          type: string
        message:
          type: string
        lastTransitionTime:
          type: string
          format: date-time
        observedGeneration:
          type: integer
          format: int64
  notAfter:
    type: string
    format: date-time
  notBefore:
    type: string
    format: date-time
  renewalTime:
    type: string
    format: date-time
  revision:
    type: integer
  acme:
    type: object
    x-kubernetes-preserve-unknown-fields: true
{{- end }}
