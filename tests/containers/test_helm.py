"""The Kubernetes chart (deploy/helm/dgw-emulator), checked offline: rendered by Helm's own engine
(helm-python-sdk: Helm's Go SDK as a library, since no helm binary is packaged for the registries here),
validated with ``kubernetes-validate --strict`` against a current Kubernetes schema, refused with a clear
message for a wrong value, and one pod's container run here as rendered: its slice of the lab starts, its
probes pass, and its credentials come from the Secret."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from emulator.labfile import specs_from_lab

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "dgw-emulator"
BIN = Path(sys.executable).parent
KUBERNETES = "1.37.0"  # the newest schema kubernetes-validate ships; Kubernetes' current release
OLDEST = "1.28.0"  # the chart's kubeVersion: the pod-index label its slices come from
SECRET_SCRIPT = 'Aaa.Users[public].Password = "pod-secret"\nHoc.SystemName = "from-the-secret"'


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(str(CHART)) as c:
        yield c


def render(chart: helm.Chart, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every manifest by kind, as `helm template lab deploy/helm/dgw-emulator -n voip` would print it."""
    out = chart.render(values, name="lab", namespace="voip", is_install=True)
    docs = [yaml.safe_load(text) for name, text in out.items() if name.endswith(".yaml") and text.strip()]
    return {d["kind"]: d for d in docs if d}


