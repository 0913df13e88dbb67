{{/* The release's name, cut to Kubernetes' 63 characters. */}}
{{- define "zoomsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zoomsync.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "zoomsync.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zoomsync.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if or (eq $tag "latest") (eq $tag "") -}}
{{- fail "image.tag: give a version (the chart's appVersion by default), not latest" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "zoomsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "zoomsync.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "zoomsync.targetsSecret" -}}
{{- .Values.targets.existingSecret | default (printf "%s-targets" (include "zoomsync.fullname" .)) -}}
{{- end -}}

{{/* Checks the values before anything renders. */}}
{{- define "zoomsync.validate" -}}
{{- $r := .Values.redis -}}
{{- if eq $r.mode "single" -}}
{{- if not $r.url -}}{{- fail "redis.url is required with redis.mode=single (redis:// or rediss://)" -}}{{- end -}}
{{- if $r.addrs -}}{{- fail "redis.addrs is for redis.mode sentinel or cluster" -}}{{- end -}}
{{- if regexMatch "^rediss?://[^/]*@" $r.url -}}{{- fail "redis.url must not carry credentials: use redis.auth.existingSecret" -}}{{- end -}}
{{- else if eq $r.mode "sentinel" -}}
{{- if or (not $r.addrs) (not $r.masterName) -}}{{- fail "redis.mode=sentinel needs redis.addrs (the Sentinels) and redis.masterName" -}}{{- end -}}
{{- else if eq $r.mode "cluster" -}}
{{- if not $r.addrs -}}{{- fail "redis.mode=cluster needs redis.addrs (seed nodes)" -}}{{- end -}}
{{- if $r.masterName -}}{{- fail "redis.masterName is for redis.mode=sentinel" -}}{{- end -}}
{{- else -}}
{{- fail (printf "redis.mode %q: want single, sentinel or cluster" $r.mode) -}}
{{- end -}}
{{- if and (ne $r.mode "sentinel") (or $r.sentinelAuth.username $r.sentinelAuth.existingSecret) -}}
{{- fail "redis.sentinelAuth is for redis.mode=sentinel" -}}
{{- end -}}
{{- if and $r.auth.username (not $r.auth.existingSecret) -}}
{{- fail "redis.auth.username needs redis.auth.existingSecret (the password)" -}}
{{- end -}}
{{- if and (or $r.tls.caSecret $r.tls.clientCertSecret $r.tls.serverName) (not $r.tls.enabled) (not (hasPrefix "rediss://" $r.url)) -}}
{{- fail "redis.tls settings need redis.tls.enabled (or a rediss:// url)" -}}
{{- end -}}
{{- if and .Values.ldap.url (not .Values.ldap.baseDN) -}}
{{- fail "ldap.baseDN is required with ldap.url" -}}
{{- end -}}
{{- if and .Values.targets.existingSecret .Values.targets.json -}}
{{- fail "targets: give existingSecret or json, not both" -}}
{{- end -}}
{{- end -}}

{{/*
The pod's environment and its volumes, shared by the Deployment and the
resync CronJob.
*/}}
{{- define "zoomsync.env" -}}
- name: GOMEMLIMIT
  value: {{ .goMemLimit | quote }}
{{- $v := .root.Values }}
{{- if $v.redis.auth.existingSecret }}
- name: ZOOMSYNC_REDIS_PASSWORD_FILE
  value: /etc/zoomsync/redis/password
{{- end }}
{{- if $v.redis.sentinelAuth.existingSecret }}
- name: ZOOMSYNC_REDIS_SENTINEL_PASSWORD_FILE
  value: /etc/zoomsync/redis-sentinel/password
{{- end }}
{{- if $v.redis.tls.caSecret }}
- name: ZOOMSYNC_REDIS_TLS_CA_FILE
  value: /etc/zoomsync/redis-ca/{{ $v.redis.tls.caKey }}
{{- end }}
{{- if $v.redis.tls.clientCertSecret }}
- name: ZOOMSYNC_REDIS_TLS_CERT_FILE
  value: /etc/zoomsync/redis-client/tls.crt
- name: ZOOMSYNC_REDIS_TLS_KEY_FILE
  value: /etc/zoomsync/redis-client/tls.key
{{- end }}
{{- if $v.ldap.bindPasswordSecret }}
- name: LDAP_BIND_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.ldap.bindPasswordSecret }}, key: {{ $v.ldap.bindPasswordKey }}}
{{- end }}
{{- if $v.ldap.caSecret }}
- name: LDAP_CA_FILE
  value: /etc/zoomsync/ldap-ca/{{ $v.ldap.caKey }}
{{- end }}
{{- if $v.api.tokensSecret }}
- name: ZOOMSYNC_API_TOKENS
  valueFrom:
    secretKeyRef: {name: {{ $v.api.tokensSecret }}, key: {{ $v.api.tokensKey }}}
{{- end }}
{{- end -}}

{{- define "zoomsync.volumeMounts" -}}
{{- $v := .Values -}}
- {name: accounts, mountPath: /etc/zoomsync/accounts, readOnly: true}
{{- if or $v.targets.existingSecret $v.targets.json }}
- {name: targets, mountPath: /etc/zoomsync/targets, readOnly: true}
{{- end }}
{{- if $v.redis.auth.existingSecret }}
- {name: redis-password, mountPath: /etc/zoomsync/redis, readOnly: true}
{{- end }}
{{- if $v.redis.sentinelAuth.existingSecret }}
- {name: redis-sentinel-password, mountPath: /etc/zoomsync/redis-sentinel, readOnly: true}
{{- end }}
{{- if $v.redis.tls.caSecret }}
- {name: redis-ca, mountPath: /etc/zoomsync/redis-ca, readOnly: true}
{{- end }}
{{- if $v.redis.tls.clientCertSecret }}
- {name: redis-client, mountPath: /etc/zoomsync/redis-client, readOnly: true}
{{- end }}
{{- if $v.ldap.caSecret }}
- {name: ldap-ca, mountPath: /etc/zoomsync/ldap-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "zoomsync.volumes" -}}
{{- $v := .Values -}}
- name: accounts
  secret:
    secretName: {{ $v.zoom.accountsSecret }}
    items: [{key: {{ $v.zoom.accountsKey }}, path: accounts.json}]
{{- if or $v.targets.existingSecret $v.targets.json }}
- name: targets
  secret:
    secretName: {{ include "zoomsync.targetsSecret" . }}
    items: [{key: {{ $v.targets.key }}, path: targets.json}]
{{- end }}
{{- if $v.redis.auth.existingSecret }}
- name: redis-password
  secret:
    secretName: {{ $v.redis.auth.existingSecret }}
    items: [{key: {{ $v.redis.auth.passwordKey }}, path: password}]
{{- end }}
{{- if $v.redis.sentinelAuth.existingSecret }}
- name: redis-sentinel-password
  secret:
    secretName: {{ $v.redis.sentinelAuth.existingSecret }}
    items: [{key: {{ $v.redis.sentinelAuth.passwordKey }}, path: password}]
{{- end }}
{{- if $v.redis.tls.caSecret }}
- name: redis-ca
  secret: {secretName: {{ $v.redis.tls.caSecret }}}
{{- end }}
{{- if $v.redis.tls.clientCertSecret }}
- name: redis-client
  secret: {secretName: {{ $v.redis.tls.clientCertSecret }}}
{{- end }}
{{- if $v.ldap.caSecret }}
- name: ldap-ca
  secret: {secretName: {{ $v.ldap.caSecret }}}
{{- end }}
{{- end -}}

{{- define "zoomsync.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "zoomsync.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}
