{{/* Names, labels and the per-service pieces every template shares. */}}

{{- define "medialab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medialab.fullname" -}}
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

{{- define "medialab.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "medialab.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: medialab
{{- end -}}

{{/* Arguments of the per-service helpers: dict "root" $ "name" <service> "svc" <its values>. */}}

{{- define "medialab.componentName" -}}
{{- printf "%s-%s" (include "medialab.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medialab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medialab.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "medialab.componentLabels" -}}
{{ include "medialab.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "medialab.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "medialab.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "medialab.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "medialab.paymentsWebhook" -}}
{{- if eq .name "payments" -}}true{{- end -}}
{{- end -}}

{{- define "medialab.webhookMode" -}}
{{- if and (eq .name "gateway-bot") .root.Values.gateway.webhook.enabled -}}true{{- end -}}
{{- end -}}

{{/* Helm parses numbers in values as float64: print whole numbers without an exponent. */}}
{{- define "medialab.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* The non-secret settings of one service, the data of its ConfigMap: chart defaults, then
config.extraEnv, then the service's env; the addresses the chart wires up always win. */}}
{{- define "medialab.configData" -}}
{{- $v := .root.Values -}}
{{- $defaults := dict
  "ENVIRONMENT" $v.config.environment
  "ALLOW_FEW_REPLICAS" $v.config.allowFewReplicas
  "LOG_LEVEL" $v.config.logLevel
  "LOG_FORMAT" $v.config.logFormat
  "MEDIA_TTL_S" $v.config.mediaTtlSeconds
  "EVENTS_MAX_AGE_S" $v.config.eventsMaxAgeSeconds
  "SHUTDOWN_GRACE_S" $v.config.shutdownGraceSeconds
-}}
{{- if has .name (list "gateway-bot" "billing") -}}
{{- $_ := set $defaults "ADMIN_IDS" (toJson $v.config.adminIds) -}}
{{- end -}}
{{- if eq .name "billing" -}}
{{- $_ := set $defaults "RETENTION_DAYS" $v.config.retentionDays -}}
{{- end -}}
{{- $fixed := dict "HTTP_HOST" "0.0.0.0" "HTTP_PORT" $v.httpPort "NATS_URL" $v.nats.url "NATS_USER" .name "NATS_REPLICAS" $v.nats.replicas -}}
{{- if include "medialab.webhookMode" . -}}
{{- $_ := set $fixed "WEBHOOK_URL" $v.gateway.webhook.url -}}
{{- $_ := set $fixed "WEBHOOK_HOST" "0.0.0.0" -}}
{{- $_ := set $fixed "WEBHOOK_PORT" $v.gateway.webhook.port -}}
{{- end -}}
{{- if include "medialab.paymentsWebhook" . -}}
{{- $_ := set $fixed "YOOKASSA_WEBHOOK_HOST" "0.0.0.0" -}}
{{- $_ := set $fixed "YOOKASSA_WEBHOOK_PORT" $v.payments.webhook.port -}}
{{- $_ := set $fixed "YOOKASSA_WEBHOOK_PATH" $v.payments.webhook.path -}}
{{- end -}}
{{- if and (eq .name "gateway-bot") $v.services.payments.enabled -}}
{{- $_ := set $fixed "YOOKASSA_ENABLED" "true" -}}
{{- end -}}
{{- $env := merge $fixed (default dict .svc.env) $v.config.extraEnv $defaults -}}
{{- range $key, $value := $env }}
{{ $key }}: {{ include "medialab.envValue" $value | quote }}
{{- end -}}
{{- end -}}

{{- define "medialab.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
{{- end -}}

{{/* The environment read from Secrets: only what each service needs. */}}
{{- define "medialab.secretEnvs" -}}
{{- $v := .root.Values -}}
{{ include "medialab.secretEnv" (dict "env" "NATS_PASSWORD" "secret" (printf "%s%s" $v.nats.passwordSecretPrefix .name) "key" $v.nats.passwordKey) }}
{{- /* Either end of the JOBS stream: billing signs every job, the job consumers run only signed ones. */}}
{{- if has .name (list "billing" "fal-runner" "wavespeed-runner" "text-render" "prompt-llm") }}
{{ include "medialab.secretEnv" (dict "env" "JOB_SIGNING_KEY" "secret" (printf "%s%s" $v.secrets.jobSigning.secretPrefix .name) "key" $v.secrets.jobSigning.key) }}
{{- end }}
{{- if eq .name "gateway-bot" }}
{{ include "medialab.secretEnv" (dict "env" "TG_BOT_TOKEN" "secret" $v.secrets.telegram.existingSecret "key" $v.secrets.telegram.tokenKey) }}
{{- if include "medialab.webhookMode" . }}
{{ include "medialab.secretEnv" (dict "env" "WEBHOOK_SECRET" "secret" $v.secrets.telegram.existingSecret "key" $v.secrets.telegram.webhookSecretKey) }}
{{- end }}
{{- else if eq .name "billing" }}
{{ include "medialab.secretEnv" (dict "env" "DATABASE_URL" "secret" $v.database.existingSecret "key" $v.database.secretKey) }}
{{- else if eq .name "fal-runner" }}
{{ include "medialab.secretEnv" (dict "env" "FAL_KEYS" "secret" $v.secrets.fal.existingSecret "key" $v.secrets.fal.keysKey) }}
{{- else if eq .name "wavespeed-runner" }}
{{ include "medialab.secretEnv" (dict "env" "WAVESPEED_API_KEY" "secret" $v.secrets.wavespeed.existingSecret "key" $v.secrets.wavespeed.apiKeyKey) }}
{{- else if eq .name "payments" }}
{{ include "medialab.secretEnv" (dict "env" "YOOKASSA_SHOP_ID" "secret" $v.secrets.yookassa.existingSecret "key" $v.secrets.yookassa.shopIdKey) }}
{{ include "medialab.secretEnv" (dict "env" "YOOKASSA_SECRET_KEY" "secret" $v.secrets.yookassa.existingSecret "key" $v.secrets.yookassa.secretKeyKey) }}
{{- end }}
{{- end -}}
