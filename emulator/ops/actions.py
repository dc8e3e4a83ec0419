"""One table of what a user does to an endpoint: the phone's call actions, the EpAdm commands and the
phone's media settings (emulator additions beside the DGW's ``EpAdm.Endpoint`` commands).

Each :class:`Action` says its typed arguments, the right it needs (``emulator.ops.policy``), the error
kinds it may answer and the function that runs it against a unit. The faces are derived from this table:
the HTTP API's ``/api/v1/endpoints/{EpId}/<path>`` routes and their OpenAPI description, and the CLI's
commands (``dial <EpId> <number>``...) with their usage and help lines. An action added here is served,
described and helped by every face without another list to keep in step.

The runner takes an :class:`Invocation` (the unit, the endpoint's ``EpId`` and the checked arguments)
and returns the JSON answer, directly (media settings) or as a coroutine (anything that waits on SIP).
Refusals are :class:`~emulator.ops.errors.OpError`; :func:`invoke` applies the policy, finds the endpoint
and checks the arguments first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from emulator.engines.epserv.engine import EpServEngine
from emulator.engines.mipt.endpoint_audio import AudioError, parse_media_request
from emulator.engines.mipt.fax_calls import FaxError
from emulator.engines.sipep.calls import Call, CallManager
from emulator.engines.sipep.offer_answer import CallError
from emulator.ops import policy, snapshots
from emulator.ops.errors import ErrorKind, OpError
from emulator.protocols.media.dtmf import DtmfError
from emulator.protocols.sip.uri import Uri
from emulator.runtime.unit import Unit
from firmware_model.config import ConfigError

__all__ = [
    "ACTIONS",
    "MEDIA_ARGS",
    "Action",
    "Arg",
    "CliForm",
    "Invocation",
    "Result",
    "actions",
    "find",
    "invoke",
    "prepare",
    "register",
    "unregister",
]

Result = dict[str, Any]
Runner = Callable[["Invocation"], "Result | Awaitable[Result]"]
_INT_DIGITS = 10  # an integer argument given as text: at most this many digits


@dataclass(frozen=True, slots=True)
class Arg:
    """A typed argument. ``type`` is a JSON Schema type (``string``, ``integer``, ``object``); a string
    argument also takes a JSON number, an integer one a whole number written as text. ``aliases`` are
    other names accepted for it (``uri`` for ``number``); ``schema`` adds JSON Schema words (bounds)."""

    name: str
    type: str
    description: str
    required: bool = False
    nullable: bool = False
    aliases: tuple[str, ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)
    grammar: Callable[[Any], None] | None = None  # raises ValueError (the reason) for a value it refuses

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": [self.type, "null"] if self.nullable else self.type,
                               "description": self.description, **self.schema}
        return out

    def check(self, action: str, value: Any) -> Any:
        if value is None and self.nullable:
            return None
        if self.type == "string" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if self.type == "string" and isinstance(value, str):
            try:
                value.encode("utf-8")  # no lone surrogate: every face and the SIP messages must carry it
                if self.grammar is not None:
                    self.grammar(value)
            except ValueError as e:
                raise OpError(ErrorKind.INVALID, f"{action}: {self.name}: {e}", 400) from None
            return value
        if self.type == "integer":
            n = _whole(value)
            if n is not None:
                return n
        if self.type == "object" and isinstance(value, dict):
            return value
        what = {"string": "a string", "integer": "a whole number", "object": "an object"}.get(self.type, self.type)
        raise OpError(ErrorKind.INVALID, f"{action}: {self.name}: {what} is expected, got {_brief(value)}", 400)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 10**_INT_DIGITS:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isascii() and value.strip().lstrip("+-").isdigit():
        text = value.strip()
        return int(text) if len(text) <= _INT_DIGITS else None
    return None


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


@dataclass(frozen=True, slots=True)
class CliForm:
    """How the CLI writes an action: ``word <EpId> ...``.

    ``parse`` turns the words after the EpId into the action's arguments (None: show the usage); without
    it the words are the action's ``positional`` arguments in order. ``show`` renders the answer (it may
    raise :class:`OpError`). ``synopsis`` is the left column of the ``help`` line (default ``usage``);
    forms with the same help text and a bare ``<word> <EpId>`` synopsis share one line (``a|b <EpId>``)."""

    word: str
    usage: str
    help: str
    synopsis: str = ""
    positional: tuple[str, ...] = ()
    parse: Callable[[list[str]], dict[str, Any] | None] | None = None
    show: Callable[[Result], str] | None = None

    def arguments(self, words: list[str]) -> dict[str, Any] | None:
        if self.parse is not None:
            return self.parse(words)
        if len(words) != len(self.positional):
            return None
        return dict(zip(self.positional, words, strict=True))


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run of an action: the unit, the endpoint (its ``EpId``), the checked arguments and the face
    the change is recorded as coming from (``api``, ``cli``, ``web``)."""

    unit: Unit
    endpoint: str
    args: dict[str, Any]
    source: str = "api"


