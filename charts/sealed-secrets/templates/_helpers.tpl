{{/* Chart name, overridable with nameOverride. */}}
{{- define "sealed-secrets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified name of every namespaced object: fullnameOverride, else upstream's rule:
<release>-<chart>, or <release> when the release name already contains the chart name.
*/}}
{{- define "sealed-secrets.fullname" -}}
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

{{/* Namespace of every namespaced object. */}}
{{- define "sealed-secrets.namespace" -}}
{{- default .Release.Namespace (default .Values.namespace .Values.namespaceOverride) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sealed-secrets.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels (same keys as upstream, so an in-place upgrade keeps the Deployment selector). */}}
{{- define "sealed-secrets.matchLabels" -}}
app.kubernetes.io/name: {{ include "sealed-secrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sealed-secrets.labels" -}}
{{ include "sealed-secrets.matchLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: sealed-secrets
helm.sh/chart: {{ include "sealed-secrets.chart" . }}
{{- with .Values.commonLabels }}
{{ include "sealed-secrets.render" (dict "value" . "context" $) }}
{{- end }}
{{- end -}}

{{/*
A value rendered through `tpl`, as upstream's chart does: a string is taken as YAML text (templates
allowed), anything else is serialised with toYaml first. Call with (dict "value" .x "context" $).
*/}}
{{- define "sealed-secrets.render" -}}
{{- if kindIs "string" .value -}}
{{- tpl .value .context -}}
{{- else -}}
{{- tpl (toYaml .value) .context -}}
{{- end -}}
{{- end -}}

{{/* metadata.annotations (at indent 2), or nothing. Call with (dict "extra" .x "context" $). */}}
{{- define "sealed-secrets.annotations" -}}
{{- $all := merge (dict) (default (dict) .extra) (default (dict) .context.Values.commonAnnotations) -}}
{{- if $all }}
  annotations:
    {{- include "sealed-secrets.render" (dict "value" $all "context" .context) | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "sealed-secrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sealed-secrets.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "sealed-secrets.leaseName" -}}
{{- default (include "sealed-secrets.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{- define "sealed-secrets.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion (toString .Values.image.tag)) -}}
{{- end -}}
{{- end -}}

{{/*
Kubernetes version for API decisions: .Values.global.kubeVersion (as upstream's chart, for umbrella
charts), else .Values.kubeVersion, else Helm's .Capabilities.
*/}}
{{- define "sealed-secrets.kubeVersion" -}}
{{- $global := default (dict) .Values.global -}}
{{- default (default .Capabilities.KubeVersion.Version .Values.kubeVersion) $global.kubeVersion -}}
{{- end -}}

{{/* "true" when a values file fixes the Kubernetes version (kubeVersion or global.kubeVersion). */}}
{{- define "sealed-secrets.kubeVersionSet" -}}
{{- if or .Values.kubeVersion (default (dict) .Values.global).kubeVersion -}}true{{- end -}}
{{- end -}}

{{/*
policy/v1 PodDisruptionBudget exists from Kubernetes 1.21; 1.16-1.20 only have policy/v1beta1.
Decided on the server version (helm install/upgrade: the real one; helm template: Helm's default,
or .Values.kubeVersion). .Capabilities.APIVersions.Has is also accepted, for servers that report
policy/v1 under an unusual version string.
*/}}
{{- define "sealed-secrets.pdb.apiVersion" -}}
{{- if or (semverCompare ">=1.21-0" (include "sealed-secrets.kubeVersion" .)) (and (not (include "sealed-secrets.kubeVersionSet" .)) (.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget")) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

{{/* networking.k8s.io/v1 Ingress exists from Kubernetes 1.19 (same rule as the PDB). */}}
{{- define "sealed-secrets.ingress.apiVersion" -}}
{{- if .Values.ingress.apiVersion -}}
{{- .Values.ingress.apiVersion -}}
{{- else if or (semverCompare ">=1.19-0" (include "sealed-secrets.kubeVersion" .)) (and (not (include "sealed-secrets.kubeVersionSet" .)) (.Capabilities.APIVersions.Has "networking.k8s.io/v1/Ingress")) -}}
networking.k8s.io/v1
{{- else -}}
networking.k8s.io/v1beta1
{{- end -}}
{{- end -}}

{{/* "k=v,k=v" from a map of strings; fails on non-string values. Call with (dict "map" .m "what" "Annotation"). */}}
{{- define "sealed-secrets.kvList" -}}
{{- $items := list -}}
{{- range $k, $v := .map -}}
{{- if not (and $v (kindIs "string" $v)) -}}
{{- fail (printf "%s values have to be non-empty strings (key %q)" $.what $k) -}}
{{- end -}}
{{- $items = append $items (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $items -}}
{{- end -}}

{{/*
Whether the controller must be limited to its namespaces: allNamespaces=false, or chart-managed
namespaced RBAC (rbac.namespacedRoles without rbac.clusterRole) which cannot cover other namespaces.
*/}}
{{- define "sealed-secrets.restrictNamespaces" -}}
{{- if or (not .Values.allNamespaces) (and .Values.rbac.create .Values.rbac.namespacedRoles (not .Values.rbac.clusterRole)) -}}
true
{{- end -}}
{{- end -}}

{{/* A scalar value as a string; "" for null/unset (so an integer 0 still renders "0"). */}}
{{- define "sealed-secrets.str" -}}
{{- if not (kindIs "invalid" .) -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Controller arguments generated from values. */}}
{{- define "sealed-secrets.args" -}}
- --listen-addr
- {{ printf ":%v" .Values.containerPorts.http | quote }}
- --listen-metrics-addr
- {{ printf ":%v" .Values.containerPorts.metrics | quote }}
- --key-prefix
- {{ .Values.secretName | quote }}
{{- if .Values.updateStatus }}
- --update-status
{{- else }}
- --update-status=false
{{- end }}
{{- if .Values.skipRecreate }}
- --skip-recreate
{{- end }}
{{- if .Values.watchForSecrets }}
- --watch-for-secrets
{{- end }}
{{- with include "sealed-secrets.str" .Values.keyrenewperiod }}
- --key-renew-period
- {{ . | quote }}
{{- end }}
{{- with .Values.keycutofftime }}
- --key-cutoff-time
- {{ . | quote }}
{{- end }}
{{- with .Values.keyttl }}
- --key-ttl
- {{ . | quote }}
{{- end }}
{{- with .Values.keyOrderPriority }}
- --key-order-priority
- {{ . | quote }}
{{- end }}
{{- with include "sealed-secrets.str" .Values.rateLimit }}
- --rate-limit
- {{ . | quote }}
{{- end }}
{{- with include "sealed-secrets.str" .Values.rateLimitBurst }}
- --rate-limit-burst
- {{ . | quote }}
{{- end }}
{{- if include "sealed-secrets.restrictNamespaces" . }}
- --all-namespaces=false
{{- end }}
{{- with .Values.additionalNamespaces }}
- --additional-namespaces
- {{ join "," . | quote }}
{{- end }}
{{- with .Values.privateKeyAnnotations }}
- --privatekey-annotations
- {{ include "sealed-secrets.kvList" (dict "map" . "what" "privateKeyAnnotations") | quote }}
{{- end }}
{{- with .Values.privateKeyLabels }}
- --privatekey-labels
- {{ include "sealed-secrets.kvList" (dict "map" . "what" "privateKeyLabels") | quote }}
{{- end }}
{{- if .Values.logInfoStdout }}
- --log-info-stdout
{{- end }}
{{- with .Values.logLevel }}
- --log-level
- {{ . | quote }}
{{- end }}
{{- with .Values.logFormat }}
- --log-format
- {{ . | quote }}
{{- end }}
{{- with include "sealed-secrets.str" .Values.maxRetries }}
- --max-unseal-retries
- {{ . | quote }}
{{- end }}
{{- with include "sealed-secrets.str" .Values.kubeClientQPS }}
- --kubeclient-qps
- {{ . | quote }}
{{- end }}
{{- with include "sealed-secrets.str" .Values.kubeClientBurst }}
- --kubeclient-burst
- {{ . | quote }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
- --leader-elect
- --leader-election-name
- {{ include "sealed-secrets.leaseName" . | quote }}
{{- end }}
{{- if .Values.ui.enabled }}
- --ui
{{- end }}
{{- range .Values.commandArgs }}
- {{ tpl (toString .) $ | quote }}
{{- end }}
{{- end -}}

{{/* The unsealing rules (ClusterRole, or Role per namespace with rbac.namespacedRoles). */}}
{{- define "sealed-secrets.unsealRules" -}}
- apiGroups: [bitnami.com]
  resources: [sealedsecrets]
  verbs: [get, list, watch]
- apiGroups: [bitnami.com]
  resources: [sealedsecrets/status]
  verbs: [update, patch]
# Secrets are watched as metadata only, but list/watch are still needed at the RBAC level.
# delete is used only with --old-gc-behavior (normally ownerReferences + the garbage collector), so
# it is granted only when that flag (or SEALED_SECRETS_OLD_GC_BEHAVIOR) is set.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch{{ if include "sealed-secrets.oldGcBehavior" . }}, delete{{ end }}]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* namespaces get, only for --additional-namespaces (checked at startup). */}}
{{- define "sealed-secrets.namespaceRule" -}}
- apiGroups: [""]
  resources: [namespaces]
  resourceNames:
    {{- range .Values.additionalNamespaces }}
    - {{ . | quote }}
    {{- end }}
  verbs: [get]
{{- end -}}

{{/*
"true" when the controller runs with --old-gc-behavior: in args or commandArgs (a bare flag or
--old-gc-behavior=<Go bool>), or through extraEnv SEALED_SECRETS_OLD_GC_BEHAVIOR; else "".
*/}}
{{- define "sealed-secrets.oldGcBehavior" -}}
{{- $truthy := list "1" "t" "T" "TRUE" "true" "True" -}}
{{- $on := false -}}
{{- range concat (default (list) .Values.args) (default (list) .Values.commandArgs) -}}
{{- $a := toString . -}}
{{- if eq $a "--old-gc-behavior" -}}{{- $on = true -}}{{- end -}}
{{- if and (hasPrefix "--old-gc-behavior=" $a) (has (trimPrefix "--old-gc-behavior=" $a) $truthy) -}}{{- $on = true -}}{{- end -}}
{{- end -}}
{{- range (default (list) .Values.extraEnv) -}}
{{- if and (eq (toString .name) "SEALED_SECRETS_OLD_GC_BEHAVIOR") (has (toString .value) $truthy) -}}{{- $on = true -}}{{- end -}}
{{- end -}}
{{- if $on -}}true{{- end -}}
{{- end -}}
