"""T.38 fax between two units through a real Kamailio: alice's fax machine sends a TIFF-F page in a call with bob;
alice's unit recognises the machine's CNG on its line and re-INVITEs to ``m=image ... udptl t38``; bob's unit
takes it and its fax machine receives the page into its fax directory over UDPTL with redundancy. The page bob
received holds the pixels alice sent (libtiff's ``tiffcmp``), and both units raise Mipt 9004 and 9005."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.sip.transaction import TimerConfig
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from testkit.spandsp_fax import make_page, same_page
from tests.interop.siplab import (
    Pkis,
    endpoint_action,
    kamailio,
    lab_unit,
    reg_state,
    sipep,
    stream,
    wait_for,
)

pytestmark = pytest.mark.peer

# SIP timers quicker than the DGW's, but a re-INVITE may take seconds on a loaded machine (Timer B 6.4 s)
TIMERS = TimerConfig(t1=0.1, t2=1.0, t4=1.0, d=1.0)
FAX = {"Mipt.DefaultSecurityRtpMode": "Unsecure", "Mipt.DefaultCodecT38RedundancyLevel": 2,
       "Mipt.DefaultCodecT38FinalFramesRedundancy": 1, "Mipt.IpTransportT38BasePort": 7100}


async def _pair(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis,
                settings: dict[str, Any]) -> tuple[Unit, Unit]:
    proxy = kamailio(kamailios, tmp_path, pkis).udp_address
    a, b = [await lab_unit(units, tmp_path, pkis, user=user, registrar=proxy, key_management="Sdes", settings=settings,
                           tls=False, timers=TIMERS) for user in ("alice", "bob")]
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return a, b


async def _connected(a: Unit, b: Unit) -> tuple[Any, Any]:
    """Alice dials bob; bob's user lifts the handset when it rings (the offhook action)."""
    call = await sipep(a).calls.dial("Phone-Fax1", "bob")
    await wait_for(lambda: (sipep(b).calls.current("Phone-Fax1") or call).state == "ringing", what="bob rings")
    await endpoint_action(b, "offhook")
    incoming = sipep(b).calls.connected("Phone-Fax1")
    await wait_for(lambda: call.state == "connected" and incoming.acked.is_set(), what="connected")
    return call, incoming


async def test_two_units_exchange_a_fax_page_over_t38(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                      pkis: Pkis) -> None:
    a, b = await _pair(units, kamailios, tmp_path, pkis, FAX)
    fax_a = Path(a.state_dir) / "fax"
    fax_a.mkdir(parents=True, exist_ok=True)
    sent = make_page(fax_a / "page.tif", stripes=16)
    call, incoming = await _connected(a, b)
    out = endpoint_action(b, "fax-receive", file="in.tif")
    assert out["fax"]["state"] == "tones" and out["fax"]["mode"] == "receive"  # in a call: its CED at once
    out = endpoint_action(a, "fax-send", file="page.tif")
    assert out["fax"]["mode"] == "send"

    def job(u: Unit) -> dict[str, Any]:
        return endpoint_action(u, "get-fax")["fax"]

    await wait_for(lambda: job(a)["state"] == "t38" and job(b)["state"] == "t38", timeout=10, what="T.38 on both")
    assert b"m=image 7100 udptl t38" in call.local_sdp  # alice's re-INVITE, from her T.38 base port
    assert b"a=T38FaxUdpEC:t38UDPRedundancy" in call.remote_sdp and b"a=T38FaxFillBitRemoval:0" in call.remote_sdp
    assert b"m=image " in incoming.local_sdp
    await wait_for(lambda: job(a)["state"] in ("done", "failed") and job(b)["state"] in ("done", "failed"),
                   timeout=90, what="the fax ends on both sides")
    assert job(a)["state"] == "done" and job(b)["state"] == "done", (job(a), job(b))
    assert job(a)["pages"] == 1 and job(b)["pages"] == 1
    received = Path(b.state_dir) / "fax" / "in.tif"
    assert same_page(sent, received)
    assert not same_page(make_page(tmp_path / "other.tif", stripes=30), received)  # the comparison can fail
    udptl = endpoint_action(b, "get-fax")["udptl"]
    assert udptl["redundancy"] == 2 and udptl["redundant"] > udptl["received"], udptl  # two secondaries a packet
    assert udptl["malformed"] == 0 and udptl["lost"] == 0, udptl
    for u in (a, b):
        notes = {e.msg_id: e.message for e in u.notifications if e.service == "Mipt"}
        assert 9004 in notes and "T.38" in notes[9004], notes
        assert 9005 in notes and "success" in notes[9005] and "1 page" in notes[9005], notes
    await sipep(a).calls.hangup("Phone-Fax1")
    await wait_for(lambda: incoming.state == "ended", what="BYE")