@dataclass(frozen=True, slots=True)
class Action:
    """An endpoint action (see the module docstring). ``path`` is the word after ``/endpoints/{EpId}/``
    in the API (default ``name``) and ``method`` its HTTP method; ``what`` ends the policy's refusal
    ("user bob (Observer rights) may not <what>"); ``closed``: unknown body members are refused."""

    name: str
    summary: str
    run: Runner
    args: tuple[Arg, ...] = ()
    right: str = "write"
    what: str = "use the endpoint's phone"
    method: str = "POST"
    path: str = ""
    description: str = ""
    errors: tuple[ErrorKind, ...] = (ErrorKind.CALL, ErrorKind.UNAVAILABLE)
    closed: bool = False
    answer: str = "action"  # the answer's shape: action (endpoint, action, call), endpoint (its states), media
    cli: tuple[CliForm, ...] = ()

    @property
    def route(self) -> str:
        return self.path or self.name

    @property
    def refusals(self) -> tuple[ErrorKind, ...]:
        """Every kind of refusal it may answer: its own, the policy's, and a bad body's when it takes arguments."""
        body = (ErrorKind.BAD_REQUEST, ErrorKind.INVALID) if self.args else ()
        return tuple(dict.fromkeys((*self.errors, *body, ErrorKind.FORBIDDEN)))

    def arguments(self, body: Any) -> dict[str, Any]:
        """The checked arguments from a JSON body (None: no body). Absent optional ones are left out."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise OpError(ErrorKind.BAD_REQUEST, f"{self.name}: the body must be a JSON object", 400)
        if self.closed:
            known = {n for a in self.args for n in (a.name, *a.aliases)}
            unknown = sorted(str(k) for k in body if k not in known)
            if unknown:
                raise OpError(ErrorKind.BAD_REQUEST, f"{self.name}: unknown field(s) {', '.join(unknown)} "
                                                     f"({', '.join(a.name for a in self.args)})", 400)
        out: dict[str, Any] = {}
        for arg in self.args:
            given = next((n for n in (arg.name, *arg.aliases) if n in body and body[n] is not None), None)
            if given is None and arg.nullable and arg.name in body:
                given = arg.name
            if given is None:
                if arg.required:
                    raise OpError(ErrorKind.BAD_REQUEST, f"{self.name} needs {arg.name!r}: {arg.description}", 400)
                continue
            out[arg.name] = arg.check(self.name, body[given])
        return out


ACTIONS: dict[str, Action] = {}


def register(action: Action) -> Action:
    """Add an action to the table (its name and its API method and path must be new)."""
    if action.name in ACTIONS or find_route(action.method, action.route) is not None:
        raise ValueError(f"endpoint action {action.name} ({action.method} {action.route}) exists")
    ACTIONS[action.name] = action
    return action


def unregister(name: str) -> None:
    ACTIONS.pop(name, None)


def actions() -> Iterator[Action]:
    return iter(list(ACTIONS.values()))


def find(name: str) -> Action | None:
    return ACTIONS.get(name)


def find_route(method: str, path: str) -> Action | None:
    return next((a for a in ACTIONS.values() if a.method == method and a.route == path), None)


def prepare(unit: Unit, caller: policy.Caller, action: Action, endpoint: str, body: Any,
            source: str = "api") -> Invocation:
    """Everything before running ``action`` for ``caller``: the policy
    (:class:`~emulator.ops.policy.Forbidden`), the endpoint named ``endpoint`` in any case (404 ``call``),
    the arguments from a JSON-like ``body`` (400)."""
    policy.check_right(caller, action.right, action.what)
    ep = snapshots.endpoint_id(unit, endpoint)
    return Invocation(unit, ep, action.arguments(body), source)


def invoke(unit: Unit, caller: policy.Caller, action: Action, endpoint: str, body: Any,
           source: str = "api") -> Result | Awaitable[Result]:
    """:func:`prepare`, then run: a coroutine is returned un-awaited, the face decides how long to wait."""
    return action.run(prepare(unit, caller, action, endpoint, body, source))


# ---------------------------------------------------------------------------------------------- runners
def _calls(unit: Unit, running: bool = True) -> CallManager:
    manager = snapshots.require_calls(unit)
    st = unit.services.get("SipEp")
    if running and (st is None or st.state != "Started"):
        raise OpError(ErrorKind.CALL, "the SipEp service is not running", 503)
    return manager


def _answer(inv: Invocation, action: str, call: Call | None) -> Result:
    return {"endpoint": inv.endpoint, "action": action,
            "call": snapshots.call_json(call) if call is not None else None}


def _phone(name: str, act: Callable[[CallManager, Invocation], Awaitable[Call | None]]) -> Runner:
    """A runner for a call action of the CallManager: the call's row, or the CallError as a refusal."""

    async def run(inv: Invocation) -> Result:
        try:
            call = await act(_calls(inv.unit), inv)
        except CallError as e:
            raise OpError(ErrorKind.CALL, str(e), e.status) from None
        return _answer(inv, name, call)

    return run