def validate(tmp: Path, manifests: dict[str, dict[str, Any]], version: str = KUBERNETES,
             ) -> subprocess.CompletedProcess[str]:
    files = []
    for kind, doc in manifests.items():
        files.append(tmp / f"{kind}.yaml")
        files[-1].write_text(yaml.safe_dump(doc))
    return subprocess.run([str(BIN / "kubernetes-validate"), "--strict", "-k", version, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_the_chart_lints_clean_in_strict_mode() -> None:
    """`helm lint --strict`: no error nor warning (only the information that a chart may have an icon)."""
    report = helm.lint(str(CHART), strict=True, namespace="voip", kube_version=KUBERNETES)
    assert report["errors"] == [] and report["total_charts_linted"] == 1
    assert [m for m in report["messages"] if m["severity"] > 1] == [], report["messages"]
    bad = helm.lint(str(CHART), {"pods": 0}, strict=True, namespace="voip", kube_version=KUBERNETES)
    assert any("at '/pods': minimum: got 0, want 1" in e for e in bad["errors"])


@pytest.mark.parametrize("pods", [3, 100])
def test_the_chart_renders_and_validates_strictly(chart: helm.Chart, tmp_path: Path, pods: int) -> None:
    values = {"pods": pods, "unitsPerPod": 4, "credentials": {"script": SECRET_SCRIPT},
              "persistence": {"enabled": True}}
    m = render(chart, values)
    assert set(m) == {"ConfigMap", "Secret", "Service", "StatefulSet"}
    for version in (KUBERNETES, OLDEST):
        result = validate(tmp_path, m, version)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("passed for resource") == 4, result.stdout
        assert result.stdout.count(f"against version {version[:4]}") == 4, result.stdout

    sts = m["StatefulSet"]["spec"]
    assert sts["replicas"] == pods and sts["serviceName"] == m["Service"]["metadata"]["name"]
    [container] = sts["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--slice") + 1] == f"$(POD_INDEX)/{pods}" and args[args.index("--host") + 1] == "$(POD_IP)"
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_INDEX": "metadata.labels['apps.kubernetes.io/pod-index']", "POD_IP": "status.podIP"}
    assert sts["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["exec"]["command"][-2:] == ["/var/lib/dgw/ready.json", "4"]
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == "state"

    service = m["Service"]["spec"]
    assert service["clusterIP"] == "None"  # headless: one DNS name per pod
    published = {(p["name"], p["port"], p["protocol"]) for p in service["ports"]}
    assert {("sip-0", 5060, "UDP"), ("sips-0", 5061, "TCP"), ("snmp-0", 161, "UDP"), ("cwmp-0", 7547, "TCP"),
            ("sip-3", 5090, "UDP"), ("snmp-3", 191, "UDP"), ("api-3", 8030, "TCP")} <= published
    assert m["Secret"]["stringData"]["credentials.cfg"].strip() == SECRET_SCRIPT

    # the lab file every pod mounts: pods x 4 units, and pod k's slice is its own 4 units, on distinct ports
    lab = json.loads(m["ConfigMap"]["data"]["lab.json"])
    assert len(lab["unit"]) == pods * 4
    (tmp_path / "credentials.cfg").write_text(SECRET_SCRIPT)
    lab["defaults"]["settings_file"] = str(tmp_path / "credentials.cfg")  # where the Secret is mounted in the pod
    for k in (0, pods // 2, pods - 1):
        specs = specs_from_lab(lab, tmp_path, part=(k, pods), host="10.0.0.7")
        assert [s.name for s in specs] == [f"unit-{k}-{slot}" for slot in range(4)]
        assert [s.api_port for s in specs] == [8000, 8010, 8020, 8030]
        assert [s.settings["SipEp.Gateway[default].Port"] for s in specs] == [5060, 5070, 5080, 5090]
        assert all(s.script.strip() == SECRET_SCRIPT for s in specs)


def test_an_existing_secret_and_shared_settings(chart: helm.Chart, tmp_path: Path) -> None:
    """Credentials from a Secret of the user's own (none rendered), settings for every unit, no persistence."""
    m = render(chart, {"credentials": {"existingSecret": "site-passwords"},
                       "unit": {"profile": "C740", "namePrefix": "gw", "settings": {"Hoc.SystemName": "fleet"}}})
    assert "Secret" not in m
    result = validate(tmp_path, m)
    assert result.returncode == 0, result.stdout + result.stderr
    pod = m["StatefulSet"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "site-passwords"
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    assert "volumeClaimTemplates" not in m["StatefulSet"]["spec"]
    lab = json.loads(m["ConfigMap"]["data"]["lab.json"])
    assert lab["defaults"]["profile"] == "C740"
    assert lab["defaults"]["settings"] == {"Hoc.SystemName": "fleet", "Mipt.IpTransportRtpBasePort": 20000}
    assert lab["defaults"]["settings_file"] == "/etc/dgw/credentials/credentials.cfg"
    assert [u["name"] for u in lab["unit"]] == ["gw-0-0", "gw-0-1", "gw-1-0", "gw-1-1", "gw-2-0", "gw-2-1"]


@pytest.mark.parametrize(("values", "message"), [
    ({"unitsPerPod": -1}, "at '/unitsPerPod': minimum: got -1, want 1"),
    ({"pods": 0}, "at '/pods': minimum: got 0, want 1"),
    ({"unitPerPod": 3}, "additional properties 'unitPerPod' not allowed"),
    ({"unit": {"profile": "4103", "namePrefix": "unit"}}, "at '/unit/profile'"),
    ({"ports": {"api": 5060, "sip": 5060, "sipTls": 5061, "snmp": 161, "cwmp": 7547, "ssh": 22, "web": 80,
                "webSecure": 443}},
     "ports.api (5060) and ports.sip (5060) meet on one port"),
    ({"unitsPerPod": 200, "portStep": 300}, "ports.api: 8000 + (unitsPerPod - 1) x portStep = 67700 is past 65535"),
    ({"pods": 500, "unitsPerPod": 10}, "the lab of pods x unitsPerPod = 5000 units is"),
])
def test_a_wrong_value_fails_the_render_with_a_clear_message(
    chart: helm.Chart, values: dict[str, Any], message: str,
) -> None:
    with pytest.raises(helm.HelmError) as caught:
        chart.render(values, name="lab", namespace="voip", is_install=True)
    assert message in str(caught.value)


def _http_status(url: str, auth: str) -> int:
    req = urllib.request.Request(url, headers={"Authorization": "Basic " + b64encode(auth.encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_a_pod_runs_its_slice_as_rendered(chart: helm.Chart, tmp_path: Path) -> None:
    """The rendered container, run here as pod 1 of 3 (its index and address substituted as Kubernetes does,
    its mounts moved under a temporary folder): its two units start with the slot ports, the startup and
    readiness probe commands fail before the ready file and pass after, the liveness path answers, the Secret's
    script was applied, and SIGTERM stops the pod's process with status 0."""
    m = render(chart, {"pods": 3, "unitsPerPod": 2, "credentials": {"script": SECRET_SCRIPT}})
    mounts = {"/etc/dgw/lab": tmp_path / "lab", "/etc/dgw/credentials": tmp_path / "credentials",
              "/var/lib/dgw": tmp_path / "state"}
    for folder in mounts.values():
        folder.mkdir()
    (mounts["/etc/dgw/lab"] / "lab.json").write_text(m["ConfigMap"]["data"]["lab.json"].replace(
        "/etc/dgw/credentials", str(mounts["/etc/dgw/credentials"])))
    (mounts["/etc/dgw/credentials"] / "credentials.cfg").write_text(m["Secret"]["stringData"]["credentials.cfg"])
    host = f"127.0.0.{random.randrange(180, 240)}"

    def here(word: str) -> str:
        word = word.replace("$(POD_INDEX)", "1").replace("$(POD_IP)", host)
        for mount, folder in mounts.items():
            word = word.replace(mount, str(folder))
        return word

    [container] = m["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["dgw-emulator"]
    argv = [str(BIN / "dgw-emulator"), *map(here, container["args"])]
    probe = [here(w) for w in container["readinessProbe"]["exec"]["command"]]
    assert probe == [here(w) for w in container["startupProbe"]["exec"]["command"]]
    assert probe[0] == "python3"

    def probe_passes() -> bool:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0

    # a ready file left by an earlier run of the container does not count, even when its pid is alive again:
    # here a complete one naming this (live) test process, first dated before the process started, then now
    ready_file = mounts["/var/lib/dgw"] / "ready.json"
    ready_file.write_text(json.dumps({"pid": os.getpid(), "units": [{"name": n, "api": "x"} for n in "ab"]}))
    os.utime(ready_file, (0, 0))
    assert not probe_passes()
    os.utime(ready_file)
    assert probe_passes()
    ready_file.unlink()

    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        assert not probe_passes()  # no ready file yet
        deadline = time.monotonic() + 60
        while not probe_passes():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the readiness probe never passed"
            time.sleep(0.2)
        doc = json.loads((mounts["/var/lib/dgw"] / "ready.json").read_text())
        units = {u["name"]: u for u in doc["units"]}
        assert list(units) == ["unit-1-0", "unit-1-1"]  # pod 1's slice of the 6-unit lab
        assert units["unit-1-0"]["api"] == f"http://{host}:8000" and units["unit-1-1"]["api"] == f"http://{host}:8010"
        assert units["unit-1-1"]["sip"] == f"{host}:5070" and units["unit-1-1"]["snmp"] == f"{host}:171"
        liveness = container["livenessProbe"]["httpGet"]
        assert liveness["port"] == "api-0"
        assert _http_status(f"http://{host}:8000{liveness['path']}", "public:") == 200
        # the Secret's lines ran at first boot: the factory account now needs its new password
        api = units["unit-1-1"]["api"]
        assert _http_status(f"{api}/api/v1/status", "public:") == 401
        req = urllib.request.Request(f"{api}/api/v1/parameters/Hoc.SystemName", headers={
            "Authorization": "Basic " + b64encode(b"public:pod-secret").decode()})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["value"] == "from-the-secret"
        os.kill(proc.pid, 0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
        assert not probe_passes()  # the process the ready file names is gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