@pytest.mark.parametrize("behaviour", ["DropCall", "ReEstablishAudio", "ReInviteForClearChannelOnly",
                                       "UsePreviousMediaNegotiation"])
async def test_a_peer_refusing_t38_gets_the_behaviour_configured(units: list[Unit], kamailios: list[Kamailio],
                                                                 tmp_path: Path, pkis: Pkis, behaviour: str) -> None:
    """Bob's unit has T.38 disabled (Mipt.DefaultCodecT38DataEnable): it answers alice's image-only re-INVITE 488;
    alice does what her SipEp.BehaviorOnT38InviteNotAccepted[488] row names."""
    a, b = await _pair(units, kamailios, tmp_path, pkis, {"Mipt.DefaultSecurityRtpMode": "Unsecure"})
    a.config.set("SipEp.BehaviorOnT38InviteNotAccepted[488].Behavior", behaviour)
    b.config.set("Mipt.DefaultCodecT38DataEnable", "Disable")
    (Path(a.state_dir) / "fax").mkdir(parents=True, exist_ok=True)
    make_page(Path(a.state_dir) / "fax" / "page.tif")
    call, incoming = await _connected(a, b)
    first_offer = incoming.remote_sdp
    endpoint_action(a, "fax-send", file="page.tif")

    def mipt(msg: int) -> list[str]:
        return [m for i, m in ((e.msg_id, e.message) for e in a.notifications if e.service == "Mipt") if i == msg]

    if behaviour == "DropCall":
        await wait_for(lambda: call.state == "ended" and incoming.state == "ended", what="the call dropped", timeout=10)
        assert endpoint_action(a, "get-fax")["fax"]["state"] == "failed"
        assert any("failure" in m and "T.38 refused (488)" in m for m in mipt(9005)), mipt(9005)
        return
    await wait_for(lambda: any(f"T.38 refused (488): {behaviour}" in m for m in mipt(9004)), timeout=10,
                   what="Mipt 9004 naming the refusal and the behaviour")
    assert call.state == incoming.state == "connected"
    assert endpoint_action(a, "get-fax")["fax"]["state"] == "passthrough"
    offered = incoming.remote_sdp.decode()
    if behaviour == "UsePreviousMediaNegotiation":
        assert incoming.remote_sdp == first_offer  # no other re-INVITE: the 488 left the session as it was
    else:
        assert "m=image" not in offered and offered != first_offer.decode()
        formats = offered.split("m=audio ", 1)[1].split("\r\n", 1)[0].split()[2:]
        if behaviour == "ReInviteForClearChannelOnly":  # no transparent codec carried by default: G.711 only
            assert set(formats) <= {"0", "8"}, offered
        else:
            assert "0" in formats
    assert stream(call).direction.sends and stream(incoming).packets_received > 0
    await sipep(a).calls.hangup("Phone-Fax1")


async def test_g711_pass_through_carries_the_page_when_t38_is_refused(units: list[Unit], kamailios: list[Kamailio],
                                                                      tmp_path: Path, pkis: Pkis) -> None:
    """Bob's unit has T.38 disabled and answers alice's switch 488; alice goes on as her 488 row says
    (ReInviteForClearChannelOnly, factory: G.711 again) and both fax machines run their modems in the audio
    (voice-band data through G.711 and the VBD jitter buffer): the page arrives all the same."""
    a, b = await _pair(units, kamailios, tmp_path, pkis, {"Mipt.DefaultSecurityRtpMode": "Unsecure"})
    b.config.set("Mipt.DefaultCodecT38DataEnable", "Disable")
    fax_a = Path(a.state_dir) / "fax"
    fax_a.mkdir(parents=True, exist_ok=True)
    sent = make_page(fax_a / "page.tif", stripes=12)
    call, incoming = await _connected(a, b)
    endpoint_action(b, "fax-receive", file="in.tif")
    endpoint_action(a, "fax-send", file="page.tif")

    def job(u: Unit) -> dict[str, Any]:
        return endpoint_action(u, "get-fax")["fax"]

    await wait_for(lambda: job(a)["state"] == "passthrough" and job(b)["state"] == "passthrough", timeout=10,
                   what="both in pass-through")
    await wait_for(lambda: job(a)["state"] in ("done", "failed") and job(b)["state"] in ("done", "failed"),
                   timeout=120, what="the fax ends on both sides")
    assert job(a)["state"] == "done" and job(b)["state"] == "done", (job(a), job(b))
    assert same_page(sent, Path(b.state_dir) / "fax" / "in.tif")
    assert stream(call).codec in ("PCMU", "PCMA") and b"m=image" not in incoming.remote_sdp
    await sipep(a).calls.hangup("Phone-Fax1")