def _epserv(unit: Unit) -> EpServEngine | None:
    """The EpServ engine when the service runs (dial tone, DTMF maps: emulator.engines.epserv), else None."""
    st = unit.services.get("EpServ")
    engine = st.engine if st is not None and st.state == "Started" else None
    return engine if isinstance(engine, EpServEngine) else None


async def _offhook(m: CallManager, inv: Invocation) -> Call | None:
    epserv = _epserv(inv.unit)
    return await (epserv.offhook(inv.endpoint) if epserv is not None else m.offhook(inv.endpoint))


async def _dial(m: CallManager, inv: Invocation) -> Call:
    epserv = _epserv(inv.unit)
    if epserv is not None:
        epserv.onhook(inv.endpoint)  # a dialling under way gives way (its tone stops before the call's audio)
    return await m.dial(inv.endpoint, inv.args["number"])


async def _hangup(m: CallManager, inv: Invocation) -> Call | None:
    epserv = _epserv(inv.unit)
    if epserv is not None:
        epserv.onhook(inv.endpoint)
    return await m.hangup(inv.endpoint)


async def _press(inv: Invocation) -> Result:
    manager = _calls(inv.unit)
    epserv = _epserv(inv.unit)
    if epserv is None:
        raise OpError(ErrorKind.UNAVAILABLE, "the EpServ service is not running", 503)
    digits = str(inv.args["digits"])
    try:
        outcomes = await epserv.press(inv.endpoint, digits, inv.args.get("duration_ms", 100),
                                      inv.args.get("gap_ms", 100))
    except CallError as e:
        raise OpError(ErrorKind.CALL, str(e), e.status) from None
    except DtmfError as e:
        raise OpError(ErrorKind.INVALID, str(e), 400) from None
    line = epserv.line(inv.endpoint)
    return {**_answer(inv, "press", manager.current(inv.endpoint)), "digits": digits.upper(),
            "outcomes": [{"kind": o.kind, "dialled": o.dialled, "number": o.number, "target_host": o.target_host,
                          "emergency": o.emergency, "service": o.service, "action": o.action, "reason": o.reason}
                         for o in outcomes],
            "tone": line.earpiece.tone if line is not None else None}


def _keys(text: str) -> None:
    if not text or len(text) > 64 or any(c not in "0123456789*#ABCD" for c in text.upper()):
        raise ValueError("1 to 64 keys among 0-9 * # A-D")


async def _dtmf(inv: Invocation) -> Result:
    manager = _calls(inv.unit, running=False)
    current = manager.current(inv.endpoint)
    digits = str(inv.args["digits"])
    try:
        method = await manager.dtmf(inv.endpoint, digits, inv.args.get("duration_ms", 100), inv.args.get("gap_ms", 60))
    except CallError as e:
        raise OpError(ErrorKind.CALL, str(e), e.status) from None
    except DtmfError as e:
        raise OpError(ErrorKind.INVALID, str(e), 400) from None
    return {**_answer(inv, "dtmf", current), "digits": digits.strip().upper(), "method": method}


