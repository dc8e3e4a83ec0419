"""Several calls on one line (EpServ): call waiting with its tone and hook-flash swaps, attended transfer with
Replaces (RFC 5589 §7, RFC 3891) between three units, and a local three-way conference where every participant
hears the two others. Three 4102 units (alice, bob, carol) registered over TLS to one Kamailio, SRTP keyed by SDES;
each line's phone plays its own tone (EndpointAudio), so who hears whom is measured, not assumed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.mipt.endpoint_audio import EndpointAudio
from emulator.engines.sipep.call_state import CallState
from emulator.engines.sipep.offer_answer import CallError
from emulator.protocols.media.mixer import levels_dbm0
from emulator.runtime.unit import Unit
from testkit.baresip import read_wav_pcm
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, endpoint_action, heard, kamailio, lab_unit, reg_state, sipep, stream, wait_for

pytestmark = pytest.mark.peer

EP = "Phone-Fax1"
TONE = {"alice": 600.0, "bob": 1000.0, "carol": 1400.0}  # each line's phone, far from each other's harmonics
HEARD = -35.0  # dBm0: a tone above this is heard
ABSENT = -50.0  # a tone below this is not


async def three_units(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                      routing: bool = False, **settings: dict[str, Any]) -> tuple[Unit, Unit, Unit]:
    """alice, bob and carol registered over TLS; each phone plays its tone. ``settings``: per user; ``routing``:
    every call goes through the units' call routers (CRout), as in a lab."""
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    made = []
    for user in ("alice", "bob", "carol"):
        u = await lab_unit(units, tmp_path, pkis, user=user, registrar=k.tls_address, key_management="Sdes",
                           settings=settings.get(user), routing=routing)
        sipep(u).calls.media.set_audio(EP, EndpointAudio(tones=(TONE[user],)))  # type: ignore[attr-defined]
        made.append(u)
    a, b, c = made
    await wait_for(lambda: all(reg_state(u) == "Registered" for u in made), what="three registered")
    return a, b, c


async def connected(caller: Unit, callee: Unit, number: str) -> tuple[Any, Any]:
    """``caller`` dials ``number``; ``callee``'s line answers (its ringing or waiting call)."""
    ca, cb = sipep(caller).calls, sipep(callee).calls
    call = await ca.dial(EP, number)
    await wait_for(lambda: any(c.state is CallState.RINGING for c in cb.lines.of(EP, cb.calls)), what="ringing")
    incoming = next(c for c in cb.lines.of(EP, cb.calls) if c.state is CallState.RINGING)
    if not incoming.waiting:
        await cb.answer(EP)
        await wait_for(lambda: call.state is CallState.CONNECTED, what="connected")
    return call, incoming


def recorded_levels(u: Unit, name: str) -> dict[float, float]:
    """The tones' levels over the last second of a recording in ``u``'s audio directory."""
    _, _, _, pcm = read_wav_pcm(Path(u.state_dir) / "audio" / name)
    return levels_dbm0(pcm[-16000:], TONE.values())


