{{/*
vigil-lib: named templates that put vigil beside the app in a chart of your
own. Every template takes one dict:

  values   the vigil values block of your chart (e.g. .Values.vigil), with
           the keys of "vigil-lib.defaults" below; a key you leave out gets
           its default (top-level keys only: an object you set, such as
           resources or a probe, is used whole)
  context  the top-level context ($), for the release name and namespace

  {{- include "vigil-lib.container" (dict "values" .Values.vigil "context" $) | nindent 8 }}

See README.md for each template and a whole example (charts/examples/my-app).
*/}}

{{/* The vigil image tag used when values.image has neither tag nor digest. */}}
{{- define "vigil-lib.version" -}}0.1.0{{- end -}}

{{/*
Defaults of the values block. Hardened as the all-in-one chart: non-root,
read-only root filesystem, no capabilities, seccomp RuntimeDefault, no
privilege escalation; 16 MiB requested, 64 MiB limit.
*/}}
{{- define "vigil-lib.defaults" -}}
image:
  registry: ""
  repository: vigil
  tag: ""
  digest: ""
  pullPolicy: IfNotPresent
# An init container with restartPolicy Always (Kubernetes >= 1.29): put the
# container under initContainers yourself when this is true.
nativeSidecar: false
port: 8086
drainSeconds: 5
logFormat: json
# The ConfigMap with config.json; "" means <release>-vigil.
configMapName: ""
# Fleet awareness (docs/fleet.md): vigil-lib.config adds the config's
# "fleet" key, vigil-lib.peersService renders the headless peers Service.
# Keys: enabled, serviceName ("": <release>-vigil-peers), clusterDomain
# (cluster.local), peers (instead of the Service's DNS name: a name, or a
# list of "host:port"), port, interval_ms, sample, timeout_ms, min_pods,
# tokenFile; a key left out is vigil's default.
fleet:
  enabled: false
defaults: {}
checks: []
extraEnv: []
extraVolumeMounts: []
extraVolumes: []
resources:
  requests:
    cpu: 10m
    memory: 16Mi
  limits:
    memory: 64Mi
containerSecurityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  privileged: false
  capabilities:
    drop:
      - ALL
  seccompProfile:
    type: RuntimeDefault
livenessProbe:
  httpGet:
    path: /metrics
  periodSeconds: 10
  timeoutSeconds: 1
  failureThreshold: 3
startupProbe:
  httpGet:
    path: /metrics
  periodSeconds: 1
  timeoutSeconds: 1
  failureThreshold: 30
{{- end -}}

