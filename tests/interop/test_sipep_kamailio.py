"""SipEp against a real Kamailio (Debian, TLS module) on loopback — issue 4's "must show".

* A unit registers over TLS from local port 16000 with digest authentication; 303 then 310 carry the
  real host and port; ``SipEp.TlsPersistentConnectionStatus`` shows the link Up.
* With TLS, no time, the gateways wait ("Waiting for time synchronization") and go on once synchronised.
* TLS disabled on the unit against a TLS-only proxy: the REGISTER goes unanswered, state Unreachable.
* A proxy that wants the transport parameter answers "Server Internal Error" until both interop
  variables (Add SIP Transport in Registration / in Contact Header) are enabled.
* A certificate that does not name the proxy: the link is refused, Cert notification with the reason.

Units live on 127.0.0.2, 127.0.0.3... so that each can use port 16000 as on the hardware.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.sipep.calls import Call, MediaRefused, PlainAudio
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.rsyslog import Rsyslog
from tests.interop.siplab import Pkis, kamailio, make_unit, reg_state, sipep, sipep_notes, wait_for

pytestmark = pytest.mark.peer

# ---------------------------------------------------------------------------------------------------------------
async def test_registers_over_tls_from_16000_with_digest(units: list[Unit], kamailios: list[Kamailio],
                                                          tmp_path: Path, pkis: Pkis, rsyslog: Rsyslog) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    rsyslog.mark()
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                        settings={"Nlm.SyslogRemoteHost": rsyslog.address("a")})
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    want = [f"SipEp: 1400-SIP Endpoint: 303-TLS connection with remote host 127.0.0.1:{k.tls_port} is now ready "
            "to be used for SIP gateway default.",
            f"SipEp: 1400-SIP Endpoint: 310-Server 127.0.0.1:{k.tls_port} is now reachable for SIP gateway default."]
    seen: list[str] = []

    def on_the_wire() -> bool:
        seen.extend((r.tag + r.msg).strip() for r in rsyslog.new_lines("a"))
        return all(w in seen for w in want)
    await wait_for(on_the_wire, what="303 and 310 at rsyslog")
    assert seen.index(want[0]) < seen.index(want[1])
    notes = sipep_notes(u)
    ids = [n for n, _ in notes]
    assert ids.index(303) < ids.index(310) < ids.index(9004), notes
    assert (303, f"TLS connection with remote host 127.0.0.1:{k.tls_port} is now ready to be used for SIP gateway "
                 "default.") in notes
    assert (310, f"Server 127.0.0.1:{k.tls_port} is now reachable for SIP gateway default.") in notes
    [link] = u.config.rows("SipEp.TlsPersistentConnectionStatus")
    assert link["State"] == "Up" and link["LocalPort"] == 16000 and link["Gateway"] == "default"
    assert link["RemoteHost"] == k.tls_address and link["RemoteHostIpAddr"] == "127.0.0.1"
    [reg] = u.config.rows("SipEp.RegistrationStatus")
    assert reg == {"Index": 1, "Gateway": "default", "Endpoint": "Phone-Fax1", "State": "Registered",
                   "Registrar": k.tls_address, "Username": "alice"}
    [gw] = u.config.rows("SipEp.GatewayStatus")
    assert gw["State"] == "Ready" and gw["SecurePort"] > 0
    log = k.log()
    # the proxy saw the REGISTER (challenged, then accepted) from the unit's address and port 16000 over TLS
    assert log.count(f"REQ REGISTER sip:127.0.0.1:{k.tls_port} from {u.host}:16000 proto=tls") >= 2, log[-3000:]
    assert "alicepw" not in "".join(m for _, m in notes)


async def test_waits_for_time_then_registers(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                             pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, synchronized=False)
    await wait_for(lambda: any(n == 9002 for n, _ in sipep_notes(u)), what="9002")
    [gw] = u.config.rows("SipEp.GatewayStatus")
    assert gw["State"] == "Waiting for time synchronization"
    assert reg_state(u) == "Unregistered" and not u.config.rows("SipEp.TlsPersistentConnectionStatus")
    u.clock.synchronized = True
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    assert u.config.rows("SipEp.GatewayStatus")[0]["State"] == "Ready"


async def test_tls_disabled_against_tls_only_proxy_is_unanswered(units: list[Unit], kamailios: list[Kamailio],
                                                                 tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, tls=False)
    await wait_for(lambda: reg_state(u) == "Unreachable", what="Unreachable")
    assert "REQ REGISTER" not in k.log()
    assert u.config.rows("SipEp.GatewayStatus")[0]["State"] == "Server unreachable"
    assert (9001, f"Server 127.0.0.1:{k.tls_port} is unreachable for SIP gateway default.") in sipep_notes(u)
    assert not any(n in (303, 310) for n, _ in sipep_notes(u))


async def test_transport_parameter_needed_by_the_proxy(units: list[Unit], kamailios: list[Kamailio],
                                                       tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True, defines=("WITH_TRANSPORT_CHECK",))
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address)
    await wait_for(lambda: reg_state(u) == "Rejected", what="Rejected")
    assert any(n == 9005 and "500 Server Internal Error" in m for n, m in sipep_notes(u))
    u.config.set("SipEp.TransportConfig[default].RegistrationEnable", "Enable")
    await u.restart_service("SipEp")
    await wait_for(lambda: reg_state(u) == "Rejected", what="still Rejected with one of the two")
    u.config.set("SipEp.TransportConfig[default].ContactEnable", "Enable")
    await u.restart_service("SipEp")
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    assert ";transport=tls" in k.log()


async def test_certificate_name_mismatch_refuses_the_link(units: list[Unit], kamailios: list[Kamailio],
                                                          tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, cert="wrong", tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address)
    await wait_for(lambda: any(n == 9007 for n, _ in sipep_notes(u)), what="9007")
    cert_notes = [e for e in u.notifications if e.service == "Cert"]
    assert any(e.msg_id == 9004 and f"127.0.0.1:{k.tls_port}" in e.message for e in cert_notes), cert_notes
    [note] = [m for n, m in sipep_notes(u) if n == 9007]
    assert note.startswith(f"TLS connection with remote host 127.0.0.1:{k.tls_port} refused for SIP gateway default")
    assert not any(n in (303, 310) for n, _ in sipep_notes(u))
    [link] = u.config.rows("SipEp.TlsPersistentConnectionStatus")
    assert link["State"] == "Down"
    await wait_for(lambda: reg_state(u) == "Unreachable", what="Unreachable")
    assert "REQ REGISTER" not in k.log()


async def test_wrong_password_is_auth_failed(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                             pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="mallory", registrar=k.tls_address)
    await wait_for(lambda: reg_state(u) == "AuthFailed", what="AuthFailed")
    assert any(n == 9006 for n, _ in sipep_notes(u))


# ---------------------------------------------------------------------------------------------------------------
EP = "Phone-Fax1"


async def two_registered_units(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                               pkis: Pkis, tls: bool = True, defines: tuple[str, ...] = ()
                               ) -> tuple[Kamailio, Unit, Unit]:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=tls, defines=defines)
    registrar = k.tls_address if tls else k.udp_address
    a = await make_unit(units, tmp_path, pkis, user="alice", registrar=registrar, tls=tls)
    b = await make_unit(units, tmp_path, pkis, user="bob", registrar=registrar, tls=tls)
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return k, a, b


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "udp"])
async def test_two_units_call_hold_resume_bye_through_kamailio(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, tls: bool) -> None:
    k, a, b = await two_registered_units(units, kamailios, tmp_path, pkis, tls)
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    await wait_for(lambda: call.state == "alerting", what="A hears ringback (180)")
    incoming = cb.current(EP)
    assert incoming is not None and incoming.remote_uri.startswith("sip:alice@")
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected and ACKed")
    assert b"m=audio" in call.remote_sdp and b"m=audio" in incoming.remote_sdp

    await ca.hold(EP)
    # a factory hold (SipEp.InteropOnHoldSdpStreamDirection Inactive, InteropOnHoldSdpConnectionAddress HoldAddress)
    assert call.local_hold and b"a=inactive" in call.local_sdp and b"c=IN IP4 0.0.0.0" in call.local_sdp
    await wait_for(lambda: incoming.remote_hold, what="B sees the hold")
    assert b"a=inactive" in incoming.local_sdp and b"a=inactive" in call.remote_sdp
    assert cb.rows()[-1]["state"] == "held"
    await ca.resume(EP)
    await wait_for(lambda: not incoming.remote_hold, what="B sees the resume")
    assert b"a=sendrecv" in call.remote_sdp and not call.local_hold

    await ca.hangup(EP)
    await wait_for(lambda: incoming.state == "ended", what="B ended by the BYE")
    assert (call.end_reason, incoming.end_reason) == ("local hangup", "remote hangup")
    log = k.log()
    source = f"{a.host}:16000" if tls else a.listening["sip"]
    assert f"REQ INVITE sip:bob@127.0.0.1 from {source} proto={'tls' if tls else 'udp'}" in log
    assert f"REQ BYE sip:bob@{b.host}" in log


async def test_caller_cancels_and_callee_refuses(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                 pkis: Pkis) -> None:
    _k, a, b = await two_registered_units(units, kamailios, tmp_path, pkis)
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    incoming = cb.current(EP)
    assert incoming is not None
    await wait_for(lambda: call.state == "alerting", what="alerting")
    await ca.hangup(EP)  # CANCEL
    await wait_for(lambda: incoming.state == "ended" and call.state == "ended", what="both ended")
    assert (call.status, call.end_reason) == (487, "cancelled")
    assert incoming.end_reason == "cancelled by the caller"

    call2 = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing again")
    await cb.hangup(EP)  # on-hook while ringing: 486 Busy Here
    await wait_for(lambda: call2.state == "ended", what="A gets the refusal")
    assert call2.status == 486

    missing = await ca.dial(EP, "nobody")
    await wait_for(lambda: missing.state == "ended", what="404")
    assert missing.status == 404


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_registers_over_udp_and_tcp(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                                          transport: str) -> None:
    k = kamailio(kamailios, tmp_path, pkis)
    settings = {"SipEp.TransportConfig[default].TcpEnable": "Enable",
                "SipEp.TransportConfig[default].UdpEnable": "Disable"} if transport == "TCP" else {}
    u = await make_unit(units, tmp_path, pkis, user="bob", registrar=k.udp_address, tls=False, settings=settings)
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    source = f"{u.host}:16000" if transport == "TCP" else u.listening["sip"]
    assert f"REQ REGISTER sip:127.0.0.1:{k.udp_port} from {source} proto={transport.lower()}" in k.log()
    links = u.config.rows("SipEp.TlsPersistentConnectionStatus")
    assert [lk["State"] for lk in links] == (["Up"] if transport == "TCP" else [])
    ids = [n for n, _ in sipep_notes(u)]
    assert 303 not in ids and 310 in ids  # reachable, but no TLS connection to announce


async def test_lost_tls_link_comes_back_and_reregisters(units: list[Unit], kamailios: list[Kamailio],
                                                        tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                        settings={"SipEp.TransportFailbackInterval": 5})
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    k.stop()
    await wait_for(lambda: u.config.rows("SipEp.TlsPersistentConnectionStatus")[0]["State"] == "Down", what="Down")
    assert any(n == 9008 for n, _ in sipep_notes(u)) and any(n == 9001 for n, _ in sipep_notes(u))
    assert u.config.rows("SipEp.GatewayStatus")[0]["State"] == "Server unreachable"
    before = len([n for n, _ in sipep_notes(u) if n == 303])
    k2 = kamailio(kamailios, tmp_path, pkis, tls_only=True, tls_port=k.tls_port)
    await wait_for(lambda: len([n for n, _ in sipep_notes(u) if n == 303]) > before, timeout=12, what="303 again")
    await wait_for(lambda: "REQ REGISTER" in k2.log() and reg_state(u) == "Registered", what="registered again")
    assert u.config.rows("SipEp.TlsPersistentConnectionStatus")[0]["State"] == "Up"
    assert u.config.rows("SipEp.GatewayStatus")[0]["State"] == "Ready"


@pytest.mark.parametrize("method", ["SipOptions", "Ping"])
async def test_keepalive_on_the_tls_link(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                                         method: str) -> None:
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                        settings={"SipEp.SipKeepAliveMethod": method, "SipEp.SipKeepAliveInterval": 1})
    await wait_for(lambda: reg_state(u) == "Registered", what="Registered")
    link = sipep(u).links[0]
    if method == "SipOptions":
        await wait_for(lambda: k.log().count(f"REQ OPTIONS sip:127.0.0.1:{k.tls_port};transport=tls from "
                                             f"{u.host}:16000 proto=tls") >= 2, what="two OPTIONS")
    else:
        await wait_for(lambda: link.connection is not None and link.connection.pongs >= 2, what="two CRLF pongs")
    assert link.state == "Up" and reg_state(u) == "Registered"


async def test_invite_challenged_by_the_proxy(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                              pkis: Pkis) -> None:
    k, a, b = await two_registered_units(units, kamailios, tmp_path, pkis, defines=("WITH_INVITE_AUTH",))
    ca, cb = sipep(a).calls, sipep(b).calls
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    await cb.answer(EP)
    await wait_for(lambda: call.state == "connected", what="connected")
    assert call.invite is not None and call.invite.cseq.seq == 2 and "Proxy-Authorization" in call.invite.headers
    await ca.hangup(EP)
    incoming = cb.calls[-1]
    await wait_for(lambda: incoming.state == "ended", what="B ended")
    assert k.log().count("REQ INVITE sip:bob@127.0.0.1") == 2  # challenged (407), then authorised


class RefusingAnswers(PlainAudio):
    """A media hook that cannot use any answer (as Secure media facing a plain RTP answer)."""

    def answered(self, call: Call, answer: bytes) -> None:
        raise MediaRefused(488)


class RefusingOffers(PlainAudio):
    def answer(self, call: Call, offer: bytes, hold: bool) -> bytes:
        raise MediaRefused(415, "Unsupported Media Type")


async def test_media_hook_refusals(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis) -> None:
    _k, a, b = await two_registered_units(units, kamailios, tmp_path, pkis)
    ca, cb = sipep(a).calls, sipep(b).calls
    cb.media = RefusingOffers(b.host)
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing")
    await cb.answer(EP)  # the hook refuses the offer: 415 instead of 200
    await wait_for(lambda: call.state == "ended", what="A refused")
    assert call.status == 415 and cb.calls[-1].status == 415

    cb.media = PlainAudio(b.host)
    ca.media = RefusingAnswers(a.host)
    await cb.hangup(EP)  # back on hook
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: (c := cb.current(EP)) is not None and c.state == "ringing", what="B ringing again")
    incoming = cb.current(EP)
    assert incoming is not None
    await cb.answer(EP)
    await wait_for(lambda: call.state == "ended" and incoming.state == "ended", what="A hangs up on the answer")
    assert call.end_reason == "media refused (488)" and incoming.end_reason == "remote hangup"