@pytest.mark.parametrize("routing", [False, True], ids=["direct", "crout"])
async def test_call_waiting_tone_and_flash_swaps_calls(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                        pkis: Pkis, routing: bool) -> None:
    a, b, c = await three_units(units, kamailios, tmp_path, pkis, routing=routing)
    cb = sipep(b).calls
    cb.media.set_audio(EP, EndpointAudio(tones=(TONE["bob"],), record="bob.wav"))  # type: ignore[attr-defined]
    assert {r["EpId"]: r["State"] for r in b.config.rows("EpServ.CallWaitingStatus")}[EP] == "Active"
    from_a, at_b_a = await connected(a, b, "bob")
    from_c = await sipep(c).calls.dial(EP, "bob")
    await wait_for(lambda: from_c.state is CallState.ALERTING, what="carol hears 180 (call waiting)")
    waiting = cb.lines.waiting(EP, cb.calls)
    assert waiting is not None and waiting.row()["waiting"] and cb.current(EP) is at_b_a
    # the line (not alice) hears the country's call-waiting tone: NorthAmerica1 440 Hz, 300 ms every 10 s
    lines = cb.media.lines  # type: ignore[attr-defined]
    assert lines.tone_playing(EP) == "CallWaiting"
    await wait_for(lambda: lines.hears(EP, [440.0])[440.0] > HEARD, timeout=12, what="the call-waiting tone heard")

    after = await endpoint_action(b, "flash")  # answers carol, holds alice
    assert after["call"]["id"] == waiting.id and after["call"]["state"] == "connected"
    await wait_for(lambda: from_c.state is CallState.CONNECTED and from_a.remote_hold, what="carol in, alice held")
    assert lines.tone_playing(EP) is None
    await wait_for(lambda: heard(stream(waiting), TONE["carol"]) and heard(stream(from_c), TONE["bob"]),
                   what="bob and carol hear each other")

    after = await endpoint_action(b, "flash")  # swaps: carol held, alice back
    assert after["call"]["id"] == at_b_a.id
    await wait_for(lambda: from_c.remote_hold and not from_a.remote_hold, what="swapped")
    await wait_for(lambda: heard(stream(at_b_a), TONE["alice"]) and heard(stream(from_a), TONE["bob"]),
                   what="bob and alice hear each other again")
    await sipep(c).calls.hangup(EP)
    await sipep(a).calls.hangup(EP)
    await wait_for(lambda: cb.current(EP) is None, what="bob's line idle")
    # the line's first call recorded into the phone's file, the waiting one beside it: two files, each whole
    first, second = recorded_levels(b, "bob.wav"), recorded_levels(b, f"bob-call{waiting.id}.wav")
    assert first[TONE["alice"]] > HEARD and first[TONE["carol"]] < ABSENT, first
    assert second[TONE["carol"]] > HEARD and second[TONE["alice"]] < ABSENT, second
    cb.media.set_audio(EP, EndpointAudio(tones=(TONE["bob"],)))  # type: ignore[attr-defined]

    # the user's own setting off (what the activation codes write): a second caller is busy, as without the service
    b.config.set(f"EpServ.CallWaitingUserConfig[{EP}].State", "Inactive")
    assert {r["EpId"]: r["State"] for r in b.config.rows("EpServ.CallWaitingStatus")}[EP] == "Inactive"
    await connected(a, b, "bob")
    busy = await sipep(c).calls.dial(EP, "bob")
    await wait_for(lambda: busy.state is CallState.ENDED, what="carol refused")
    assert busy.status == 486


