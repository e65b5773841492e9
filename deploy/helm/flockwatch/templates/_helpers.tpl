{{/* Names and labels shared by every template. */}}

{{- define "flockwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "flockwatch.fullname" -}}
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

{{- define "flockwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "flockwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (worker, notifier, api): pass (list $ "worker"). */}}
{{- define "flockwatch.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "flockwatch.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "flockwatch.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "flockwatch.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "flockwatch.fullname" .) -}}
{{- end -}}

{{- define "flockwatch.rulesConfigMap" -}}
{{- if .Values.rules.existingConfigMap -}}
{{- .Values.rules.existingConfigMap -}}
{{- else if .Values.rules.packs -}}
{{- printf "%s-rules" (include "flockwatch.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Environment every flockwatch process shares: the database URL from the Secret. */}}
{{- define "flockwatch.databaseEnv" -}}
- name: FLOCKWATCH_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "flockwatch.secretName" . }}
      key: database-url
{{- end -}}
