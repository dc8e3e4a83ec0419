"""The web interface in a real browser: Debian's Chromium driven by Playwright, label by label.

Follows the vendor's configuration procedure on a fresh unit against a real Kamailio (TLS only, digest
auth, on 127.0.0.1): import Kamailio's CA (Type Other, Browse, Upload), add the OpenSIPS gateway (Trunk,
Uplink, 5062, 5061), set the gateway-specific registrar and proxy to Kamailio's host:port, the endpoints'
user names (SIP/Registrations) and passwords (SIP/Authentications), enable TLS and the two transport
interop settings, restart the required services from the banner, then Media/Security Secure + SDES +
AES_CM_128. Then the unit is registered over TLS (303 then 310, the TLS link Up and the registrations
Registered in the browser) and a call's INVITE, seen by Kamailio, carries RTP/SAVP with
``a=crypto:... AES_CM_128_HMAC_SHA1_80``. Also: Show Help, an invalid value shown beside its field, HTTPS
(Web.HttpMode Secure). A screenshot of every page is written to an artefact directory (``DGW_ARTEFACTS`` or
a temporary one; its path is printed).

The unit is built with ``assume_time_synchronized``: the lab has no SNTP server, and TLS certificate
validation (like the hardware) waits for a synchronised clock ("Waiting for time synchronization").
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.cert.engine import CertEngine
from emulator.lab import UnitSpec, build_unit
from emulator.runtime.unit import Unit
from testkit.http_files import serve_files
from testkit.kamailio import Kamailio, start_kamailio
from testkit.pki import Issued, Pki, pem
from tests.helpers.browser import artefact_dir
from tests.helpers.browser import enter as _enter
from tests.helpers.browser import launch as _browser
from tests.helpers.browser import login as _login
from tests.helpers.browser import open_page as _open
from tests.helpers.browser import playwright as _playwright
from tests.helpers.browser import section as _section
from tests.interop.siplab import sipep, wait_for
from web_ui.app import WebEngine
from web_ui.pages import PAGES


@dataclass
class Lab:
    unit: Unit
    certs: CertEngine
    web: WebEngine


async def _unit(tmp_path: Path, *, synchronized: bool = False, **settings: Any) -> AsyncIterator[Lab]:
    """A whole unit as the product assembles it (Aaa, Nlm, Hoc, Cert, SipEp with CallMedia, CLI, API),
    plus the Web engine attached the way emulator/lab.py is to attach it."""
    spec = UnitSpec(name="dgw-4102", profile="4102", state_dir=tmp_path / "u", port_mode="auto", fsync=False,
                    api_port=0, settings={k.replace("_", "."): v for k, v in settings.items()},
                    assume_time_synchronized=synchronized)
    running = build_unit(spec)
    unit = running.unit
    web = WebEngine(unit, running.aaa, unit.cert)
    unit.attach(web)
    await running.start()
    try:
        yield Lab(unit, unit.cert, web)
    finally:
        await running.stop()


USERS = {"alice": "alicepw", "bob": "bobpw"}
WAIT_S = 10.0  # registration over TLS, the INVITE at Kamailio, the call's states


@dataclass
class Proxy:
    kamailio: Kamailio
    ca: Issued  # the CA of Kamailio's server certificate: what the browser uploads as "Other"


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    """A real Kamailio, TLS only, digest auth for USERS, its server certificate for 127.0.0.1."""
    pki = Pki("rsa")
    ca = pki.ca("OpenSIPS Lab CA")
    crt, key = pki.leaf(ca, "127.0.0.1", dns=("localhost",), ips=("127.0.0.1",)).write(tmp_path, "server")
    k = start_kamailio(tmp_path / "kamailio", crt, key, USERS, tls_only=True)
    try:
        yield Proxy(k, ca)
    finally:
        k.stop()


@pytest.fixture
async def lab(tmp_path: Path, proxy: Proxy) -> AsyncIterator[Lab]:
    # depends on proxy: the unit stops (and unregisters) before Kamailio does
    async for lab in _unit(tmp_path, synchronized=True):
        yield lab


def _reg_states(unit: Unit) -> dict[str, str]:
    return {str(r["Endpoint"]): str(r["State"]) for r in unit.config.rows("SipEp.RegistrationStatus")}


async def test_vendor_procedure_label_by_label(lab: Lab, proxy: Proxy, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    async_playwright = _playwright()
    shots = artefact_dir()
    with capsys.disabled():
        print(f"\nweb screenshots: {shots}")
    k = proxy.kamailio
    ca_file = tmp_path / "opensips-ca.crt"
    ca_file.write_bytes(pem(proxy.ca.cert))
    cfg = lab.unit.config
    base = lab.unit.listening["web"]
    async with async_playwright() as pw:
        browser = await _browser(pw)
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(base + "/")
        await page.screenshot(path=str(shots / "00-Login.png"), full_page=True)
        await _login(page, base)

        # 1. Management/Certificates: Type Other, Browse, Upload
        await _open(page, "Management", "Certificates")
        imp = _section(page, "Certificate Import")
        await imp.get_by_label("Type").select_option("Other")
        await imp.locator("input[type=file]").set_input_files(str(ca_file))
        assert await imp.get_by_text("Browse").is_visible()
        await imp.get_by_role("button", name="Upload").click()
        await page.wait_for_selector("text=Certificate imported")
        others = _section(page, "Other Certificates")
        row = others.locator("tr", has_text="OpenSIPS Lab CA").first
        assert "Yes" in await row.inner_text()  # CA flag
        assert await page.locator("#restart-banner").is_visible()

        # 2. SIP/Gateways: Gateway Configuration, add OpenSIPS
        await _open(page, "SIP", "Gateways")
        gw = _section(page, "Gateway Configuration")
        for header in ("Name", "Type", "Signaling Network", "Port", "Secure Port"):
            assert await gw.locator(f'th:text-is("{header}")').count() == 1, header
        await _enter(gw, {"New Name": "OpenSIPS", "New Type": "Trunk", "New Signaling Network": "Uplink",
                          "New Port": "5062", "New Secure Port": "5061"})
        await gw.get_by_role("button", name="Add").click()
        await page.wait_for_selector('tr[data-row="OpenSIPS"]')
        assert cfg.get('SipEp.Gateway["OpenSIPS"].Type') == "TrunkGateway"
        assert cfg.get('SipEp.Gateway["OpenSIPS"].NetworkInterface') == "Uplink"
        assert cfg.get('SipEp.Gateway["OpenSIPS"].Port') == 5062
        assert cfg.get('SipEp.Gateway["OpenSIPS"].SecurePort') == 5061

        # 3. SIP/Servers: the new gateway is there; Gateway Specific Yes, Registrar Host / Proxy Host, Submit
        await _open(page, "SIP", "Servers")
        reg = _section(page, "Registrar Servers").locator('tr[data-row="OpenSIPS"]')
        await reg.get_by_label("Gateway Specific OpenSIPS").select_option("Yes")
        await reg.get_by_label("Registrar Host OpenSIPS", exact=True).fill(k.tls_address)
        await _section(page, "Registrar Servers").get_by_role("button", name="Submit").click()
        await page.wait_for_selector("text=The changes were applied")
        prx = _section(page, "Proxy Servers").locator('tr[data-row="OpenSIPS"]')
        await prx.get_by_label("Gateway Specific OpenSIPS").select_option("Yes")
        await prx.get_by_label("Proxy Host OpenSIPS", exact=True).fill(k.tls_address)
        await _section(page, "Proxy Servers").get_by_role("button", name="Submit").click()
        await page.wait_for_selector("text=The changes were applied")
        assert cfg.get('SipEp.GwSpecificRegistration["OpenSIPS"].EnableConfig') == "Enable"
        assert cfg.get('SipEp.GwSpecificRegistration["OpenSIPS"].ServerHost') == k.tls_address
        assert cfg.get('SipEp.GwSpecificProxy["OpenSIPS"].EnableConfig') == "Enable"
        assert cfg.get('SipEp.GwSpecificProxy["OpenSIPS"].HomeDomainHost') == k.tls_address
        assert await _section(page, "TLS Persistent Connection Status").count() == 1

        # 3b. SIP/Registrations: each endpoint's user name, registering on the OpenSIPS gateway
        await _open(page, "SIP", "Registrations")
        regs = _section(page, "Endpoints Registration")
        for ep, user in (("Phone-Fax1", "alice"), ("Phone-Fax2", "bob")):
            row = regs.locator(f'tr[data-row="{ep}"]')
            await _enter(row, {f"Username {ep}": user, f"Register {ep}": "Yes", f"Gateway Name {ep}": "OpenSIPS"})
        await regs.get_by_role("button", name="Apply").click()
        await page.wait_for_selector("text=The changes were applied")
        assert cfg.get('SipEp.UserAgent["Phone-Fax1"].Username') == "alice"
        assert cfg.get('SipEp.UserAgent["Phone-Fax2"].Register') == "Enable"

        # 3c. SIP/Authentications: one credential per endpoint
        for ep, user in (("Phone-Fax1", "alice"), ("Phone-Fax2", "bob")):
            await _open(page, "SIP", "Authentications")
            auth = _section(page, "Authentication")
            await _enter(auth, {"New Criteria": "Endpoint", "New Endpoint": ep, "New Username": user,
                                "New Password": USERS[user]})
            await auth.get_by_role("button", name="Add").click()
            await page.wait_for_selector(f'td:has-text("{ep}"), input[value="{ep}"]')
        creds = {str(r["EpId"]): (r["Username"], r["Password"]) for r in cfg.rows("SipEp.Authentication")}
        assert creds == {"Phone-Fax1": ("alice", "alicepw"), "Phone-Fax2": ("bob", "bobpw")}
        assert "alicepw" not in await page.content()  # a secret is never shown back

        # 4. SIP/Transport: TLS Enable; Add SIP Transport in Registration / in Contact Header
        await _open(page, "SIP", "Transport")
        proto = _section(page, "Protocol Configuration")
        for gw_name in ("default", "OpenSIPS"):
            await proto.get_by_label(f"TLS {gw_name}").select_option("Enable")
        await proto.get_by_role("button", name="Apply").click()
        await page.wait_for_selector("text=The changes were applied")
        gen = _section(page, "General Configuration")
        for gw_name in ("default", "OpenSIPS"):
            await gen.get_by_label(f"Add SIP Transport in Registration {gw_name}").select_option("Enable")
            await gen.get_by_label(f"Add SIP Transport in Contact Header {gw_name}").select_option("Enable")
        await gen.get_by_role("button", name="Apply").click()
        await page.wait_for_selector("text=The changes were applied")
        assert cfg.get('SipEp.TransportConfig["OpenSIPS"].TlsEnable') == "Enable"
        assert cfg.get('SipEp.TransportConfig["default"].RegistrationEnable') == "Enable"
        assert cfg.get('SipEp.TransportConfig["OpenSIPS"].ContactEnable') == "Enable"

        # 5. the banner's link restarts the required services
        assert "SipEp" in cfg.restart_required()
        await page.get_by_role("button", name="Restart Required Services").click()
        await page.wait_for_selector("text=Restarted:")
        assert "SipEp" not in cfg.restart_required()
        assert await page.locator("#restart-banner").count() == 0

        # 5b. registered over TLS: 303 then 310 with Kamailio's host:port, the link Up, both Registered
        unit = lab.unit
        await wait_for(lambda: _reg_states(unit) == {"Phone-Fax1": "Registered", "Phone-Fax2": "Registered"},
                        timeout=WAIT_S, what=f"both endpoints Registered: {_reg_states(unit)}")
        notes = [(e.msg_id, e.message) for e in unit.notifications if e.service == "SipEp"]
        ready = (303, f"TLS connection with remote host {k.tls_address} is now ready to be used for SIP gateway "
                      "OpenSIPS.")
        reachable = (310, f"Server {k.tls_address} is now reachable for SIP gateway OpenSIPS.")
        assert ready in notes and reachable in notes, notes
        assert notes.index(ready) < notes.index(reachable)
        [link] = [r for r in cfg.rows("SipEp.TlsPersistentConnectionStatus") if r["Gateway"] == "OpenSIPS"]
        assert link["State"] == "Up" and link["RemoteHost"] == k.tls_address
        assert f"REQ REGISTER sip:{k.tls_address}" in k.log()
        await _open(page, "SIP", "Servers")
        tls_row = await _section(page, "TLS Persistent Connection Status").locator(
            "tr", has_text=k.tls_address).inner_text()
        assert "OpenSIPS" in tls_row and tls_row.split()[-1] == "Up", tls_row
        await page.screenshot(path=str(shots / "50-SIP-Servers-registered.png"), full_page=True)
        await _open(page, "SIP", "Registrations")
        reg_status = await _section(page, "Registration Status").inner_text()
        assert reg_status.count("Registered") >= 2 and "alice" in reg_status and "bob" in reg_status, reg_status
        await page.screenshot(path=str(shots / "51-SIP-Registrations-registered.png"), full_page=True)

        # 6. Media/Security: Select Endpoint Default; Secure, SDES, AES_CM_128
        await _open(page, "Media", "Security")
        sec = _section(page, "Security")
        options = await sec.get_by_label("Select Endpoint").locator("option").all_inner_texts()
        assert options == ["Default", "Phone-Fax1", "Phone-Fax2"]
        await _enter(sec, {"Mode": "Secure", "Key Management Protocol": "SDES", "Encryption": "AES_CM_128"})
        await sec.get_by_role("button", name="Apply").click()
        await page.wait_for_selector("text=The changes were applied")
        assert cfg.get("Mipt.DefaultSecurityRtpMode") == "Secure"
        assert cfg.get("Mipt.DefaultSecurityKeyManagement") == "Sdes"
        assert cfg.get("Mipt.DefaultSecurityRtpEncryption") == "AesCm128"
        # a specific endpoint: choosing it in the list shows its own settings
        await sec.get_by_label("Select Endpoint").select_option("Phone-Fax1")
        await page.wait_for_url("**endpoint=Phone-Fax1")
        assert await page.get_by_label("Allow Unsecure T.38 with Secure RTP").count() == 0

        # 6b. a call from Phone-Fax1 (alice) to bob (Phone-Fax2, registered through the same Kamailio):
        # the INVITE's SDP offers SRTP keyed by SDES with AES_CM_128
        calls = sipep(unit).calls
        call = await calls.dial("Phone-Fax1", "bob")
        sdp = call.local_sdp.decode()
        assert "RTP/SAVP" in sdp, sdp
        crypto = [line for line in sdp.splitlines() if line.startswith("a=crypto:")]
        # Encryption AES_CM_128: every offered suite is AES_CM_128 (tag lengths 80 and 32), 80 first
        assert crypto and crypto[0].startswith("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"), sdp
        assert all(line.split()[1].startswith("AES_CM_128_HMAC_SHA1_") for line in crypto), sdp
        await wait_for(lambda: "REQ INVITE sip:bob@" in k.log(), timeout=WAIT_S, what="Kamailio saw the INVITE")
        await wait_for(lambda: (c := calls.current("Phone-Fax2")) is not None and c.state == "ringing",
                        timeout=WAIT_S, what="bob rings")
        await calls.hangup("Phone-Fax1")
        await wait_for(lambda: call.state == "ended", timeout=WAIT_S, what="call ended")

        # 7. Show Help: helped fields turn green, description on hover
        await _open(page, "Network", "Host")
        helped = page.locator(".field.helped").first
        before = await helped.evaluate("e => getComputedStyle(e).backgroundColor")
        await page.get_by_role("button", name="Show Help").click()
        after = await helped.evaluate("e => getComputedStyle(e).backgroundColor")
        assert before != after and after == "rgb(185, 232, 176)"
        await helped.hover()
        assert await helped.locator(".tip").is_visible()
        await page.screenshot(path=str(shots / "98-Show-Help.png"), full_page=True)
        await page.get_by_role("button", name="Show Help").click()

        # 8. an invalid value: the message beside the field, nothing changed
        await page.get_by_label("Static Time Zone").fill("not a zone!")
        await _section(page, "Time Configuration").get_by_role("button", name="Apply").click()
        err = _section(page, "Time Configuration").locator(".field.invalid .error")
        assert "POSIX time zone" in await err.inner_text()
        assert cfg.get("Hoc.StaticTimeZone") == "EST5EDT4,M3.2.0/02:00:00,M11.1.0/02:00:00"
        await page.screenshot(path=str(shots / "99-Invalid-Field.png"), full_page=True)

        # 9. a screenshot of every page
        for n, p in enumerate(PAGES, start=1):
            await page.goto(base + p.path)
            await page.wait_for_selector(f'h1:text-is("{p.title}")')
            await page.screenshot(path=str(shots / f"{n:02d}-{p.title.replace('/', '-').replace(' ', '_')}.png"),
                                  full_page=True)
        await browser.close()
    assert len(list(shots.glob("*.png"))) >= len(PAGES) + 1


async def test_https_only_in_the_browser(tmp_path: Path) -> None:
    async_playwright = _playwright()
    async for lab in _unit(tmp_path, Web_HttpMode="Secure", Web_HttpsCipherSuite="CS3", Web_TlsVersion="TLSv1_2"):
        assert "web" not in lab.unit.listening
        base = lab.unit.listening["web_secure"]
        async with async_playwright() as pw:
            browser = await _browser(pw)
            context = await browser.new_context(ignore_https_errors=True)  # the lab's factory CA is not in NSS
            page = await context.new_page()
            await _login(page, base)
            cookies = await context.cookies()
            session = next(c for c in cookies if c["name"] == "DGWSESSION")
            assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
            await _open(page, "Management", "Certificates")
            host = _section(page, "Host Certificates")
            assert "factory-host.pem" in await host.inner_text()
            await browser.close()


async def test_transfer_now_in_the_browser(tmp_path: Path) -> None:
    """Management/Configuration Scripts: the transfer section filled label by label, Apply, then "Transfer Now"
    fetches the generic script from a local HTTP server; Transfer Status reads Success."""
    async_playwright = _playwright()
    async with serve_files() as files:
        files.files["cfg/generic.cfg"] = b'Hoc.HostName = "from-script"\n'
        async for lab in _unit(tmp_path):
            base = lab.unit.listening["web"]
            async with async_playwright() as pw:
                browser = await _browser(pw)
                page = await browser.new_page()
                await _login(page, base)
                await _open(page, "Management", "Configuration Scripts")
                transfer = _section(page, "Scripts Transfer")
                await _enter(transfer, {"Transfer Protocol": "Http", "Server Hostname and port": files.address,
                                        "Location (Path)": "cfg",
                                        "Generic Configuration Script Filename": "generic.cfg"})
                await transfer.get_by_role("button", name="Apply").click()
                await page.wait_for_selector("text=The changes were applied.")
                await _section(page, "Transfer Status").get_by_role("button", name="Transfer Now").click()
                await page.wait_for_selector("text=Configuration scripts transfer: Success.")
                status = await _section(page, "Transfer Status").inner_text()
                assert "Success" in status and "Idle" in status
                await page.screenshot(path=str(artefact_dir() / "Transfer-Now.png"), full_page=True)
                await browser.close()
            assert lab.unit.config.get("Hoc.HostName") == "from-script" and files.hits == ["/cfg/generic.cfg"]