@pytest.mark.parametrize(("way", "routing"), [("hangup", False), ("action", True)], ids=["hangup", "action-crout"])
async def test_attended_transfer_with_replaces(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                              pkis: Pkis, way: str, routing: bool) -> None:
    """bob holds alice, calls carol, then transfers alice to carol: by hanging up (the phone's way) or by the
    transfer-attended action naming alice's call (with the units' call routers in the way)."""
    a, b, c = await three_units(units, kamailios, tmp_path, pkis, routing=routing)
    ca, cb, cc = sipep(a).calls, sipep(b).calls, sipep(c).calls
    assert {r["EpId"]: (r["BlindState"], r["AttendedState"]) for r in b.config.rows("EpServ.TransferStatus")}[EP] == \
        ("Active", "Active")
    a_to_b, b_from_a = await connected(a, b, "bob")
    await endpoint_action(b, "flash")  # alice held; dial tone for a second call
    await wait_for(lambda: a_to_b.remote_hold, what="alice held")
    lines = cb.media.lines  # type: ignore[attr-defined]
    assert lines.tone_playing(EP) == "Dial" and cb.line.wants_second_call(EP)
    heard_now = lines.hears(EP, [350.0, 440.0])  # NorthAmerica1's dial tone, continuous
    assert heard_now[350.0] > HEARD and heard_now[440.0] > HEARD, heard_now
    b_to_c, c_from_b = await connected(b, c, "carol")
    assert lines.tone_playing(EP) is None and not cb.line.wants_second_call(EP)
    assert cb.current(EP) is b_to_c and cb.lines.held(EP, cb.calls) is b_from_a

    if way == "hangup":
        await cb.hangup(EP)  # the phone's way: hanging up with a call held and one connected transfers
    else:
        out = await endpoint_action(b, "transfer-attended", call=b_from_a.id)
        assert out["call"]["id"] == b_from_a.id and out["call"]["transfer"] in ("pending", "done")
    await wait_for(lambda: len(cc.lines.of(EP, cc.calls)) == 1 and cc.current(EP) is not c_from_b, what="replaced")
    new_at_c = cc.current(EP)
    assert new_at_c is not None and new_at_c.invite is not None
    replaces = new_at_c.invite.headers.get("Replaces")  # the INVITE as carol received it
    assert replaces is not None and replaces.startswith(c_from_b.call_id + ";")
    assert new_at_c.replaces == c_from_b.call_id and new_at_c.remote_uri.startswith("sip:alice@")
    await wait_for(lambda: not c_from_b.active and not b_from_a.active and not b_to_c.active, what="bob out")
    assert c_from_b.end_reason == "replaced" and b_from_a.transfer == "done"
    assert b_to_c.end_reason == "remote hangup" and cb.current(EP) is None
    a_to_c = ca.current(EP)
    assert a_to_c is not None and a_to_c is not a_to_b and a_to_c.state is CallState.CONNECTED
    await wait_for(lambda: heard(stream(a_to_c), TONE["carol"]) and heard(stream(new_at_c), TONE["alice"]),
                   what="alice and carol hear each other")



async def test_replaces_naming_no_dialog_is_481(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                pkis: Pkis) -> None:
    """RFC 3891 §3 at the target: an INVITE with Replaces naming no dialog of the unit is refused 481 (the line does
    not ring); one naming a confirmed dialog with early-only 486; one naming it plainly is answered at once and the
    replaced dialog ended with BYE."""
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes")
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, key_management="Sdes")
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    ca, cb = sipep(a).calls, sipep(b).calls
    ca.invite_headers[EP] = [("Replaces", "no-such-call@127.0.0.9;to-tag=x;from-tag=y")]
    call = await ca.dial(EP, "bob")
    await wait_for(lambda: call.state is CallState.ENDED, what="refused")
    assert call.status == 481 and cb.current(EP) is None

    # a Replaces naming bob's confirmed dialog with early-only: 486 (§3); without it, the new call replaces the old
    old, at_b = await connected(a, b, "bob")
    d = old.dialog
    assert d is not None
    for early_only, status in ((True, 486), (False, None)):
        value = f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}" + (";early-only" if early_only else "")
        ca.invite_headers[EP] = [("Replaces", value)]
        new = await ca.dial(EP, "bob", transferred=True)  # a second call of alice's line, as a transferee places
        if status is not None:
            await wait_for(lambda new=new: new.state is CallState.ENDED, what="early-only refused")
            assert new.status == status and at_b.active
        else:
            await wait_for(lambda new=new: new.state is CallState.CONNECTED and not old.active, what="replaced")
            assert not at_b.active and at_b.end_reason == "replaced" and old.end_reason == "remote hangup"
            assert cb.current(EP) is not None and cb.current(EP).replaces == d.call_id


