{{/*
Names, labels, selectors, the image and the pieces every pod shares.
*/}}

{{/* The chart name (app.kubernetes.io/name). */}}
{{- define "openmmo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name: release name, plus the chart name unless the release name holds it. */}}
{{- define "openmmo.fullname" -}}
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

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "openmmo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels selecting the pods of one component. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "openmmo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "openmmo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with .zone }}
openmmo.io/zone: {{ .id | toString | quote }}
{{- end }}
{{- end -}}

{{/* Every label of a resource. Same arguments as openmmo.selectorLabels. */}}
{{- define "openmmo.labels" -}}
helm.sh/chart: {{ include "openmmo.chart" .root }}
{{ include "openmmo.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: openmmo
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Names of the workloads. */}}
{{- define "openmmo.gateway.fullname" -}}
{{- printf "%s-gateway" (include "openmmo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "openmmo.matchmaker.fullname" -}}
{{- printf "%s-matchmaker" (include "openmmo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The Redis list holding a matchmaking mode's waiting tickets, `<NAMESPACE>:mm:q:<mode>`
(src/openmmo/matchmaking/redis.py). Call with (dict "root" $ "mode" "dungeon").
*/}}
{{- define "openmmo.matchmaker.queueList" -}}
{{- printf "%s:mm:q:%s" .root.Values.config.namespace .mode -}}
{{- end -}}

{{/* A zone's name. Call with (dict "root" $ "zone" $zone). */}}
{{- define "openmmo.zone.fullname" -}}
{{- printf "%s-zone-%s" (include "openmmo.fullname" .root) .zone.name | trunc 54 | trimSuffix "-" -}}
{{- end -}}

{{/*
The zones with zoneDefaults merged in, as YAML {zones: [...]}: use
  {{- range (include "openmmo.zones" . | fromYaml).zones }}
A zone's own keys win (a deep merge: a zone can override one resource limit).
*/}}
{{- define "openmmo.zones" -}}
{{- $zones := list -}}
{{- $seen := dict -}}
{{- range .Values.zones -}}
{{- $key := .id | toString -}}
{{- if hasKey $seen $key -}}
{{- fail (printf "zones: zone id %s appears twice (one Deployment per zone; channels are replicas)" $key) -}}
{{- end -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "zones: zone name %q appears twice" .name) -}}
{{- end -}}
{{- $_ := set $seen $key true -}}
{{- $_ := set $seen .name true -}}
{{- $zones = append $zones (mergeOverwrite (deepCopy $.Values.zoneDefaults) (deepCopy .)) -}}
{{- end -}}
{{- toYaml (dict "zones" $zones) -}}
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag (default appVersion). */}}
{{- define "openmmo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "openmmo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "openmmo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "openmmo.configMapName" -}}
{{- include "openmmo.fullname" . -}}
{{- end -}}

{{- define "openmmo.secretName" -}}
{{- default (include "openmmo.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/*
JWT_SECRET of the created Secret: the value given, else the one already in the cluster (kept
across upgrades), else 48 random characters. Computed once per render and remembered, so the
Secret and the migration hook's Secret get the same value.
*/}}
{{- define "openmmo.jwtSecret" -}}
{{- if not (hasKey .Values.secrets "__generatedJwtSecret") -}}
{{- $value := .Values.secrets.jwtSecret -}}
{{- if not $value -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "openmmo.fullname" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data "JWT_SECRET") -}}
{{- $value = index $existing.data "JWT_SECRET" | b64dec -}}
{{- else -}}
{{- $value = randAlphaNum 48 -}}
{{- end -}}
{{- end -}}
{{- $_ := set .Values.secrets "__generatedJwtSecret" $value -}}
{{- end -}}
{{- index .Values.secrets "__generatedJwtSecret" -}}
{{- end -}}

{{/* The data of the created Secret (only the keys that have a value). */}}
{{- define "openmmo.secretData" -}}
{{- if not .Values.secrets.databaseUrl -}}
{{- fail "secrets.databaseUrl is empty (and secrets.existingSecret unset): every pod would use a SQLite file of its own" -}}
{{- end -}}
{{- with .Values.secrets.databaseUrl }}
DATABASE_URL: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.redisUrl }}
REDIS_URL: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secrets.rabbitmqUrl }}
RABBITMQ_URL: {{ . | b64enc | quote }}
{{- end }}
JWT_SECRET: {{ include "openmmo.jwtSecret" . | b64enc | quote }}
{{- with .Values.secrets.jwtPreviousSecrets }}
JWT_PREVIOUS_SECRETS: {{ . | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* The non-secret settings (ConfigMap data), as environment variables. */}}
{{- define "openmmo.configData" -}}
{{- $c := .Values.config -}}
OPENMMO_ENV: {{ $c.environment | quote }}
OPENMMO_GAME: {{ $c.game | default "default" | quote }}
LOG_LEVEL: {{ $c.logLevel | quote }}
LOG_FORMAT: {{ $c.logFormat | quote }}
BIND_HOST: "0.0.0.0"
DATA_DIR: "/tmp/openmmo"
MAX_PLAYERS: {{ $c.maxPlayers | int64 | toString | quote }}
TICK_RATE_HZ: {{ $c.tickRateHz | toString | quote }}
SNAPSHOT_RATE_HZ: {{ $c.snapshotRateHz | toString | quote }}
MAX_MESSAGE_BYTES: {{ $c.maxMessageBytes | int64 | toString | quote }}
SAVE_INTERVAL_S: {{ $c.saveIntervalS | toString | quote }}
CHECKPOINT_INTERVAL_S: {{ $c.checkpointIntervalS | toString | quote }}
OWNERSHIP_LEASE_S: {{ $c.ownershipLeaseS | toString | quote }}
DRAIN_TIMEOUT_S: {{ $c.drainTimeoutS | toString | quote }}
NAMESPACE: {{ $c.namespace | quote }}
REGION: {{ $c.region | quote }}
NODE_CAPACITY_TYPE: {{ $c.nodeCapacityType | quote }}
{{- with $c.regions }}
REGIONS: {{ toJson . | quote }}
{{- end }}
{{- with $c.gatewayPublicUrl }}
GATEWAY_PUBLIC_URL: {{ . | quote }}
{{- end }}
FORWARDED_ALLOW_IPS: {{ $c.forwardedAllowIps | quote }}
HTTP_KEEP_ALIVE_S: {{ $c.httpKeepAliveS | toString | quote }}
JWT_ISSUER: {{ $c.jwtIssuer | quote }}
JWT_KEY_ID: {{ $c.jwtKeyId | quote }}
ACCESS_TOKEN_TTL_S: {{ $c.accessTokenTtlS | int64 | toString | quote }}
REFRESH_TOKEN_TTL_S: {{ $c.refreshTokenTtlS | int64 | toString | quote }}
JOIN_TICKET_TTL_S: {{ $c.joinTicketTtlS | int64 | toString | quote }}
AUTH_RATE_PER_IP: {{ $c.authRatePerIp | toString | quote }}
AUTH_BURST_PER_IP: {{ $c.authBurstPerIp | int64 | toString | quote }}
ARGON2_MAX_CONCURRENCY: {{ $c.argon2MaxConcurrency | int64 | toString | quote }}
{{- range $name, $value := $c.extra }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* envFrom of every OpenMMO container: the ConfigMap, then the Secret. */}}
{{- define "openmmo.envFrom" -}}
- configMapRef:
    name: {{ include "openmmo.configMapName" . }}
