{{/* The release's name for its objects, at most 63 characters. */}}
{{- define "rask.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rask.selector" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rask.labels" -}}
{{ include "rask.selector" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rask.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{- define "rask.secretName" -}}
{{ default (printf "%s-secret" (include "rask.fullname" .)) .Values.secret.existingSecret }}
{{- end -}}

{{- define "rask.schedulerAddress" -}}
{{ printf "%s-scheduler:%d" (include "rask.fullname" .) (int .Values.scheduler.port) }}
{{- end -}}

{{/* The shared secret from the Secret, as an env entry. */}}
{{- define "rask.secretEnv" -}}
- name: RASK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "rask.secretName" . }}
      key: RASK_SECRET
{{- end -}}