def _epadm(name: str, command: str, summary: str) -> Action:
    """An ``EpAdm.Endpoint`` row command (System/Endpoints: Lock, Unlock, Force Lock)."""

    def run(inv: Invocation) -> Result:
        try:
            inv.unit.config.set(f"EpAdm.Endpoint[{inv.endpoint}].{command}", command, source=inv.source)
        except ConfigError as e:
            raise OpError(ErrorKind.CONFLICT, str(e), 409) from None
        return {"endpoint": inv.endpoint, "action": name, **snapshots.endpoint(inv.unit, inv.endpoint)}

    return Action(name, summary, run, what="lock or unlock endpoints", answer="endpoint",
                  errors=(ErrorKind.CALL, ErrorKind.CONFLICT),
                  cli=(_form(name, _EPADM_HELP, show=_show_state),))


def _get_media(inv: Invocation) -> Result:
    return snapshots.media(inv.unit, inv.endpoint)


def _get_line(inv: Invocation) -> Result:
    line = snapshots.line(inv.unit, inv.endpoint)
    if line is None:
        raise OpError(ErrorKind.UNAVAILABLE, "this unit has no SIP engine", 503)
    return {"endpoint": inv.endpoint, "action": "line", "line": line}


def _show_line(out: Result) -> str:
    line = out["line"]
    mw, cid = line["message_waiting"], line["caller_id"]
    lit = [w for w, on in (("visual", mw["visual"]), ("stutter tone", mw["stutter_tone"])) if on]
    mwi = (f"message waiting {'yes' if mw['waiting'] else 'no'} ({mw['new']} new, {mw['old']} old"
           f"{'; ' + ' and '.join(lit) if lit else ''})")
    who = "no caller ID" if cid is None else (
        f"caller ID {cid['number'] or '-'} \"{cid['name']}\" ({cid['presentation']}"
        f"{', ' + cid['absence_reason'] if cid['absence_reason'] else ''}, {cid['method']}, from {cid['source']})")
    return f"{out['endpoint']}: line {line['state'] or '-'}; {mwi}; {who}\n"


def _set_media(inv: Invocation) -> Result:
    hook = snapshots.require_media(inv.unit)
    assert hook.audio_dir is not None  # require_media checked it
    try:
        audio = parse_media_request(inv.args, hook.audio_of(inv.endpoint), hook.audio_dir)
        hook.set_audio(inv.endpoint, audio)
    except (AudioError, OSError, ValueError) as e:  # OSError, ValueError: a WAV file not 8 kHz mono 16-bit
        raise OpError(ErrorKind.INVALID, f"{inv.endpoint} media: {e}", 400) from None
    return snapshots.media(inv.unit, inv.endpoint)


def _fax_answer(inv: Invocation, action: str) -> Result:
    hook = snapshots.require_media(inv.unit)
    job = hook.fax.job(inv.endpoint)
    call = _calls(inv.unit, running=False).current(inv.endpoint)
    return {"endpoint": inv.endpoint, "action": action, "fax": None if job is None else job.row(),
            "udptl": None if call is None else hook.fax.stats(call)}


def _fax(mode: str) -> Runner:
    """Arm the endpoint's fax machine (emulator addition): send a TIFF or PDF file, or receive into a TIFF file."""

    def arm(inv: Invocation, name: str | None) -> Result:
        try:
            snapshots.require_media(inv.unit).fax.arm(inv.endpoint, mode, name)
        except FaxError as e:
            raise OpError(ErrorKind.INVALID, f"{inv.endpoint} fax: {e}", 400) from None
        return _fax_answer(inv, f"fax-{mode}")

    async def rendered(inv: Invocation, pdf: str) -> Result:
        try:  # rendering pages takes a while: in a thread, and the answer waits for it
            name = await asyncio.to_thread(snapshots.require_media(inv.unit).fax.render_pdf, pdf)
        except FaxError as e:
            raise OpError(ErrorKind.INVALID, f"{inv.endpoint} fax: {e}", 400) from None
        return arm(inv, name)

    def run(inv: Invocation) -> Result | Awaitable[Result]:
        name = inv.args.get("file")
        if mode == "send" and isinstance(name, str) and name.endswith(".pdf"):
            return rendered(inv, name)
        return arm(inv, name)

    return run


