{{/* The chart name, overridable. */}}
{{- define "warroom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of every object, a DNS label (the Service needs one). Suffixed names are RBAC objects, whose names
may be longer.
*/}}
{{- define "warroom.fullname" -}}
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

{{- define "warroom.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: stable across upgrades (a Deployment selector is immutable). */}}
{{- define "warroom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "warroom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
managed-by is Helm, never "warroom": that value marks the objects the operator itself manages, and its child
reflectors select on it.
*/}}
{{- define "warroom.labels" -}}
helm.sh/chart: {{ include "warroom.chart" . }}
{{ include "warroom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: warroom
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "warroom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "warroom.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Role the operator writes in an incident namespace for spec.access (src/controllers/incidentchannel/desired/
access.ts, ACCESS_ROLE): the only Role it may escalate and bind.
*/}}
{{- define "warroom.accessRole" -}}
participant-credentials-reader
{{- end }}

{{- define "warroom.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* A label map as a comma-separated key=value list, the format of the operator's label flags. */}}
{{- define "warroom.labelList" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/*
"true" when the evidence volume can be mounted by one node (or one pod) only: a PVC without ReadWriteMany. Such a
Deployment must have one replica and roll out with Recreate.
*/}}
{{- define "warroom.evidenceSingleAttach" -}}
{{- $p := .Values.evidence.persistence }}
{{- if and (eq .Values.evidence.store "file") $p.enabled (not (has "ReadWriteMany" $p.accessModes)) }}true{{ end }}
{{- end }}

{{/* Where the evidence volume is mounted; the operator's evidenceDir and signingKey defaults live under it. */}}
{{- define "warroom.evidenceMount" -}}
/var/lib/warroom
{{- end }}

{{/* The signing key the operator reads: signingKey.existingSecret's, or the one it creates on the evidence volume. */}}
{{- define "warroom.signingKeyPath" -}}
{{- if .Values.evidence.signingKey.existingSecret }}
{{- print "/etc/warroom/signing-key/signing-key.pem" }}
{{- else }}
{{- printf "%s/signing-key.pem" (include "warroom.evidenceMount" .) }}
{{- end }}
{{- end }}
