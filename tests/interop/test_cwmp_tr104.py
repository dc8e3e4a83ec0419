"""An ACS provisions a SIP line through TR-104 objects only (issue 13, item 6's must-show).

A whole unit (as ``emulator.lab`` builds it; ``Cwmp.Tr104Enable`` on and the lab's CA trusted, nothing else about
SIP) gets, in its bootstrap session, the registrar and proxy of a real TLS-only Kamailio, the TLS transport, line 1
enabled with its directory number, SIP auth user name and password, and the codec order A-law before u-law — all as
``Services.VoiceService.1`` values. It then registers over TLS with them, and the ACS reads ``Line.1.Status`` ``Up``
and ``X_0090F8_RegistrationState`` ``Registered`` (the password reads back empty). A call to a second unit shows the
codec order on the wire (its INVITE's SDP lists PCMA first), ``Line.1.CallState`` follows the call, and
``Line.1.Stats`` counts it. Every envelope the unit sends validates against the Broadband Forum schemas.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.faces.cli.shell import CliShell
from emulator.lab import UnitSpec, build_unit
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.acs import CwmpValidator, TestAcs, connection_request, gpv, require_validator, values
from tests.interop.siplab import USERS, Pkis, kamailio, make_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer

NS = "urn:dslforum-org:cwmp-1-2"
VP = "Device.Services.VoiceService.1.VoiceProfile.1."
L1 = VP + "Line.1."


@pytest.fixture(scope="module")
def validator() -> CwmpValidator:
    return require_validator()


def spv(key: str, items: list[tuple[str, str, str]]) -> str:
    x = "".join(f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="xsd:{t}">{v}</Value>'
                "</ParameterValueStruct>" for n, v, t in items)
    return f'<cwmp:SetParameterValues><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[{len(items)}]">' \
           f"{x}</ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"


async def ask(acs: TestAcs, unit: Unit, *names: str) -> dict[str, str]:
    """GetParameterValues in a session the ACS starts by a connection request."""
    last = acs.sessions[-1].number
    acs.queue(gpv(*names))
    assert await connection_request(unit, "admin", "administrator") == 200
    s = await acs.wait_session(lambda s: bool(s.responses), after=last)
    return values(s.responses[0])


async def test_acs_provisions_a_line_through_tr104(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                   pkis: Pkis, validator: CwmpValidator) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    bob = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address)
    acs = TestAcs(validator=validator, ns=NS)
    await acs.start()
    acs.queue(spv("tr104", [
        (VP + "SIP.RegistrarServer", "127.0.0.1", "string"),
        (VP + "SIP.RegistrarServerPort", str(k.tls_port), "unsignedInt"),
        (VP + "SIP.ProxyServer", "127.0.0.1", "string"),
        (VP + "SIP.ProxyServerPort", str(k.tls_port), "unsignedInt"),
        (VP + "SIP.RegistrarServerTransport", "TLS", "string"),
        (L1 + "Enable", "Enabled", "string"),
        (L1 + "DirectoryNumber", "alice", "string"),
        (L1 + "SIP.AuthUserName", "alice", "string"),
        (L1 + "SIP.AuthPassword", USERS["alice"], "string"),
        (L1 + "Codec.List.2.Priority", "1", "unsignedInt"),  # G.711 A-law first
        (L1 + "Codec.List.1.Priority", "2", "unsignedInt"),
    ]))
    ca = tmp_path / "lab-ca.pem"
    ca.write_bytes(pkis.ca.pem())
    ru = build_unit(UnitSpec(name="tr104", host="127.0.0.90", state_dir=tmp_path / "tr104", port_mode="auto",
                             fsync=False, api_port=0, assume_time_synchronized=True, dhcp_acs_url=acs.url,
                             settings={"Cwmp.Tr104Enable": "Enable"}, other_certificates=[ca]))
    await ru.start()
    u = ru.unit
    try:
        s1 = await acs.wait_session()
        assert ("0 BOOTSTRAP", "") in s1.events
        [answer] = s1.responses
        assert answer.tag.endswith("SetParameterValuesResponse") and answer.findtext("Status") == "1"  # restart
        await wait_for(lambda: reg_state(u) == "Registered", timeout=15, what="registered over TLS with TR-104 values")
        [link] = u.config.rows("SipEp.TlsPersistentConnectionStatus")
        assert link["State"] == "Up" and link["RemoteHost"] == k.tls_address
        assert f"REQ REGISTER sip:{k.tls_address}" in k.log()
        got = await ask(acs, u, L1 + "Status", L1 + "X_0090F8_RegistrationState", L1 + "X_0090F8_Registrar",
                        L1 + "SIP.AuthUserName", L1 + "SIP.AuthPassword", VP + "SIP.RegistrarServerTransport",
                        L1 + "Codec.List.2.Priority", L1 + "CallState")
        assert got == {L1 + "Status": "Up", L1 + "X_0090F8_RegistrationState": "Registered",
                       L1 + "X_0090F8_Registrar": k.tls_address, L1 + "SIP.AuthUserName": "alice",
                       L1 + "SIP.AuthPassword": "", VP + "SIP.RegistrarServerTransport": "TLS",
                       L1 + "Codec.List.2.Priority": "1", L1 + "CallState": "Idle"}
        # every other face shows the values TR-069 set
        cli = CliShell(u, AuthResult(True, "public", "Admin"))
        assert cli.execute("SipEp.DefaultStaticRegistrarServerHost").output == f"127.0.0.1:{k.tls_port}\n"
        assert cli.execute("Mipt.EpSpecificCodecG711Alaw[Phone-Fax1].VoicePriority").output == "10\n"
        # the codec order on the wire, the call state and the line's counters
        await wait_for(lambda: reg_state(bob) == "Registered", what="bob registered")
        await sipep(u).calls.dial("Phone-Fax1", "bob")
        await wait_for(lambda: sipep(bob).calls.current("Phone-Fax1") is not None, what="bob's phone rings")
        incoming = sipep(bob).calls.current("Phone-Fax1")
        assert incoming is not None
        m = re.search(rb"m=audio \d+ RTP/AVP ([\d ]+)", incoming.remote_sdp)
        assert m is not None and m.group(1).split()[:2] == [b"8", b"0"], incoming.remote_sdp
        await wait_for(lambda: sipep(u).lines.call_state("Phone-Fax1") == "Calling", what="Calling")
        await sipep(bob).calls.answer("Phone-Fax1")
        await wait_for(lambda: sipep(u).lines.call_state("Phone-Fax1") == "InCall", what="InCall")
        assert (await ask(acs, u, L1 + "CallState"))[L1 + "CallState"] == "InCall"
        await sipep(u).calls.hangup("Phone-Fax1")
        await wait_for(lambda: sipep(u).lines.call_state("Phone-Fax1") == "Idle", what="Idle")
        stats = await ask(acs, u, L1 + "Stats.")
        assert stats[L1 + "Stats.OutgoingCallsAttempted"] == "1" and stats[L1 + "Stats.OutgoingCallsConnected"] == "1"
        assert stats[L1 + "Stats.OutgoingCallsFailed"] == "0" and stats[L1 + "Stats.CallsDropped"] == "0"
    finally:
        await ru.stop()
        await acs.stop()
    assert not acs.invalid, acs.invalid[0]
    assert not acs.protocol_errors
