"""The web interface asks the one access policy (emulator.ops.policy): a refusal shows the policy's words
(the API's and the CLI's) and changes nothing. And a malformed request on a web port gets 400 and one
log line, on HTTP as on HTTPS."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from emulator.engines.aaa import AuthResult
from emulator.engines.cert.engine import FACTORY_CA_FILE
from emulator.ops.policy import Forbidden
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.pki import Pki, pem
from tests.unit.web_env import Env, web_env
from web_ui.forms import add_row, delete_row
from web_ui.pages import page_by_path
from web_ui.views import PageBuilder

CA = FACTORY_CA_FILE  # the factory CA every unit trusts, in the Others store
REFUSED = "only an Admin user may delete certificates"
DELETE_CA_LINE = f"Cert.OthersCertificatesInfo.Delete[FileName={CA}] = Delete\n"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in web_env(tmp_path):
        yield e


async def as_user(env: Env) -> None:
    env.unit.config.add_row("Aaa.Users", {"UserName": "op", "Password": "p", "AccessRights": "User"})
    status, _, path = await env.login("op", "p")
    assert status == 200 and path == "/System/Services"


def ca_still_there(env: Env) -> bool:
    stored = CA in [s.file_name for s in env.certs.other_certificates()]
    row = CA in [r["FileName"] for r in env.unit.config.rows("Cert.OthersCertificatesInfo")]
    on_disk = (env.certs.dir / "others" / CA).is_file()
    return stored and row and on_disk


# ---------------------------------------------------------------------------------------------- certificates
async def test_user_cannot_delete_a_certificate_on_the_certificates_page(env: Env) -> None:
    await as_user(env)
    assert ca_still_there(env)
    _, html = await env.get("/Management/Certificates")
    assert f'value="cert-delete:other:{CA}"' not in html  # no Delete button for a User
    token = await env.csrf("/Management/Certificates")
    status, html, _ = await env.post("/Management/Certificates", {"csrf": token, "action": f"cert-delete:other:{CA}"})
    assert status == 403 and REFUSED in html and 'class="flash bad"' in html
    assert ca_still_there(env)
    # a row delete forged against the page: it has no table, nothing is deleted
    status, _, _ = await env.post("/Management/Certificates", {"csrf": token, "action": f'delete:2:["{CA}"]'})
    assert status == 400 and ca_still_there(env)
    # the other Admin-only certificate buttons say why too
    status, html, _ = await env.post("/Management/Certificates", {"csrf": token, "action": "cert-activate"})
    assert status == 403 and "only an Admin user may activate the unsecure certificate transfer" in html
    assert not env.certs.unsecure_transfer_active


async def test_user_may_still_add_a_trusted_certificate(env: Env) -> None:
    await as_user(env)
    token = await env.csrf("/Management/Certificates")
    form = aiohttp.FormData()
    for k, v in (("csrf", token), ("action", "cert-upload"), ("type", "Other")):
        form.add_field(k, v)
    form.add_field("file", pem(Pki().ca("Lab CA").cert), filename="lab.crt")
    status, html, _ = await env.post("/Management/Certificates", form)
    assert status == 200 and "Certificate imported" in html


async def test_admin_deletes_a_certificate_on_the_certificates_page(env: Env) -> None:
    await env.login()  # public: the factory Admin
    _, html = await env.get("/Management/Certificates")
    assert f'value="cert-delete:other:{CA}"' in html
    token = await env.csrf("/Management/Certificates")
    status, html, _ = await env.post("/Management/Certificates", {"csrf": token, "action": f"cert-delete:other:{CA}"})
    assert status == 200 and f"Certificate {CA} deleted" in html
    assert CA not in [s.file_name for s in env.certs.other_certificates()]
    assert not (env.certs.dir / "others" / CA).exists()


@pytest.mark.parametrize("how", ["text", "file"])
async def test_user_cannot_delete_a_certificate_by_script(env: Env, how: str) -> None:
    """The script line the API refuses is refused on Management/Configuration Scripts too, whole."""
    await as_user(env)
    token = await env.csrf("/Management/Configuration_Scripts")
    script = 'Hoc.StaticTimeZone = "UTC0"\n' + DELETE_CA_LINE
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("action", "script-import")
    if how == "text":
        form.add_field("script", script)
    else:
        form.add_field("file", script.encode(), filename="delete-ca.cfg")
    status, html, _ = await env.post("/Management/Configuration_Scripts", form)
    assert status == 403 and REFUSED in html and "line(s) 2" in html
    assert ca_still_there(env)
    assert env.unit.config.get("Hoc.StaticTimeZone") != "UTC0"  # nothing applied


async def test_admin_deletes_a_certificate_by_script(env: Env) -> None:
    await env.login()
    token = await env.csrf("/Management/Configuration_Scripts")
    status, html, _ = await env.post("/Management/Configuration_Scripts", {
        "csrf": token, "action": "script-import", "script": DELETE_CA_LINE})
    assert status == 200 and "Script executed" in html, html
    assert CA not in [s.file_name for s in env.certs.other_certificates()]


async def test_user_export_leaves_secrets_out_and_says_so(env: Env) -> None:
    await as_user(env)
    status, text = await env.get("/Management/Configuration_Scripts/export?content=AllConfig")
    assert status == 200 and "secret value(s) left out: only an Admin user may export secrets" in text
    assert "Snmp.PrivPassword" not in text


# ---------------------------------------------------------------------------------------------- malformed HTTP
BAD_REQUESTS = [
    b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host (RFC 9112 §3.2)
    b"GARBAGE\r\n\r\n",
]


def _client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize("mode", ["Unsecure", "Secure"])
async def test_a_malformed_request_gets_400_and_one_log_line(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        async for e in web_env(tmp_path, mode=mode, Web_HttpsCipherSuite="CS3"):
            host, port = e.base.split("://", 1)[1].rsplit(":", 1)
            for data in BAD_REQUESTS:
                reader, writer = await asyncio.open_connection(
                    host, int(port), ssl=_client_tls() if mode == "Secure" else None)
                writer.write(data)
                answer = await asyncio.wait_for(reader.read(4096), 5.0)
                writer.close()
                assert answer.split(b" ", 2)[1] == b"400", answer[:60]
            status, _ = await e.get("/login")  # the server still serves
            assert status == 200
    bad = [ev for ev in events if ev["event"] == "http_bad_request"]
    assert len(bad) == len(BAD_REQUESTS) and all(ev["server"] == "web" and ev["unit"] == "u1" for ev in bad)
    assert not [ev for ev in events if "exc_info" in ev or ev.get("log_level") == "error"]
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


# ---------------------------------------------------------------------------------------------- forms, no HTTP
def test_forms_ask_the_policy_before_touching_an_admin_table(tmp_path: Path) -> None:
    """Users are an Admin table: a User's add or delete of a row is refused whole, whatever page sent it."""
    unit = Unit(name="f1", profile=get_profile("4102"), state_dir=tmp_path / "f1", ports=PortPolicy(mode="auto"),
                fsync=False)
    page = page_by_path("/Management/Access_Control")
    assert page is not None
    user = AuthResult(True, "op", "User")
    builder = PageBuilder(unit, None)
    model = builder.build(page, user)
    assert not [name for name in model.editable if name.startswith("Aaa.Users")]  # read-only text for a User
    assert not model.sections[0].add and not model.sections[0].extra["deletable"]
    form = {"add.UserName": "mallory", "add.Password": "x", "add.AccessRights": "Admin"}
    with pytest.raises(Forbidden, match="only an Admin user may change user accounts"):
        add_row(unit, model, 0, form, user)
    with pytest.raises(Forbidden, match="only an Admin user may change user accounts"):
        delete_row(unit, model, 0, '["public"]', user)
    assert [r["UserName"] for r in unit.config.rows("Aaa.Users")] == ["public"]
    admin = AuthResult(True, "public", "Admin")
    assert add_row(unit, builder.build(page, admin), 0, form, admin) == {}
    assert ("mallory",) in unit.config.indexes("Aaa.Users")