async def test_three_way_conference_each_hears_the_two_others(units: list[Unit], kamailios: list[Kamailio],
                                                              tmp_path: Path, pkis: Pkis) -> None:
    a, b, c = await three_units(units, kamailios, tmp_path, pkis)
    cb = sipep(b).calls
    cb.media.set_audio(EP, EndpointAudio(tones=(TONE["bob"],), record="bob.wav"))  # type: ignore[attr-defined]
    assert {r["EpId"]: r["State"] for r in b.config.rows("EpServ.ConferenceStatus")}[EP] == "Active"
    a_to_b, b_from_a = await connected(a, b, "bob")
    await endpoint_action(b, "flash")
    await wait_for(lambda: a_to_b.remote_hold, what="alice held")
    b_to_c, c_from_b = await connected(b, c, "carol")
    out = await endpoint_action(b, "conference")
    assert out["call"]["conference"] and b_from_a.conference and b_to_c.conference
    await wait_for(lambda: not a_to_b.remote_hold, what="alice resumed into the conference")
    for u, call in ((a, a_to_b), (c, c_from_b)):
        (Path(u.state_dir) / "audio").mkdir(parents=True, exist_ok=True)
        stream(call).record(Path(u.state_dir) / "audio" / "conf.wav")
    await asyncio.sleep(2.5)
    for call in (a_to_b, c_from_b):
        stream(call).record(None)
    at_a, at_c = recorded_levels(a, "conf.wav"), recorded_levels(c, "conf.wav")
    assert at_a[TONE["bob"]] > HEARD and at_a[TONE["carol"]] > HEARD, at_a
    assert at_c[TONE["bob"]] > HEARD and at_c[TONE["alice"]] > HEARD, at_c
    assert at_a[TONE["alice"]] < ABSENT and at_c[TONE["carol"]] < ABSENT  # nobody hears himself
    at_b = cb.media.lines.hears(EP, list(TONE.values()))  # type: ignore[attr-defined]
    assert at_b[TONE["alice"]] > HEARD and at_b[TONE["carol"]] > HEARD, at_b

    await sipep(c).calls.hangup(EP)  # one far end leaves: the other call goes on, no longer mixed
    await wait_for(lambda: not b_to_c.active and not b_from_a.conference, what="conference over")
    line = recorded_levels(b, "bob-conference.wav")  # the line's recording while the conference lasted
    assert line[TONE["alice"]] > HEARD and line[TONE["carol"]] > HEARD and line[TONE["bob"]] < ABSENT, line
    assert cb.current(EP) is b_from_a
    await cb.hangup(EP)
    await wait_for(lambda: not a_to_b.active, what="alice released")

    b.config.set("EpServ.DefaultConferenceEnable", "Disable")
    with pytest.raises(CallError):
        await cb.conference(EP)


async def test_flash_transmitted_by_sip_info(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                             pkis: Pkis) -> None:
    """EpServ.DefaultCallHookFlashProcessing TransmitUsingSignalingProtocol: the flash goes to the far end in a SIP
    INFO (body per SipEp.InteropInfoDtmfRelayFlashEvent), the call is not held; the far end counts it."""
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address, key_management="Sdes")
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, key_management="Sdes",
                       settings={"EpServ.DefaultCallHookFlashProcessing": "TransmitUsingSignalingProtocol"})
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    from_a, at_b = await connected(a, b, "bob")
    for n, form in enumerate(("Disable", "EvR", "Ev16"), 1):
        b.config.set("SipEp.InteropInfoDtmfRelayFlashEvent", form)
        await endpoint_action(b, "flash")
        await wait_for(lambda n=n: from_a.flashes == n, what=f"alice counts the flash ({form})")
    assert not at_b.local_hold and not from_a.remote_hold and from_a.row()["flashes"] == 3
    b.config.set("EpServ.DefaultCallHookFlashProcessing", "ProcessLocally")
    await endpoint_action(b, "flash")  # now processed by the unit: the call is held for a second call
    await wait_for(lambda: from_a.remote_hold, what="alice held")
    assert from_a.flashes == 3
    await endpoint_action(b, "flash")  # again: back to the held call
    await wait_for(lambda: not from_a.remote_hold, what="alice back")

    # the services switched off: the hold is refused, a flash does nothing, a blind transfer is refused
    cb = sipep(b).calls
    b.config.set("EpServ.DefaultHoldEnable", "Disable")
    assert {r["EpId"]: r["State"] for r in b.config.rows("EpServ.HoldStatus")}[EP] == "Inactive"
    with pytest.raises(CallError, match="hold service is disabled"):
        await cb.hold(EP)
    await endpoint_action(b, "flash")
    await asyncio.sleep(0.3)
    assert not at_b.local_hold and not from_a.remote_hold
    b.config.set("EpServ.DefaultTransferBlindEnable", "Disable")
    with pytest.raises(CallError, match="blind transfer service is disabled"):
        await cb.transfer(EP, "carol")
    assert from_a.state is CallState.CONNECTED


