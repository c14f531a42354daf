{{/*
Names and checks of the log-shipping agent (logShipping): a Fluent Bit DaemonSet, its
ConfigMap, ServiceAccount, ClusterRole(Binding) and NetworkPolicy.
*/}}

{{/* Name of the DaemonSet, ConfigMap, ServiceAccount and NetworkPolicy. */}}
{{- define "openmmo.logShipping.fullname" -}}
{{- printf "%s-log-shipping" (include "openmmo.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Their namespace: logShipping.namespace, else the release's. */}}
{{- define "openmmo.logShipping.namespace" -}}
{{- .Values.logShipping.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* Name of the ClusterRole and its binding: cluster-wide, so the namespace is part of it. */}}
{{- define "openmmo.logShipping.clusterName" -}}
{{- printf "%s-%s" (include "openmmo.logShipping.namespace" .) (include "openmmo.logShipping.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The files tailed: logShipping.paths, else the container logs of this release's pods. */}}
{{- define "openmmo.logShipping.paths" -}}
{{- if .Values.logShipping.paths -}}
{{- join "," .Values.logShipping.paths -}}
{{- else -}}
{{- printf "/var/log/containers/%s-*_%s_*.log" (include "openmmo.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* Loki's push endpoint from logShipping.loki.url, as YAML {host, port, uri, tls}. */}}
{{- define "openmmo.logShipping.loki" -}}
{{- $url := urlParse .Values.logShipping.loki.url -}}
{{- $hostPort := splitList ":" $url.host -}}
{{- $tls := eq $url.scheme "https" -}}
host: {{ first $hostPort }}
port: {{ if gt (len $hostPort) 1 }}{{ last $hostPort }}{{ else }}{{ ternary 443 80 $tls }}{{ end }}
uri: {{ ternary "/loki/api/v1/push" $url.path (or (eq $url.path "") (eq $url.path "/")) }}
tls: {{ $tls }}
{{- end -}}

{{/* Refuse values that would render an agent shipping nowhere. */}}
{{- define "openmmo.logShipping.check" -}}
{{- $ls := .Values.logShipping -}}
{{- if not (or $ls.loki.enabled $ls.elasticsearch.enabled) -}}
{{- fail "logShipping.enabled needs an output: logShipping.loki.enabled or logShipping.elasticsearch.enabled" -}}
{{- end -}}
{{- if and $ls.loki.enabled (not $ls.loki.url) -}}
{{- fail "logShipping.loki.enabled needs logShipping.loki.url (e.g. http://loki-gateway.logging.svc:80)" -}}
{{- end -}}
{{- if and $ls.elasticsearch.enabled (not $ls.elasticsearch.host) -}}
{{- fail "logShipping.elasticsearch.enabled needs logShipping.elasticsearch.host" -}}
{{- end -}}
{{- range $name := list "loki" "elasticsearch" -}}
{{- $auth := (index $ls $name).auth -}}
{{- if and $auth.user (not $auth.existingSecret) -}}
{{- fail (printf "logShipping.%s.auth.user needs logShipping.%s.auth.existingSecret (the Secret holding the password)" $name $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Loki's stream labels (Fluent Bit record accessors), as one comma-separated line. */}}
{{- define "openmmo.logShipping.lokiLabels" -}}
{{- $labels := list
  "job=openmmo"
  "namespace=$kubernetes['namespace_name']"
  "component=$kubernetes['labels']['app.kubernetes.io/component']"
  "zone=$kubernetes['labels']['openmmo.io/zone']"
  "level=$level" -}}
{{- range $name, $value := .Values.logShipping.loki.extraLabels -}}
{{- $labels = append $labels (printf "%s=%s" $name $value) -}}
{{- end -}}
{{- join ", " $labels -}}
{{- end -}}
