"""``/calls`` and ``/endpoints``: the unit's calls and endpoints (:mod:`emulator.ops.snapshots`) and one
route per endpoint action of :mod:`emulator.ops.actions` (``POST /endpoints/{EpId}/dial``...), each
described in OpenAPI from the action's typed arguments.

An action still waiting on SIP after :data:`ACTION_WAIT_S` (a CANCEL towards a server that does not
answer) is answered ``202`` with ``"pending": true`` and the call as it stands; it completes in the
background after SIP's own timers.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from aiohttp import web

from emulator.faces.api.openapi import Schema, arr, json_content, obj, path_param, pref, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, caller, json_body, json_response, ok
from emulator.ops import actions, snapshots
from emulator.ops.actions import Action
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit

__all__ = ["ACTION_WAIT_S", "COMPONENTS", "Endpoints"]

ACTION_WAIT_S = 3.0  # longest an endpoint action's HTTP answer waits for SIP (then 202, still running)
_ANSWER_SCHEMAS = {"media": "EndpointMedia", "endpoint": "EndpointActionResult", "action": "EndpointActionResult"}


def _op_id(action: Action) -> str:
    words = action.name.split("-")
    if action.method != "POST":  # get-media -> getEndpointMedia, as the contract has always named them
        return words[0] + "Endpoint" + "".join(w.capitalize() for w in words[1:])
    return "endpoint" + "".join(w.capitalize() for w in words)


def _body(action: Action) -> dict[str, Any] | None:
    """The action's request body schema, from its typed arguments (aliases documented beside them)."""
    if not action.args:
        return None
    props: dict[str, Schema] = {}
    required: list[str] = []
    alternatives: list[Schema] = []
    for a in action.args:
        props[a.name] = a.json_schema()
        for alias in a.aliases:
            props[alias] = {**a.json_schema(), "description": f"the same as {a.name}"}
        if a.required and a.aliases:
            alternatives.append({"anyOf": [{"required": [n]} for n in (a.name, *a.aliases)]})
        elif a.required:
            required.append(a.name)
    schema = obj(props, required or None, additionalProperties=not action.closed)
    if alternatives:
        schema["allOf"] = alternatives
    return {"required": any(a.required for a in action.args), "content": json_content(schema)}


