{{/*
The application container. Its probes ask vigil (see values.yaml): a
failing /livez restarts the app, a failing /readyz takes the pod out of the
Service, /startupz holds both until every required dependency passed once.
*/}}
{{- define "vigil.appContainer" -}}
{{- $app := .Values.app -}}
- name: {{ $app.name }}
  image: {{ include "vigil.image" (dict "image" $app.image "default" "") | quote }}
  imagePullPolicy: {{ $app.image.pullPolicy }}
  {{- with $app.command }}
  command:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $app.args }}
  args:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: http
      containerPort: {{ $app.port }}
      protocol: TCP
  {{- with $app.env }}
  env:
    {{- tpl (toYaml .) $ | nindent 4 }}
  {{- end }}
  {{- with $app.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "vigil-lib.probes" (dict "port" .Values.vigil.port "startupProbe" .Values.startupProbe "livenessProbe" .Values.livenessProbe "readinessProbe" .Values.readinessProbe) }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if gt (int $app.preStopSleepSeconds) 0 }}
  lifecycle:
    {{- /* Keep serving while endpoints and load balancers catch up. */}}
    preStop:
      {{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}
      sleep:
        seconds: {{ int $app.preStopSleepSeconds }}
      {{- else }}
      exec:
        command: ["sleep", "{{ int $app.preStopSleepSeconds }}"]
      {{- end }}
  {{- end }}
  {{- with $app.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $app.containerSecurityContext | nindent 4 }}
  {{- if or $app.tmpVolume $app.extraVolumeMounts }}
  volumeMounts:
    {{- if $app.tmpVolume }}
    - name: app-tmp
      mountPath: /tmp
    {{- end }}
    {{- with $app.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end -}}

{{/*
The vigil container, from the library chart (charts/vigil-lib): a regular
sidecar, or with vigil.nativeSidecar (the caller puts it under
initContainers and passes native true) an init container with restartPolicy
Always (Kubernetes >= 1.29), which the kubelet starts before the app (once
its startupProbe passes) and stops after it. On SIGTERM vigil answers 503 on
/readyz at once and serves drainSeconds more. The admin token's Secret is
mounted before vigil.extraVolumeMounts.
Call with (dict "ctx" $ "native" bool).
*/}}
{{- define "vigil.sidecarContainer" -}}
{{- $ctx := .ctx -}}
{{- include "vigil-lib.container" (dict "values" (include "vigil.libValues" $ctx | fromJson) "context" $ctx "defaultTag" $ctx.Chart.AppVersion) -}}
{{- end -}}

{{/*
.Values.vigil as the library's values block: the ConfigMap's name, and the
admin token's and the fleet token's Secrets added to the extra volumes and
mounts (defaultMode 288 is 0440), vigil.extraVolumeMounts checked against
the volumes.
*/}}
{{- define "vigil.libValues" -}}
{{- $v := deepCopy .Values.vigil -}}
{{- $mounts := list -}}
{{- $volumes := list -}}
{{- if $v.admin.existingSecret -}}
{{- $mounts = append $mounts (dict "name" "vigil-admin-token" "mountPath" (include "vigil.adminTokenDir" .) "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "vigil-admin-token" "secret" (dict "secretName" $v.admin.existingSecret "defaultMode" 288 "items" (list (dict "key" $v.admin.existingSecretKey "path" "admin-token")))) -}}
{{- end -}}
{{- if and .Values.fleet.enabled (.Values.fleet.token | default dict).existingSecret -}}
{{- $mounts = append $mounts (dict "name" "vigil-fleet-token" "mountPath" (include "vigil.fleetTokenDir" .) "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "vigil-fleet-token" "secret" (dict "secretName" .Values.fleet.token.existingSecret "defaultMode" 288 "items" (list (dict "key" "token" "path" "token")))) -}}
{{- end -}}
{{- $volumeNames := list -}}
{{- range (concat ($v.extraVolumes | default list) (.Values.extraVolumes | default list)) -}}
{{- $volumeNames = append $volumeNames .name -}}
{{- end -}}
{{- range $i, $m := $v.extraVolumeMounts -}}
{{- if regexMatch "^/etc/vigil(/|$)" (toString $m.mountPath) -}}
{{- fail (printf "vigil.extraVolumeMounts[%d].mountPath: %s is where the config is mounted; use another directory (e.g. /etc/vigil-tls)" (int $i) $m.mountPath) -}}
{{- end -}}
{{- if not (has $m.name $volumeNames) -}}
{{- fail (printf "vigil.extraVolumeMounts[%d].name: no volume %q in vigil.extraVolumes or extraVolumes" (int $i) (toString $m.name)) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $v "extraVolumeMounts" (concat $mounts ($v.extraVolumeMounts | default list)) -}}
{{- $_ := set $v "extraVolumes" (concat $volumes ($v.extraVolumes | default list)) -}}
{{- $_ := set $v "configMapName" (include "vigil.fullname" .) -}}
{{- toJson $v -}}
{{- end -}}
