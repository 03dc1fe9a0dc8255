{{/*
Chart name, truncated to 63 characters (the DNS-1123 label limit).
*/}}
{{- define "agenthost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters. If the release name
already contains the chart name it is used as is.
*/}}
{{- define "agenthost.fullname" -}}
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

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "agenthost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels (Helm best practices + app.kubernetes.io recommended labels).
Templates add app.kubernetes.io/component themselves.
*/}}
{{- define "agenthost.labels" -}}
helm.sh/chart: {{ include "agenthost.chart" . }}
{{ include "agenthost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: agenthost
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels. Deployment selectors are immutable: keep these two only.
*/}}
{{- define "agenthost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agenthost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "agenthost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agenthost.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference: repository@digest, or repository:tag (tag defaults
to the chart's appVersion).
*/}}
{{- define "agenthost.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
"true" when the ServiceMonitor is rendered: it is enabled and the cluster
serves monitoring.coreos.com/v1.
*/}}
{{- define "agenthost.serviceMonitor.enabled" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/*
Number of replicas that are guaranteed to exist (HPA minimum or replicaCount).
*/}}
{{- define "agenthost.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ int .Values.autoscaling.minReplicas }}{{ else }}{{ int .Values.replicaCount }}{{ end }}
{{- end }}

{{/*
Environment variables the chart sets, as a YAML list of EnvVar objects.
FOUNDRY_PROJECT_ENDPOINT (from foundry.projectEndpoint) is the only FOUNDRY_*
name the chart sets; it never sets an AGENT_* name.
*/}}
{{- define "agenthost.env" -}}
{{- $v := .Values -}}
{{- $env := list -}}
{{- $env = append $env (dict "name" "PORT" "value" "8088") -}}
{{- $env = append $env (dict "name" "AGENTHOST_METRICS_PORT" "value" (toString (int $v.metrics.port))) -}}
{{- $env = append $env (dict "name" "AGENTHOST_DRAIN_TIMEOUT" "value" (toString (int $v.config.drainTimeoutSeconds))) -}}
{{- $env = append $env (dict "name" "AGENTHOST_LOG_FORMAT" "value" $v.config.logFormat) -}}
{{- $env = append $env (dict "name" "TMPDIR" "value" "/tmp") -}}
{{- with $v.config.routePrefix -}}
{{- $env = append $env (dict "name" "AGENTHOST_ROUTE_PREFIX" "value" .) -}}
{{- end -}}
{{- with $v.config.instructions -}}
{{- $env = append $env (dict "name" "AGENTHOST_INSTRUCTIONS" "value" .) -}}
{{- end -}}
{{- with $v.toolboxes.names -}}
{{- $env = append $env (dict "name" "TOOLBOX_NAME" "value" (join "," .)) -}}
{{- end -}}
{{- with $v.toolboxes.required -}}
{{- $env = append $env (dict "name" "AGENTHOST_REQUIRED_TOOLBOXES" "value" (join "," .)) -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.toolboxes.strict) -}}
{{- $env = append $env (dict "name" "AGENTHOST_TOOLBOX_STRICT" "value" (toString $v.toolboxes.strict)) -}}
{{- end -}}
{{- with $v.toolboxes.consentMode -}}
{{- $env = append $env (dict "name" "AGENTHOST_CONSENT_MODE" "value" .) -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.toolboxes.startupTimeoutSeconds) -}}
{{- $env = append $env (dict "name" "AGENTHOST_TOOLBOX_STARTUP_TIMEOUT" "value" (toString (int $v.toolboxes.startupTimeoutSeconds))) -}}
{{- end -}}
{{- with $v.foundry.projectEndpoint -}}
{{- $env = append $env (dict "name" "FOUNDRY_PROJECT_ENDPOINT" "value" .) -}}
{{- end -}}
{{- with $v.model.provider -}}
{{- $env = append $env (dict "name" "AGENTHOST_MODEL_PROVIDER" "value" .) -}}
{{- end -}}
{{- with $v.model.baseUrl -}}
{{- $env = append $env (dict "name" "AGENTHOST_MODEL_BASE_URL" "value" .) -}}
{{- end -}}
{{- with $v.model.name -}}
{{- $env = append $env (dict "name" "AGENTHOST_MODEL" "value" .) -}}
{{- end -}}
{{- if $v.store.foundry -}}
{{- $env = append $env (dict "name" "AGENTHOST_STORE" "value" "foundry") -}}
{{- else if $v.store.existingSecret -}}
{{- $env = append $env (dict "name" "AGENTHOST_STORE" "valueFrom" (dict "secretKeyRef" (dict "name" $v.store.existingSecret "key" $v.store.key))) -}}
{{- with $v.store.passwordKey -}}
{{- $env = append $env (dict "name" "PGPASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $v.store.existingSecret "key" .))) -}}
{{- end -}}
{{- end -}}
{{- with $v.model.apiKey.existingSecret -}}
{{- $ref := dict "name" . "key" $v.model.apiKey.key -}}
{{- $env = append $env (dict "name" $v.model.apiKey.envName "valueFrom" (dict "secretKeyRef" $ref)) -}}
{{- end -}}
{{- if $v.otel.exporterOtlpEndpoint -}}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" $v.otel.exporterOtlpEndpoint) -}}
{{- end -}}
{{- if or $v.otel.exporterOtlpEndpoint $v.otel.serviceName -}}
{{- $env = append $env (dict "name" "OTEL_SERVICE_NAME" "value" ($v.otel.serviceName | default (include "agenthost.name" .))) -}}
{{- end -}}
{{- toYaml $env -}}
{{- end }}

{{/*
Cross-field checks that values.schema.json cannot express. Rendering fails
with a clear message instead of producing a broken Deployment.
*/}}
{{- define "agenthost.validate" -}}
{{- $v := .Values -}}
{{- $preStop := int $v.lifecycle.preStopSleepSeconds -}}
{{- $drain := int $v.config.drainTimeoutSeconds -}}
{{- $grace := int $v.terminationGracePeriodSeconds -}}
{{- if le $grace (add $preStop $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than lifecycle.preStopSleepSeconds (%d) + config.drainTimeoutSeconds (%d)" $grace $preStop $drain) -}}
{{- end -}}
{{- range $v.toolboxes.required -}}
{{- if not (has . $v.toolboxes.names) -}}
{{- fail (printf "toolboxes.required contains %q, which is not in toolboxes.names" .) -}}
{{- end -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (kindIs "invalid" $v.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $v.autoscaling.targetMemoryUtilizationPercentage) -}}
{{- fail "autoscaling needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- if and $v.store.foundry $v.store.existingSecret -}}
{{- fail "store.foundry and store.existingSecret name two stores: set one" -}}
{{- end -}}
{{- if and $v.store.foundry (not $v.foundry.projectEndpoint) -}}
{{- fail "store.foundry needs foundry.projectEndpoint: the storage API is the project's" -}}
{{- end -}}
{{- if and (not $v.store.existingSecret) (not $v.store.foundry) (or $v.autoscaling.enabled (gt (int $v.replicaCount) 1)) -}}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs store.existingSecret, a Secret with a postgres:// URL, or store.foundry (the project's Foundry storage): the default in-memory store is per pod, so other pods would answer previous_response_id, conversations and background reads with 404" -}}
{{- end -}}
{{- if and $v.workloadIdentity.enabled (not $v.workloadIdentity.clientId) -}}
{{- fail "workloadIdentity.enabled requires workloadIdentity.clientId" -}}
{{- end -}}
{{- $chartNames := list -}}
{{- range (include "agenthost.env" . | fromYamlArray) -}}
{{- $chartNames = append $chartNames .name -}}
{{- end -}}
{{- $seen := list -}}
{{- range $v.extraEnv -}}
{{- if regexMatch "^(?i)(FOUNDRY|AGENT)_" .name -}}
{{- fail (printf "extraEnv %q: FOUNDRY_* and AGENT_* names are reserved for the Foundry platform (set foundry.projectEndpoint for FOUNDRY_PROJECT_ENDPOINT)" .name) -}}
{{- end -}}
{{- if has .name $chartNames -}}
{{- fail (printf "extraEnv %q is already set by the chart; use its dedicated value instead" .name) -}}
{{- end -}}
{{- if has .name $seen -}}
{{- fail (printf "extraEnv %q is listed twice" .name) -}}
{{- end -}}
{{- $seen = append $seen .name -}}
{{- end -}}
{{- end }}
