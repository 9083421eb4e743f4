{{/*
Helpers of the training-operator chart. Every mlfleet subchart carries the same helpers under its own
name prefix, so each chart also installs on its own.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "training-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "training-operator.fullname" -}}
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

{{/* Selector labels (stable across upgrades). */}}
{{- define "training-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Common labels. */}}
{{- define "training-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "training-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: mlfleet
{{- end -}}

{{/* ServiceAccount name. */}}
{{- define "training-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "training-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference <registry>/<repository>:<tag>; global.imageRegistry / global.imageTag override the chart's defaults. */}}
{{- define "training-operator.image" -}}
{{- $global := default dict .Values.global -}}
{{- $registry := default .Values.image.registry $global.imageRegistry -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) $global.imageTag -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- end -}}

{{/* Restricted pod security context. */}}
{{- define "training-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Restricted container security context. */}}
{{- define "training-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment of the common flags (see the binary CLI contract). */}}
{{- define "training-operator.commonEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: MLFLEET_ADMIN_ADDR
  value: {{ printf "0.0.0.0:%v" .Values.admin.port | quote }}
- name: MLFLEET_GRPC_ADDR
  value: {{ printf "0.0.0.0:%v" .Values.grpc.port | quote }}
- name: MLFLEET_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: MLFLEET_LOG
  value: {{ .Values.log.level | quote }}
- name: MLFLEET_LEADER_ELECT
  value: {{ .Values.leaderElection.enabled | quote }}
- name: MLFLEET_LEASE_NAME
  value: {{ include "training-operator.fullname" . | quote }}
- name: MLFLEET_LEASE_DURATION_SECONDS
  value: {{ .Values.leaderElection.leaseDurationSeconds | quote }}
{{- with .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ $.Chart.Name | quote }}
{{- end }}
{{- if .Values.grpc.tls.secretName }}
- name: MLFLEET_TLS_CERT
  value: /etc/mlfleet/tls/tls.crt
- name: MLFLEET_TLS_KEY
  value: /etc/mlfleet/tls/tls.key
{{- if .Values.grpc.tls.requireClientCert }}
- name: MLFLEET_TLS_CLIENT_CA
  value: /etc/mlfleet/tls/ca.crt
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Container ports (names fixed by the CLI contract). */}}
{{- define "training-operator.ports" -}}
- name: http-admin
  containerPort: {{ .Values.admin.port }}
  protocol: TCP
- name: grpc
  containerPort: {{ .Values.grpc.port }}
  protocol: TCP
{{- end -}}

{{/* Liveness and readiness probes on the admin server. */}}
{{- define "training-operator.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http-admin
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http-admin
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 3
{{- end -}}

{{/* Volumes every controller pod has: a writable /tmp, and the gRPC TLS Secret when set. */}}
{{- define "training-operator.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.grpc.tls.secretName }}
- name: grpc-tls
  secret:
    secretName: {{ .Values.grpc.tls.secretName }}
{{- end }}
{{- end -}}

{{- define "training-operator.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.grpc.tls.secretName }}
- name: grpc-tls
  mountPath: /etc/mlfleet/tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Prometheus scrape annotations for the admin port. */}}
{{- define "training-operator.podAnnotations" -}}
{{- if .Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.admin.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Environment specific to training-operator. */}}
{{- define "training-operator.extraControllerEnv" -}}
{{- if .Values.gpuAgent.subscribe }}
{{- $svc := .Values.gpuAgent.service | default (printf "%s/%s-gpu-node-agent" .Release.Namespace .Release.Name) }}
- name: MLFLEET_GPU_AGENT_SERVICE
  value: {{ printf "%s:%s" $svc .Values.gpuAgent.portName | quote }}
{{- end }}
{{- end -}}