class Endpoints:
    """Calls, endpoints and endpoint actions of one unit."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def list_calls(self, request: web.Request) -> web.Response:
        return json_response({"calls": snapshots.calls(self.unit)})

    async def list_endpoints(self, request: web.Request) -> web.Response:
        return json_response({"endpoints": snapshots.endpoints(self.unit)})

    async def unknown_action(self, request: web.Request) -> web.Response:
        names = ", ".join(a.route for a in actions.actions() if a.method == "POST")
        raise ApiError(ErrorKind.CALL, f"unknown action {request.match_info['action'][:40]!r} (one of {names})", 404)

    def _handler(self, action: Action) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await json_body(request) if action.args and request.body_exists else None
            ep = request.match_info["ep"]
            run = actions.invoke(self.unit, caller(request), action, ep, body, source="api")
            if not inspect.isawaitable(run):
                return json_response(run)
            task = asyncio.ensure_future(run)
            try:
                out = await asyncio.wait_for(asyncio.shield(task), ACTION_WAIT_S)
            except TimeoutError:
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
                current = snapshots.current_call(self.unit, snapshots.endpoint_id(self.unit, ep))
                return json_response({"endpoint": snapshots.endpoint_id(self.unit, ep), "action": action.name,
                                      "pending": True,
                                      "call": snapshots.call_json(current) if current is not None else None}, 202)
            return json_response(out)

        return handle

    def _action_route(self, action: Action) -> Route:
        schema = ref(_ANSWER_SCHEMAS.get(action.answer, "EndpointActionResult"))
        waits = inspect.iscoroutinefunction(action.run)
        extra = {"202": {"description": f"still in progress after {ACTION_WAIT_S:g} s (SIP timers); the call row "
                         "as it stands, pending true", "content": json_content(ref("EndpointActionResult"))}}
        return Route(action.method, f"{PREFIX}/endpoints/{{ep}}/{action.route}", self._handler(action), action.right,
                     _op_id(action), "calls", action.summary, {200: ok("done", schema)}, action.refusals,
                     params=(pref("EpId"),), body=_body(action), description=action.description,
                     what=action.what, extra=extra if waits else {})

    def routes(self) -> list[Route]:
        P = PREFIX
        return [
            Route("GET", f"{P}/calls", self.list_calls, "read", "listCalls", "calls",
                  "The unit's calls (current and recent)",
                  {200: ok("the calls", obj({"calls": arr(ref("Call"))}, ["calls"]))}, (ErrorKind.UNAVAILABLE,),
                  description="Each call: id, endpoint, peer, state (dialing, proceeding, alerting, ringing, "
                  "connected, held, ended), direction, hold flags, SIP status, end reason and transfer; media fields "
                  "(srtp, key management, packets, received tone level and frequency) when the call has a media "
                  "stream."),
            Route("GET", f"{P}/endpoints", self.list_endpoints, "read", "listEndpoints", "calls",
                  "The unit's endpoints with their EpAdm states, current call and phone audio settings",
                  {200: ok("the endpoints", obj({"endpoints": arr(ref("Endpoint"))}, ["endpoints"]))}),
            *(self._action_route(a) for a in actions.actions()),
            Route("POST", f"{P}/endpoints/{{ep}}/{{action}}", self.unknown_action, "write", "unknownEndpointAction",
                  "calls", "Any other action: refused", {}, (ErrorKind.CALL,), documented=False),
        ]


def _schemas() -> dict[str, Schema]:
    call: Schema = obj(
        {
            "id": {"type": "integer"},
            "endpoint": {"type": "string", "description": "EpId"},
            "peer": {"type": "string", "description": "the remote party's SIP URI"},
            "state": {"type": "string", "enum": ["dialing", "proceeding", "alerting", "ringing", "connected", "held",
                                                 "ended"]},
            "direction": {"type": "string", "enum": ["outgoing", "incoming"]},
            "gateway": {"type": "string"},
            "local": {"type": "string"},
            "remote": {"type": "string"},
            "call_id": {"type": "string"},
            "local_hold": {"type": "boolean"},
            "remote_hold": {"type": "boolean"},
            "status": {"type": ["integer", "null"], "description": "final SIP status of the INVITE"},
            "end_reason": {"type": "string"},
            "transfer": {"type": "string", "description": "blind transfer: pending, done or failed <status>"},
            "waiting": {"type": "boolean", "description": "rang while its line was in another call (call waiting)"},
            "conference": {"type": "boolean", "description": "mixed in the line's three-way conference"},
            "flashes": {"type": "integer", "description": "hook-flashes the far end sent by SIP INFO"},
        },
        ["id", "endpoint", "peer", "state"],
        additionalProperties=True,
    )
    settings = {a.name: a.json_schema() for a in actions.MEDIA_ARGS}
    either_call = {"oneOf": [ref("Call"), {"type": "null"}]}
    return {
        "Call": call,
        "EndpointMediaSettings": obj(settings, additionalProperties=False),
        "EndpointMedia": obj({"endpoint": {"type": "string"}, **settings, "audio_directory": {"type": "string"},
                              "stream": {"type": ["object", "null"],
                                         "description": "the current call's stream statistics and received tone"}}),
        "Endpoint": obj({
            "endpoint": {"type": "string"},
            "admin_state": {"type": ["string", "null"], "enum": ["Unlocked", "ShuttingDown", "Locked", None]},
            "op_state": {"type": ["string", "null"], "enum": ["Enable", "Disable", None]},
            "usage_state": {"type": ["string", "null"], "enum": ["Idle", "Active", "Busy", "IdleUnusable", None]},
            "initial_admin_state": {"type": ["string", "null"]},
            "call": either_call,
            "media": {"oneOf": [ref("EndpointMediaSettings"), {"type": "null"}]},
            "line": {"oneOf": [ref("Line"), {"type": "null"}]},
        }),
        "Line": obj({
            "state": {"type": ["string", "null"], "enum": ["Idle", "InUse", "Disabled", None],
                      "description": "Pots.Line State (null: the port is not an FXS line)"},
            "message_waiting": obj({
                "waiting": {"type": "boolean"}, "new": {"type": "integer"}, "old": {"type": "integer"},
                "visual": {"type": "boolean"}, "stutter_tone": {"type": "boolean"}, "activation": {"type": "string"}},
                description="the line's message-waiting indicator, as the last MWI NOTIFY lit it"),
            "caller_id": {"oneOf": [obj({
                "number": {"type": "string"}, "name": {"type": "string"},
                "presentation": {"type": "string", "enum": ["Allowed", "Restricted"]},
                "absence_reason": {"type": "string"},
                "source": {"type": "string", "enum": ["P-Asserted-Identity", "From"]},
                "method": {"type": "string", "enum": ["Fsk", "Dtmf"]}}), {"type": "null"}],
                "description": "what the line presents for its latest incoming call still up"},
        }, ["state", "message_waiting", "caller_id"]),
        "EndpointActionResult": obj(
            {"endpoint": {"type": "string"}, "action": {"type": "string"}, "pending": {"type": "boolean"},
             "call": either_call, "digits": {"type": "string"},
             "method": {"type": "string", "enum": ["rfc4733", "info", "inband"]}},
            ["endpoint", "action"], additionalProperties=True,
            description="dtmf adds digits and method; lock, unlock and force-lock add the endpoint's states"),
    }


COMPONENTS: dict[str, dict[str, Any]] = {
    "schemas": _schemas(),
    "parameters": {"EpId": path_param("ep", "the endpoint (EpId), e.g. Phone-Fax1")},
}
