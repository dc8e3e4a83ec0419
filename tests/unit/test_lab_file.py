"""Lab files: ``[defaults]``, settings as a configuration script (rows and commands, all or nothing, the error
naming the unit), certificates installed from the start, and a spec crossing to a worker process."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.lab import CERTIFICATES_MARK, RunningUnit, build_unit
from emulator.labfile import LabError, settings_script, specs_from_lab
from emulator.runtime.spec import UnitSpec
from testkit.pki import Issued, Pki


@pytest.fixture(scope="module")
def pki() -> tuple[Pki, Issued]:
    p = Pki("rsa")
    return p, p.ca("Proxy Lab CA")


def test_defaults_apply_to_every_unit_and_a_unit_wins(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "peer.pem").write_text("x")
    (tmp_path / "a.pem").write_text("x")
    doc = {
        "defaults": {"assume_time_synchronized": True, "profile": "C740", "other_certificates": "ca.pem",
                     "host_certificate": "{name}.pem",
                     "settings": {"Cli.InactivityTimeOut": 30, "Hoc.SystemName": "lab"}},
        "unit": [
            {"name": "a", "settings": {"Hoc.SystemName": "alpha", "Scm.RestartRequiredServices": True},
             "other_certificates": ["peer.pem"]},
            {"name": "b", "profile": "4102", "assume_time_synchronized": False, "host_certificate": "",
             "settings": "Cli.WelcomeMessage = hi\nScm.RestartRequiredServices"},
        ],
    }
    a, b = specs_from_lab(doc, tmp_path / "state", base_dir=tmp_path)
    assert (a.profile, a.assume_time_synchronized) == ("C740", True)
    assert (b.profile, b.assume_time_synchronized) == ("4102", False)
    assert a.settings == {"Cli.InactivityTimeOut": 30, "Hoc.SystemName": "alpha", "Scm.RestartRequiredServices": True}
    assert (b.settings, b.script) == ({"Cli.InactivityTimeOut": 30, "Hoc.SystemName": "lab"},
                                      "Cli.WelcomeMessage = hi\nScm.RestartRequiredServices")
    assert a.other_certificates == [tmp_path / "ca.pem", tmp_path / "peer.pem"] and b.other_certificates == [
        tmp_path / "ca.pem"]
    assert a.host_certificate == tmp_path / "a.pem" and b.host_certificate is None
    assert settings_script(a.settings).splitlines() == [
        "Cli.InactivityTimeOut = 30", "Hoc.SystemName = alpha", "Scm.RestartRequiredServices"]


@pytest.mark.parametrize(("doc", "words"), [
    ({"defaults": {"name": "x"}, "unit": [{}]}, "cannot give a name"),
    ({"defaults": {"host_certificate": "{name}.pem"}, "unit": [{"name": "zed"}]}, "unit zed: host_certificate"),
    ({"unit": [{"name": "k", "host_key": "k.key"}]}, "unit k: host_key"),
    ({"unit": [{"name": "s", "settings": ["a"]}]}, "unit s: settings must be"),
    ({"unit": [{"name": "v", "settings": {"Hoc.SystemName": ["x"]}}]}, "unit v: settings 'Hoc.SystemName'"),
    ({"unit": [{"name": "n", "settings": {"Hoc.SystemName": "a\nb"}}]}, "unit n: settings 'Hoc.SystemName': a line"),
    ({"unit": [{"name": "h", "host": "nowhere"}]}, "unit h: host 'nowhere' is not an IP address"),
])
def test_a_bad_lab_is_refused_naming_the_unit(tmp_path: Path, doc: dict[str, object], words: str) -> None:
    with pytest.raises(LabError) as exc:
        specs_from_lab(doc, tmp_path, base_dir=tmp_path)
    assert words in str(exc.value)


def test_settings_script_lines() -> None:
    assert settings_script({"Hoc.SystemName": "two words", "Nlm.Events.Delete[Index=2]": "Delete",
                            "Scm.RestartRequiredServices": False, "Cli.SshPort": 2222}) == (
        'Hoc.SystemName = "two words"\nNlm.Events.Delete[Index=2] = Delete\nCli.SshPort = 2222')


def test_a_spec_crosses_to_a_worker_unchanged(tmp_path: Path) -> None:
    spec = UnitSpec(name="w", state_dir=tmp_path / "w", settings={"A.B": 1}, script="X.Y = 2",
                    other_certificates=[tmp_path / "ca.pem"], host_certificate=tmp_path / "h.pem",
                    face_ports={"cwmp": 40000}, phones={"Phone-Fax1": {"initial_sequence": 5}})
    assert UnitSpec.from_json(spec.to_json()) == spec
    assert UnitSpec.from_json({**spec.to_json(), "from_a_newer_supervisor": 1}) == spec


def _spec(tmp_path: Path, **kw: object) -> UnitSpec:
    return UnitSpec(name="lab1", host="127.0.0.1", state_dir=tmp_path / "lab1", port_mode="auto", fsync=False,
                    **kw)  # type: ignore[arg-type]


async def _started(spec: UnitSpec) -> RunningUnit:
    running = build_unit(spec)
    await running.start()
    return running


async def test_settings_run_as_one_script_at_first_boot(tmp_path: Path) -> None:
    spec = _spec(tmp_path, settings={
        "SipEp.Authentication.Username[Index=1]": "alice", "SipEp.Authentication[1].Password": "pw",
        "Nlm.Events.Delete[Index=2]": "Delete", "Cli.SshPort": 2222, "Scm.RestartRequiredServices": True,
    }, script="Hoc.SystemName = lab-one\nCert.OthersCertificatesInfo.Delete[FileName=factory-ca.pem] = Delete")
    running = await _started(spec)
    try:
        c = running.unit.config
        assert [r["Username"] for r in c.rows("SipEp.Authentication")] == ["alice"]
        assert [r["Index"] for r in c.rows("Nlm.Events")] == [1]
        assert (c.get("Cli.SshPort"), c.get("Hoc.SystemName")) == (2222, "lab-one")
        assert c.rows("Cert.OthersCertificatesInfo") == []  # a row command on an engine's table
        assert c.restart_required() == []  # the boot applied everything
        assert running.unit.services["Cli"].state == "Started"
    finally:
        await running.stop()
    c.set("Hoc.SystemName", "changed")
    again = await _started(spec)  # not a first boot: the settings are not applied again
    try:
        assert again.unit.config.get("Hoc.SystemName") == "changed"
    finally:
        await again.stop()


async def test_refused_settings_name_the_unit_and_change_nothing(tmp_path: Path) -> None:
    spec = _spec(tmp_path, settings={"Hoc.SystemName": "fine", "Cli.InactivityTimeOut": 91,
                                     "SipEp.NoSuchThing": 1})
    running = build_unit(spec)
    with pytest.raises(LabError) as exc:
        await running.start()
    await running.stop()
    text = str(exc.value)
    assert text.startswith("unit lab1: settings refused, nothing applied")
    assert "Cli.InactivityTimeOut = 91" in text and "1..90" in text and "SipEp.NoSuchThing: unknown parameter" in text
    assert not (spec.state_dir / "config.json").exists()  # still a first boot next time
    assert running.unit.config.get("Hoc.SystemName") == ""


async def test_certificates_are_installed_before_any_service_starts(tmp_path: Path, pki: tuple[Pki, Issued]) -> None:
    p, ca = pki
    host = p.leaf(ca, "lab1", dns=("lab1",), ips=("127.0.0.1",))
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    (tmp_path / "lab1.pem").write_bytes(host.pem())
    (tmp_path / "lab1.key").write_bytes(host.key_pem())
    [spec] = specs_from_lab({"defaults": {"other_certificates": ["ca.pem"], "host_certificate": "{name}.pem",
                                          "host_key": "{name}.key"},
                             "unit": [{"name": "lab1", "host": "127.0.0.1"}]},
                            tmp_path / "state", port_mode="auto", fsync=False, base_dir=tmp_path)
    running = await _started(spec)
    try:
        cert = running.cert
        assert cert is not None
        assert "Proxy Lab CA" in [s.info.issued_to for s in cert.other_certificates()]
        assert ca.cert in cert.trust_anchors()
        creds = cert.host_credentials("SipEp", "TlsClient")
        assert creds is not None and creds[0].name == "lab1.pem"  # presented before the factory certificate
        assert running.unit.config.restart_required() == []
    finally:
        await running.stop()
    assert (spec.state_dir / CERTIFICATES_MARK).exists()
    again = build_unit(spec)
    assert again.certificates is None  # the same files: nothing to read or check again
    (tmp_path / "ca.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(LabError) as exc:
        build_unit(spec)
    assert str(exc.value).startswith(f"unit lab1: other_certificates {tmp_path / 'ca.pem'}: ")
