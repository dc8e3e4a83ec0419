"""emulator.ops.snapshots: the one view of calls, endpoints and streams that the API (``GET /calls``,
``/endpoints``) and the CLI (``calls``) show, read through the engines' public names."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.engines.aaa import AuthResult
from emulator.engines.mipt.call_media import CallMediaState
from emulator.engines.sipep.calls import Call, CallManager
from emulator.faces.cli.shell import CliShell
from emulator.lab import RunningUnit, build_unit
from emulator.ops import snapshots
from emulator.ops.errors import OpError
from emulator.runtime.spec import UnitSpec
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

STATS = {"call": 2, "local": "127.0.0.1:16002", "remote": "127.0.0.1:40000", "srtp": True,
         "key_management": "SDES", "suite": "AES_CM_128_HMAC_SHA1_80", "packets_sent": 50, "packets_received": 49,
         "undecryptable": 0, "level_dbm0": -12.0, "frequency": 1000.0, "dtmf_received": "", "jitter_ms": 0.1}


class StubStream:
    """What the snapshot reads of a media stream: ``stats()``."""

    def stats(self, *, measure: bool = True) -> dict[str, Any]:
        return dict(STATS)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningUnit]:
    r = build_unit(UnitSpec(name="snap", state_dir=tmp_path / "snap", port_mode="auto", fsync=False, api_port=0))
    await r.api.start(0)
    manager = snapshots.call_manager(r.unit)
    assert isinstance(manager, CallManager)
    plain = Call(1, "Phone-Fax1", "default", "outgoing", "sip:1001@lab", "sip:bob@lab", "c1")
    secure = Call(2, "Phone-Fax2", "default", "incoming", "sip:1002@lab", "sip:carol@lab", "c2")
    secure.media = CallMediaState(StubStream(), None, session_id=1, endpoint="Phone-Fax2")  # type: ignore[arg-type]
    manager.calls += [plain, secure]
    yield r
    manager.calls.clear()
    await r.api.stop()


async def test_every_face_shows_the_same_calls(running: RunningUnit) -> None:
    rows = snapshots.calls(running.unit)
    plain, secure = rows
    assert plain["peer"] == "sip:bob@lab" and plain["endpoint"] == "Phone-Fax1" and "srtp" not in plain
    assert {k: secure[k] for k in snapshots.STREAM_FIELDS} == {k: STATS[k] for k in snapshots.STREAM_FIELDS}
    assert (secure["media_local"], secure["media_remote"]) == (STATS["local"], STATS["remote"])
    assert "dtmf_received" not in secure  # the listing's fields; the full statistics are the media's
    token = base64.b64encode(b"public:").decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        async with http.get(running.unit.listening["api"] + "/api/v1/calls") as r:
            assert (await r.json()) == {"calls": rows}
        async with http.get(running.unit.listening["api"] + "/api/v1/endpoints") as r:
            endpoints = {e["endpoint"]: e for e in (await r.json())["endpoints"]}
    assert endpoints["Phone-Fax2"]["call"] == {k: v for k, v in secure.items() if k not in (
        *snapshots.STREAM_FIELDS, "media_local", "media_remote")}
    assert endpoints["Phone-Fax1"]["media"] == {"source": None, "record": None, "initial_sequence": None,
                                                "impair": None}
    listing = CliShell(running.unit, AuthResult(True, "public", "Admin")).execute("calls").output.splitlines()
    assert listing[0].split() == ["Id", "Endpoint", "Direction", "State", "Peer", "Status"]
    assert [line.split()[:2] for line in listing[2:]] == [["1", "Phone-Fax1"], ["2", "Phone-Fax2"]]
    assert snapshots.media(running.unit, "Phone-Fax2")["stream"] == STATS


def test_a_unit_without_sip_engine(tmp_path: Path) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    assert snapshots.call_manager(unit) is None and snapshots.media_hook(unit) is None
    with pytest.raises(OpError) as e:
        snapshots.calls(unit)
    assert (e.value.kind, e.value.status) == ("unavailable", 503)
    assert [(x["endpoint"], x["call"], x["media"]) for x in snapshots.endpoints(unit)] == [
        ("Phone-Fax1", None, None), ("Phone-Fax2", None, None)]
    assert CliShell(unit, AuthResult(True, "public", "Admin")).execute("calls").output == \
        "Error: calls: this unit has no SIP engine\n"
    with pytest.raises(OpError, match="unknown endpoint 'Nope'"):
        snapshots.endpoint_id(unit, "Nope")
    assert snapshots.endpoint_id(unit, "phone-FAX1") == "Phone-Fax1"