SEMI_ATTENDED = {
    "SemiAttended": {"SipEp.BlindTransferMethod": "SemiAttended"},
    "SemiAttendedConfirmed": {"SipEp.BlindTransferMethod": "SemiAttendedConfirmed",
                              "SipEp.InteropPendingBlindTransferTimeout": 20},
    # waiting for the confirmed dialog, which never comes: after the pending timeout, cancelled and blind
    "WaitConfirmedTimeout": {"SipEp.BlindTransferMethod": "SemiAttended",
                             "SipEp.InteropWaitConfirmedDialogForBlindTransfer": "Enable",
                             "SipEp.InteropPendingBlindTransferTimeout": 5},
}


@pytest.mark.parametrize("method", sorted(SEMI_ATTENDED))
async def test_hanging_up_while_the_second_call_rings(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                      pkis: Pkis, method: str) -> None:
    """Semi-attended transfer (SipEp.BlindTransferMethod): bob holds alice, calls carol and hangs up while carol's
    line rings. SemiAttended: the ringing call is cancelled and alice is REFERred to carol blind (her INVITE has no
    Replaces). SemiAttendedConfirmed: the transfer waits for carol's answer, then REFERs with Replaces; waiting
    (InteropWaitConfirmedDialogForBlindTransfer) longer than InteropPendingBlindTransferTimeout goes blind."""
    a, b, c = await three_units(units, kamailios, tmp_path, pkis, bob=SEMI_ATTENDED[method])
    ca, cb, cc = sipep(a).calls, sipep(b).calls, sipep(c).calls
    a_to_b, b_from_a = await connected(a, b, "bob")
    await endpoint_action(b, "flash")
    await wait_for(lambda: a_to_b.remote_hold, what="alice held")
    b_to_c = await cb.dial(EP, "carol")
    await wait_for(lambda: b_to_c.state is CallState.ALERTING, what="carol rings")
    c_from_b = cc.current(EP)
    assert c_from_b is not None
    await cb.hangup(EP)
    if method != "SemiAttendedConfirmed":
        if method == "WaitConfirmedTimeout":
            await asyncio.sleep(1.0)
            assert c_from_b.active and b_from_a.transfer == "pending"  # still waiting for carol's answer
        await wait_for(lambda: not c_from_b.active and c_from_b.status == 487, timeout=12,
                       what="bob's call to carol cancelled")
        await wait_for(lambda: cc.current(EP) not in (None, c_from_b) and cc.current(EP).state is CallState.RINGING,
                       what="alice's call rings carol")
        from_alice = cc.current(EP)
        assert from_alice is not None and from_alice.invite is not None
        assert from_alice.invite.headers.get("Replaces") is None and from_alice.remote_uri.startswith("sip:alice@")
        await cc.answer(EP)
    else:
        await asyncio.sleep(0.5)
        assert b_to_c.state is CallState.ALERTING and b_from_a.transfer == "pending"  # waiting for the answer
        await cc.answer(EP)
        await wait_for(lambda: cc.current(EP) is not c_from_b and cc.current(EP) is not None, what="replaced")
        from_alice = cc.current(EP)
        assert from_alice is not None and from_alice.invite is not None
        assert str(from_alice.invite.headers.get("Replaces") or "").startswith(c_from_b.call_id + ";")
    await wait_for(lambda: not b_from_a.active and not b_to_c.active and cb.current(EP) is None, what="bob out")
    a_to_c = ca.current(EP)
    assert a_to_c is not None and a_to_c is not a_to_b
    await wait_for(lambda: a_to_c.state is CallState.CONNECTED, what="alice with carol")
    await wait_for(lambda: heard(stream(a_to_c), TONE["carol"]) and heard(stream(from_alice), TONE["alice"]),
                   what="alice and carol hear each other")
