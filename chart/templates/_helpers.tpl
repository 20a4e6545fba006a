{{/*
Names and labels, as in `helm create`'s starter chart.
*/}}

{{/* The chart name, overridable with nameOverride. */}}
{{- define "chatbot-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified name for the release's objects, at most 63 characters (DNS label limit).
A release named like the chart is not repeated ("chatbot-operator", not
"chatbot-operator-chatbot-operator").
*/}}
{{- define "chatbot-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "chatbot-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the release. */}}
{{- define "chatbot-operator.labels" -}}
helm.sh/chart: {{ include "chatbot-operator.chart" . }}
{{ include "chatbot-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "chatbot-operator.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatbot-operator
{{- end }}

{{/* The labels the operator's Deployment selects its pod by; never change between upgrades. */}}
{{- define "chatbot-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatbot-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "chatbot-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatbot-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image tag: image.tag, else the chart's appVersion. */}}
{{- define "chatbot-operator.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The operator image reference: a digest, when given, wins over the tag. */}}
{{- define "chatbot-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "chatbot-operator.imageTag" .) }}
{{- end }}
{{- end }}

{{/* The default bot image the operator gives ChatBots that name none. */}}
{{- define "chatbot-operator.botImage" -}}
{{- if .Values.botImage.digest }}
{{- printf "%s@%s" .Values.botImage.repository .Values.botImage.digest }}
{{- else }}
{{- printf "%s:%s" .Values.botImage.repository (.Values.botImage.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator watches, de-duplicated; empty means every namespace.
Rendered as a comma-separated string (the format of CHATBOT_OPERATOR_NAMESPACES).
*/}}
{{- define "chatbot-operator.watchNamespaces" -}}
{{- .Values.watchNamespaces | uniq | join "," }}
{{- end }}

{{/*
Checks of values that the schema cannot express; rendered (as nothing) by the Deployment so
that any conflict fails the install with a clear message.
*/}}
{{- define "chatbot-operator.validateValues" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail (printf "replicaCount=%d needs peering.enabled=true: without Kopf peering, several operator replicas would all handle every ChatBot and fight over it" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) (int .Values.livenessProbe.port)) }}
{{- fail (printf "metrics.port and livenessProbe.port are both %d: the operator needs two different ports" (int .Values.metrics.port)) }}
{{- end }}
{{- end }}

{{/* A ServiceMonitor endpoint's interval and scrapeTimeout lines, each only when set. */}}
{{- define "chatbot-operator.scrapeTiming" -}}
{{- $lines := list -}}
{{- with .Values.serviceMonitor.interval }}{{ $lines = append $lines (printf "interval: %s" .) }}{{ end -}}
{{- with .Values.serviceMonitor.scrapeTimeout }}{{ $lines = append $lines (printf "scrapeTimeout: %s" .) }}{{ end -}}
{{- join "\n" $lines -}}
{{- end }}