async def _call_completion(inv: Invocation) -> Result:
    """RFC 6910: the line asks for the completion of its last failed call (engines/sipep/call_completion.py)."""
    manager = _calls(inv.unit)
    try:
        request = manager.completion.request(inv.endpoint)
    except LookupError as e:
        raise OpError(ErrorKind.CALL, str(e), 409) from None
    return {"endpoint": inv.endpoint, "action": "call-completion",
            "request": {"index": request.index, "type": request.kind, "target": request.target,
                        "monitor": request.monitor}}


# ---------------------------------------------------------------------------------------------- CLI forms
def _show_completion(out: Result) -> str:
    req = out["request"]
    return f"{out['endpoint']}: call completion {req['index']} ({req['type']}) of {req['target']} requested\n"


def _show_call(out: Result) -> str:
    call = out.get("call")
    if call is None:
        return f"{out['endpoint']}: {out['action']} done\n"
    return f"{out['endpoint']}: call {call['id']} {call['state']} ({call['remote']})\n"


def _show_dtmf(out: Result) -> str:
    how = {"rfc4733": "RFC 4733 events", "info": "SIP INFO"}.get(out["method"], "in band")
    return f"{out['endpoint']}: sending {out['digits']} ({how})\n"


def _show_press(out: Result) -> str:
    said = "; ".join(f"{o['kind']} {o['number'] or o['target_host'] or o['reason'] or o['service']}".strip()
                     for o in out["outcomes"])
    tone = f"; hears {out['tone']}" if out.get("tone") else ""
    return f"{out['endpoint']}: pressed {out['digits']}{': ' + said if said else ''}{tone}\n"


def _show_state(out: Result) -> str:
    return f"{out['endpoint']}: {out['admin_state']}, {out['usage_state']}\n"


def _show_audio(out: Result) -> str:
    return f"{out['endpoint']}: plays {out['source'] or 'silence'}; records {out['record'] or 'nothing'}\n"


def _show_fax(out: Result) -> str:
    job = out["fax"]
    if job is None:
        return f"{out['endpoint']}: no fax job\n"
    result = f", {job['result']}" if job["result"] else ""
    return f"{out['endpoint']}: fax {job['mode']} {job['file']}: {job['state']}{result}, {job['pages']} page(s)\n"


def _show_listen(out: Result) -> str:
    st = out["stream"]
    local = out.get("local_tone")
    if st is None and local is not None:  # no call: the tone the unit plays to the off-hook line
        freq = local.get("frequency")
        heard = f"{freq:.0f} Hz at {local.get('level_dbm0'):.1f} dBm0" if freq else "no tone yet"
        return f"{out['endpoint']}: off-hook, hears the {local['tone']} tone ({heard})\n"
    if st is None:
        raise OpError(ErrorKind.CALL, f"{out['endpoint']}: no call with media", 409)
    freq = st.get("frequency")
    heard = f"{freq:.0f} Hz at {st.get('level_dbm0'):.1f} dBm0" if freq else "no tone"
    return (f"{out['endpoint']}: call {st.get('call')} receives {heard}; {st.get('packets_received')} packets, "
            f"{st.get('undecryptable')} undecryptable, srtp {'on' if st.get('srtp') else 'off'}, "
            f"DTMF {st.get('dtmf_received') or 'none'}\n")


def _parse_play(words: list[str]) -> dict[str, Any] | None:
    if words == ["silence"]:
        return {"source": None}
    if len(words) == 2 and words[0] == "wav":
        return {"source": {"wav": words[1]}}
    if len(words) >= 2 and words[0] == "tone":
        freqs, level = words[1:], None
        if len(freqs) >= 2 and freqs[-2] == "level":
            freqs, level = freqs[:-2], freqs[-1]
        source: dict[str, Any] = {"tone": freqs}
        if level is not None:
            source["level_dbm0"] = level
        return {"source": source}
    return None


def _parse_record(words: list[str]) -> dict[str, Any] | None:
    if len(words) != 1:
        return None
    return {"record": None if words[0].lower() == "off" else words[0]}


def _form(word: str, help_text: str, args: Sequence[str] = (), **kw: Any) -> CliForm:
    usage = " ".join([word, "<EpId>", *(f"<{a}>" for a in args)])
    return CliForm(word, usage, help_text, positional=tuple(args), **kw)


