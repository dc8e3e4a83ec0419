"""What every face shows of a unit's endpoints, calls and media streams, read once here.

The faces (HTTP API ``GET /calls`` and ``/endpoints``, the CLI's ``calls`` and ``listen``, the web pages)
show the same rows; they read them from this module, which reaches the engines through their public names
only: the unit's ``SipEp`` engine and its :class:`~emulator.engines.sipep.calls.CallManager`, each call's
:meth:`Call.row`, the Mipt offer/answer hook (:class:`~emulator.engines.mipt.call_media.CallMedia`, the
endpoints' phones) and a call's media stream (``MediaStream.stats``).

Endpoints are the rows of ``EpAdm.Endpoint`` (``EpId``), found in any case.
"""

from __future__ import annotations

from typing import Any

from emulator.engines.epserv.engine import EpServEngine
from emulator.engines.mipt.call_media import CallMedia, CallMediaState
from emulator.engines.mipt.stream import MediaStream
from emulator.engines.sipep.calls import Call, CallManager
from emulator.engines.sipep.engine import SipEpEngine
from emulator.engines.sipep.line_status import LineStatus
from emulator.ops.errors import ErrorKind, OpError
from emulator.runtime.unit import Unit

__all__ = [
    "STREAM_FIELDS",
    "call_json",
    "call_manager",
    "call_row",
    "calls",
    "current_call",
    "endpoint",
    "endpoint_id",
    "endpoint_json",
    "endpoints",
    "line",
    "line_status",
    "media",
    "media_hook",
    "require_calls",
    "require_media",
    "stream_of",
]

# Media statistics that join a call's row in the calls listing (the full set is in ``media()["stream"]``).
STREAM_FIELDS = ("srtp", "key_management", "suite", "packets_sent", "packets_received", "undecryptable",
                 "level_dbm0", "frequency")


# ---------------------------------------------------------------------------------------------- engines
def call_manager(unit: Unit) -> CallManager | None:
    """The calls of the unit's SipEp engine, or None when the unit runs none (a configuration-only unit)."""
    st = unit.services.get("SipEp")
    engine = st.engine if st is not None else None
    return engine.calls if isinstance(engine, SipEpEngine) else None


def line_status(unit: Unit) -> LineStatus | None:
    """The FXS lines' state of the unit's SipEp engine (Pots.Line, caller ID, message waiting), or None."""
    st = unit.services.get("SipEp")
    engine = st.engine if st is not None else None
    return engine.line_status if isinstance(engine, SipEpEngine) else None


def line(unit: Unit, ep: str) -> dict[str, Any] | None:
    """The endpoint's line as faces show it (``state``, ``message_waiting``, ``caller_id``), None without SipEp."""
    status = line_status(unit)
    return status.snapshot(ep) if status is not None else None


def require_calls(unit: Unit) -> CallManager:
    manager = call_manager(unit)
    if manager is None:
        raise OpError(ErrorKind.UNAVAILABLE, "this unit has no SIP engine", 503)
    return manager


def media_hook(unit: Unit) -> CallMedia | None:
    """The Mipt offer/answer hook of the unit's calls (each endpoint's phone), or None (plain test audio)."""
    manager = call_manager(unit)
    hook = manager.media if manager is not None else None
    return hook if isinstance(hook, CallMedia) and hook.audio_dir is not None else None


def require_media(unit: Unit) -> CallMedia:
    hook = media_hook(unit)
    if hook is None:
        raise OpError(ErrorKind.UNAVAILABLE, "this unit's calls carry no media engine", 503)
    return hook


def stream_of(call: Call | None) -> MediaStream | None:
    """The media stream of a call (None before the offer/answer hook opened one, or with plain test audio)."""
    state = call.media if call is not None else None
    return state.stream if isinstance(state, CallMediaState) else None


