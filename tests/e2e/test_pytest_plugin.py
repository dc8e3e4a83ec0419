"""The users' pytest plugin (emulator/pytest_plugin.py), as a user's suite meets it: installed as a ``pytest11``
entry point, its example suite (examples/) passing, a suite attached to a lab it did not start (ready file or
API URLs), the registration wait against a real registrar, and a lab that cannot start reported with the
emulator's own message. Each suite runs in a pytest subprocess with this venv's Python."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from testkit.kamailio import Kamailio, lab_kamailio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
USERS = {"ann": "annpw"}


def run_pytest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def outcome(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def test_the_package_ships_the_plugin_as_a_pytest11_entry_point() -> None:
    [ep] = [e for e in entry_points(group="pytest11") if e.value == "emulator.pytest_plugin"]
    module = ep.load()
    assert {"dgw_lab", "dgw_unit", "dgw_units", "dgw_new_unit"} <= set(vars(module))


def test_the_plugin_uses_the_contract_only() -> None:
    """It imports nothing of the product (it drives units through the command and the API, as a user does), so
    it is the same against a lab in a container; the examples import nothing but the plugin."""
    def imported(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
            n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}

    product = ("emulator", "firmware_model", "web_ui", "testkit", "tests")
    assert not [m for m in imported(ROOT / "emulator" / "pytest_plugin.py") if m.split(".")[0] in product]
    for example in EXAMPLES.glob("*.py"):
        assert [m for m in imported(example) if m.split(".")[0] in product] in ([], ["emulator.pytest_plugin"])


def test_the_examples_suite_passes() -> None:
    tests = sum(len(re.findall(r"^def test_", p.read_text(), re.M)) for p in EXAMPLES.glob("test_*.py"))
    assert tests >= 8
    result = run_pytest("examples", cwd=ROOT)
    assert result.returncode == 0, outcome(result)
    assert re.search(rf"\b{tests} passed\b", result.stdout), outcome(result)


@pytest.fixture
def running_lab(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A lab started the way a container runs one, not by the plugin."""
    lab = tmp_path / "lab.toml"
    lab.write_text('[defaults]\nassume_time_synchronized = true\n'
                   '[[unit]]\nname = "carol"\nhost = "127.0.0.170"\n[[unit]]\nname = "dave"\nhost = "127.0.0.171"\n')
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dgw-emulator"), "run", "--lab", str(lab),
                             "--state-dir", str(tmp_path / "state"), "--ready-file", str(ready), "--port-mode",
                             "auto", "--workers", "1", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the lab did not start"
            time.sleep(0.1)
        yield proc, ready
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)


ATTACHED_SUITE = '''
from emulator.pytest_plugin import Unit

def test_the_lab_is_the_one_given(dgw_lab, dgw_unit: Unit) -> None:
    assert [u.name for u in dgw_lab] == {names!r}
    assert dgw_lab.process is None  # attached: the plugin neither started nor stops it
    assert dgw_unit.name == {names!r}[0] and dgw_unit.sip.startswith("127.0.0.17")
    dgw_unit.set("Hoc.SystemName", "set-by-an-attached-suite")
'''


def test_a_suite_attaches_to_a_running_lab_by_ready_file_or_urls(
    tmp_path: Path, running_lab: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, ready = running_lab
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_attached.py").write_text(ATTACHED_SUITE.format(names=["carol", "dave"]))
    result = run_pytest("--dgw-attach", str(ready), cwd=suite)
    assert result.returncode == 0 and "1 passed" in result.stdout, outcome(result)
    assert proc.poll() is None  # still running after the suite

    units = {u["name"]: u for u in json.loads(ready.read_text())["units"]}
    req = urllib.request.Request(units["carol"]["api"] + "/api/v1/parameters/Hoc.SystemName",
                                 headers={"Authorization": "Basic " + b64encode(b"public:").decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["value"] == "set-by-an-attached-suite"

    # the API URLs of the units, from the environment (a container's published ports): dave first
    (suite / "test_attached.py").write_text(ATTACHED_SUITE.format(names=["dave", "carol"]))
    urls = f"{units['dave']['api']},{units['carol']['api']}"
    result = run_pytest(cwd=suite, env={"DGW_ATTACH": urls})
    assert result.returncode == 0 and "1 passed" in result.stdout, outcome(result)


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Kamailio]:
    with lab_kamailio(tmp_path, USERS) as k:
        yield k


REGISTERING_SUITE = '''
import os

import pytest

from emulator.pytest_plugin import DgwTimeout

REGISTRAR = os.environ["REGISTRAR"]


def settings(password):
    return {"SipEp.DefaultStaticRegistrarServerHost": REGISTRAR, "SipEp.DefaultStaticProxyHomeDomainHost": REGISTRAR,
            "SipEp.UserAgent[Phone-Fax1].Username": "ann", "SipEp.UserAgent[Phone-Fax1].Register": "Enable",
            "SipEp.Authentication.Username[Index=1]": "ann", "SipEp.Authentication[1].Password": password}


def test_a_new_unit_registers(dgw_new_unit):
    unit = dgw_new_unit(settings=settings("annpw"))
    [row] = unit.wait_registered()
    assert row["State"] == "Registered"


def test_a_wrong_password_never_registers(dgw_new_unit):
    unit = dgw_new_unit(settings=settings("wrong"))
    with pytest.raises(DgwTimeout, match="registered"):
        unit.wait_registered(timeout=4)
'''


def test_the_registration_wait_against_a_real_registrar(tmp_path: Path, kamailio: Kamailio) -> None:
    (tmp_path / "test_registers.py").write_text(REGISTERING_SUITE)
    result = run_pytest(cwd=tmp_path, env={"REGISTRAR": kamailio.udp_address})
    assert result.returncode == 0 and "2 passed" in result.stdout, outcome(result)


GENERATED_SUITE = '''
def test_the_generated_lab(dgw_lab, dgw_units):
    assert [u.name for u in dgw_lab] == ["unit1", "unit2", "unit3"]
    assert {u.status()["profile"] for u in dgw_units} == {"C740"}
'''


def test_the_generated_lab_follows_the_options_and_a_lab_that_cannot_start_is_reported(tmp_path: Path) -> None:
    (tmp_path / "test_generated.py").write_text(GENERATED_SUITE)
    result = run_pytest("--dgw-units", "3", "--dgw-profile", "C740", cwd=tmp_path)
    assert result.returncode == 0 and "1 passed" in result.stdout, outcome(result)

    (tmp_path / "bad.toml").write_text('[[unit]]\nname = "broken"\n[unit.settings]\n"Snmp.Port" = 70000\n')
    (tmp_path / "test_bad.py").write_text("def test_it(dgw_unit):\n    pass\n")
    result = run_pytest("--dgw-lab", "bad.toml", "test_bad.py", cwd=tmp_path)
    assert result.returncode == 1 and "1 error" in result.stdout, outcome(result)
    assert "dgw-emulator exited with 2 before it was ready" in result.stdout, outcome(result)
    assert "Snmp.Port" in result.stdout and "broken" in result.stdout, outcome(result)