# ---------------------------------------------------------------------------------------------- the table
def _number(text: str) -> None:
    """A number to call: a user part, or a ``sip:``/``sips:`` URI that RFC 3261 §25.1 accepts."""
    if not text.strip():
        raise ValueError("an empty number")
    if text.startswith(("sip:", "sips:")):  # as the call layer tells a URI from a user part
        Uri.parse(text)  # UriError (a ValueError) says what is wrong


_NUMBER = Arg("number", "string", "the number to call (a user part) or a sip: URI", required=True, aliases=("uri",),
              grammar=_number)
_PHONE_HELP = "what the endpoint's user does on the phone"
MEDIA_ARGS = (  # the endpoint phone's settings (emulator.engines.mipt.endpoint_audio)
    Arg("source", "object", "{tone: [Hz...], level_dbm0} (1-4 tones, 20-3990 Hz, -60..+3 dBm0), {wav: name.wav} "
        "(8 kHz mono 16-bit, from the unit's audio directory) or null (silence)", nullable=True,
        schema={"properties": {"tone": {"type": "array", "items": {"type": "number"}}, "level_dbm0": {"type": "number"},
                               "wav": {"type": "string"}, "silence": {"type": "boolean"}}}),
    Arg("record", "string", "a file name in the unit's audio directory, or null", nullable=True),
    Arg("initial_sequence", "integer", "the first RTP sequence number, 0..65535, or null (random)", nullable=True,
        schema={"minimum": 0, "maximum": 65535}),
)
_EPADM_HELP = "the EpAdm.Endpoint commands of System/Endpoints (Lock, Unlock, ForceLock)"

