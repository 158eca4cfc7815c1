{{/*
Names, as in prometheus-community's and bitnami's charts.
*/}}
{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name, truncated to 63 characters (DNS label limit), no
trailing "-". If the release name contains the chart name it is used as is.
*/}}
{{- define "vigil.fullname" -}}
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

{{- define "vigil.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vigil.labels" -}}
helm.sh/chart: {{ include "vigil.chart" . }}
{{ include "vigil.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.vigil.image.tag | default .Chart.AppVersion | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
An image reference from {registry, repository, tag, digest}; a digest wins
over the tag. Call with (dict "image" .Values.x.image "default" "tag").
*/}}
{{- define "vigil.image" -}}
{{- $ref := .image.repository -}}
{{- if .image.registry -}}
{{- $ref = printf "%s/%s" .image.registry .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- $tag := .image.tag | default .default | toString -}}
{{- if not $tag -}}
{{- fail (printf "image %s: set a tag or a digest" $ref) -}}
{{- end -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end -}}

{{/* Where the admin token Secret is mounted, and the file vigil reads. */}}
{{- define "vigil.adminTokenDir" -}}/var/run/vigil{{- end -}}
{{- define "vigil.adminTokenPath" -}}{{ include "vigil.adminTokenDir" . }}/admin-token{{- end -}}

{{/* Where the fleet token Secret is mounted (a directory of its own: two
Secret volumes cannot share one), and the file vigil reads. */}}
{{- define "vigil.fleetTokenDir" -}}/var/run/vigil-fleet{{- end -}}
{{- define "vigil.fleetTokenPath" -}}{{ include "vigil.fleetTokenDir" . }}/token{{- end -}}

{{/*
The fleet block as vigil-lib's values take it: the peers Service of this
release (<fullname>-peers, in vigil.peersName), the cluster domain, the
round's figures and the token file when fleet.token.existingSecret is set.
*/}}
{{- define "vigil.libFleet" -}}
{{- $f := .Values.fleet -}}
{{- $out := dict "enabled" (and $f.enabled true) "serviceName" (include "vigil.peersName" .) "clusterDomain" .Values.clusterDomain "interval_ms" $f.interval_ms "sample" $f.sample "timeout_ms" $f.timeout_ms "min_pods" $f.min_pods -}}
{{- if ($f.token | default dict).existingSecret -}}
{{- $_ := set $out "tokenFile" (include "vigil.fleetTokenPath" .) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The headless Service of the fleet: <fullname>-peers, 63 characters at most. */}}
{{- define "vigil.peersName" -}}
{{- include "vigil.fullname" . | trunc 57 | trimSuffix "-" | printf "%s-peers" -}}
{{- end -}}

{{/*
The environment variable that carries a check's password from its Secret:
`secretEnv`, or the check's name upper-cased with "_PASSWORD"
(redis-session -> REDIS_SESSION_PASSWORD).
*/}}
{{- define "vigil.secretEnv" -}}
{{- include "vigil-lib.secretEnv" . -}}
{{- end -}}

