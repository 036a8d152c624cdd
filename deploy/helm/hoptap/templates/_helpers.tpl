{{- define "hoptap.labels" -}}
app.kubernetes.io/name: hoptap-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "hoptap.selector" -}}
app.kubernetes.io/name: hoptap-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
