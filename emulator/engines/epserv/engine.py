"""EpServ: the endpoint services a line's user meets before and around a call — dial tone, dialling against the
DTMF maps, user activation codes, hotlines, the tones of a failed call — and ``EpServ.CallStatistics``.

* **Off-hook** (the ``offhook`` phone action): a ringing call is answered, as before. Otherwise the line hears its
  country's dial tone (:mod:`.earpiece`) and its keys (the ``press`` action) are collected by a
  :class:`~.collector.Collector` over the endpoint's :func:`~.plan.dial_plan`; auto-call (hotline) calls its
  target at once instead.
* **Outcomes.** An allowed number is called through the call layer's ``dial`` (the call router when the unit has
  one), after its map's DTMF transformation; a ``TargetHost`` sends the INVITE straight to that host (no proxy,
  no routing: emulator choice). A direct IP call goes to the address dialled. An emergency map's call is marked:
  the emulator logs it (``emergency_call``) and lists its call id in :attr:`EpServEngine.emergency` (the press
  answer says ``emergency``); nothing else differs (emulator choice: the hardware's other handling, e.g.
  pre-emption, is not documented). A refused number, a dialling that matches nothing or a first-DTMF timeout
  without delayed hotline: the reorder tone (emulator choice for the off-hook warning: each country's
  ``Reorder`` pattern). A service code writes the endpoint's row through the configuration, so every face sees
  it — ``CallWaitingUserConfig.State`` Active/Inactive, ``Forward*Config.Activation`` and, on activation,
  ``ForwardingAddress`` (the DTMFs after the code) — and the line hears the confirmation tone (emulator
  choice: the country's ``Stutter`` pattern). Call waiting's cancel code is for the next call only (emulator
  choice of how): ``CallWaitingUserConfig.State`` goes Inactive until the line goes on-hook, then back to what it
  was; the line hears the stutter tone and dials that call (:attr:`EpServEngine.waiting_cancelled`).
* **Second call**: a hook-flash that holds the line's only call for a second one (the call layer's
  ``FlashStep.SECOND_CALL``) gives dial tone and the keys dial the second call's number the same way (the dial
  tone is then measured, not recorded: the held call's stream keeps the endpoint's recording); any other flash
  ends that dialling, and so does the second call's end (no tone: the user flashes back to the held call).
* **Local ringback**: a call the line dialled that is alerting without early media (180 without SDP) gives the
  line its country's ringback, until early media, the answer or the end; the far end's early media is heard
  instead when it sends some (183 with SDP).
* **After a call** of a line still off-hook (the user placed it by dialling): a busy answer (486, 600) or the far
  end's hang-up plays the busy tone, any other failure (404, 503, no route...) the reorder tone (emulator
  choice), until on-hook. A call placed by the ``dial`` action keeps its contract: the line goes on-hook when it
  ends, silently.
* **Statistics**: :mod:`.statistics`, written into ``EpServ.CallStatistics`` as the calls change.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emulator.engines.epserv.collector import Collector, Outcome
from emulator.engines.epserv.earpiece import Earpiece
from emulator.engines.epserv.plan import dial_plan
from emulator.engines.epserv.statistics import CallStatistics
from emulator.engines.sipep.offer_answer import CallError
from firmware_model.config import ConfigError

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["EpServEngine", "Line"]

BUSY_STATUSES = (486, 600)
_FORWARD_TABLES = {"ForwardUnconditional": "EpServ.ForwardUnconditionalConfig",
                   "ForwardOnBusy": "EpServ.ForwardOnBusyConfig",
                   "ForwardNoAnswer": "EpServ.ForwardNoAnswerConfig"}


@dataclass
class Line:
    """A line whose user holds the handset (lifted with ``offhook``)."""

    endpoint: str
    earpiece: Earpiece
    collector: Collector | None = None
    timer: asyncio.TimerHandle | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    call_id: int | None = None  # the call the dialling placed
    placing: bool = False  # the dialling's call is being placed (its first changes come before its id is known)
    second: bool = False  # dialling a second call after a hook-flash held the line's call


class EpServEngine:
    """The EpServ service of one unit (see the module docstring)."""

    name = "EpServ"

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.config = unit.config
        self.lines: dict[str, Line] = {}
        self.stats = CallStatistics()
        self.emergency: set[int] = set()
        self.waiting_cancelled: dict[str, Any] = {}  # endpoint -> its CallWaitingUserConfig.State before the cancel
        self._listening: Any = None
        self._unsubscribe: Any = lambda: None
        self.config.on_command("EpServ.CallStatistics.Reset", self._reset)

    # ---------------------------------------------------------------- lifecycle, wiring
    def calls(self) -> Any:
        st = self.unit.services.get("SipEp")
        return getattr(st.engine if st is not None else None, "calls", None)

    async def start(self) -> None:
        # computed on every read (nothing written per call change: a unit with a hundred lines stays cheap)
        self.config.provide_rows("EpServ.CallStatistics", self._stats_rows)
        self._listen()
        self._unsubscribe = self.unit.on_service_state(lambda name, state: self._listen())

    async def stop(self) -> None:
        for ep in list(self.lines):
            self.onhook(ep)
        calls = self._listening
        if calls is not None and self._on_call in calls.listeners:
            calls.listeners.remove(self._on_call)
        flashes = getattr(getattr(calls, "line", None), "flash_listeners", None)
        if flashes is not None and self._on_flash in flashes:
            flashes.remove(self._on_flash)
        self._listening = None
        self._unsubscribe()

    def _listen(self) -> None:
        calls = self.calls()
        if calls is not None and calls is not self._listening:
            calls.listeners.append(self._on_call)
            flashes = getattr(getattr(calls, "line", None), "flash_listeners", None)
            if flashes is not None:
                flashes.append(self._on_flash)
            self._listening = calls

    def _record_path(self, endpoint: str) -> Path | None:
        calls = self.calls()
        media = getattr(calls, "media", None)
        audio_of = getattr(media, "audio_of", None)
        audio_dir = getattr(media, "audio_dir", None)
        if audio_of is None or audio_dir is None:
            return None
        record = audio_of(endpoint).record
        return Path(audio_dir) / record if record else None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # ---------------------------------------------------------------- phone actions
    def line(self, endpoint: str) -> Line | None:
        return self.lines.get(endpoint)

    async def offhook(self, endpoint: str) -> Any:
        """Lift the handset: answer a ringing call; otherwise dial tone and collection (or the hotline)."""
        calls = self.calls()
        if calls is None:
            raise CallError("the SipEp service is not running", 503)
        call = calls.current(endpoint)
        result = await calls.offhook(endpoint)
        if call is not None or endpoint in self.lines:
            return result
        line = Line(endpoint, Earpiece(self.config, lambda: self._record_path(endpoint)))
        self.lines[endpoint] = line
        self._collect(line)
        return result

    def _collect(self, line: Line) -> None:
        plan = dial_plan(self.config, line.endpoint)
        if line.second:
            plan = replace(plan, auto_call="")  # the hotline is for the handset lifted, not a second call
        line.collector = Collector(plan, self._now())
        outcome = line.collector.start()
        if outcome is not None:
            self._act(line, outcome)
            return
        line.earpiece.play("Dial")
        self._arm(line)

    def _arm(self, line: Line) -> None:
        if line.timer is not None:
            line.timer.cancel()
            line.timer = None
        deadline = line.collector.deadline() if line.collector is not None else None
        if deadline is not None:
            line.timer = asyncio.get_running_loop().call_at(deadline, self._tick, line)

    def _tick(self, line: Line) -> None:
        line.timer = None
        if self.lines.get(line.endpoint) is not line or line.collector is None:
            return
        outcome = line.collector.tick(self._now())
        if outcome is not None:
            self._act(line, outcome)
        else:
            self._arm(line)

    async def press(self, endpoint: str, digits: str, duration_ms: int = 100, gap_ms: int = 100) -> list[Outcome]:
        """Keys pressed while off-hook, one by one (each held ``duration_ms``, then ``gap_ms`` of silence); the
        outcomes they brought. In a connected call the keys are DTMF sent in the call."""
        calls = self.calls()
        if calls is None:
            raise CallError("the SipEp service is not running", 503)
        line = self.lines.get(endpoint)
        dialling = line is not None and line.collector is not None and line.collector.done is None
        current = calls.current(endpoint)
        if not dialling and current is not None and current.state == "connected":
            await calls.dtmf(endpoint, digits, duration_ms, gap_ms)
            return []
        if line is None or line.collector is None or line.collector.done is not None:
            raise CallError(f"endpoint {endpoint} is not dialling (offhook first)", 409)
        outcomes: list[Outcome] = []
        for i, digit in enumerate(digits.upper()):
            if i:
                await asyncio.sleep(gap_ms / 1000)
            if self.lines.get(endpoint) is not line or line.collector is None or line.collector.done is not None:
                break
            await asyncio.sleep(duration_ms / 1000)  # a DTMF is recognised when pressed long enough
            if line.earpiece.tone == "Dial":
                line.earpiece.stop()  # the first DTMF silences the dial tone
            outcome = line.collector.press(digit, self._now())
            if outcome is not None:
                outcomes.append(outcome)
                self._act(line, outcome)
            else:
                self._arm(line)
        return outcomes

    def onhook(self, endpoint: str) -> None:
        """Put the handset down: every local tone and timer stops (the call layer hangs up any call)."""
        line = self.lines.pop(endpoint, None)
        if endpoint in self.waiting_cancelled:  # the call the cancel code was for is over
            with contextlib.suppress(ConfigError):
                self.config.set(f"EpServ.CallWaitingUserConfig[{endpoint}].State",
                                self.waiting_cancelled.pop(endpoint), source="phone")
        if line is None:
            return
        if line.timer is not None:
            line.timer.cancel()
        line.earpiece.stop()

    # ---------------------------------------------------------------- outcomes
    def _act(self, line: Line, outcome: Outcome) -> None:
        line.outcomes.append(outcome)
        log = self.unit.log
        ep = line.endpoint
        if outcome.kind == "stutter":
            line.earpiece.play("Stutter")
            self._arm(line)
            return
        if line.timer is not None:
            line.timer.cancel()
            line.timer = None
        if outcome.kind in ("call", "hotline", "direct_ip"):
            line.earpiece.stop()  # the call's own audio takes over (its stream records into the same file)
            log.info("epserv_dial", endpoint=ep, kind=outcome.kind, dialled=outcome.dialled, number=outcome.number,
                     host=outcome.target_host, emergency=outcome.emergency)
            self.unit._spawn(self._place(line, outcome))
        elif outcome.kind == "service":
            self._service(line, outcome)
        else:  # refused, timeout
            log.info("epserv_refused", endpoint=ep, kind=outcome.kind, reason=outcome.reason)
            line.earpiece.play("Reorder")

    async def _place(self, line: Line, outcome: Outcome) -> None:
        calls = self.calls()
        ep = line.endpoint
        line.placing = True
        try:
            if calls is None:
                raise CallError("the SipEp service is not running", 503)
            if outcome.kind == "direct_ip":
                call = calls.invite(ep, f"sip:{outcome.target_host}", self._gateway(calls, ep),
                                    host=outcome.target_host)
            elif outcome.target_host:
                call = calls.invite(ep, outcome.number, self._gateway(calls, ep), host=outcome.target_host)
            else:
                call = await calls.dial(ep, outcome.number)
        except (CallError, ConfigError, ValueError, IndexError) as exc:  # IndexError: no SIP gateway
            self.unit.log.info("epserv_call_refused", endpoint=ep, error=str(exc))
            if self.lines.get(ep) is line:
                line.earpiece.play("Reorder")
            return
        finally:
            line.placing = False
        line.call_id = call.id
        if outcome.emergency:
            self.emergency.add(call.id)
            self.unit.log.warning("emergency_call", endpoint=ep, call=call.id, number=outcome.number)
        if line.second:
            if not call.active:
                self._drop(line)
        elif not call.active:
            self._after_call(line, call)
        else:
            self._local_ringback(line, call)

    @staticmethod
    def _gateway(calls: Any, endpoint: str) -> str:
        gateways = list(calls.ua.gateways)
        try:
            name = calls.ua.settings.config.get(f'SipEp.UserAgent.GatewayName[EpId="{endpoint}"]')
        except ConfigError:
            name = None
        return str(name) if name in gateways else gateways[0]

    def _service(self, line: Line, outcome: Outcome) -> None:
        ep, service, action = line.endpoint, outcome.service, outcome.action
        try:
            if service == "CallWaiting" and action == "Cancel":
                state = f"EpServ.CallWaitingUserConfig[{ep}].State"
                self.waiting_cancelled.setdefault(ep, self.config.get(state))
                self.config.set(state, "Inactive", source="phone")
            elif service == "CallWaiting":
                self.config.set(f"EpServ.CallWaitingUserConfig[{ep}].State",
                                "Active" if action == "Activation" else "Inactive", source="phone")
            else:
                table = _FORWARD_TABLES[service]
                if action == "Activation":
                    self.config.set(f"{table}[{ep}].ForwardingAddress", outcome.number, source="phone")
                self.config.set(f"{table}[{ep}].Activation", "Active" if action == "Activation" else "Inactive",
                                source="phone")
        except ConfigError as exc:
            self.unit.log.info("epserv_service_refused", endpoint=ep, service=service, action=action, error=str(exc))
            line.earpiece.play("Reorder")
            return
        self.unit.log.info("epserv_service", endpoint=ep, service=service, action=action, address=outcome.number)
        if service == "CallWaiting" and action == "Cancel":
            self._collect(line)  # dial the number the cancel is for
            line.earpiece.play("Stutter")
        else:
            line.earpiece.play("Stutter")

    # ---------------------------------------------------------------- calls
    def _on_call(self, call: Any) -> None:
        ep = str(call.endpoint)
        self.stats.observe(call.id, ep, call.direction, str(call.state), call.end_reason or "", self._clock())
        line = self.lines.get(ep)
        if line is None:
            return
        if line.placing:
            return  # the dialling's own call: _place takes it from here
        if line.second:
            if call.id == line.call_id and not call.active:
                self._drop(line)  # the second call is over: the user flashes back to the held call
            return
        if call.id == line.call_id:
            if not call.active:
                self._after_call(line, call)
            else:
                self._local_ringback(line, call)
            return
        if call.active and line.call_id is None:
            # a call the dialling did not place (the dial action, an answered call): the dialling is over and
            # the line follows that call's contract (on-hook when it ends)
            self.onhook(ep)

    def _on_flash(self, endpoint: str, step: Any) -> None:
        """After a hook-flash (the call layer's FlashStep): a flash that held the line's only call for a second one
        gives dial tone and collects that call's number; any other step ends such a dialling."""
        calls = self.calls()
        line = self.lines.get(endpoint)
        if getattr(step, "name", "") == "SECOND_CALL" and calls is not None and \
                calls.line.wants_second_call(endpoint):
            if line is not None:
                self._drop(line)
            # the held call's stream keeps the endpoint's recording: this dial tone is heard (measured), not recorded
            line = Line(endpoint, Earpiece(self.config, lambda: None), second=True)
            self.lines[endpoint] = line
            self._collect(line)
        elif line is not None and line.second:
            self._drop(line)

    def _drop(self, line: Line) -> None:
        """Forget a second call's dialling (the line stays off-hook: it has its held call)."""
        if self.lines.get(line.endpoint) is line:
            del self.lines[line.endpoint]
        if line.timer is not None:
            line.timer.cancel()
            line.timer = None
        line.earpiece.stop()

    def _local_ringback(self, line: Line, call: Any) -> None:
        """The line's dialled call is alerting without early media (180 without SDP): the unit plays its country's
        ringback to the line, recorded where the call's received audio goes; the recording is handed back to the
        call's stream when early media or the answer starts its audio."""
        stream = getattr(getattr(call, "media", None), "stream", None)
        playout = getattr(stream, "playout", None)
        ringing = call.state == "alerting" and not call.remote_sdp
        if ringing and line.earpiece.tone is None:
            if playout is not None:
                playout.record(None)  # the ringback takes the recording file; handed back below
            line.earpiece.play("Ringback")
        elif not ringing and line.earpiece.tone == "Ringback":
            recorder = line.earpiece.release()
            if recorder is not None and playout is not None:
                playout.record(recorder)  # the call's audio follows the ringback in the same recording
            elif recorder is not None:
                recorder.close()

    def _after_call(self, line: Line, call: Any) -> None:
        """The line's dialled call ended while the user still holds the handset."""
        calls = self.calls()
        if self.lines.get(line.endpoint) is not line:
            return
        if calls is not None:
            calls.off_hook.add(line.endpoint)  # still off-hook: a new call is refused busy
        busy = call.status in BUSY_STATUSES or call.end_reason == "remote hangup"
        line.earpiece.play("Busy" if busy else "Reorder")

    def _clock(self) -> float:
        try:
            return self._now()
        except RuntimeError:
            return 0.0

    def _stats_rows(self) -> list[dict[str, Any]]:
        """The ``EpServ.CallStatistics`` rows: one per endpoint, its counters."""
        return [{"EpId": str(r["EpId"]), **self.stats.row(str(r["EpId"])), "Reset": "NoOp"}
                for r in self.config.rows("EpAdm.Endpoint")]

    def _reset(self, index: tuple[Any, ...]) -> None:
        self.stats.reset(str(index[0]))
