"""Full ACS sessions against a unit's Cwmp engine over HTTP on 127.0.0.1 (scripted ACS: tests/interop/acs.py).

Every envelope the unit sends is validated against the Broadband Forum cwmp-1-x schemas (DGW_CWMP_XSD, default
../shared/testdata/cwmp-xsd; missing -> skip, or fail under DGW_REQUIRE_PEERS=1).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.faces.cli.shell import CliShell
from emulator.faces.cwmp import CwmpEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.crypt import encrypt
from firmware_model.mfp import Manifest, build_mfp
from firmware_model.profiles import get_profile
from tests.interop.acs import CwmpValidator, FileServer, TestAcs, connection_request, gpv, require_validator, values

NS = "urn:dslforum-org:cwmp-1-0"


@pytest.fixture(scope="module")
def validator() -> CwmpValidator:
    return require_validator()


class Lab:
    def __init__(self, unit: Unit, engine: CwmpEngine, acs: TestAcs, files: FileServer) -> None:
        self.unit, self.engine, self.acs, self.files = unit, engine, acs, files


async def open_lab(tmp_path: Path, validator: CwmpValidator, ns: str = NS, **settings: str) -> Lab:
    """A started unit (Cwmp with Conf and Fpu: a "3 Vendor Configuration File" runs as a Conf transfer, a "1
    Firmware Upgrade Image" is a pack for the Fpu banks) whose DHCP-given ACS speaks ``ns``, and a file server."""
    acs = TestAcs(validator=validator, ns=ns)
    await acs.start()
    files = FileServer()
    await files.start()
    unit = Unit(name="cpe1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    engine = CwmpEngine(unit, dhcp_acs_url=acs.url, http_timeout=5.0)
    for e in (engine, ConfEngine(unit), FpuEngine(unit)):
        unit.attach(e)
    for name, value in settings.items():
        unit.config.set(name.replace("_", "."), value)
    await unit.start()
    return Lab(unit, engine, acs, files)


async def close_lab(lab: Lab) -> None:
    await lab.unit.stop()
    await lab.files.stop()
    await lab.acs.stop()
    assert not lab.acs.invalid, lab.acs.invalid[0]
    assert not lab.acs.protocol_errors


@pytest.fixture
async def lab(tmp_path: Path, validator: CwmpValidator) -> AsyncIterator[Lab]:
    lab = await open_lab(tmp_path, validator)
    yield lab
    await close_lab(lab)


def spv(key: str, *items: tuple[str, str, str]) -> str:
    x = "".join(f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="xsd:{t}">{v}</Value>'
                "</ParameterValueStruct>" for n, v, t in items)
    return f'<cwmp:SetParameterValues><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[{len(items)}]">' \
           f"{x}</ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"


async def eventually(check: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def codes(session: Any) -> list[str]:
    return [c for c, _ in session.events]


async def test_bootstrap_then_rpcs(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    assert sorted(codes(s1)) == ["0 BOOTSTRAP", "1 BOOT"]
    assert s1.params["Device.ManagementServer.ConnectionRequestURL"] == lab.unit.listening["cwmp"]
    dev = s1.inform.find("DeviceId")
    assert dev is not None and dev.findtext("OUI") == "0090F8" and dev.findtext("Manufacturer") == "Media5"
    assert dev.findtext("SerialNumber") == lab.unit.identity.serial
    await eventually(lambda: lab.unit.config.get("Cwmp.AcsStatus") == "Connected")
    # names, values, attributes, SetParameterValues reaching SipEp, via a connection request
    lab.acs.queue(
        "<cwmp:GetRPCMethods/>",
        "<cwmp:GetParameterNames><ParameterPath>Device.X_0090F8_SipEp.</ParameterPath><NextLevel>true</NextLevel>"
        "</cwmp:GetParameterNames>",
        gpv("Device.DeviceInfo.", "Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost"),
        spv("k1", ("Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost", "proxy.example.test:5070", "string")),
        '<cwmp:SetParameterAttributes><ParameterList soap-enc:arrayType="cwmp:SetParameterAttributesStruct[1]">'
        "<SetParameterAttributesStruct><Name>Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost</Name>"
        "<NotificationChange>1</NotificationChange><Notification>2</Notification>"
        '<AccessListChange>0</AccessListChange><AccessList soap-enc:arrayType="xsd:string[0]"></AccessList>'
        "</SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>",
        '<cwmp:GetParameterAttributes><ParameterNames soap-enc:arrayType="xsd:string[1]">'
        "<string>Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost</string></ParameterNames>"
        "</cwmp:GetParameterAttributes>",
    )
    assert await connection_request(lab.unit, "admin", "wrong") == 401
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s2 = await lab.acs.wait_session(after=s1.number)
    assert "6 CONNECTION REQUEST" in codes(s2)
    r = s2.responses
    assert [x.tag.split("}")[1] for x in r] == [
        "GetRPCMethodsResponse", "GetParameterNamesResponse", "GetParameterValuesResponse",
        "SetParameterValuesResponse", "SetParameterAttributesResponse", "GetParameterAttributesResponse"]
    got = values(r[2])
    assert got["Device.DeviceInfo.ManufacturerOUI"] == "0090F8"
    assert lab.unit.config.get("SipEp.DefaultStaticProxyHomeDomainHost") == "proxy.example.test:5070"
    assert r[3].findtext("Status") == "1"  # applied; SipEp restarts after the session to use it
    await eventually(lambda: not lab.unit.config.needs_restart("SipEp"))
    assert r[5].findtext(".//Notification") == "2"
    # an active-notification parameter changed from the CLI -> 4 VALUE CHANGE
    shell = CliShell(lab.unit, AuthResult(True, "admin", "Admin"))
    reply = shell.execute('SipEp.DefaultStaticProxyHomeDomainHost = "other.example.test"')
    assert lab.unit.config.get("SipEp.DefaultStaticProxyHomeDomainHost") == "other.example.test", reply
    s3 = await lab.acs.wait_session(after=s2.number)
    assert "4 VALUE CHANGE" in codes(s3)
    assert s3.params["Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost"] == "other.example.test"


async def test_spv_faults_change_nothing(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    before = lab.unit.config.to_doc()
    lab.acs.queue(
        spv("k2", ("Device.X_0090F8_SipEp.DefaultStaticProxyHomeDomainHost", "ok.example.test", "string"),
            ("Device.X_0090F8_Nope.Param", "1", "string"),
            ("Device.DeviceInfo.SerialNumber", "x", "string"),
            ("Device.X_0090F8_Cwmp.PeriodicInformInterval", "abc", "unsignedInt")),
        "<cwmp:NoSuchMethod/>",
    )
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s2 = await lab.acs.wait_session(after=s1.number)
    fault = s2.responses[0]
    assert fault.findtext(".//FaultCode") == "9003"
    per = {f.findtext("ParameterName"): f.findtext("FaultCode") for f in fault.iter("SetParameterValuesFault")}
    assert per == {"Device.X_0090F8_Nope.Param": "9005", "Device.DeviceInfo.SerialNumber": "9008",
                   "Device.X_0090F8_Cwmp.PeriodicInformInterval": "9007"}
    assert s2.responses[1].findtext(".//FaultCode") == "9000"
    assert lab.unit.config.to_doc() == before


async def test_add_delete_object_and_reboot(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    lab.acs.queue(
        "<cwmp:AddObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.</ObjectName><ParameterKey>a1</ParameterKey>"
        "</cwmp:AddObject>",
    )
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s2 = await lab.acs.wait_session(after=s1.number)
    inst = s2.responses[0].findtext("InstanceNumber")
    assert inst is not None and lab.unit.config.indexes("Hoc.StaticHosts")
    lab.acs.queue(
        spv("a2", (f"Device.X_0090F8_Hoc.StaticHosts.{inst}.Name", "printer", "string")),
        f"<cwmp:DeleteObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.{inst}.</ObjectName>"
        "<ParameterKey>a3</ParameterKey></cwmp:DeleteObject>",
        "<cwmp:Reboot><CommandKey>rb1</CommandKey></cwmp:Reboot>",
    )
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s3 = await lab.acs.wait_session(after=s2.number)
    assert [x.tag.split("}")[1] for x in s3.responses] == [
        "SetParameterValuesResponse", "DeleteObjectResponse", "RebootResponse"]
    assert lab.unit.config.indexes("Hoc.StaticHosts") == []
    s4 = await lab.acs.wait_session(after=s3.number)
    assert ("1 BOOT", "") in s4.events and ("M Reboot", "rb1") in s4.events
    assert s4.params["Device.ManagementServer.ParameterKey"] == "a3"


async def test_download_config_script_and_factory_reset(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    script = b'SipEp.DefaultStaticProxyHomeDomainHost = "from-script.example.test"\n'
    lab.files.files["cfg.txt"] = script
    lab.acs.queue(
        f"<cwmp:Download><CommandKey>dl1</CommandKey><FileType>3 Vendor Configuration File</FileType>"
        f"<URL>{lab.files.base}/cfg.txt</URL><Username></Username><Password></Password>"
        f"<FileSize>{len(script)}</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds>"
        "<SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>",
    )
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s2 = await lab.acs.wait_session(after=s1.number)
    assert s2.responses[0].findtext("Status") == "1"
    s3 = await lab.acs.wait_session(after=s2.number)
    assert "7 TRANSFER COMPLETE" in codes(s3) and ("M Download", "dl1") in s3.events
    tc = s3.cpe_requests[0]
    assert tc.findtext("CommandKey") == "dl1" and tc.findtext(".//FaultCode") == "0"
    assert lab.unit.config.get("SipEp.DefaultStaticProxyHomeDomainHost") == "from-script.example.test"
    lab.acs.queue("<cwmp:FactoryReset/>")
    assert await connection_request(lab.unit, "admin", "administrator") == 200
    s4 = await lab.acs.wait_session(after=s3.number)
    s5 = await lab.acs.wait_session(after=s4.number)
    assert "0 BOOTSTRAP" in codes(s5) and "7 TRANSFER COMPLETE" not in codes(s5)
    assert lab.unit.config.get("SipEp.DefaultStaticProxyHomeDomainHost") != "from-script.example.test"


async def test_digest_auth_hold_requests_and_namespace(tmp_path: Path, validator: CwmpValidator) -> None:
    acs = TestAcs(validator=validator, auth=("digest", "cpe", "s3cret"), hold_requests=True,
                  ns="urn:dslforum-org:cwmp-1-2")
    await acs.start()
    unit = Unit(name="cpe2", profile=get_profile("C740"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    for k, v in {"Cwmp.AcsUrlConfigSource": "Static", "Cwmp.AcsStaticUrl": acs.url, "Cwmp.Username": "cpe",
                 "Cwmp.Password": "s3cret", "Cwmp.RootElement": "InternetGatewayDevice"}.items():
        unit.config.set(k, v)
    engine = CwmpEngine(unit, http_timeout=5.0)
    unit.attach(engine)
    acs.queue(gpv("InternetGatewayDevice.ManagementServer.PeriodicInformInterval"))
    await unit.start()
    try:
        s1 = await acs.wait_session()
        assert "InternetGatewayDevice.DeviceInfo.SpecVersion" in s1.params
        assert b"urn:dslforum-org:cwmp-1-2" in s1.envelopes[-1]
        assert values(s1.responses[0]) == {"InternetGatewayDevice.ManagementServer.PeriodicInformInterval": "3600"}
        # wrong password: refused, status says so, the retry comes later
        unit.config.set("Cwmp.Password", "wrong")
        assert await connection_request(unit, "admin", "administrator") == 200
        await eventually(lambda: engine.last_end is not None and engine.last_end.auth_failed)
        assert unit.config.get("Cwmp.AcsStatus") == "ErrorAuthFailure"
        assert engine.retry_count >= 1
    finally:
        await unit.stop()
        await acs.stop()
    assert not acs.invalid, acs.invalid[0]


async def test_connection_request_credentials_are_the_parameters(lab: Lab) -> None:
    """Cwmp.ConnectionRequestUsername/Password: the digest credentials an ACS's connection request must give."""
    c = lab.unit.config
    c.set("Cwmp.ConnectionRequestUsername", "acs-user")
    c.set("Cwmp.ConnectionRequestPassword", "acs-pass")
    assert await connection_request(lab.unit, "admin", "acs-pass") == 401  # the factory user name no longer
    assert await connection_request(lab.unit, "acs-user", "administrator") == 401
    assert await connection_request(lab.unit, "acs-user", "acs-pass") == 200


async def test_state_persists_across_restart(lab: Lab) -> None:
    await lab.acs.wait_session()
    await eventually(lambda: lab.engine.bootstrap_url == lab.acs.url)
    doc = json.loads((lab.unit.state_dir / "cwmp.json").read_text())
    assert doc["bootstrap_url"] == lab.acs.url


async def cr(lab: Lab) -> None:
    assert await connection_request(lab.unit, "admin", "administrator") == 200


async def test_hostile_acs_messages(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    before = lab.unit.config.to_doc()
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><soap:Envelope '
           b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&x;</soap:Body></soap:Envelope>')
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            b'envelope/"><soap:Body>&c;</soap:Body></soap:Envelope>')
    lab.acs.queue(xxe, bomb, spv("h", ("Device.X_0090F8_Cwmp.PeriodicInformInterval", "-5", "unsignedInt")))
    await cr(lab)
    s2 = await lab.acs.wait_session(after=s1.number)
    assert [r.findtext(".//FaultCode") for r in s2.responses] == ["9003", "9003", "9003"]
    assert lab.unit.config.to_doc() == before
    # an oversized message ends the session; the unit keeps serving
    lab.acs.queue(b"<x>" + b"a" * (2 * 1024 * 1024) + b"</x>")
    await cr(lab)
    await eventually(lambda: lab.engine.last_end is not None and not lab.engine.last_end.ok)
    assert "size" in lab.engine.last_end.reason  # type: ignore[union-attr]
    lab.acs.queue(gpv("Device.DeviceInfo.SerialNumber"))
    await cr(lab)
    s3 = await lab.acs.wait_session(lambda s: bool(s.responses), after=s2.number)
    assert values(s3.responses[0]) == {"Device.DeviceInfo.SerialNumber": lab.unit.identity.serial}
    # the connection-request server refuses oversized and malformed requests
    async with aiohttp.ClientSession() as http:
        async with http.post(lab.unit.listening["cwmp"], data=b"x" * 100_000) as r:
            assert r.status in (401, 413)
        async with http.get(lab.unit.listening["cwmp"], headers={"Authorization": 'Digest nonce="zz", ,,='}) as r:
            assert r.status == 401
        async with http.get(lab.unit.listening["cwmp"].rsplit("/", 1)[0] + "/other") as r:
            assert r.status == 404


async def test_periodic_inform_and_retry(tmp_path: Path, validator: CwmpValidator) -> None:
    acs = TestAcs(validator=validator)
    await acs.start()
    unit = Unit(name="cpe3", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    engine = CwmpEngine(unit, dhcp_acs_url=acs.url, http_timeout=5.0, retry_minimum=0.05)
    unit.attach(engine)
    acs.inform_status = 503
    await unit.start()
    try:
        await eventually(lambda: engine.retry_count >= 2)
        assert unit.config.get("Cwmp.AcsStatus") == "ErrorOther"
        acs.inform_status = 200
        s1 = await acs.wait_session()
        assert int(s1.inform.findtext("RetryCount") or 0) >= 2 and "0 BOOTSTRAP" in codes(s1)
        await eventually(lambda: engine.retry_count == 0)
        unit.config.set("Cwmp.PeriodicInformInterval", 1)
        unit.config.set("Cwmp.PeriodicInformEnable", "Enable")
        s2 = await acs.wait_session(lambda s: "2 PERIODIC" in codes(s), timeout=5)
        s3 = await acs.wait_session(lambda s: "2 PERIODIC" in codes(s), after=s2.number, timeout=5)
        t2 = s2.inform.findtext("CurrentTime")
        t3 = s3.inform.findtext("CurrentTime")
        assert t2 != t3
    finally:
        await unit.stop()
        await acs.stop()
    assert not acs.invalid, acs.invalid[0]


async def test_events_survive_a_restart(tmp_path: Path, validator: CwmpValidator) -> None:
    acs = TestAcs(validator=validator)
    url = await acs.start()
    acs.inform_status = 503
    unit = Unit(name="cpe4", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)
    engine = CwmpEngine(unit, dhcp_acs_url=url, http_timeout=5.0, retry_minimum=30)
    unit.attach(engine)
    await unit.start()
    await eventually(lambda: engine.retry_count >= 1)
    engine.queue.add("M Reboot", "kept")
    await unit.stop()
    acs.inform_status = 200
    unit2 = Unit(name="cpe4", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                 fsync=False)
    unit2.attach(CwmpEngine(unit2, dhcp_acs_url=url, http_timeout=5.0))
    await unit2.start()
    try:
        s = await acs.wait_session()
        assert sorted(codes(s)) == ["0 BOOTSTRAP", "1 BOOT", "M Reboot"]
    finally:
        await unit2.stop()
        await acs.stop()


async def test_download_failures_upload_and_firmware(lab: Lab) -> None:
    await lab.acs.wait_session()

    lab.files.files["bad.txt"] = b"NoSuch.Param = 1\n"
    lab.acs.queue(download("missing", "3 Vendor Configuration File", f"{lab.files.base}/nope.txt"),
                  download("bad", "3 Vendor Configuration File", f"{lab.files.base}/bad.txt"),
                  "<cwmp:Upload><CommandKey>up</CommandKey><FileType>1 Vendor Configuration File</FileType>"
                  f"<URL>{lab.files.base}/backup.cfg</URL><Username></Username><Password></Password>"
                  "<DelaySeconds>0</DelaySeconds></cwmp:Upload>")
    await cr(lab)

    def results() -> dict[str | None, str | None]:
        return {tc.findtext("CommandKey"): tc.findtext(".//FaultCode")
                for s in lab.acs.sessions for tc in s.cpe_requests}

    await eventually(lambda: len(results()) == 3, timeout=10)
    got = results()
    assert got == {"missing": "9010", "bad": "9010", "up": "0"}  # 9016/9018 are 9010 in cwmp-1-0
    assert b"Cwmp." in lab.files.uploads["backup.cfg"]
    assert lab.unit.config.get("Conf.ScriptsStatsLastTransferResult") == "ExecutionFailed"  # through Conf
    # a firmware pack (the Fpu format) goes to the other bank; the reboot runs it and Inform says so
    pack = build_mfp(Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 4102",)), b"image")
    lab.files.files["fw.mfp"] = pack
    lab.files.files["bad.mfp"] = pack[:100]
    last = lab.acs.sessions[-1].number
    lab.acs.queue(download("badfw", "1 Firmware Upgrade Image", f"{lab.files.base}/bad.mfp"))
    await cr(lab)
    await eventually(lambda: "badfw" in results(), timeout=10)
    assert results()["badfw"] == "9010"  # 9018 "file corrupted" is 9010 in cwmp-1-0
    assert lab.unit.config.get("Fpu.MfpLastInstallationResult") == "Fail"
    assert lab.unit.config.rows("Fpu.MfpInstalledInfo")[1]["MfpBank"] == "None"  # nothing written
    last = lab.acs.sessions[-1].number
    lab.acs.queue(download("fw", "1 Firmware Upgrade Image", f"{lab.files.base}/fw.mfp", len(pack)))
    await cr(lab)
    s = await lab.acs.wait_session(lambda s: ("M Download", "fw") in s.events, after=last)
    assert "1 BOOT" in codes(s) and "7 TRANSFER COMPLETE" in codes(s)
    assert s.params["Device.DeviceInfo.SoftwareVersion"] == "49.12.3001" == lab.unit.version
    assert [r["MfpBank"] for r in lab.unit.config.rows("Fpu.MfpInstalledInfo")] == ["Main", "RecoveryInUse"]
    await eventually(lambda: lab.unit.config.get("Fpu.Status") == "Idle")
    assert results()["fw"] == "0"


def download(key: str, ftype: str, url: str, size: int = 0) -> str:
    return (f"<cwmp:Download><CommandKey>{key}</CommandKey><FileType>{ftype}</FileType><URL>{url}</URL>"
            f"<Username></Username><Password></Password><FileSize>{size}</FileSize><TargetFileName>"
            "</TargetFileName><DelaySeconds>0</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL>"
            "</cwmp:Download>")


async def test_cwmp_1_2_corrupt_image_and_encrypted_scripts(tmp_path: Path, validator: CwmpValidator) -> None:
    """An ACS speaking cwmp-1-2 gets the finer fault codes: a firmware pack the Fpu service refuses is 9018 ("file
    corrupted"), as is an encrypted configuration script the Conf service cannot open (wrong key); the right key
    applies it, and Conf's statistics count both."""
    lab = await open_lab(tmp_path, validator, "urn:dslforum-org:cwmp-1-2",
                         Conf_ScriptsSecretKey="00112233445566778899aabbccddeeff")
    acs, files, unit = lab.acs, lab.files, lab.unit
    try:
        await acs.wait_session()
        files.files["fw.mfp"] = build_mfp(Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 3621",)), b"x")
        files.files["wrong.cfg"] = encrypt(b"Cli.InactivityTimeOut = 12\n", "ffff")
        files.files["right.cfg"] = encrypt(b"Cli.InactivityTimeOut = 13\n", "00112233445566778899aabbccddeeff")
        acs.queue(download("fw", "1 Firmware Upgrade Image", f"{files.base}/fw.mfp"),
                  download("wrong", "3 Vendor Configuration File", f"{files.base}/wrong.cfg"),
                  download("right", "3 Vendor Configuration File", f"{files.base}/right.cfg"))
        await cr(lab)

        def results() -> dict[str | None, tuple[str | None, str | None]]:
            return {tc.findtext("CommandKey"): (tc.findtext(".//FaultCode"), tc.findtext(".//FaultString"))
                    for s in acs.sessions for tc in s.cpe_requests}

        await eventually(lambda: len(results()) == 3, timeout=10)
        got = results()
        assert got["fw"][0] == "9018" and "Mediatrix 3621" in str(got["fw"][1])  # another product's pack
        assert got["wrong"][0] == "9018" and "key" in str(got["wrong"][1])
        assert got["right"][0] == "0"
        assert unit.config.get("Cli.InactivityTimeOut") == 13 and unit.version != "49.12.3001"
        assert unit.config.get("Conf.ScriptsStatsLastTransferResult") == "Success"
        assert unit.config.get("Fpu.MfpLastInstallationResult") == "Fail"
    finally:
        await close_lab(lab)


async def test_https_acs_and_https_config_download(tmp_path: Path, validator: CwmpValidator) -> None:
    """HTTPS to the ACS and an HTTPS Download through the unit's TLS policy (Cert store, validation level)."""
    import ssl

    from emulator.engines.cert.engine import CertEngine
    from emulator.engines.nlm import NlmEngine
    from testkit.pki import Pki

    pki = Pki("rsa")
    ca = pki.ca("Lab Root CA")
    stranger = pki.ca("Stranger CA", key_index=2)
    crt, key = pki.leaf(ca).write(tmp_path, "acs")
    bad_crt, bad_key = pki.leaf(stranger).write(tmp_path, "stranger")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    bad_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    bad_ctx.load_cert_chain(bad_crt, bad_key)
    acs = TestAcs(validator=validator, ssl_context=ctx)
    await acs.start()
    files = FileServer(ssl_context=ctx)
    await files.start()
    rogue = TestAcs(validator=validator, ssl_context=bad_ctx)
    await rogue.start()
    unit = Unit(name="cpe5", profile=get_profile("4102"), state_dir=tmp_path / "u", ports=PortPolicy(mode="auto"),
                fsync=False)
    nlm = NlmEngine(unit)
    unit.attach(nlm)
    unit.nlm = nlm
    unit.attach(CertEngine(unit, tmp_path / "factory"))
    engine = CwmpEngine(unit, http_timeout=5.0, retry_minimum=0.2)
    unit.attach(engine)
    unit.attach(ConfEngine(unit))
    for name, value in {"Cwmp.TransportHttpsTlsVersion": "TLSv1_2", "Cwmp.TransportHttpsCipherSuite": "CS3",
                        "Conf.ScriptsTransferTlsVersion": "TLSv1_2", "Conf.ScriptsTransferCipherSuite": "CS3"}.items():
        unit.config.set(name, value)  # the lab's servers speak modern TLS (CS1 is RC4/3DES/SHA-1 era)
    await unit.start()
    unit.clock.synchronized = True
    unit.services["Cert"].engine.import_other(ca.pem())  # type: ignore[union-attr]
    try:
        assert unit.config.get("Cwmp.AcsStatus") == "NoUrl" or engine.sessions_ok == 0
        unit.config.set("Cwmp.AcsUrlConfigSource", "Static")
        unit.config.set("Cwmp.AcsStaticUrl", acs.url)
        s1 = await acs.wait_session()
        assert "0 BOOTSTRAP" in codes(s1)
        script = b'SipEp.DefaultStaticProxyHomeDomainHost = "tls-script.example.test"\n'
        files.files["cfg.txt"] = script
        acs.queue(
            f"<cwmp:Download><CommandKey>tls1</CommandKey><FileType>3 Vendor Configuration File</FileType>"
            f"<URL>{files.base}/cfg.txt</URL><Username></Username><Password></Password>"
            f"<FileSize>{len(script)}</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds>"
            "<SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>")
        assert await connection_request(unit, "admin", "administrator") == 200
        s3 = await acs.wait_session(lambda s: bool(s.cpe_requests), after=s1.number)
        assert s3.cpe_requests[0].findtext(".//FaultCode") == "0"
        assert unit.config.get("SipEp.DefaultStaticProxyHomeDomainHost") == "tls-script.example.test"
        # an ACS whose certificate the unit does not trust: no session, status says why
        unit.config.set("Cwmp.AcsStaticUrl", rogue.url)
        await eventually(lambda: engine.last_end is not None and not engine.last_end.ok, timeout=10)
        assert rogue.sessions == []
        assert unit.config.get("Cwmp.AcsStatus") != "Connected"
    finally:
        await unit.stop()
        await files.stop()
        await acs.stop()
        await rogue.stop()
    assert not acs.invalid, acs.invalid[0]


async def test_passive_change_waits_for_the_next_session(lab: Lab) -> None:
    s1 = await lab.acs.wait_session()
    await eventually(lambda: lab.engine.retry_count == 0 and not lab.engine._in_session)
    lab.engine.model_state.notifications["Device.X_0090F8_Hoc.StaticTimeZone"] = 1
    lab.unit.config.set("Hoc.StaticTimeZone", "EST5EDT", source="cli")
    await asyncio.sleep(0.5)
    assert len(lab.acs.sessions) == s1.number  # passive: no session of its own
    await cr(lab)
    s2 = await lab.acs.wait_session(after=s1.number)
    assert sorted(codes(s2)) == ["4 VALUE CHANGE", "6 CONNECTION REQUEST"]
    assert s2.params["Device.X_0090F8_Hoc.StaticTimeZone"] == "EST5EDT"