- secretRef:
    name: {{ include "openmmo.secretName" . }}
{{- end -}}

{{/* Pod annotations rolling the pods when settings change. */}}
{{- define "openmmo.checksums" -}}
checksum/config: {{ include "openmmo.configData" . | sha256sum }}
{{- /* the inputs, not the rendered Secret: a generated JWT secret must not roll the pods */}}
checksum/secret: {{ toYaml (omit .Values.secrets "__generatedJwtSecret") | sha256sum }}
{{- end -}}

{{/* The /tmp emptyDir. */}}
{{- define "openmmo.tmpVolume" -}}
- name: tmp
  emptyDir:
    {{- with .Values.tmpVolume.medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "openmmo.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Pod-level fields every pod shares (service account, security, pull secrets). */}}
{{- define "openmmo.podCommon" -}}
serviceAccountName: {{ include "openmmo.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- /* Service links would inject e.g. SERVER_PORT=tcp://... for a Service named "server",
       which OpenMMO reads as a setting. */}}
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
The `openmmo migrate` container, for the hook Job and for init containers. Call with
(dict "root" $ "secretName" name "configMap" bool): the hook runs before the ConfigMap exists,
so it gets its few settings inline.
*/}}
{{- define "openmmo.migrateContainer" -}}
{{- $root := .root -}}
- name: migrate
  image: {{ include "openmmo.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  command: ["openmmo", "migrate"]
  {{- if .configMap }}
  envFrom:
    {{- include "openmmo.envFrom" $root | nindent 4 }}
  {{- else }}
  env:
    - name: OPENMMO_ENV
      value: {{ $root.Values.config.environment | quote }}
    - name: LOG_LEVEL
      value: {{ $root.Values.config.logLevel | quote }}
    - name: LOG_FORMAT
      value: {{ $root.Values.config.logFormat | quote }}
    - name: DATA_DIR
      value: /tmp/openmmo
  envFrom:
    - secretRef:
        name: {{ .secretName }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.containerSecurityContext | nindent 4 }}
  resources:
    {{- toYaml $root.Values.migration.resources | nindent 4 }}
  volumeMounts:
    {{- include "openmmo.tmpVolumeMount" $root | nindent 4 }}
{{- end -}}

{{/* An HTTP probe. Call with (dict "path" "/health/live" "port" "http" "timing" $values). */}}
{{- define "openmmo.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .timing.initialDelaySeconds }}
periodSeconds: {{ .timing.periodSeconds }}
timeoutSeconds: {{ .timing.timeoutSeconds }}
failureThreshold: {{ .timing.failureThreshold }}
{{- end -}}

{{/* extraEnv as an env list. */}}
{{- define "openmmo.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
The OTEL_* variables of an OpenMMO container while tracing.enabled (docs/howto/tracing.md),
after SERVER_NAME (which they expand). Call with (dict "root" $ "service" "openmmo-gateway").
*/}}
{{- define "openmmo.tracingEnv" -}}
{{- $t := .root.Values.tracing -}}
{{- if $t.enabled }}
{{- if and (has "otlp" (splitList "," $t.exporter)) (not $t.endpoint) -}}
{{- fail "tracing.endpoint is empty: the otlp exporter needs the collector's URL (or set tracing.exporter=console)" -}}
{{- end }}
- name: OTEL_TRACES_EXPORTER
  value: {{ $t.exporter | quote }}
{{- with $t.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: "http/protobuf"
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $t.sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $t.samplerRatio | toString | quote }}
{{- $attributes := list "service.instance.id=$(SERVER_NAME)" "k8s.pod.name=$(SERVER_NAME)" (printf "k8s.namespace.name=%s" .root.Release.Namespace) }}
{{- range $name, $value := $t.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%v" $name $value) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
{{- end }}
{{- end -}}

{{/* Topology spread constraints, with the component's labelSelector when none is given. */}}
{{- define "openmmo.topologySpread" -}}
{{- $selector := include "openmmo.selectorLabels" (dict "root" .root "component" .component "zone" .zone) | fromYaml -}}
{{- $constraints := list -}}
{{- range .constraints -}}
{{- $constraints = append $constraints (merge (deepCopy .) (dict "labelSelector" (dict "matchLabels" $selector))) -}}
{{- end -}}
{{- toYaml $constraints -}}
{{- end -}}

{{/*
Fail when an optional component is enabled but the cluster (or `helm template
--api-versions`) lacks its API. Call with (dict "root" $ "api" "group/version" "value" "x.enabled").
*/}}
{{- define "openmmo.requireApi" -}}
{{- if not (.root.Capabilities.APIVersions.Has .api) -}}
{{- fail (printf "%s needs the %s API: install its CRDs first (with helm template, pass --api-versions %s)" .value .api .api) -}}
{{- end -}}
{{- end -}}

{{/*
The HPA metrics list. Call with the autoscaling values: playersPerPod (zones) adds the Pods
metric openmmo_players_online, queueLengthPerPod (matchmaker) the External metric
openmmo_matchmaking_queue_length; both are served by prometheus-adapter.
*/}}
{{- define "openmmo.hpaMetrics" -}}
{{- if gt (int64 .targetCPUUtilizationPercentage) 0 }}
- type: Resource
  resource:
    name: cpu
    target:
      type: Utilization
      averageUtilization: {{ .targetCPUUtilizationPercentage }}
{{- end }}
{{- if gt (int64 .targetMemoryUtilizationPercentage) 0 }}
- type: Resource
  resource:
    name: memory
    target:
      type: Utilization
      averageUtilization: {{ .targetMemoryUtilizationPercentage }}
{{- end }}
{{- if gt (int64 (.playersPerPod | default 0)) 0 }}
- type: Pods
  pods:
    metric:
      name: openmmo_players_online
    target:
      type: AverageValue
      averageValue: {{ .playersPerPod | int64 | toString | quote }}
{{- end }}
{{- if gt (int64 (.queueLengthPerPod | default 0)) 0 }}
- type: External
  external:
    metric:
      name: openmmo_matchmaking_queue_length
    target:
      type: AverageValue
      averageValue: {{ .queueLengthPerPod | int64 | toString | quote }}
{{- end }}
{{- end -}}

{{/* A PDB's budget: minAvailable when set, else maxUnavailable. */}}
{{- define "openmmo.pdbBudget" -}}
{{- with .minAvailable -}}
minAvailable: {{ . }}
{{- else -}}
maxUnavailable: {{ .maxUnavailable }}
{{- end -}}
{{- end -}}

{{/*
The zone `helm test` joins: tests.zoneId, or the first zone. (Numbers are compared after
int64: Helm 3.18 hands values over as json.Number strings, where 0 is not "empty".)
*/}}
{{- define "openmmo.testZoneId" -}}
{{- if gt (int64 .Values.tests.zoneId) 0 -}}
{{- $ids := list -}}
{{- range .Values.zones }}{{ $ids = append $ids (int64 .id) }}{{ end -}}
{{- if not (has (int64 .Values.tests.zoneId) $ids) -}}
{{- fail (printf "tests.zoneId %v is not one of the zones (%v)" .Values.tests.zoneId $ids) -}}
{{- end -}}
{{- int64 .Values.tests.zoneId -}}
{{- else -}}
{{- (index .Values.zones 0).id | int64 -}}
{{- end -}}
{{- end -}}

{{/* A zone's PUBLIC_WS_URL: the zone's template rendered. Call with (dict "root" $ "zone" $zone). */}}
{{- define "openmmo.zone.publicWsUrl" -}}
{{- $root := .root -}}
{{- $context := dict "zone" .zone "serviceName" (include "openmmo.zone.fullname" .) "namespace" $root.Release.Namespace "Values" $root.Values "Release" $root.Release "Chart" $root.Chart "Template" $root.Template -}}
{{- tpl .zone.publicWsUrl $context -}}
{{- end -}}
