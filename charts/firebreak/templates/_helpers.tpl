{{/* Names and labels, as `helm create` and controller-rs's doc-controller chart do. */}}
{{- define "firebreak.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "firebreak.fullname" -}}
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

{{- define "firebreak.selectorLabels" -}}
app.kubernetes.io/name: {{ include "firebreak.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "firebreak.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "firebreak.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "firebreak.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "firebreak.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name the existing ServiceAccount when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "firebreak.leaseName" -}}
{{- default (include "firebreak.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "firebreak.slackSecretName" -}}
{{- printf "%s-slack" (include "firebreak.fullname" .) }}
{{- end }}

{{/*
Port of a URL: the explicit one, else 443 for https and 80 otherwise.
*/}}
{{- define "firebreak.urlPort" -}}
{{- $u := urlParse . }}
{{- $explicit := regexFind ":[0-9]+$" $u.host }}
{{- if $explicit }}{{ trimPrefix ":" $explicit }}{{ else if eq $u.scheme "https" }}443{{ else }}80{{ end }}
{{- end }}

{{/*
Ports of the Kafka brokers (host:port; 9092 when omitted), unique, comma separated.
*/}}
{{- define "firebreak.kafkaPorts" -}}
{{- $ports := list }}
{{- range .Values.kafka.brokers }}
{{- $explicit := regexFind ":[0-9]+$" . }}
{{- $ports = append $ports (ternary (trimPrefix ":" $explicit) "9092" (ne $explicit "")) }}
{{- end }}
{{- $ports | uniq | join "," }}
{{- end }}

{{/*
Checks that no schema can express; each names the values to change.
*/}}
{{- define "firebreak.validate" -}}
{{- $v := .Values }}
{{- if and (gt (int $v.replicaCount) 1) (not $v.leaderElection.enabled) }}
{{- fail (printf "replicaCount=%d with leaderElection.enabled=false would run %d operators acting on every incident: enable leader election or set replicaCount=1" (int $v.replicaCount) (int $v.replicaCount)) }}
{{- end }}
{{- if and (eq $v.rbac.scope "namespaced") (empty $v.watchNamespaces) }}
{{- fail "rbac.scope=namespaced needs watchNamespaces: list the namespaces whose Playbooks Firebreak handles" }}
{{- end }}
{{- if and (eq $v.rbac.scope "cluster") (not (empty $v.watchNamespaces)) }}
{{- fail "watchNamespaces is set but rbac.scope=cluster would grant every namespace: set rbac.scope=namespaced" }}
{{- end }}
{{- if and $v.diagnostics.exec (not (has "diagnostics" $v.actions.enabled)) }}
{{- fail "diagnostics.exec=true needs diagnostics in actions.enabled" }}
{{- end }}
{{- if and $v.prometheus.caConfigMap.name $v.prometheus.caSecret.name }}
{{- fail "prometheus: set caConfigMap.name or caSecret.name, not both" }}
{{- end }}
{{- if and $v.kafka.enabled (empty $v.kafka.brokers) }}
{{- fail "kafka.enabled=true needs kafka.brokers (host:port, ...)" }}
{{- end }}
{{- if and $v.kafka.enabled $v.kafka.sasl.mechanism (not (and $v.kafka.sasl.username $v.kafka.sasl.passwordSecret.name)) }}
{{- fail "kafka.sasl.mechanism is set: also set kafka.sasl.username and kafka.sasl.passwordSecret.name" }}
{{- end }}
{{- with $v.kafka.outbox }}
{{- if and $v.kafka.enabled .enabled (eq .type "persistentVolumeClaim") (gt (int $v.replicaCount) 1) (not .persistentVolumeClaim.existingClaim) (not (has "ReadWriteMany" .persistentVolumeClaim.accessModes)) }}
{{- fail "kafka.outbox.type=persistentVolumeClaim with replicaCount > 1: every replica mounts the claim, so set kafka.outbox.persistentVolumeClaim.accessModes=[ReadWriteMany] (or an existingClaim)" }}
{{- end }}
{{- end }}
{{- if $v.slack.enabled }}
{{- if $v.slack.createSecret }}
{{- if not (or $v.slack.token $v.slack.webhookUrl) }}
{{- fail "slack.createSecret=true needs slack.token or slack.webhookUrl" }}
{{- end }}
{{- if or $v.slack.tokenSecret.name $v.slack.webhookSecret.name }}
{{- fail "slack.createSecret=true creates the Secret itself: leave slack.tokenSecret.name and slack.webhookSecret.name empty" }}
{{- end }}
{{- else if not (or $v.slack.tokenSecret.name $v.slack.webhookSecret.name) }}
{{- fail "slack.enabled=true needs slack.tokenSecret.name or slack.webhookSecret.name (an existing Secret), or slack.createSecret=true" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
RBAC. A rule set is a dict "group|resource" -> verbs, filled by firebreak.grant
and printed by firebreak.rules (one rule per resource, verbs sorted), so a
resource granted by several actions appears once with the union of verbs.
*/}}
{{- define "firebreak.grant" -}}
{{- $rules := index . 0 }}
{{- $group := index . 1 }}
{{- $verbs := index . 3 }}
{{- range (index . 2) }}
{{- $key := printf "%s|%s" $group . }}
{{- $_ := set $rules $key (concat (default (list) (get $rules $key)) $verbs | uniq | sortAlpha) }}
{{- end }}
{{- end }}

{{- define "firebreak.rules" -}}
{{- range $key := keys . | sortAlpha }}
{{- $parts := splitList "|" $key }}
- apiGroups: [{{ index $parts 0 | quote }}]
  resources: [{{ index $parts 1 | quote }}]
  verbs: [{{ join ", " (get $ $key) }}]
{{- end }}
{{- end }}

{{/*
Rules in each watched namespace (cluster-wide in cluster scope): the base every
install needs, then what each enabled action needs, nothing for notify.
*/}}
{{- define "firebreak.workloadRules" -}}
{{- $v := .Values }}
{{- $r := dict }}
{{- $read := list "get" "list" "watch" }}
{{- /* Playbooks in, status out (server-side apply on the status subresource). */}}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "playbooks") $read) }}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "playbooks/status") (list "patch")) }}
{{- /* Incidents are Firebreak's own records: full lifecycle. */}}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "incidents") (list "get" "list" "watch" "create" "update" "patch" "delete")) }}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "incidents/status") (list "get" "update" "patch")) }}
{{- /* Incidents are owned by their Playbook with blockOwnerDeletion, which
needs update on the owner's finalizers (OwnerReferencesPermissionEnforcement). */}}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "playbooks/finalizers") (list "update")) }}
{{- /* Events about Playbooks and Incidents (kube-runtime's recorder uses events.k8s.io). */}}
{{- include "firebreak.grant" (list $r "" (list "events") (list "create" "patch")) }}
{{- include "firebreak.grant" (list $r "events.k8s.io" (list "events") (list "create" "patch")) }}
{{- /* Targets: Deployments (and their ReplicaSets) or Argo Rollouts, read only. */}}
{{- include "firebreak.grant" (list $r "apps" (list "deployments" "replicasets") $read) }}
{{- include "firebreak.grant" (list $r "argoproj.io" (list "rollouts") $read) }}
{{- if $v.recordingRules.enabled }}
{{- /* One PrometheusRule per Playbook, server-side applied (create + patch),
owned by the Playbook (its finalizers are already granted above). */}}
{{- include "firebreak.grant" (list $r "monitoring.coreos.com" (list "prometheusrules") (list "get" "create" "patch")) }}
{{- end }}
{{- $enabled := $v.actions.enabled }}
{{- if has "diagnostics" $enabled }}
{{- include "firebreak.grant" (list $r "" (list "pods") (list "get" "list")) }}
{{- include "firebreak.grant" (list $r "" (list "pods/log") (list "get")) }}
{{- include "firebreak.grant" (list $r "" (list "events") (list "get" "list")) }}
{{- /* The report ConfigMap, owned by its Incident (ownerReference with
blockOwnerDeletion needs update on the owner's finalizers). */}}
{{- include "firebreak.grant" (list $r "" (list "configmaps") (list "get" "create" "patch")) }}
{{- include "firebreak.grant" (list $r "firebreak.dev" (list "incidents/finalizers") (list "update")) }}
{{- if $v.diagnostics.exec }}
{{- /* A WebSocket exec is a GET, authorized as get before Kubernetes 1.35 and
as get and create from 1.35 (AuthorizePodWebsocketUpgradeCreatePermission). */}}
{{- include "firebreak.grant" (list $r "" (list "pods/exec") (list "get" "create")) }}
{{- end }}
{{- end }}
{{- /* Objects Firebreak owns are written with server-side apply: create (first
apply) + patch, get to read them back, delete on revert. */}}
{{- $owned := list "get" "list" "create" "patch" "delete" }}
{{- if has "rateLimit" $enabled }}
{{- $b := $v.actions.rateLimitBackends }}
{{- if has "istio" $b }}
{{- include "firebreak.grant" (list $r "networking.istio.io" (list "envoyfilters") $owned) }}
{{- end }}
{{- if has "envoyGateway" $b }}
{{- include "firebreak.grant" (list $r "gateway.envoyproxy.io" (list "backendtrafficpolicies") $owned) }}
{{- end }}
{{- if has "annotation" $b }}
{{- include "firebreak.grant" (list $r "apps" (list "deployments") (list "patch")) }}
{{- include "firebreak.grant" (list $r "argoproj.io" (list "rollouts") (list "patch")) }}
{{- end }}
{{- end }}
{{- if has "circuitBreaker" $enabled }}
{{- $b := $v.actions.circuitBreakerBackends }}
{{- if has "istio" $b }}
{{- /* list: find a DestinationRule someone else owns for the host and merge into it. */}}
{{- include "firebreak.grant" (list $r "networking.istio.io" (list "destinationrules") $owned) }}
{{- end }}
{{- if has "envoyGateway" $b }}
{{- include "firebreak.grant" (list $r "gateway.envoyproxy.io" (list "backendtrafficpolicies") $owned) }}
{{- end }}
{{- end }}
{{- if has "rollback" $enabled }}
{{- /* Deployment: restore the previous ReplicaSet's template; Rollout: abort
through the status subresource. */}}
{{- include "firebreak.grant" (list $r "apps" (list "deployments") (list "patch")) }}
{{- include "firebreak.grant" (list $r "argoproj.io" (list "rollouts/status") (list "patch")) }}
{{- end }}
{{- if has "scale" $enabled }}
{{- include "firebreak.grant" (list $r "apps" (list "deployments/scale") (list "get" "patch")) }}
{{- include "firebreak.grant" (list $r "argoproj.io" (list "rollouts/scale") (list "get" "patch")) }}
{{- end }}
{{- if has "restart" $enabled }}
{{- include "firebreak.grant" (list $r "apps" (list "deployments") (list "patch")) }}
{{- include "firebreak.grant" (list $r "argoproj.io" (list "rollouts") (list "patch")) }}
{{- end }}
{{- include "firebreak.rules" $r }}
{{- end }}

{{/*
Rules in the release namespace: the leader Lease (create cannot be limited by
name; get and update are limited to our Lease) and, in namespaced scope, Events.
*/}}
{{- define "firebreak.localRules" -}}
{{- if .Values.leaderElection.enabled }}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: [create]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "firebreak.leaseName" . | quote }}]
  verbs: [get, update]
{{- end }}
{{- if eq .Values.rbac.scope "namespaced" }}
{{- $r := dict }}
{{- include "firebreak.grant" (list $r "" (list "events") (list "create" "patch")) }}
{{- include "firebreak.grant" (list $r "events.k8s.io" (list "events") (list "create" "patch")) }}
{{- include "firebreak.rules" $r }}
{{- end }}
{{- end }}
