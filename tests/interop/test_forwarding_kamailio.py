"""Call forwarding (EpServ) and Diversion (RFC 5806) with real peers: units and baresip registered over TLS to
a Kamailio, all on 127.0.0.x.

* Unconditional: alice's unit calls bob; bob's unit, forwarding unconditionally to carol, answers 302 with a
  Diversion header (``SipEp.DiversionConfig`` DiversionHeader); alice's unit follows the 302 to carol, whose
  unit reads the Diversion of the INVITE it received: its call row shows bob as the party first called.
  With and without the call router (CRout) on the forwarding unit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.sipep.call_state import CallState
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.siplab import EPS, Pkis, kamailio, lab_unit, reg_state, sipep, wait_for

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
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await lab_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address)
    b = await lab_unit(units, tmp_path, pkis, user="bob", registrar=k.tls_address, routing=routing,
                       settings=forward("Unconditional", "carol", **{"SipEp.DiversionConfig[default].Method": method}))
    c = await lab_unit(units, tmp_path, pkis, user="carol", registrar=k.tls_address)
    await wait_for(lambda: all(reg_state(u) == "Registered" for u in (a, b, c)), what="three units registered")
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
