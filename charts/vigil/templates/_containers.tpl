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
  {{- with .Values.startupProbe }}
  startupProbe:
    {{- include "vigil.probe" (dict "probe" . "port" $.Values.vigil.port "name" "startupProbe") | nindent 4 }}
  {{- end }}
  {{- with .Values.livenessProbe }}
  livenessProbe:
    {{- include "vigil.probe" (dict "probe" . "port" $.Values.vigil.port "name" "livenessProbe") | nindent 4 }}
  {{- end }}
  {{- with .Values.readinessProbe }}
  readinessProbe:
    {{- include "vigil.probe" (dict "probe" . "port" $.Values.vigil.port "name" "readinessProbe") | nindent 4 }}
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
The vigil container: a regular sidecar, or with (native true) an init
container with restartPolicy Always (Kubernetes >= 1.29), which the kubelet
starts before the app (once its startupProbe passes) and stops after it.
On SIGTERM vigil answers 503 on /readyz at once and serves drainSeconds more.
Call with (dict "ctx" $ "native" bool).
*/}}
{{- define "vigil.sidecarContainer" -}}
{{- $ctx := .ctx -}}
{{- $v := $ctx.Values.vigil -}}
- name: vigil
  image: {{ include "vigil.image" (dict "image" $v.image "default" $ctx.Chart.AppVersion) | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args: ["run", "--config", "/etc/vigil/config.json"]
  ports:
    - name: vigil
      containerPort: {{ $v.port }}
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
    {{- /* Passwords: a Secret's key into the variable the check's url uses as ${VAR}. */}}
    {{- range $v.checks }}
    {{- if .existingSecret }}
    - name: {{ include "vigil.secretEnv" . }}
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
    {{- include "vigil.probe" (dict "probe" . "port" $v.port "name" "vigil.startupProbe") | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- include "vigil.probe" (dict "probe" . "port" $v.port "name" "vigil.livenessProbe") | nindent 4 }}
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
    {{- if $v.admin.existingSecret }}
    - name: vigil-admin-token
      mountPath: {{ include "vigil.adminTokenDir" $ctx }}
      readOnly: true
    {{- end }}
{{- end -}}
