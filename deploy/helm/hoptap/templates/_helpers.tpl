{{- define "hoptap.labels" -}}
app.kubernetes.io/name: hoptap-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "hoptap.selector" -}}
app.kubernetes.io/name: hoptap-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* hoptap.monitoring (list . ENABLED KIND): non-empty when a Prometheus
operator object is to be rendered: ENABLED true, or auto and the cluster
serves monitoring.coreos.com/v1 KIND (without the operator's CRDs the
install would fail). */}}
{{- define "hoptap.monitoring" -}}
{{- $root := index . 0 -}}
{{- $on := toString (index . 1) -}}
{{- if or (eq $on "true") (and (eq $on "auto") ($root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" (index . 2)))) -}}
yes
{{- end -}}
{{- end -}}
