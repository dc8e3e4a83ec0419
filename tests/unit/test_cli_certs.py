"""Certificate commands of the pure CLI interpreter (emulator.faces.cli.shell): ``Cert.Import Other|Host <url>``,
``Cert.ActivateUnsecureTransfer``, rights, help, and the Cert tables and Delete row command. The shell
returns a transfer as ``Reply.pending``; these tests await it as the SSH session does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.cert.engine import FACTORY_CA_FILE, FACTORY_HOST_FILE, CertEngine
from emulator.faces.cli.shell import CERT_COMMANDS, CliShell, Reply
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.cert_lab import FileServer, Lab


@pytest.fixture
async def unit(tmp_path: Path, factory_dir: Path) -> AsyncIterator[Unit]:
    u = Unit(name="gw", profile=get_profile("4102"), state_dir=tmp_path / "gw", ports=PortPolicy(mode="auto"),
             fsync=False)
    cert = CertEngine(u, factory_dir)
    u.attach(cert)
    u.cert = cert
    await u.start()
    u.clock.synchronized = True
    yield u
    await u.stop()


def shell(unit: Unit, rights: str = "Admin", user: str = "public") -> CliShell:
    return CliShell(unit, AuthResult(True, user, rights))


async def run(sh: CliShell, line: str) -> Reply:
    """What the SSH session does: execute, then await the pending transfer if any."""
    reply = sh.execute(line)
    if reply.pending is None:
        return reply
    assert reply.output == "" and reply.ok
    return await reply.pending()


def names(unit: Unit, kind: str) -> list[str]:
    stored = unit.cert.host_certificates() if kind == "host" else unit.cert.other_certificates()
    return [s.file_name for s in stored]


async def test_import_other_from_https_url(unit: Unit, lab: Lab, www: FileServer) -> None:
    sh = shell(unit, "User", "bob")
    line = f"Cert.Import Other {www.url('peer-ca.pem')}"
    reply = sh.execute(line)
    assert reply.pending is not None and www.hits == []  # nothing happens until the session awaits it
    done = await reply.pending()
    assert not done.ok and "refused (unknown issuer)" in done.output  # the unit does not trust the server yet
    assert done.output.startswith("Error: Cert.Import: the certificate of 127.0.0.1:")
    assert names(unit, "other") == [FACTORY_CA_FILE]

    unit.cert.import_other(lab.ca.pem())
    done = await run(sh, f"cert.import other {www.url('peer-ca.pem')}")  # not case-sensitive
    assert done.ok and done.output == "Imported certificate(s): peer-ca.pem\n"
    table = sh.execute("Cert.OthersCertificatesInfo").output
    row = next(ln for ln in table.splitlines() if ln.startswith("peer-ca.pem"))
    assert "Peer CA" in row and row.split()[-1] == "Yes"  # CertificateAuthority
    assert unit.config.needs_restart("SipEp")


async def test_import_host_with_password_over_https_and_http(unit: Unit, lab: Lab, www: FileServer) -> None:
    unit.cert.import_other(lab.ca.pem())
    sh = shell(unit)
    # A password with a space is quoted (script syntax).
    lab_p12 = lab.host.p12(b"two words", [lab.ca.cert])
    www.files["spaced.p12"] = lab_p12
    done = await run(sh, f'Cert.Import Host {www.url("spaced.p12")} "two words"')
    assert done.ok and done.output == "Imported host certificate: spaced.pem\n", done.output
    assert "spaced.pem" in sh.execute("Cert.HostCertificatesInfo").output
    assert "PRIVATE" not in sh.execute("Cert.HostCertificatesInfo").output

    # Over plain HTTP a host certificate needs the unsecure transfer activated, for one import.
    assert sh.execute("Cert.HostCertificatesInfo.Delete[FileName=spaced.pem]").ok
    url = www.url("gw1.p12", "http")
    done = await run(sh, f"Cert.Import Host {url} s3cret")
    assert not done.ok and "activate unsecure certificate transfer first" in done.output
    assert "gw1.p12" not in www.hits
    out = sh.execute("Cert.ActivateUnsecureTransfer")
    assert out.ok and "one host certificate import over plain HTTP" in out.output
    done = await run(sh, f"Cert.Import Host {url} s3cret")
    assert done.ok and done.output == "Imported host certificate: gw1.pem\n", done.output
    done = await run(sh, f"Cert.Import Host {www.url('gw1-bundle.pem', 'http')}")
    assert not done.ok and "plain HTTP" in done.output  # the window closed after one import
    assert names(unit, "host") == [FACTORY_HOST_FILE, "gw1.pem"]
    done = await run(sh, f"Cert.Import Host {www.url('gw1.p12')} wrong")
    assert not done.ok and done.output.startswith("Error: Cert.Import: ") and names(unit, "host")[-1] == "gw1.pem"


async def test_refusals_and_rights(unit: Unit, lab: Lab, www: FileServer) -> None:
    admin = shell(unit)
    for line, words in [
        ("Cert.Import", "usage: Cert.Import Other <url> | Cert.Import Host <url> [<password>]"),
        ("Cert.Import Other", "usage:"),
        ("Cert.Import Both https://x/y", "'Both' is not Host or Other"),
        ("Cert.Import Other https://x/y pw", "a password is only for a Host certificate"),
        ('Cert.Import Host https://x/y "unterminated', "unterminated quoted value"),
        ("Cert.ActivateUnsecureTransfer now", "takes no argument"),
    ]:
        reply = admin.execute(line)
        assert not reply.ok and reply.pending is None and words in reply.output, (line, reply.output)
    for line, words in [
        (f"Cert.Import Other {www.url('garbage.pem', 'http')}", "neither PEM"),
        (f"Cert.Import Other {www.url('huge.pem', 'http')}", "too large"),
        ("Cert.Import Other ftp://127.0.0.1/ca.pem", "is not an http:// or https:// URL"),
    ]:
        done = await run(admin, line)
        assert not done.ok and words in done.output, (line, done.output)

    www.hits.clear()
    user, observer = shell(unit, "User", "bob"), shell(unit, "Observer", "olga")
    url = www.url("gw1.p12")
    for sh, line, words in [
        (user, f"Cert.Import Host {url} s3cret", "only an Admin user may import a host certificate"),
        (user, "Cert.ActivateUnsecureTransfer", "only an Admin user may activate"),
        (observer, f"Cert.Import Other {url}", "user olga (Observer rights) may not import certificates"),
        (user, f"Cert.OthersCertificatesInfo.Delete[FileName={FACTORY_CA_FILE}]", "only an Admin user may delete"),
    ]:
        reply = sh.execute(line)
        assert not reply.ok and reply.pending is None and words in reply.output, (line, reply.output)
    assert not unit.cert.unsecure_transfer_active and www.hits == []
    assert names(unit, "other") == [FACTORY_CA_FILE]
    assert admin.execute(f"Cert.OthersCertificatesInfo.Delete[FileName={FACTORY_CA_FILE}]").ok
    assert names(unit, "other") == []


def test_user_cannot_delete_the_factory_ca_in_any_form(unit: Unit) -> None:
    """The Admin-only deletion is the policy's, in every way the CLI writes the Delete row command: the same
    message as the API's, and the factory CA is still there."""
    user = shell(unit, "User", "bob")
    for line in (
        f"Cert.OthersCertificatesInfo.Delete[FileName={FACTORY_CA_FILE}] = Delete",
        f"Cert.OthersCertificatesInfo.Delete[FileName={FACTORY_CA_FILE}]",
        f"cert.otherscertificatesinfo[{FACTORY_CA_FILE}].delete",
        f'Cert.OthersCertificatesInfo[{FACTORY_CA_FILE}].Delete = "Delete"',
    ):
        reply = user.execute(line)
        assert reply.output == "Error: only an Admin user may delete certificates\n", (line, reply.output)
    assert names(unit, "other") == [FACTORY_CA_FILE]


def test_help_and_listing(unit: Unit) -> None:
    sh = shell(unit)
    assert "Cert.Import Other|Host <url> [<pw>]" in sh.execute("help").output
    text = sh.execute("help cert.import").output
    assert text.startswith("Cert.Import Other <url> | Cert.Import Host <url> [<password>]\n")
    assert "Cert.TransferHttpsTlsVersion" in text
    assert "plain HTTP" in sh.execute("help Cert.ActivateUnsecureTransfer").output
    listing = sh.execute("Cert.?").output
    assert all(any(ln.split()[:2] == [c, "command"] for ln in listing.splitlines()) for c in CERT_COMMANDS)
    assert sh.complete("Cert.Imp").line == "Cert.Import"
    assert sh.takes_arguments("Cert.Import Other https://x/ca.pem") and not sh.takes_arguments("Cert.Import")
    assert not sh.takes_arguments("Cert.HostCertificatesInfo")


def test_no_cert_engine_no_commands(tmp_path: Path) -> None:
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    sh = shell(u)
    reply = sh.execute("Cert.Import Other https://127.0.0.1/ca.pem")
    assert not reply.ok and reply.pending is None
    assert "Cert.Import" not in sh.execute("Cert.?").output