@pytest.mark.parametrize("mode", ["ReInviteOnFaxT38Only", "ReInviteOnNoNegotiatedDataCodec", "ReInviteUnconditional"])
async def test_without_t38_machine_detection_re_invites_for_a_data_codec_as_configured(
        units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, mode: str) -> None:
    """Alice's T.38 is disabled and her call runs G.729: on her machine's CNG, SipEp.InteropBehaviorOnMachineDetection
    decides whether she re-INVITEs with the data codecs (G.711) before going on in pass-through."""
    g729_first = {"Mipt.DefaultSecurityRtpMode": "Unsecure", "Mipt.DefaultCodecG729VoicePriority": 10,
                  "Mipt.DefaultCodecG729MinPTime": 20}
    a, b = await _pair(units, kamailios, tmp_path, pkis, g729_first)
    a.config.set("Mipt.DefaultCodecT38DataEnable", "Disable")
    a.config.set("SipEp.InteropBehaviorOnMachineDetection", mode)
    (Path(a.state_dir) / "fax").mkdir(parents=True, exist_ok=True)
    make_page(Path(a.state_dir) / "fax" / "page.tif")
    call, incoming = await _connected(a, b)
    assert stream(call).codec == "G729"
    first_offer = incoming.remote_sdp
    endpoint_action(a, "fax-send", file="page.tif")
    await wait_for(lambda: endpoint_action(a, "get-fax")["fax"]["state"] == "passthrough", timeout=10,
                   what="pass-through")
    notes = [e.message for e in a.notifications if e.service == "Mipt" and e.msg_id == 9004]
    if mode == "ReInviteOnFaxT38Only":
        assert incoming.remote_sdp == first_offer and stream(call).codec == "G729"
        assert not any("re-INVITE" in n for n in notes), notes
    else:
        offered = incoming.remote_sdp.decode().split("m=audio ", 1)[1].split("\r\n", 1)[0].split()[2:]
        assert set(offered) <= {"0", "8"} and stream(call).codec in ("PCMU", "PCMA"), offered
        assert any("re-INVITE for a data codec (200)" in n for n in notes), notes
    await sipep(a).calls.hangup("Phone-Fax1")


@pytest.mark.parametrize(("mode", "allow", "t38"), [("SecureWithFallback", "Enable", True),
                                                    ("SecureWithFallback", "Disable", False),
                                                    ("Secure", "Enable", False)])
async def test_t38_in_an_srtp_call_only_as_allowed(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path,
                                                   pkis: Pkis, mode: str, allow: str, t38: bool) -> None:
    """An SRTP call (SDES) switches to unsecure T.38 only in SecureWithFallback with Mipt.AllowUnsecureT38WithSrtp;
    otherwise the fax goes on in pass-through (still SRTP)."""
    a, b = await _pair(units, kamailios, tmp_path, pkis, {"Mipt.DefaultSecurityRtpMode": mode,
                                                          "Mipt.AllowUnsecureT38WithSrtp": allow})
    (Path(a.state_dir) / "fax").mkdir(parents=True, exist_ok=True)
    make_page(Path(a.state_dir) / "fax" / "page.tif")
    call, incoming = await _connected(a, b)
    assert stream(call).srtp is not None and stream(incoming).srtp is not None
    endpoint_action(a, "fax-send", file="page.tif")
    await wait_for(lambda: endpoint_action(a, "get-fax")["fax"]["state"] in ("t38", "passthrough"), timeout=10,
                   what="the switch")
    assert (endpoint_action(a, "get-fax")["fax"]["state"] == "t38") is t38
    assert (b"m=image" in call.local_sdp) is t38  # no image offer at all when T.38 may not replace SRTP
    await sipep(a).calls.hangup("Phone-Fax1")