{{/*
Refuses a check that vigil would refuse at start-up, so that a bad values
file fails at `helm install` and not in a crash-looping pod. values.schema.json
says the same; this holds also with --skip-schema-validation.
Call with (dict "check" $c "index" $i "envNames" $names).
*/}}
{{- define "vigil.validateCheck" -}}
{{- $c := .check -}}
{{- $at := printf "vigil.checks[%d]" (int .index) -}}
{{- if not (kindIs "map" $c) -}}
{{- fail (printf "%s: a check is an object with name, kind and role" $at) -}}
{{- end -}}
{{- $name := required (printf "%s.name is required" $at) $c.name | toString -}}
{{- if not (regexMatch "^[a-z0-9-]{1,63}$" $name) -}}
{{- fail (printf "%s.name: %q must match [a-z0-9-]{1,63}" $at $name) -}}
{{- end -}}
{{- $kinds := list "redis" "postgres" "tcp" "http" -}}
{{- $kind := required (printf "%s.kind is required (one of %s)" $at (join ", " $kinds)) $c.kind | toString -}}
{{- if not (has $kind $kinds) -}}
{{- fail (printf "%s.kind: %q is not one of %s" $at $kind (join ", " $kinds)) -}}
{{- end -}}
{{- $roles := list "cache" "pubsub" "flags" "queue" "session" "lock" "idempotency" "rate-limit" "database" "app" -}}
{{- $role := required (printf "%s.role is required (one of %s)" $at (join ", " $roles)) $c.role | toString -}}
{{- if not (has $role $roles) -}}
{{- fail (printf "%s.role: %q is not one of %s" $at $role (join ", " $roles)) -}}
{{- end -}}
{{- if eq $kind "tcp" -}}
{{- $_ := required (printf "%s.address is required for a tcp check (host:port)" $at) $c.address -}}
{{- else -}}
{{- $_ := required (printf "%s.url is required for a %s check" $at $kind) $c.url -}}
{{- end -}}
{{- $common := list "name" "kind" "role" "required" "liveness" "interval_ms" "timeout_ms" "unhealthy_threshold" "healthy_threshold" "jitter_percent" "breaker" "when_widespread" "widespread_ratio" "existingSecret" "existingSecretKey" "secretEnv" -}}
{{- $tlsKeys := list "tls" "cert_expiry_warn_days" -}}
{{- $byKind := dict "redis" (concat (list "url" "expect_role" "max_memory_ratio" "slow_ms") $tlsKeys) "postgres" (concat (list "url" "require_primary" "max_replication_lag_s" "keep_open" "statement_timeout_ms") $tlsKeys) "http" (concat (list "url" "expect_body_contains" "expect_status") $tlsKeys) "tcp" (list "address") -}}
{{- range $key, $_ := $c -}}
{{- if not (or (has $key $common) (has $key (get $byKind $kind))) -}}
{{- fail (printf "%s.%s: not a key of a %s check" $at $key $kind) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $c "when_widespread" -}}
{{- if not (has (toString $c.when_widespread) (list "unready" "stay_ready")) -}}
{{- fail (printf "%s.when_widespread: want \"unready\" or \"stay_ready\", got %q" $at (toString $c.when_widespread)) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $c "widespread_ratio" -}}
{{- if or (not (kindIs "float64" $c.widespread_ratio)) (le (float64 $c.widespread_ratio) 0.0) (gt (float64 $c.widespread_ratio) 1.0) -}}
{{- fail (printf "%s.widespread_ratio: must be a number in (0, 1]" $at) -}}
{{- end -}}
{{- end -}}
{{- if eq $kind "tcp" -}}
{{- if $c.existingSecret -}}
{{- fail (printf "%s.existingSecret: a tcp check has no password" $at) -}}
{{- end -}}
{{- else -}}
{{- $url := required (printf "%s.url is required for a %s check" $at $kind) $c.url | toString -}}
{{- if or (regexMatch "://[^/@:]*:[^$/@][^/@]*@" $url) (regexMatch "(^|\\s)password\\s*=\\s*[^$\\s]" $url) -}}
{{- fail (printf "%s.url: holds a password; put it in a Secret and use existingSecret with ${%s} in the url" $at (include "vigil.secretEnv" $c)) -}}
{{- end -}}
{{- if $c.existingSecret -}}
{{- $env := include "vigil.secretEnv" $c -}}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $env) -}}
{{- fail (printf "%s.secretEnv: %q is not an environment variable name" $at $env) -}}
{{- end -}}
{{- if not (contains (printf "${%s}" $env) $url) -}}
{{- fail (printf "%s.url: must use ${%s}, where the password from Secret %q goes" $at $env $c.existingSecret) -}}
{{- end -}}
{{- end -}}
{{- range $ref := regexFindAll "\\$\\{[^}]*\\}" $url -1 -}}
{{- $var := trimSuffix "}" (trimPrefix "${" $ref) -}}
{{- if hasPrefix "file:" $var -}}
{{- include "vigil.checkMountedFile" (dict "path" (trimPrefix "file:" $var) "at" (printf "%s.url: ${%s}" $at $var) "mounts" $.mounts) -}}
{{- else if not (has $var $.envNames) -}}
{{- fail (printf "%s.url: ${%s} is not set in vigil's environment (use existingSecret, or vigil.extraEnv)" $at $var) -}}
{{- end -}}
{{- end -}}
{{- range $key, $path := ($c.tls | default dict) -}}
{{- if hasSuffix "_file" $key -}}
{{- include "vigil.checkMountedFile" (dict "path" (toString $path) "at" (printf "%s.tls.%s" $at $key) "mounts" (append $.mounts "/etc/ssl")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A file vigil reads (${file:PATH}, tls.ca_file, ...) must be under one of the
vigil container's extra mounts, or it would not exist in the pod.
Call with (dict "path" P "at" "where" "mounts" (list of mountPaths)).
*/}}
{{- define "vigil.checkMountedFile" -}}
{{- $ok := false -}}
{{- range .mounts -}}
{{- if hasPrefix (printf "%s/" (trimSuffix "/" .)) $.path -}}
{{- $ok = true -}}
{{- end -}}
{{- end -}}
{{- if not $ok -}}
{{- fail (printf "%s: %s is not under any of vigil.extraVolumeMounts (%s); mount the Secret or ConfigMap that holds it" .at .path (join ", " .mounts)) -}}
{{- end -}}
{{- end -}}

{{/* Environment variable names the vigil container will have. */}}
{{- define "vigil.envNames" -}}
{{- $names := list "POD_NAME" "POD_NAMESPACE" "NODE_NAME" "POD_UID" -}}
{{- range .Values.vigil.checks -}}
{{- if and (kindIs "map" .) .existingSecret -}}
{{- $names = append $names (include "vigil.secretEnv" .) -}}
{{- end -}}
{{- end -}}
{{- range .Values.vigil.extraEnv -}}
{{- $names = append $names .name -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/*
vigil's config file, as JSON. Only keys vigil knows are rendered:
the chart-only keys of a check (existingSecret, existingSecretKey, secretEnv)
are dropped, so no Secret name, key or value reaches the ConfigMap; a
password reaches vigil only through ${VAR} in the url.
*/}}
{{- define "vigil.config" -}}
{{- $v := .Values.vigil -}}
{{- if not (has $v.logFormat (list "json" "text")) -}}
{{- fail (printf "vigil.logFormat: %q is not json or text" (toString $v.logFormat)) -}}
{{- end -}}
{{- $cfg := dict "listen" (printf "0.0.0.0:%d" (int $v.port)) "drain_seconds" (int $v.drainSeconds) "log_format" $v.logFormat -}}
{{- with $v.defaults -}}
{{- $_ := set $cfg "defaults" . -}}
{{- end -}}
{{- if $v.admin.existingSecret -}}
{{- $_ := set $cfg "admin_token_file" (include "vigil.adminTokenPath" .) -}}
{{- end -}}
{{- if ($v.kubernetesEvents | default dict).enabled -}}
{{- $_ := set $cfg "kubernetes_events" true -}}
{{- end -}}
{{- $envNames := include "vigil.envNames" . | fromJsonArray -}}
{{- $mounts := list -}}
{{- range $v.extraVolumeMounts -}}
{{- $mounts = append $mounts .mountPath -}}
{{- end -}}
{{- $checks := list -}}
{{- $seen := dict -}}
{{- if $v.appCheck.enabled -}}
{{- $app := dict "name" $v.appCheck.name "kind" "tcp" "role" "app" "address" (printf "127.0.0.1:%d" (int .Values.app.port)) "liveness" $v.appCheck.liveness -}}
{{- $checks = append $checks $app -}}
{{- $_ := set $seen $v.appCheck.name "vigil.appCheck" -}}
{{- end -}}
{{- range $i, $c := $v.checks -}}
{{- include "vigil.validateCheck" (dict "check" $c "index" $i "envNames" $envNames "mounts" $mounts) -}}
{{- if hasKey $seen $c.name -}}
{{- fail (printf "vigil.checks[%d].name: %q is used twice (also by %s)" (int $i) $c.name (get $seen $c.name)) -}}
{{- end -}}
{{- $_ := set $seen $c.name (printf "vigil.checks[%d]" (int $i)) -}}
{{- $checks = append $checks (omit $c "existingSecret" "existingSecretKey" "secretEnv") -}}
{{- end -}}
{{- $_ := set $cfg "checks" $checks -}}
{{- with include "vigil-lib.fleetConfig" (dict "values" (dict "fleet" (include "vigil.libFleet" . | fromJson)) "context" . "fleetPath" "fleet") -}}
{{- $_ := set $cfg "fleet" (fromJson .) -}}
{{- end -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/*
PromQL matchers that pick this release's series in the PrometheusRule:
prometheusRule.selector, or the job label the chart's own monitor gives
them (the ServiceMonitor's: the Service's name, or the value of its
jobLabel; the PodMonitor's alone: <namespace>/<name>, or the value of its
jobLabel) and the release namespace.
*/}}
{{- define "vigil.ruleSelector" -}}
{{- if .Values.prometheusRule.selector -}}
{{- .Values.prometheusRule.selector -}}
{{- else -}}
{{- $job := include "vigil.fullname" . -}}
{{- $jobLabel := "" -}}
{{- $labels := include "vigil.labels" . | fromYaml -}}
{{- if or .Values.serviceMonitor.enabled (not .Values.podMonitor.enabled) -}}
{{- $jobLabel = .Values.serviceMonitor.jobLabel -}}
{{- $labels = merge $labels (.Values.service.labels | default dict) -}}
{{- else -}}
{{- $jobLabel = .Values.podMonitor.jobLabel -}}
{{- $labels = merge $labels (.Values.podLabels | default dict) -}}
{{- if not $jobLabel -}}
{{- $job = printf "%s/%s" (.Values.podMonitor.namespace | default .Release.Namespace) (include "vigil.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- if $jobLabel -}}
{{- if not (hasKey $labels $jobLabel) -}}
{{- fail (printf "prometheusRule.selector: the monitor's jobLabel %q is not a label the chart sets; set prometheusRule.selector" $jobLabel) -}}
{{- end -}}
{{- $job = get $labels $jobLabel | toString -}}
{{- end -}}
{{- printf "job=%q,namespace=%q" $job .Release.Namespace -}}
{{- end -}}
{{- end -}}
