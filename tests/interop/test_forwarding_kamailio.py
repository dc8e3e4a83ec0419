"""Call forwarding (EpServ) and Diversion (RFC 5806) with real peers: units and baresip registered over TLS to
a Kamailio, all on 127.0.0.x.

* Unconditional: alice's unit calls bob; bob's unit, forwarding unconditionally to carol, answers 302 with a
  Diversion header (``SipEp.DiversionConfig`` DiversionHeader); alice's unit follows the 302 to carol, whose
  unit reads the Diversion of the INVITE it received: its call row shows bob as the party first called.
  With and without the call router (CRout) on the forwarding unit; with Method None, no Diversion.
* To baresip (Debian's, a foreign phone registered over TLS with mandatory SRTP): alice's line is busy in a
  call with carol, bob calls alice, alice's unit forwards on busy to baresip; and alice's line rings without an
  answer, her unit forwards after the no-answer timeout. Each time baresip answers the INVITE bob's unit sends
  after the 302, bob's unit and baresip hear each other's tone, and baresip's own SIP trace shows the Diversion
  header of the INVITE it received (reason user-busy or no-answer).
* A caller follows any 302: a CRout ``SipRedirect-`` destination's too (the call router's redirect reused).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.runtime.unit import Unit
from testkit.baresip import Baresip, BaresipCtrl, start_baresip, wait_registered, write_tone_wav
from testkit.kamailio import Kamailio, start_kamailio
from testkit.pki import Pki
from tests.interop import siplab
from tests.interop.siplab import EPS, USERS, Pkis, heard, sipep, stream, wait_for

pytestmark = pytest.mark.peer

EP = EPS["4102"]
DIVERSION = {"SipEp.DiversionConfig[default].Method": "DiversionHeader"}


def forward(kind: str, address: str, **extra: object) -> dict[str, object]:
    """The settings that turn ``kind`` forwarding on for Phone-Fax1 and activate it toward ``address``."""
    return {f"EpServ.DefaultForward{kind}Enable": "Enable", f"EpServ.Forward{kind}Config[{EP}].Activation": "Active",
            f"EpServ.Forward{kind}Config[{EP}].ForwardingAddress": address, **DIVERSION, **extra}


@pytest.mark.parametrize(("routing", "method"), [(False, "DiversionHeader"), (True, "DiversionHeader"),
                                                 (False, "None")], ids=["direct", "crout", "no-diversion"])
async def test_unconditional_forward_between_units(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                   pkis: Pkis, routing: bool, method: str) -> None:
    k = siplab.kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await siplab.lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address)
    b = await siplab.lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, routing=routing,
                       settings=forward("Unconditional", "carol", **{"SipEp.DiversionConfig[default].Method": method}))
    c = await siplab.lab_unit(units, tmp_path, pkis, user="carol", registrar=k.tls_address)
    await wait_for(lambda: all(siplab.reg_state(u) == "Registered" for u in (a, b, c)), what="three units registered")
    calls_a, calls_b, calls_c = sipep(a).calls, sipep(b).calls, sipep(c).calls
    call = await calls_a.dial(EP, "bob")
    await wait_for(lambda: (i := calls_c.current(EP)) is not None and i.state is CallState.RINGING,
                   what="carol's line ringing")
    incoming = calls_c.current(EP)
    assert incoming is not None and incoming.invite is not None
    values = incoming.invite.headers.get_all("Diversion")
    row = incoming.row()
    if method == "DiversionHeader":
        assert values == [f"<sip:bob@{k.host}>;reason=unconditional;counter=1"], values
        assert (row["diverted_from"], row["diversion_reason"]) == (f"sip:bob@{k.host}", "unconditional"), row
    else:  # Method None: the 302 and the INVITE it leads to carry no Diversion; carol's unit cannot know
        assert values == [] and (row["diverted_from"], row["diversion_reason"]) == ("", ""), (values, row)
    assert row["remote"].startswith("sip:alice@"), row
    # bob's line never rang: its call is listed, forwarded
    forwarded = [r for r in calls_b.rows() if r["endpoint"] == EP]
    assert len(forwarded) == 1 and forwarded[0]["status"] == 302, forwarded
    assert forwarded[0]["end_reason"].startswith("forwarded (unconditional) to sip:carol@"), forwarded
    await calls_c.answer(EP)
    await wait_for(lambda: call.state is CallState.CONNECTED, what="alice's call connected to carol")
    # alice's unit shows whom it called first and where the call went
    assert call.row()["diverted_from"] == f"sip:bob@{k.host}" and call.row()["remote"] == f"sip:carol@{k.host}"
    assert call.row()["diversion_reason"] == ("unconditional" if method == "DiversionHeader" else "unknown")
    await calls_a.hangup(EP)
    await wait_for(lambda: not incoming.active, what="carol's call ended by alice's BYE")


# ---------------------------------------------------------------------------------------------------------------
# baresip as the forwarding target. Kamailio on its own address (see test_baresip_kamailio.py: baresip 1.0.0
# reaches a proxy on 127.0.0.x from 127.0.0.1, and on 127.0.0.1 the proxy would take its ACK for itself).
PROXY_HOST = "127.0.0.10"
BARESIP_TONE, UNIT_TONE = 697.0, 1000.0


@dataclass
class Phone:
    proc: Baresip
    ctrl: BaresipCtrl
    pkis: Pkis  # the lab's certificates for this proxy: the units import its CA


@pytest.fixture
async def phone(tmp_path: Path, pkis: Pkis, kamailios: list[Kamailio]) -> AsyncIterator[tuple[Kamailio, Phone]]:
    """Kamailio (TLS only) on PROXY_HOST and baresip registered to it, auto-answering, tracing its SIP messages,
    playing BARESIP_TONE. The lab's certificates are made here (the proxy's must name PROXY_HOST), apart from the
    module's ``pkis``, which the other tests keep using."""
    pki = Pki("rsa")
    ca = pki.ca("SIP Lab CA")
    crt, key = pki.leaf(ca, PROXY_HOST, dns=("localhost",), ips=(PROXY_HOST,)).write(tmp_path, "proxy")
    leaf = pki.leaf(ca, "baresip", dns=("localhost",), ips=("127.0.0.1",))
    (tmp_path / "baresip.pem").write_bytes(leaf.pem() + leaf.key_pem())
    (tmp_path / "baresip.pem").chmod(0o600)
    (tmp_path / "ca.crt").write_bytes(ca.pem())
    k = start_kamailio(tmp_path / "kamailio", crt, key, {**USERS, "baresip": "baresippw"}, tls_only=True,
                       host=PROXY_HOST)
    kamailios.append(k)
    bdir = tmp_path / "baresip"
    bdir.mkdir()
    proc = start_baresip(bdir, user="baresip", password="baresippw", proxy=k.tls_address, cafile=tmp_path / "ca.crt",
                         certificate=tmp_path / "baresip.pem", answermode="auto", sip_trace=True,
                         source=write_tone_wav(bdir / "tone.wav", BARESIP_TONE, 30.0, level_dbm0=-10.0))
    try:
        ctrl = await BaresipCtrl.connect(proc.host, proc.ctrl_port)
    except BaseException:
        proc.stop()
        raise
    try:
        await wait_registered(proc, ctrl)
        yield k, Phone(proc, ctrl, Pkis(tmp_path, ca, (crt, key), pkis.wrong_name))
    finally:
        try:
            await ctrl.close()
        finally:
            proc.stop()


