"""SipEp registration bindings at a real registrar (Kamailio, TLS, loopback).

A unit registered with ``;transport=tls`` in its Contact (``SipEp.TransportConfig.ContactEnable``) has that
setting changed and SipEp restarted: the restart's un-REGISTER names exactly the Contact registered, so the
registrar's 200 to the next REGISTER lists one binding, the new one (before, the old binding stayed for up to
an hour and INVITEs forked to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.protocols.sip.message import Request, Response
from emulator.protocols.sip.target import Target
from emulator.runtime.unit import Unit
from testkit.kamailio import Kamailio
from tests.interop.siplab import Pkis, kamailio, make_unit, reg_state, sipep, wait_for

pytestmark = pytest.mark.peer


async def test_restart_after_a_contact_change_removes_the_old_binding(units: list[Unit], kamailios: list[Kamailio],
                                                                      tmp_path: Path, pkis: Pkis) -> None:
    k = kamailio(kamailios, tmp_path, pkis)
    u = await make_unit(units, tmp_path, pkis, user="alice", registrar=k.tls_address,
                        settings={"SipEp.TransportConfig[default].ContactEnable": "Enable"})
    await wait_for(lambda: reg_state(u) == "Registered", what="registered")
    engine = sipep(u)
    exchanges: list[tuple[Request, Response | None]] = []
    send = engine.ua.request

    async def spy(request: Request, target: Target, gateway: str | None = None, **kw: Any) -> Response | None:
        response = await send(request, target, gateway, **kw)
        if request.method == "REGISTER":
            exchanges.append((request, response))
        return response

    engine.ua.request = spy  # type: ignore[method-assign]
    bound = engine.registrations[0].contact
    assert bound is not None and bound.uri.params.get("transport") == "tls"
    u.config.set("SipEp.TransportConfig[default].ContactEnable", "Disable")
    await u.restart_service("SipEp")
    await wait_for(lambda: reg_state(u) == "Registered" and any(
        r is not None and r.status == 200 and req.headers.get("Expires") != "0" for req, r in exchanges),
        what="registered again")
    last = [r for q, r in exchanges if q.headers.get("Expires") != "0" and r is not None and r.status == 200][-1]
    bindings = [c.uri for c in last.contact]
    assert len(bindings) == 1 and "transport" not in bindings[0].params, [str(b) for b in bindings]
    unregister = [(q, r) for q, r in exchanges if q.headers.get("Expires") == "0"]  # 401, then with credentials
    assert unregister and all(q.contact[0].uri == bound.uri for q, _ in unregister)
    assert unregister[-1][1] is not None and unregister[-1][1].status == 200