{{/*
The values block with the defaults filled in, as JSON. Top-level keys only:
a key present in .values wins whole (so a probe with exec and no httpGet
stays so), and a key present with null turns a probe off.
*/}}
{{- define "vigil-lib.values" -}}
{{- $d := include "vigil-lib.defaults" . | fromYaml -}}
{{- $v := .values | default dict -}}
{{- $out := dict -}}
{{- range $k, $dv := $d -}}
{{- if hasKey $v $k -}}
{{- $_ := set $out $k (get $v $k) -}}
{{- else -}}
{{- $_ := set $out $k $dv -}}
{{- end -}}
{{- end -}}
{{- range $k, $x := $v -}}
{{- if not (hasKey $out $k) -}}
{{- $_ := set $out $k $x -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The ConfigMap's name: values.configMapName, or <release>-vigil. */}}
{{- define "vigil-lib.configMapName" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- if $v.configMapName -}}
{{- $v.configMapName -}}
{{- else -}}
{{- $ctx := required "vigil-lib: pass \"context\" $ (or set values.configMapName)" .context -}}
{{- printf "%s-vigil" $ctx.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
The fleet's headless Service name: values.fleet.serviceName, or
<release>-vigil-peers (a DNS label: 63 characters at most).
*/}}
{{- define "vigil-lib.peersName" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- $f := $v.fleet | default dict -}}
{{- if $f.serviceName -}}
{{- $f.serviceName -}}
{{- else -}}
{{- $ctx := required "vigil-lib: pass \"context\" $ (or set values.fleet.serviceName)" .context -}}
{{- printf "%s-vigil" $ctx.Release.Name | trunc 57 | trimSuffix "-" | printf "%s-peers" -}}
{{- end -}}
{{- end -}}

{{/*
The config's "fleet" object as JSON, "" when values.fleet.enabled is not
true. peers: values.fleet.peers, or the peers Service's DNS name
<peersName>.<namespace>.svc.<clusterDomain>, which resolves to every pod,
ready or not (publishNotReadyAddresses); vigil asks each on its own listen
port unless fleet.port says otherwise. Keys left out are vigil's defaults
(interval_ms 5000, sample 16, timeout_ms 500, min_pods 3).
Keys of the dict: values, context; optionally namespace, valuesPath,
fleetPath (how errors name the fleet block: "<valuesPath>.fleet").
*/}}
{{- define "vigil-lib.fleetConfig" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- $f := $v.fleet | default dict -}}
{{- $at := .fleetPath | default (printf "%s.fleet" (.valuesPath | default "vigil")) -}}
{{- if $f.enabled -}}
{{- $ns := .namespace | default (.context | default dict).Release.Namespace -}}
{{- $peers := $f.peers -}}
{{- if not $peers -}}
{{- $peers = printf "%s.%s.svc.%s" (include "vigil-lib.peersName" .) (required (printf "%s: pass \"context\" $ or \"namespace\"" $at) $ns) ($f.clusterDomain | default "cluster.local") -}}
{{- end -}}
{{- $out := dict "peers" $peers -}}
{{- range $k := list "port" "interval_ms" "sample" "timeout_ms" "min_pods" -}}
{{- if hasKey $f $k -}}
{{- $_ := set $out $k (int (get $f $k)) -}}
{{- end -}}
{{- end -}}
{{- if ge (int ($out.timeout_ms | default 500)) (int ($out.interval_ms | default 5000)) -}}
{{- fail (printf "%s.timeout_ms (%d) must be below %s.interval_ms (%d): a round ends before the next starts" $at (int ($out.timeout_ms | default 500)) $at (int ($out.interval_ms | default 5000))) -}}
{{- end -}}
{{- with $f.tokenFile -}}
{{- $_ := set $out "token_file" . -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
{{- end -}}

{{/*
The fleet's headless Service: clusterIP None, publishNotReadyAddresses
(unready pods stay listed, so the pods of a widespread outage still find
each other), vigil's port only, named "fleet"; labelled
app.kubernetes.io/component: fleet-peers. It selects the pods of your workload:
pass its selector labels. Keys of the dict: values, context, selector (a
map, required); optionally labels (a map, or YAML text), namespace.
  {{- include "vigil-lib.peersService" (dict "values" .Values.vigil "context" $ "selector" (include "my-app.selectorLabels" . | fromYaml)) }}
*/}}
{{- define "vigil-lib.peersService" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- $selector := required "vigil-lib.peersService: pass \"selector\", the labels of your workload's pods" .selector -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "vigil-lib.peersName" . }}
  namespace: {{ .namespace | default (.context | default dict).Release.Namespace }}
  {{- $labels := .labels | default dict -}}
  {{- if kindIs "string" $labels -}}
  {{- $labels = fromYaml $labels -}}
  {{- end }}
  labels:
    {{- /* How tools (and tests/k8s) tell it from the app's own Services. */}}
    {{- toYaml (merge (dict "app.kubernetes.io/component" "fleet-peers") $labels) | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- toYaml $selector | nindent 4 }}
  ports:
    {{- /* Not named "vigil": a ServiceMonitor scraping the port "vigil" of
    the app's Services would scrape every pod a second time through this one. */}}
    - name: fleet
      port: {{ int $v.port }}
      targetPort: {{ int $v.port }}
      protocol: TCP
{{- end -}}

{{/*
An image reference from {registry, repository, tag, digest}; a digest wins
over the tag. Call with (dict "image" $image "default" "tag").
*/}}
{{- define "vigil-lib.image" -}}
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

{{/*
The environment variable that carries a check's password from its Secret:
`secretEnv`, or the check's name upper-cased with "_PASSWORD"
(redis-session -> REDIS_SESSION_PASSWORD).
*/}}
{{- define "vigil-lib.secretEnv" -}}
{{- .secretEnv | default (printf "%s_PASSWORD" (.name | upper | replace "-" "_")) -}}
{{- end -}}

{{/*
One probe from a whole Probe object, with httpGet/tcpSocket pointed at
vigil's port when the object leaves the port out. Refuses a probe with two
handlers (Helm merges a user's probe into the default one).
Call with (dict "probe" $p "port" 8086 "name" "livenessProbe").
*/}}
{{- define "vigil-lib.probe" -}}
{{- $p := deepCopy .probe -}}
{{- $handlers := list -}}
{{- range $h := list "httpGet" "tcpSocket" "exec" "grpc" -}}
{{- if get $p $h -}}
{{- $handlers = append $handlers $h -}}
{{- end -}}
{{- end -}}
{{- if gt (len $handlers) 1 -}}
{{- fail (printf "%s: has %s; a probe has one handler (Helm merges your probe into the default: set the default's httpGet: null)" .name (join " and " $handlers)) -}}
{{- end -}}
{{- range $handler := list "httpGet" "tcpSocket" -}}
{{- $h := get $p $handler -}}
{{- if and $h (not (get $h "port")) -}}
{{- $_ := set $h "port" (int $.port) -}}
{{- end -}}
{{- end -}}
{{- toYaml $p -}}
{{- end -}}

{{/*
The app container's probes, asking vigil: startupProbe /startupz (up to
5 minutes for every required dependency to pass once), livenessProbe /livez
(the app's own port; never Redis or the database), readinessProbe /readyz
(every required dependency). Keys of the dict:
  port                                 vigil's port (8086)
  startupProbe livenessProbe readinessProbe
                                       a whole Probe object to use instead
                                       of the default; false or null: none
Renders the probe keys at the indentation you give:
  {{- include "vigil-lib.probes" (dict "port" .Values.vigil.port) | nindent 10 }}
*/}}
{{- define "vigil-lib.probes" -}}
{{- $port := int (.port | default 8086) -}}
{{- $d := dict
  "startupProbe" (dict "httpGet" (dict "path" "/startupz") "periodSeconds" 2 "timeoutSeconds" 1 "failureThreshold" 150 "successThreshold" 1)
  "livenessProbe" (dict "httpGet" (dict "path" "/livez") "periodSeconds" 10 "timeoutSeconds" 1 "failureThreshold" 3 "successThreshold" 1)
  "readinessProbe" (dict "httpGet" (dict "path" "/readyz") "periodSeconds" 5 "timeoutSeconds" 1 "failureThreshold" 2 "successThreshold" 1) -}}
{{- $out := list -}}
{{- range $k := list "startupProbe" "livenessProbe" "readinessProbe" -}}
{{- $p := get $d $k -}}
{{- if hasKey $ $k -}}
{{- $p = get $ $k -}}
{{- end -}}
{{- if $p -}}
{{- $out = append $out (printf "%s:\n%s" $k (include "vigil-lib.probe" (dict "probe" $p "port" $port "name" $k) | indent 2)) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $out -}}
{{- end -}}

{{/*
The vigil container, as one item of a containers (or, with
values.nativeSidecar, initContainers) list. Environment: the Downward API
(POD_NAME, POD_NAMESPACE, NODE_NAME: /health reports them), a Secret key for
every check with existingSecret (into secretEnv, which its url uses as
${VAR}), then values.extraEnv. Mounts: the ConfigMap at /etc/vigil (a
directory, never subPath, so vigil sees updates), then
values.extraVolumeMounts (a CA bundle, a client certificate, a password
file for ${file:/path}). Keys of the dict: values, context, and optionally
name ("vigil"), defaultTag (the image tag when values.image has none:
vigil-lib.version), valuesPath (how errors name the values: "vigil").
*/}}
{{- define "vigil-lib.container" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- $at := .valuesPath | default "vigil" -}}
{{- $port := int $v.port -}}
- name: {{ .name | default "vigil" }}
  image: {{ include "vigil-lib.image" (dict "image" $v.image "default" (.defaultTag | default (include "vigil-lib.version" .))) | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy | default "IfNotPresent" }}
  {{- if $v.nativeSidecar }}
  restartPolicy: Always
  {{- end }}
  args: ["run", "--config", "/etc/vigil/config.json"]
  ports:
    - name: vigil
      containerPort: {{ $port }}
      protocol: TCP
  env:
    {{- /* Downward API: /health reports the pod, namespace and node. */}}
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    {{- /* kubernetes_events: regarding.uid of the pod's Events. */}}
    - name: POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
    {{- /* Passwords: a Secret's key into the variable the check's url uses as ${VAR}. */}}
    {{- range $v.checks }}
    {{- if .existingSecret }}
    - name: {{ include "vigil-lib.secretEnv" . }}
      valueFrom:
        secretKeyRef:
          name: {{ .existingSecret | quote }}
          key: {{ .existingSecretKey | default "password" | quote }}
    {{- end }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.startupProbe }}
  startupProbe:
    {{- include "vigil-lib.probe" (dict "probe" . "port" $port "name" (printf "%s.startupProbe" $at)) | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- include "vigil-lib.probe" (dict "probe" . "port" $port "name" (printf "%s.livenessProbe" $at)) | nindent 4 }}
  {{- end }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: vigil-config
      mountPath: /etc/vigil
      readOnly: true
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
The pod volumes vigil needs, as items of a volumes list: the ConfigMap
(vigil-lib.configMapName) as "vigil-config", then values.extraVolumes.
*/}}
{{- define "vigil-lib.volumes" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
- name: vigil-config
  configMap:
    name: {{ include "vigil-lib.configMapName" . }}
{{- with $v.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
vigil's config.json from the values block: listen on 0.0.0.0:port,
drain_seconds, log_format, defaults (when set), admin_token_file (when
values.adminTokenFile is set), fleet (when values.fleet.enabled:
vigil-lib.fleetConfig) and the checks, without the keys only the charts
read (existingSecret, existingSecretKey, secretEnv).
*/}}
{{- define "vigil-lib.config" -}}
{{- $v := include "vigil-lib.values" . | fromJson -}}
{{- $cfg := dict "listen" (printf "0.0.0.0:%d" (int $v.port)) "drain_seconds" (int $v.drainSeconds) "log_format" $v.logFormat -}}
{{- with $v.defaults -}}
{{- $_ := set $cfg "defaults" . -}}
{{- end -}}
{{- with $v.adminTokenFile -}}
{{- $_ := set $cfg "admin_token_file" . -}}
{{- end -}}
{{- with include "vigil-lib.fleetConfig" . -}}
{{- $_ := set $cfg "fleet" (fromJson .) -}}
{{- end -}}
{{- $checks := list -}}
{{- range $i, $c := $v.checks -}}
{{- if not (and (kindIs "map" $c) $c.name $c.kind) -}}
{{- fail (printf "%s.checks[%d]: a check is an object with name, kind and role" ($.valuesPath | default "vigil") (int $i)) -}}
{{- end -}}
{{- $checks = append $checks (omit $c "existingSecret" "existingSecretKey" "secretEnv") -}}
{{- end -}}
{{- if not $checks -}}
{{- fail (printf "%s.checks: vigil needs at least one check (the app's own port: kind tcp, address 127.0.0.1:PORT)" (.valuesPath | default "vigil")) -}}
{{- end -}}
{{- $_ := set $cfg "checks" $checks -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/*
The ConfigMap holding config.json. Keys of the dict: values, context,
and optionally labels (a map, or YAML text), namespace (default: the release's), config
(the config.json text to use instead of vigil-lib.config's).
Roll the pods on a change with an annotation on the pod template:
  checksum/vigil-config: {{ include "vigil-lib.config" (dict "values" .Values.vigil "context" $) | sha256sum }}
*/}}
{{- define "vigil-lib.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "vigil-lib.configMapName" . }}
  namespace: {{ .namespace | default (.context | default dict).Release.Namespace }}
  {{- with .labels }}
  labels:
    {{- if kindIs "string" . }}
    {{- . | nindent 4 }}
    {{- else }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
data:
  config.json: |
    {{- if .config }}
    {{- .config | nindent 4 }}
    {{- else }}
    {{- include "vigil-lib.config" . | nindent 4 }}
    {{- end }}
{{- end -}}
