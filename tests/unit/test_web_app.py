"""The web interface over the aiohttp client: login and lock-out, CSRF, escaping, field errors, pages."""

from __future__ import annotations

import asyncio
import re
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from emulator.engines.aaa import Aaa
from emulator.engines.epadm import EpAdmEngine
from emulator.ops.policy import MASK
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.config import Config
from firmware_model.profiles import get_profile
from firmware_model.store import JsonStore
from testkit.peers import free_port
from testkit.pki import Pki, pem
from tests.unit.web_env import Env, web_env
from web_ui.app import WebEngine, cell_address
from web_ui.pages import PAGES


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in web_env(tmp_path):
        yield e


async def test_every_page_renders_after_login(env: Env) -> None:
    status, html = await env.get("/System/Services")
    assert "Login" in html and 'name="password"' in html  # redirected to the login page
    status, html, path = await env.login()
    assert status == 200 and path == "/System/Services"
    for page in PAGES:
        status, html = await env.get(page.path)
        assert status == 200, page.path
        assert f"<h1>{page.title}</h1>" in html
        for sec in page.sections:
            assert f"<h2>{sec.title}</h2>" in html
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env.unit.listening["web"])


async def test_session_cookie_flags(env: Env) -> None:
    _, html = await env.get("/login")
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    async with env.http.post(env.base + "/login", data={"token": token.group(1), "username": "public",
                                                        "password": ""}, allow_redirects=False) as r:
        assert r.status == 303
        cookie = next(v for k, v in r.headers.items() if k == "Set-Cookie" and v.startswith("DGWSESSION="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


async def test_post_without_csrf_is_refused_and_changes_nothing(env: Env) -> None:
    await env.login()
    before = env.unit.config.get("Hoc.StaticTimeZone")
    status, html, _ = await env.post("/Network/Host", {"Hoc.StaticTimeZone": "UTC0", "action": "apply"})
    assert status == 403 and "security token" in html
    status, _, _ = await env.post("/Network/Host", {"Hoc.StaticTimeZone": "UTC0", "action": "apply", "csrf": "x"})
    assert status == 403
    assert env.unit.config.get("Hoc.StaticTimeZone") == before
    token = await env.csrf("/Network/Host")
    status, _, _ = await env.post("/Network/Host", {"Hoc.StaticTimeZone": "UTC0", "action": "apply", "csrf": token})
    assert status == 200 and env.unit.config.get("Hoc.StaticTimeZone") == "UTC0"


async def test_invalid_value_shown_beside_field_and_nothing_changed(env: Env) -> None:
    await env.login()
    token = await env.csrf("/Management/SNMP")
    cfg = env.unit.config
    status, html, _ = await env.post("/Management/SNMP", {
        "csrf": token, "action": "apply", "Snmp.Port": "99999", "Snmp.Community": "private"})
    assert status == 400
    assert cfg.get("Snmp.Port") == 161 and cfg.get("Snmp.Community") == "public"  # all or nothing
    # the message sits in the field's own box, after the input that still shows the wrong value
    m = re.search(r'name="Snmp\.Port"[^>]*value="99999">\s*(?:<span class="tip">[^<]*</span>\s*)?'
                  r'<span class="error" role="alert">([^<]+)</span>', html)
    assert m is not None and "1..65535" in m.group(1)
    assert "Nothing was changed" in html


async def test_displayed_values_are_escaped(env: Env) -> None:
    await env.login()
    env.unit.config.set("Snmp.SnmpUser", '<script>alert("x")</script>')
    _, html = await env.get("/Management/SNMP")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


async def test_certificate_named_script_is_escaped(env: Env, tmp_path: Path) -> None:
    await env.login()
    pki = Pki()
    ca = pki.ca("<script>alert(1)</script>")
    token = await env.csrf("/Management/Certificates")
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("action", "cert-upload")
    form.add_field("type", "Other")
    form.add_field("file", pem(ca.cert), filename="evil.crt", content_type="application/x-x509-ca-cert")
    status, html, _ = await env.post("/Management/Certificates", form)
    assert status == 200
    assert "Certificate imported" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_host_certificate_over_http_needs_activation(env: Env) -> None:
    await env.login()
    pki = Pki()
    ca = pki.ca("Lab CA")
    leaf = pki.leaf(ca, "unit.example")
    bundle = leaf.key_pem() + pem(leaf.cert)

    async def upload() -> str:
        token = await env.csrf("/Management/Certificates")
        form = aiohttp.FormData()
        for k, v in (("csrf", token), ("action", "cert-upload"), ("type", "Host")):
            form.add_field(k, v)
        form.add_field("file", bundle, filename="host.pem")
        _, html, _ = await env.post("/Management/Certificates", form)
        return html

    before = len(env.certs.host_certificates())
    html = await upload()
    assert "Certificate refused" in html and len(env.certs.host_certificates()) == before
    token = await env.csrf("/Management/Certificates")
    await env.post("/Management/Certificates", {"csrf": token, "action": "cert-activate"})
    html = await upload()
    assert "Certificate imported" in html and len(env.certs.host_certificates()) == before + 1
    assert "Restart Required Services" in html  # new trust takes effect after a restart


async def test_five_wrong_passwords_lock_the_account(env: Env) -> None:
    env.unit.config.add_row("Aaa.Users", {"UserName": "admin", "Password": "secret", "AccessRights": "Admin"})
    env.unit.config.set("Aaa.LoginLockedTimeoutS", 60)
    now = [1000.0]
    env.aaa._now = lambda: now[0]
    for _ in range(5):
        status, html, _ = await env.login("admin", "wrong")
        assert status == 401 and "Invalid user name or password" in html
    status, html, _ = await env.login("admin", "secret")  # the right password no longer helps
    assert status == 401 and "locked" in html and "60 seconds" in html
    now[0] += 61
    status, html, path = await env.login("admin", "secret")
    assert status == 200 and path == "/System/Services"


async def test_login_refused_without_login_token(env: Env) -> None:
    status, html, _ = await env.post("/login", {"username": "public", "password": ""})
    assert status == 403 and "expired" in html


async def test_gateway_add_shows_on_servers_then_restart_banner(env: Env) -> None:
    await env.login()
    token = await env.csrf("/SIP/Gateways")
    status, html, _ = await env.post("/SIP/Gateways", {
        "csrf": token, "action": "add:0", "add.Name": "OpenSIPS", "add.Type": "Trunk",
        "add.NetworkInterface": "Uplink", "add.Port": "5062", "add.SecurePort": "5061"})
    assert status == 200
    cfg = env.unit.config
    assert cfg.get('SipEp.Gateway["OpenSIPS"].Type') == "TrunkGateway"
    assert cfg.get('SipEp.Gateway["OpenSIPS"].SecurePort') == 5061
    assert "Restart Required Services" in html and "SipEp" in html
    _, html = await env.get("/SIP/Servers")
    reg = env.unit.catalog.tables["SipEp.GwSpecificRegistration"]
    name = cell_address(reg, ("OpenSIPS",), "ServerHost")
    assert f'name="{name}"'.replace('"OpenSIPS"', "&#34;OpenSIPS&#34;") in html
    reloaded = Config(env.unit.catalog, cfg.factory, JsonStore(env.unit.state_dir / "config.json"))
    assert ("OpenSIPS",) in reloaded.indexes("SipEp.GwSpecificProxy")  # the new rows are persisted
    token = await env.csrf("/SIP/Servers")
    en = cell_address(reg, ("OpenSIPS",), "EnableConfig")
    status, _, _ = await env.post("/SIP/Servers", {"csrf": token, "action": "submit", en: "Yes",
                                                   name: "127.0.0.1:5061"})
    assert status == 200
    assert cfg.get(en) == "Enable" and cfg.get(name) == "127.0.0.1:5061"
    # the banner's link restarts the services
    token = await env.csrf("/SIP/Servers")
    status, html, path = await env.post("/restart-required", {"csrf": token, "back": "/SIP/Servers"})
    assert path == "/SIP/Servers" and "Restarted: SipEp" in html
    assert "SipEp" not in cfg.restart_required()
    # deleting the gateway takes its rows on SIP/Servers and SIP/Transport with it
    token = await env.csrf("/SIP/Gateways")
    status, html, _ = await env.post("/SIP/Gateways", {"csrf": token, "action": 'delete:0:["OpenSIPS"]'})
    assert status == 200 and "The row was deleted" in html
    for table in ("SipEp.Gateway", "SipEp.GwSpecificRegistration", "SipEp.TransportConfig"):
        assert ("OpenSIPS",) not in cfg.indexes(table), table
    assert ("default",) in cfg.indexes("SipEp.TransportConfig")


async def test_media_security_labels_map_to_values(env: Env) -> None:
    await env.login()
    _, html = await env.get("/Media/Security")
    for label in ("Select Endpoint", "Mode", "Key Management Protocol", "Allow Unsecure T.38 with Secure RTP",
                  "Secure with fallback", "SDES", "MIKEY", "AES_CM_128", "Crypto Mode When Sending Offer",
                  "Crypto Mode When Sending Answer", "Crypto Context Behavior", "Phone-Fax1", "Phone-Fax2"):
        assert label in html, label
    token = await env.csrf("/Media/Security")
    await env.post("/Media/Security", {"csrf": token, "action": "apply", "Mipt.DefaultSecurityRtpMode": "Secure",
                                       "Mipt.DefaultSecurityKeyManagement": "SDES",
                                       "Mipt.DefaultSecurityRtpEncryption": "AES_CM_128"})
    cfg = env.unit.config
    assert cfg.get("Mipt.DefaultSecurityRtpMode") == "Secure"
    assert cfg.get("Mipt.DefaultSecurityKeyManagement") == "Sdes"
    _, html = await env.get("/Media/Security?endpoint=Phone-Fax2")
    assert "Mipt.EpSpecificSecurity[&#34;Phone-Fax2&#34;].RtpMode" in html
    assert "Allow Unsecure T.38" not in html  # Default only
    token = await env.csrf("/Media/Security?endpoint=Phone-Fax2")
    await env.post("/Media/Security", {"csrf": token, "action": "apply", "endpoint": "Phone-Fax2",
                                       'Mipt.EpSpecificSecurity["Phone-Fax2"].RtpMode': "Secure with fallback"})
    assert cfg.get('Mipt.EpSpecificSecurity["Phone-Fax2"].RtpMode') == "SecureWithFallback"


async def test_observer_reads_but_cannot_change(env: Env) -> None:
    env.unit.config.add_row("Aaa.Users", {"UserName": "obs", "Password": "o", "AccessRights": "Observer"})
    await env.login("obs", "o")
    status, html = await env.get("/Management/SNMP")
    assert status == 200 and 'name="Snmp.Port"' not in html and ">Apply<" not in html
    status, _ = await env.get("/Management/Access_Control")
    assert status == 403
    token = await env.csrf("/Management/SNMP")
    status, html, _ = await env.post("/Management/SNMP", {"csrf": token, "action": "apply", "Snmp.Port": "1161"})
    assert env.unit.config.get("Snmp.Port") == 161
    # the access policy's words, as the API and the CLI say them
    assert status == 403 and "user obs (Observer rights) may not change the configuration" in html


async def test_secrets_never_displayed(env: Env) -> None:
    env.unit.config.add_row("Aaa.Users", {"UserName": "admin", "Password": "TopSecret1", "AccessRights": "Admin"})
    await env.login("admin", "TopSecret1")
    _, html = await env.get("/Management/Access_Control")
    assert "TopSecret1" not in html
    # a blank password field keeps the password
    token = await env.csrf("/Management/Access_Control")
    users = env.unit.catalog.tables["Aaa.Users"]
    await env.post("/Management/Access_Control", {"csrf": token, "action": "apply",
                                                  cell_address(users, ("admin",), "Password"): "",
                                                  cell_address(users, ("admin",), "AccessRights"): "Admin"})
    assert env.unit.config.get('Aaa.Users["admin"].Password') == "TopSecret1"


async def test_script_import_and_export(env: Env) -> None:
    await env.login()
    token = await env.csrf("/Management/Configuration_Scripts")
    status, html, _ = await env.post("/Management/Configuration_Scripts", {
        "csrf": token, "action": "script-import", "script": 'Hoc.StaticTimeZone = "UTC0"\n'})
    assert status == 200 and "Script executed" in html
    assert env.unit.config.get("Hoc.StaticTimeZone") == "UTC0"
    status, text = await env.get("/Management/Configuration_Scripts/export?content=ModifiedConfig")
    assert status == 200 and "Hoc.StaticTimeZone" in text
    status, html, _ = await env.post("/Management/Configuration_Scripts", {
        "csrf": token, "action": "script-import", "script": "Snmp.Port = 99999\n"})
    assert status == 400 and "nothing applied" in html and env.unit.config.get("Snmp.Port") == 161


async def test_services_page_restarts_a_service(env: Env) -> None:
    await env.login()
    token = await env.csrf("/System/Services")
    status, html, _ = await env.post("/System/Services", {"csrf": token, "action": "svc:Restart:Snmp"})
    assert status == 200 and "Snmp: restart requested" in html
    assert env.unit.services["Snmp"].state == "Started"


async def test_https_serves_the_unit_host_certificate(tmp_path: Path) -> None:
    """Both: HTTP and HTTPS; the HTTPS peer is the unit's factory host certificate (SAN = its address),
    validated here against the factory CA; the cookies get Secure. CS3: the set a modern client shares."""
    async for e in web_env(tmp_path, mode="Both", Web_HttpsCipherSuite="CS3", Web_TlsVersion="TLSv1_2"):
        assert e.unit.listening["web"].startswith("http://127.0.0.1:")
        base = e.unit.listening["web_secure"]
        assert base.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cadata=e.certs.factory_ca_pem().decode())  # hostname checked (IP SAN)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(base + "/login", ssl=ctx) as r:
                assert r.status == 200
                cookie = r.headers.get("Set-Cookie", "")
                assert "Secure" in cookie and "HttpOnly" in cookie
        host, port = base.removeprefix("https://").rsplit(":", 1)
        _reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
        tls = writer.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2" and "ECDHE" in tls.cipher()[0]
        assert "u1" in str(tls.getpeercert()["subject"])
        writer.close()


async def test_secure_mode_serves_https_only(tmp_path: Path) -> None:
    async for e in web_env(tmp_path, mode="Secure", Web_HttpsCipherSuite="CS3"):
        assert "web" not in e.unit.listening and "web_secure" in e.unit.listening
        status, _html, path = await e.login()  # over HTTPS (certificate checked in the test above)
        assert status == 200 and path == "/System/Services"


async def test_web_port_change_restarts_the_web_server_from_its_own_banner(tmp_path: Path) -> None:
    """Changing Web.ServerPort marks Web; the banner's link answers first, then the server moves."""
    async for e in web_env(tmp_path):
        e.unit.ports = PortPolicy(mode="hardware")
        await e.login()
        new_port = free_port()
        token = await e.csrf("/Management/Misc")
        status, html, _ = await e.post("/Management/Misc", {"csrf": token, "action": "apply",
                                                            "Web.ServerPort": str(new_port)})
        assert status == 200 and "Restart Required Services" in html and "Web" in e.unit.config.restart_required()
        status, html, _ = await e.post("/restart-required", {"csrf": token, "back": "/Management/Misc"})
        assert status == 200 and "The web server restarts in a moment" in html
        assert 'id="restart-banner"' not in html
        for _ in range(50):
            if e.unit.listening.get("web") == f"http://127.0.0.1:{new_port}":
                break
            await asyncio.sleep(0.05)
        assert e.unit.listening["web"] == f"http://127.0.0.1:{new_port}"
        e.base = e.unit.listening["web"]
        status, html = await e.get("/Management/Misc")  # the session survived the restart
        assert status == 200 and "<h1>Management/Misc</h1>" in html
        assert "Web" not in e.unit.config.restart_required()


async def test_event_log_rules_and_severities(env: Env) -> None:
    await env.login()
    cfg = env.unit.config
    token = await env.csrf("/System/Event_Log")
    status, _, _ = await env.post("/System/Event_Log", {"csrf": token, "action": "apply",
                                                        "SipEp.MinSeverity": "Info", "Web.MinSeverity": "Error"})
    assert status == 200 and cfg.get("SipEp.MinSeverity") == "Info" and cfg.get("Web.MinSeverity") == "Error"
    rows = len(cfg.rows("Nlm.Events"))
    status, html, _ = await env.post("/System/Event_Log", {
        "csrf": token, "action": "add:1", "add.Activation": "Enable", "add.Type": "Notification",
        "add.Criteria": "1400.*", "add.Action": "LogLocally"})
    assert status == 200 and len(cfg.rows("Nlm.Events")) == rows + 1
    new = cfg.rows("Nlm.Events")[-1]
    assert new["Criteria"] == "1400.*" and new["Action"] == "LogLocally"
    status, html, _ = await env.post("/System/Event_Log", {"csrf": token, "action": f"delete:1:[{new['Index']}]"})
    assert status == 200 and "The row was deleted" in html and len(cfg.rows("Nlm.Events")) == rows


async def test_authentication_rows_keep_passwords_hidden(env: Env) -> None:
    await env.login()
    cfg = env.unit.config
    token = await env.csrf("/SIP/Authentications")
    status, html, _ = await env.post("/SIP/Authentications", {
        "csrf": token, "action": "add:0", "add.CriteriaSelection": "Endpoint", "add.EpId": "Phone-Fax1",
        "add.GatewayName": "", "add.ValidateRealm": "Yes", "add.Realm": "", "add.Username": "1001",
        "add.Password": "S3cret-digest"})
    assert status == 200, html
    row = cfg.rows("SipEp.Authentication")[-1]
    assert row["Username"] == "1001" and row["Password"] == "S3cret-digest" and row["EpId"] == "Phone-Fax1"
    assert "S3cret-digest" not in html


async def test_certificate_delete_and_logout(env: Env) -> None:
    await env.login()
    pki = Pki()
    names = env.certs.import_other(pem(pki.ca("Temp CA").cert))
    token = await env.csrf("/Management/Certificates")
    status, html, _ = await env.post("/Management/Certificates", {"csrf": token,
                                                                  "action": f"cert-delete:other:{names[0]}"})
    assert status == 200 and f"Certificate {names[0]} deleted" in html
    assert names[0] not in [s.file_name for s in env.certs.other_certificates()]
    status, html, path = await env.post("/logout", {"csrf": token})
    assert path == "/login"
    status, html = await env.get("/System/Services")
    assert 'name="password"' in html  # logged out: back to the login page


async def test_open_redirect_refused(env: Env) -> None:
    _, html = await env.get("/login?next=//evil.example/x")
    assert 'name="next" value=""' in html


async def test_secure_mode_without_certificates_leaves_web_stopped(tmp_path: Path) -> None:
    unit = Unit(name="u2", profile=get_profile("4102"), state_dir=tmp_path / "u2", ports=PortPolicy(mode="auto"),
                fsync=False)
    unit.config.set("Web.HttpMode", "Secure")
    aaa = Aaa(unit)
    unit.attach(aaa)
    unit.attach(WebEngine(unit, aaa))  # no Cert engine: no host certificate to serve HTTPS with
    await unit.start()
    try:
        st = unit.services["Web"]
        assert st.state == "Stopped" and "HTTPS not available" in st.comment
        assert "web" not in unit.listening and "web_secure" not in unit.listening
        unit.config.set("Web.HttpMode", "Unsecure")
        await unit.restart_required_services()
        assert unit.services["Web"].state == "Started" and "web" in unit.listening
    finally:
        await unit.stop()


async def test_user_rights_cannot_write_secrets_even_with_a_forged_field(env: Env) -> None:
    env.unit.config.add_row("Aaa.Users", {"UserName": "op", "Password": "p", "AccessRights": "User"})
    await env.login("op", "p")
    _, html = await env.get("/Management/SNMP")
    assert 'name="Snmp.PrivPassword"' not in html and f'<span class="ro">{MASK}</span>' in html
    token = await env.csrf("/Management/SNMP")
    await env.post("/Management/SNMP", {"csrf": token, "action": "apply", "Snmp.PrivPassword": "forged",
                                        "Snmp.Community": "ops"})
    assert env.unit.config.get("Snmp.PrivPassword") == "PrivPassword"  # the secret is untouched
    assert env.unit.config.get("Snmp.Community") == "ops"  # the rest of the form applied


def _tls11_client() -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


@pytest.mark.parametrize(("floor", "accepted"), [("TLSv1", True), ("TLSv1_2", False)])
async def test_https_honours_the_web_tls_version_floor(tmp_path: Path, floor: str, accepted: bool) -> None:
    """A TLS 1.1 client with CS2 (CBC suites that TLS 1.1 can use): served with the TLSv1 floor only."""
    async for e in web_env(tmp_path, mode="Secure", Web_HttpsCipherSuite="CS2", Web_TlsVersion=floor):
        host, port = e.unit.listening["web_secure"].removeprefix("https://").rsplit(":", 1)
        if accepted:
            _r, w = await asyncio.open_connection(host, int(port), ssl=_tls11_client())
            assert w.get_extra_info("ssl_object").version() == "TLSv1.1"
            w.close()
        else:
            with pytest.raises((ssl.SSLError, ConnectionError)):
                _r, w = await asyncio.open_connection(host, int(port), ssl=_tls11_client())
                w.close()


async def test_two_units_in_one_process_share_nothing(tmp_path: Path) -> None:
    """Each unit's web server binds to its own address; a session of one is no session of the other."""
    units = []
    for n, host in ((1, "127.0.0.1"), (2, "127.0.0.2")):
        u = Unit(name=f"w{n}", profile=get_profile("4102"), state_dir=tmp_path / f"w{n}", host=host,
                 ports=PortPolicy(mode="auto"), fsync=False)
        u.config.set("Web.HttpMode", "Unsecure")
        aaa = Aaa(u)
        u.attach(aaa)
        u.attach(WebEngine(u, aaa))
        await u.start()
        units.append(u)
    try:
        a, b = (u.listening["web"] for u in units)
        assert a.startswith("http://127.0.0.1:") and b.startswith("http://127.0.0.2:")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            ea = Env(units[0], None, None, None, a, http)  # type: ignore[arg-type]
            await ea.login()
            sid = next(c.value for c in http.cookie_jar if c.key == "DGWSESSION")
        async with aiohttp.ClientSession() as http, http.get(
            b + "/System/Services", headers={"Cookie": f"DGWSESSION={sid}"}, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/login")
    finally:
        for u in units:
            await u.stop()


async def test_endpoints_page_locks_and_unlocks(env: Env) -> None:
    """System/Endpoints: Unit States, the endpoints' states and Lock / Force Lock / Unlock per endpoint."""
    engine = EpAdmEngine(env.unit)
    env.unit.attach(engine)
    await engine.start()
    await env.login()
    status, html = await env.get("/System/Endpoints")
    assert status == 200
    for label in ("Unit States", "Endpoints States", "Lock", "Force Lock", "Unlock", "Initial Administrative State"):
        assert label in html, label
    token = await env.csrf("/System/Endpoints")
    status, html, _ = await env.post("/System/Endpoints", {"csrf": token, "action": "ep:Lock:Phone-Fax2"})
    assert status == 200 and "Phone-Fax2: lock requested." in html
    assert env.unit.config.get("EpAdm.Endpoint[Phone-Fax2].AdminState") == "Locked"
    assert '<tr data-row="Phone-Fax2"><td>Phone-Fax2</td><td>Locked</td>' in html
    token = await env.csrf("/System/Endpoints")
    status, html, _ = await env.post("/System/Endpoints", {"csrf": token, "action": "ep:Unlock:Phone-Fax2"})
    assert env.unit.config.get("EpAdm.Endpoint[Phone-Fax2].AdminState") == "Unlocked"
    token = await env.csrf("/System/Endpoints")
    status, _, _ = await env.post("/System/Endpoints", {"csrf": token, "action": "ep:Lock:<script>"})
    assert status == 400
    await engine.stop()
