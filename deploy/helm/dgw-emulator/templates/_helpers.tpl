{{/* Names and labels. */}}
{{- define "dgw-emulator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dgw-emulator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dgw-emulator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dgw-emulator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dgw-emulator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "dgw-emulator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dgw-emulator.credentialsSecret" -}}
{{- .Values.credentials.existingSecret | default (printf "%s-credentials" (include "dgw-emulator.fullname" .)) -}}
{{- end -}}

{{- define "dgw-emulator.hasCredentials" -}}
{{- if or .Values.credentials.script .Values.credentials.existingSecret -}}true{{- end -}}
{{- end -}}

{{/*
Refuse values the schema cannot judge: two faces of the pod's units on one port (unit slot s listens on
port + s * portStep), or a port past 65535.
*/}}
{{- define "dgw-emulator.checkPorts" -}}
{{- $step := int .Values.portStep -}}
{{- $span := mul (sub (int .Values.unitsPerPod) 1) $step -}}
{{- range $a, $pa := .Values.ports -}}
{{- if gt (add (int $pa) $span) 65535 -}}
{{- fail (printf "ports.%s: %d + (unitsPerPod - 1) x portStep = %d is past 65535; lower unitsPerPod or portStep" $a (int $pa) (add (int $pa) $span)) -}}
{{- end -}}
{{- range $b, $pb := $.Values.ports -}}
{{- if lt $a $b -}}
{{- $d := sub (max (int $pa) (int $pb)) (min (int $pa) (int $pb)) -}}
{{- if and (eq (mod $d $step) 0) (le $d $span) -}}
{{- fail (printf "ports.%s (%d) and ports.%s (%d) meet on one port within unitsPerPod=%d units spaced by portStep=%d; change a port or portStep" $a (int $pa) $b (int $pb) (int $.Values.unitsPerPod) $step) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The lab file (JSON, as `dgw-emulator run --lab` reads it): pods x unitsPerPod units in pod order, so that
`--slice k/pods` gives pod k its unitsPerPod units; slot s of every pod gets the ports + s * portStep.
*/}}
{{- define "dgw-emulator.lab" -}}
{{- $v := .Values -}}
{{- $units := list -}}
{{- range $pod := until (int $v.pods) -}}
{{- range $slot := until (int $v.unitsPerPod) -}}
{{- $off := mul $slot (int $v.portStep) -}}
{{- $settings := dict
    "SipEp.Gateway[default].Port" (add (int $v.ports.sip) $off)
    "SipEp.Gateway[default].SecurePort" (add (int $v.ports.sipTls) $off)
    "Snmp.Port" (add (int $v.ports.snmp) $off)
    "Cwmp.ListeningPort" (add (int $v.ports.cwmp) $off)
    "Cli.SshPort" (add (int $v.ports.ssh) $off)
    "Web.ServerPort" (add (int $v.ports.web) $off)
    "Web.SecureServerPort" (add (int $v.ports.webSecure) $off) -}}
{{- $unit := dict "name" (printf "%s-%d-%d" $v.unit.namePrefix $pod $slot) "api_port" (add (int $v.ports.api) $off) "settings" $settings -}}
{{- $units = append $units $unit -}}
{{- end -}}
{{- end -}}
{{- $shared := merge (deepCopy ($v.unit.settings | default dict)) (dict "Mipt.IpTransportRtpBasePort" 20000) -}}
{{- $defaults := dict "profile" $v.unit.profile "assume_time_synchronized" ($v.unit.assumeTimeSynchronized | default false) "settings" $shared -}}
{{- if include "dgw-emulator.hasCredentials" . -}}
{{- $_ := set $defaults "settings_file" "/etc/dgw/credentials/credentials.cfg" -}}
{{- end -}}
{{- toJson (dict "defaults" $defaults "unit" $units) -}}
{{- end -}}

{{/* The faces the headless Service publishes, per unit slot of a pod: name, port, protocol. */}}
{{- define "dgw-emulator.servicePorts" -}}
{{- $v := .Values -}}
{{- range $slot := until (int $v.unitsPerPod) -}}
{{- $off := mul $slot (int $v.portStep) }}
- name: sip-{{ $slot }}
  port: {{ add (int $v.ports.sip) $off }}
  protocol: UDP
- name: sip-tcp-{{ $slot }}
  port: {{ add (int $v.ports.sip) $off }}
  protocol: TCP
- name: sips-{{ $slot }}
  port: {{ add (int $v.ports.sipTls) $off }}
  protocol: TCP
- name: snmp-{{ $slot }}
  port: {{ add (int $v.ports.snmp) $off }}
  protocol: UDP
- name: cwmp-{{ $slot }}
  port: {{ add (int $v.ports.cwmp) $off }}
  protocol: TCP
- name: api-{{ $slot }}
  port: {{ add (int $v.ports.api) $off }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/*
The readiness check, run in the container: the ready file lists this pod's units, each with its API and no
face still coming up, and was written by the process it names, alive (not left by a previous run of the
container: its pid would be the new PID 1, but the file is older than that process). Arguments: the file,
the number of units.
*/}}
{{- define "dgw-emulator.readyCheck" -}}
import json, os, sys
doc = json.load(open(sys.argv[1]))
units = doc["units"]
stat = open("/proc/%d/stat" % int(doc["pid"])).read().rsplit(")", 1)[1].split()
boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime "))
started = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")
fresh = os.stat(sys.argv[1]).st_mtime >= started - 1
sys.exit(0 if fresh and len(units) == int(sys.argv[2]) and all("api" in u and not u.get("coming_up") for u in units) else 1)
{{- end -}}