async def forwarded_to_baresip(units: list[Unit], k: Kamailio, phone: Phone, tmp_path: Path, kind: str,
                               reason: str) -> None:
    """alice's unit forwards ``kind`` to baresip; bob's unit (SRTP, SDES) calls alice (once alice's line is busy in
    a call with carol's unit for OnBusy; call waiting off, else the line would take bob's call as a waiting call and
    not be busy): bob ends up talking with baresip, each hearing the other, and baresip
    received the INVITE with alice's Diversion and ``reason``."""
    pkis = phone.pkis
    alice = await siplab.lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                           settings=forward(kind, "baresip", **{"EpServ.DefaultForwardNoAnswerTimeout": 1000,
                                                                "EpServ.DefaultCallWaitingEnable": "Disable"}))
    bob = await siplab.lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, key_management="Sdes")
    carol = await siplab.lab_unit(units, tmp_path, pkis, user="carol", registrar=k.tls_address)
    await wait_for(lambda: all(siplab.reg_state(u) == "Registered" for u in (alice, bob, carol)),
                   what="units registered")
    calls_a = sipep(alice).calls
    if kind == "OnBusy":
        busy = await sipep(carol).calls.dial(EP, "alice")
        await wait_for(lambda: (c := calls_a.current(EP)) is not None and c.state is CallState.RINGING,
                       what="alice ringing for carol")
        await calls_a.answer(EP)
        await wait_for(lambda: busy.state is CallState.CONNECTED, what="alice busy in a call with carol")
    since = len(phone.ctrl.events)
    call = await sipep(bob).calls.dial(EP, "alice")
    try:
        await phone.ctrl.wait_event("CALL_ESTABLISHED", since=since, timeout=10)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; bob's call {call.row()}; alice's calls {calls_a.rows()}\n"
                             f"{phone.proc.log()[-4000:]}") from None
    await wait_for(lambda: call.state is CallState.CONNECTED, what="bob's call connected to baresip")
    assert call.row()["remote"] == f"sip:baresip@{PROXY_HOST}" and call.row()["diversion_reason"] == reason
    forwarded = [r for r in calls_a.rows() if r["status"] == 302]
    assert len(forwarded) == 1 and forwarded[0]["end_reason"].startswith(f"forwarded ({reason}) to sip:baresip@"), \
        calls_a.rows()
    # the INVITE baresip received (its own trace) carries alice's diversion
    received = [m.split("\n\n", 1)[0] for m in phone.proc.log().split("\nINVITE sip:baresip")[1:]]
    invite = next((m for m in received if f"Call-ID: {call.call_id}" in m), f"no INVITE {call.call_id}: {received}")
    assert f"Diversion: <sip:alice@{PROXY_HOST}>;reason={reason};counter=1" in invite, invite
    stream(call).play_tone(UNIT_TONE, level_dbm0=-10.0)
    await wait_for(lambda: heard(stream(call), BARESIP_TONE), timeout=6, what="bob hearing baresip's tone")
    await sipep(bob).calls.hangup(EP)
    await phone.ctrl.wait_event("CALL_CLOSED", since=since, timeout=5)