for _action in (
    Action("offhook", "Lift the endpoint's handset: answers a ringing call, else the line hears dial tone and "
           "collects the keys pressed (EpServ DTMF maps)", _phone("offhook", _offhook),
           cli=(_form("offhook", _PHONE_HELP, show=_show_call),)),
    Action("press", "Press keys on the off-hook endpoint's phone, one by one (dialling against the DTMF maps)",
           _press, args=(Arg("digits", "string", "0-9 * # A-D, at most 64", required=True, grammar=_keys),
                         Arg("duration_ms", "integer", "how long each key is held (default 100 ms)",
                             schema={"minimum": 40, "maximum": 2000}),
                         Arg("gap_ms", "integer", "the pause between keys (default 100 ms)",
                             schema={"minimum": 40, "maximum": 10000})),
           description="After offhook: the keys are matched against EpServ.CallDtmfMapAllowed/CallDtmfMapRefuse "
           "and the service codes; a completed number is called (its DTMF transformation applied), a refused one "
           "gives the reorder tone, a service code writes the line's EpServ row. In a connected call the keys "
           "are sent as DTMF. The answer lists what the keys brought (outcomes) and the tone the line hears.",
           errors=(ErrorKind.CALL, ErrorKind.INVALID, ErrorKind.UNAVAILABLE),
           cli=(_form("press", "press keys on the off-hook endpoint's phone (dialling)", ["digits"],
                      show=_show_press),)),
    Action("dial", "The endpoint's phone goes off-hook and dials (INVITE)",
           _phone("dial", _dial), args=(_NUMBER,),
           cli=(_form("dial", "the endpoint's phone goes off-hook and dials (emulator addition)", ["number"],
                      show=_show_call),)),
    Action("answer", "Answer the endpoint's ringing call (200 OK with the SDP answer)",
           _phone("answer", lambda m, i: m.answer(i.endpoint)), cli=(_form("answer", _PHONE_HELP, show=_show_call),)),
    Action("hangup", "Hang up: BYE a connected call, CANCEL an outgoing one, refuse (486) a ringing one",
           _phone("hangup", _hangup), cli=(_form("hangup", _PHONE_HELP, show=_show_call),)),
    Action("hold", "Put the endpoint's connected call on hold (re-INVITE)",
           _phone("hold", lambda m, i: m.hold(i.endpoint)), cli=(_form("hold", _PHONE_HELP, show=_show_call),)),
    Action("resume", "Resume the endpoint's held call (re-INVITE)",
           _phone("resume", lambda m, i: m.resume(i.endpoint)), cli=(_form("resume", _PHONE_HELP, show=_show_call),)),
    Action("transfer", "Blind transfer of the endpoint's connected call (REFER, RFC 3515/5589)",
           _phone("transfer", lambda m, i: m.transfer(i.endpoint, i.args["number"])),
           args=(Arg("number", "string", "where the far end is transferred: a user part or a sip: URI",
                     required=True, aliases=("uri",), grammar=_number),),
           description="The call row's transfer goes pending, then done (released by BYE once the far end's "
           "NOTIFY reports 200) or failed <status>; 409 when the far end refuses the REFER.",
           cli=(_form("transfer", "blind transfer of the endpoint's call (REFER)", ["number"], show=_show_call),)),
    Action("flash", "Hook-flash on the endpoint's line (EpServ: call waiting, second call, swapping calls)",
           _phone("flash", lambda m, i: m.flash(i.endpoint)),
           description="Per EpServ.DefaultCallHookFlashProcessing (or the line's EpSpecificCall row): ProcessLocally "
           "answers a waiting call holding the current one, swaps a held and a connected call, drops a second call "
           "attempt back to the held call, or holds the only call for a second call (then dial); "
           "TransmitUsingSignalingProtocol sends it to the far end (SIP INFO). The answer's call is the line's "
           "current call after the flash.",
           cli=(_form("flash", "hook-flash: call waiting, second call, swap (EpServ)", show=_show_call),)),
    Action("transfer-attended", "Attended transfer: REFER the line's held call to the far end of its current call, "
           "with Replaces (RFC 5589 §7, RFC 3891)",
           _phone("transfer-attended", lambda m, i: m.transfer_attended(i.endpoint, i.args.get("call"))),
           args=(Arg("call", "integer", "the id of the line's call to transfer (default: its held call)"),),
           description="The transferred call's row shows transfer pending, then done once its far end's NOTIFY "
           "reports the new call answered (that call is released by BYE); the current call ends when the target "
           "replaces it. Hanging up with a call held and one connected does the same (EpServ attended transfer on).",
           cli=(CliForm("transfer-attended", "transfer-attended <EpId> [<call>]",
                        "attended transfer of the held call to the current one (REFER with Replaces)",
                        parse=lambda w: {"call": w[0]} if len(w) == 1 else {} if not w else None,
                        show=_show_call),)),
    Action("conference", "Three-way conference of the line's held and current calls (EpServ, mixed in the unit)",
           _phone("conference", lambda m, i: m.conference(i.endpoint)),
           description="EpServ conference type Local: the held call is resumed and the unit mixes the line's two "
           "calls: each far end hears the line and the other far end. ConferenceServer is not acted on (409).",
           cli=(_form("conference", "three-way conference of the line's two calls (EpServ)", show=_show_call),)),
    Action("call-completion", "Ask for the completion of the line's last failed call (RFC 6910: CCBS after a busy "
           "callee, CCNR after no reply)", _call_completion,
           description="The service must be on when the call fails (EpServ.DefaultCallCompletionBusySubscriberEnable "
           "/ NoReplyEnable, or the line's EpSpecificCallCompletion row); the unit subscribes to the callee's "
           "call-completion monitor and calls the callee again once it is free; EpServ.CallCompletionConfig lists "
           "the request. 409 when the line has no failed call to complete.",
           cli=(_form("call-completion", "complete the line's last failed call once the callee is free (RFC 6910)",
                      show=_show_completion),)),
    Action("dtmf", "Send DTMF digits in the endpoint's connected call", _dtmf,
           args=(Arg("digits", "string", "0-9 * # A-D, at most 64", required=True),
                 Arg("duration_ms", "integer", "each digit's duration, 40-2000 ms (default 100)"),
                 Arg("gap_ms", "integer", "the silence between digits, 40-2000 ms (default 60)")),
           description="RFC 4733 telephone events when the call negotiated telephone-event "
           "(Mipt.DefaultDtmfTransportMethod OutOfBandUsingRtp), one SIP INFO per digit with "
           "OutOfBandUsingSignalingProtocol, else in band as tones; the answer's method says which.",
           errors=(ErrorKind.CALL, ErrorKind.INVALID, ErrorKind.UNAVAILABLE),
           cli=(_form("dtmf", "send DTMF digits in the endpoint's call (RFC 4733 events)", ["digits"],
                      show=_show_dtmf),)),
    _epadm("lock", "Lock", "Lock the endpoint (EpAdm.Endpoint Lock)"),
    _epadm("unlock", "Unlock", "Unlock the endpoint (EpAdm.Endpoint Unlock)"),
    _epadm("force-lock", "ForceLock", "Lock the endpoint now, ending its call (EpAdm.Endpoint ForceLock)"),
    Action("get-media", "What the endpoint's phone plays and records (emulator addition), and its current stream",
           _get_media, right="read", what="read the configuration", method="GET", path="media", answer="media",
           errors=(ErrorKind.CALL, ErrorKind.UNAVAILABLE),
           cli=(_form("listen", "level and frequency the endpoint's call receives, and DTMF digits",
                      show=_show_listen),)),
    Action("set-media", "Set what the endpoint's phone plays and records, and the first RTP sequence number of its "
           "streams", _set_media, what="change the endpoint's phone", method="PUT", path="media", closed=True,
           args=MEDIA_ARGS, answer="media",
           description="Fields absent keep their value; all or nothing; applied to the next calls and to the call "
           "in progress. WAV files are named, never pathed: they live in <state dir>/audio.",
           errors=(ErrorKind.CALL, ErrorKind.BAD_REQUEST, ErrorKind.INVALID, ErrorKind.UNAVAILABLE),
           cli=(CliForm("play", "play <EpId> tone <Hz> [<Hz>...] [level <dBm0>] | play <EpId> wav <name.wav> | "
                        "play <EpId> silence", "what the endpoint's phone sends (emulator addition)",
                        synopsis="play <EpId> tone <Hz>...|wav <f>|silence", parse=_parse_play, show=_show_audio),
                CliForm("record", "record <EpId> <name.wav> | record <EpId> off",
                        "record what the endpoint's calls receive (audio directory)",
                        synopsis="record <EpId> <file.wav>|off", parse=_parse_record, show=_show_audio))),
    Action("fax-send", "The endpoint's fax machine sends a TIFF-F or PDF file (emulator addition)", _fax("send"),
           args=(Arg("file", "string", "a TIFF-F or PDF file name in the unit's fax directory (<state dir>/fax); a "
                     "PDF's pages are rendered into <name>.tif beside it", required=True),),
           description="In a call, the machine plays CNG; the unit's machine detection switches the call to T.38 "
           "(re-INVITE) as TelIf and SipEp say; armed before a call, it starts when the call's audio does.",
           errors=(ErrorKind.CALL, ErrorKind.INVALID, ErrorKind.UNAVAILABLE),
           cli=(_form("fax-send", "the endpoint's fax machine sends a TIFF or PDF file (fax directory)", ["file"],
                      show=_show_fax),)),
    Action("fax-receive", "The endpoint's fax machine receives the next fax into a TIFF file (emulator addition)",
           _fax("receive"),
           args=(Arg("file", "string", "the TIFF file to write in the unit's fax directory (default: from the time)"),),
           description="In a call, the machine plays CED; with TelIf BehaviorOnCedToneDetection Faxmode the unit "
           "switches the call to T.38, with Passthrough it waits for the peer's switch.",
           errors=(ErrorKind.CALL, ErrorKind.INVALID, ErrorKind.UNAVAILABLE),
           cli=(CliForm("fax-receive", "fax-receive <EpId> [<file>]", "the endpoint's fax machine receives a fax",
                        parse=lambda w: {"file": w[0]} if len(w) == 1 else {} if not w else None, show=_show_fax),)),
    Action("get-fax", "The endpoint's fax job (state, T.30 result, pages) and its call's UDPTL counters",
           lambda inv: _fax_answer(inv, "fax"), right="read", what="read the configuration", method="GET",
           path="fax", errors=(ErrorKind.CALL, ErrorKind.UNAVAILABLE),
           cli=(_form("fax", "the endpoint's fax job and its UDPTL counters", show=_show_fax),)),
    Action("get-line", "The endpoint's line: its Pots.Line state, message-waiting indicator and the caller ID it "
           "presents", _get_line, right="read", what="read the configuration", method="GET", path="line",
           description="state: Idle, InUse or Disabled (Pots.Line; null for a port that is not an FXS line); "
           "message_waiting: what the last MWI NOTIFY lit (waiting, new, old, visual, stutter_tone, activation); "
           "caller_id: number, name, presentation (Allowed or Restricted), absence_reason, source "
           "(P-Asserted-Identity or From) and method (Fsk or Dtmf) of the latest incoming call still up, else null.",
           errors=(ErrorKind.CALL, ErrorKind.UNAVAILABLE),
           cli=(_form("line", "the line's state, message waiting and caller ID", show=_show_line),)),
):
    register(_action)