def endpoint_id(unit: Unit, name: str) -> str:
    """The ``EpId`` (any case) of an endpoint of the unit; :class:`OpError` ``call`` 404 otherwise."""
    for row in unit.config.rows("EpAdm.Endpoint"):
        if str(row["EpId"]).lower() == name.lower():
            return str(row["EpId"])
    raise OpError(ErrorKind.CALL, f"unknown endpoint {name!r}", 404)


# ---------------------------------------------------------------------------------------------- calls
def call_json(call: Call) -> dict[str, Any]:
    """A call as faces show it: :meth:`Call.row` and ``peer`` (the remote party's URI)."""
    row = call.row()
    return {"peer": row.get("remote", ""), **row}


def current_call(unit: Unit, ep: str) -> Call | None:
    manager = call_manager(unit)
    return manager.current(ep) if manager is not None else None


def call_row(call: Call) -> dict[str, Any]:
    """A call as the calls listing shows it, with its stream's figures (what an ended call's summary keeps)."""
    row = call_json(call)
    stream = stream_of(call)
    if stream is not None:
        st = stream.stats()
        row.update({k: st.get(k) for k in STREAM_FIELDS})
        row["media_local"], row["media_remote"] = st.get("local"), st.get("remote")
    return row


def calls(unit: Unit) -> list[dict[str, Any]]:
    """Every call the unit keeps (current and recent; older ended ones as summaries), with its stream's
    figures (``GET /calls``)."""
    manager = require_calls(unit)
    return [*(dict(ended.row) for ended in manager.history), *(call_row(call) for call in manager.calls)]


# ---------------------------------------------------------------------------------------------- endpoints
def endpoint_json(unit: Unit, row: dict[str, Any]) -> dict[str, Any]:
    """One ``EpAdm.Endpoint`` row as faces show it: its states, its current call and its phone's audio."""
    ep = str(row["EpId"])
    manager = call_manager(unit)  # a unit without SIP engine still has endpoints (and EpAdm states)
    current = manager.current(ep) if manager is not None else None
    hook = manager.media if manager is not None else None
    return {
        "endpoint": ep,
        "admin_state": row.get("AdminState"),
        "op_state": row.get("OpState"),
        "usage_state": row.get("UsageState"),
        "initial_admin_state": row.get("InitialAdminStateConfig"),
        "call": call_json(current) if current is not None else None,
        "media": hook.audio_of(ep).to_json() if isinstance(hook, CallMedia) else None,
        "line": line(unit, ep),
    }


def endpoints(unit: Unit) -> list[dict[str, Any]]:
    return [endpoint_json(unit, r) for r in unit.config.rows("EpAdm.Endpoint")]


def endpoint(unit: Unit, ep: str) -> dict[str, Any]:
    row = next(r for r in unit.config.rows("EpAdm.Endpoint") if r["EpId"] == ep)
    return endpoint_json(unit, row)


def media(unit: Unit, ep: str) -> dict[str, Any]:
    """The endpoint's phone (what it plays and records), the statistics of its current call's stream, and the tone
    the unit itself plays to the line (EpServ: dial, busy, reorder... tone; None when none)."""
    hook = require_media(unit)
    stream = stream_of(current_call(unit, ep))
    return {"endpoint": ep, **hook.audio_of(ep).to_json(), "audio_directory": str(hook.audio_dir),
            "stream": stream.stats() if stream is not None else None, "local_tone": local_tone(unit, ep)}


def local_tone(unit: Unit, ep: str) -> dict[str, Any] | None:
    """The tone the unit plays to the off-hook line now, as the line hears it (the last 200 ms measured)."""
    st = unit.services.get("EpServ")
    engine = st.engine if st is not None else None
    line = engine.line(ep) if isinstance(engine, EpServEngine) else None
    if line is None or line.earpiece.tone is None:
        return None
    m = line.earpiece.measure()
    return {"tone": line.earpiece.tone, "frequency": m.frequency, "level_dbm0": m.level_dbm0}