async def test_forward_on_busy_to_baresip(units: list[Unit], phone: tuple[Kamailio, Phone], tmp_path: Path) -> None:
    await forwarded_to_baresip(units, *phone, tmp_path, "OnBusy", "user-busy")


async def test_forward_on_no_answer_to_baresip(units: list[Unit], phone: tuple[Kamailio, Phone],
                                               tmp_path: Path) -> None:
    await forwarded_to_baresip(units, *phone, tmp_path, "NoAnswer", "no-answer")


async def test_caller_follows_a_crout_sip_redirect(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                   pkis: Pkis) -> None:
    """bob's unit routes every SIP call to a CRout SipRedirect toward the proxy, the called user rewritten to carol:
    alice's unit follows that 302 as it follows a forwarding unit's (no Diversion: the reason is unknown)."""
    k = siplab.kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await siplab.lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address)
    b = await siplab.lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, routing=True)
    c = await siplab.lab_unit(units, tmp_path, pkis, user="carol", registrar=k.tls_address)
    await wait_for(lambda: all(siplab.reg_state(u) == "Registered" for u in (a, b, c)), what="three units registered")
    cfg = b.config
    cfg.set("CRout.AutoRoutingEnable", "Disable")
    cfg.add_row("CRout.MappingType", {"Name": "away", "Criteria": "CalledSipUsername",
                                      "Transformation": "CalledSipUsername"})
    cfg.add_row("CRout.MappingExpression", {"Name": "away", "Criteria": "<default>", "Transformation": "carol"})
    cfg.add_row("CRout.SipRedirect", {"Name": "away", "DestinationHost": k.tls_address})
    cfg.add_row("CRout.Route", {"SourceCriteria": "sip-default", "PropertiesCriteria": "None", "ExpressionCriteria": "",
                                "Destination": "SipRedirect-away", "Mappings": "away"})
    b.commands["CRout.ApplyConfig"]()
    call = await sipep(a).calls.dial(EP, "bob")
    calls_c = sipep(c).calls
    await wait_for(lambda: (i := calls_c.current(EP)) is not None and i.state is CallState.RINGING,
                   what="carol ringing after the redirect")
    assert call.row()["remote"] == f"sip:carol@{k.tls_address}", call.row()
    assert (call.row()["diverted_from"], call.row()["diversion_reason"]) == (f"sip:bob@{k.host}", "unknown")
    await calls_c.answer(EP)
    await wait_for(lambda: call.state is CallState.CONNECTED, what="alice's call connected to carol")
    assert sipep(b).calls.current(EP) is None  # bob's line never rang
