"""EpAdm: the administrative, operational and usage states of the unit's endpoints (System/Endpoints).

States follow the ITU-T X.731 model the DGW uses (``EpAdm.Endpoint`` table, ``EpAdm.Unit*States``):

* **AdminState** — at boot each endpoint starts in ``InitialAdminStateConfig`` (Unlocked/Locked). The row
  commands move it: ``Unlock`` -> Unlocked; ``Lock`` -> Locked at once when the line is idle, otherwise
  ShuttingDown until its call ends (the call goes on); ``ForceLock`` -> Locked, ending the call now.
  A locked (or shutting-down) endpoint takes no new call: an incoming INVITE is answered
  ``480 Temporarily Unavailable`` and dialling is refused (emulator choice: the hardware's status code
  for a locked line is not documented; 480 is RFC 3261's "reached, but not available").
  ``EpAdm.BehaviorWhileInUnitShuttingDownState`` AllowNewCalls lets a shutting-down endpoint still take
  new calls.
* **OpState** — Enable while the SipEp service runs (the line can signal), Disable otherwise.
* **UsageState** — Idle (no call), Busy (a call: ringing, dialling or connected; an FXS line or a B
  channel carries one call), IdleUnusable (idle but locked or disabled).
* Unit states (emulator choice, derived): AdminState Locked when every endpoint is locked, ShuttingDown
  when none is unlocked but one is shutting down, else Unlocked; OpState Enable when one endpoint is
  enabled; UsageState Idle / Active (some endpoints busy) / Busy (all busy) / IdleUnusable.

Admin states are not persisted: a reboot starts again from ``InitialAdminStateConfig``, as on the unit.
The pure part is :class:`EndpointStates` (no I/O); :class:`EpAdmEngine` feeds it the config commands and
the call events of the SipEp service and writes the states back as status cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["EndpointStates", "EpAdmEngine"]

UNLOCKED, SHUTTING_DOWN, LOCKED = "Unlocked", "ShuttingDown", "Locked"


@dataclass
class EndpointStates:
    """Admin/op/usage states of a set of endpoints, driven by commands and call events (pure)."""

    admin: dict[str, str] = field(default_factory=dict)
    busy: dict[str, bool] = field(default_factory=dict)
    enabled: bool = False
    allow_while_shutting_down: bool = False

    @classmethod
    def boot(cls, initial: Iterable[tuple[str, str]]) -> EndpointStates:
        """Endpoints with their ``InitialAdminStateConfig`` (Unlocked / Locked)."""
        st = cls()
        for ep, init in initial:
            st.admin[ep] = LOCKED if init == "Locked" else UNLOCKED
            st.busy[ep] = False
        return st

    def lock(self, ep: str) -> str:
        self.admin[ep] = SHUTTING_DOWN if self.busy.get(ep) else LOCKED
        return self.admin[ep]

    def force_lock(self, ep: str) -> bool:
        """Lock now; True when a call must be ended for it."""
        self.admin[ep] = LOCKED
        return bool(self.busy.get(ep))

    def unlock(self, ep: str) -> None:
        self.admin[ep] = UNLOCKED

    def set_busy(self, ep: str, busy: bool) -> bool:
        """A call started or ended on `ep`; True when this completed a graceful lock."""
        self.busy[ep] = busy
        if not busy and self.admin.get(ep) == SHUTTING_DOWN:
            self.admin[ep] = LOCKED
            return True
        return False

    def refusal(self, ep: str) -> str | None:
        """Why `ep` may not take a new call (None: it may)."""
        state = self.admin.get(ep, UNLOCKED)
        if state == LOCKED or (state == SHUTTING_DOWN and not self.allow_while_shutting_down):
            return f"endpoint {ep} is {'locked' if state == LOCKED else 'shutting down'}"
        if not self.enabled:
            return f"endpoint {ep} is disabled"
        return None

    def op_state(self, ep: str) -> str:
        return "Enable" if self.enabled else "Disable"

    def usage(self, ep: str) -> str:
        if self.busy.get(ep):
            return "Busy"
        return "Idle" if self.admin.get(ep) == UNLOCKED and self.enabled else "IdleUnusable"

    def unit_admin(self) -> str:
        states = set(self.admin.values())
        if not states or UNLOCKED in states:
            return UNLOCKED
        return SHUTTING_DOWN if SHUTTING_DOWN in states else LOCKED

    def unit_usage(self) -> str:
        busy = [ep for ep, b in self.busy.items() if b]
        if busy:
            return "Busy" if len(busy) == len(self.busy) else "Active"
        return "Idle" if any(self.usage(ep) == "Idle" for ep in self.admin) else "IdleUnusable"


class EpAdmEngine:
    """The EpAdm service of one unit. See the module docstring."""

    name = "EpAdm"

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.config = unit.config
        self.states = EndpointStates()
        self._unsubscribe: list[Callable[[], None]] = []
        for col, fn in (("Lock", self._lock), ("Unlock", self._unlock), ("ForceLock", self._force_lock)):
            self.config.on_command(f"EpAdm.Endpoint.{col}", self._command(fn))

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        rows = self.config.rows("EpAdm.Endpoint")
        self.states = EndpointStates.boot((str(r["EpId"]), str(r.get("InitialAdminStateConfig"))) for r in rows)
        calls = self._calls()
        if calls is not None:
            calls.admission = self.refusal
            calls.listeners.append(self._on_call)
            for ep in self.states.admin:
                self.states.busy[ep] = calls.current(ep) is not None
        self._unsubscribe.append(self.config.subscribe(self._on_change))
        self._unsubscribe.append(self.unit.on_service_state(self._on_service))
        self._refresh()

    async def stop(self) -> None:
        calls = self._calls()
        if calls is not None:
            if calls.admission == self.refusal:
                calls.admission = None
            if self._on_call in calls.listeners:
                calls.listeners.remove(self._on_call)
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        for ep in self.states.admin:
            for col in ("AdminState", "OpState", "UsageState"):
                self.config.set_status(f"EpAdm.Endpoint[{ep}].{col}", None)
        for col in ("UnitAdminState", "UnitOpState", "UnitUsageState"):
            self.config.set_status(f"EpAdm.{col}", None)

    # ---------------------------------------------------------------- wiring
    def _calls(self) -> Any:
        st = self.unit.services.get("SipEp")
        engine = st.engine if st is not None else None
        return getattr(engine, "calls", None)

    def _sipep_running(self) -> bool:
        st = self.unit.services.get("SipEp")
        return st is not None and st.state == "Started"

    def refusal(self, ep: str) -> str | None:
        return self.states.refusal(ep)

    def _on_service(self, name: str, state: str) -> None:
        if name == "SipEp":
            calls = self._calls()
            if calls is not None and state == "Started":
                calls.admission = self.refusal
            self._refresh()

    def _command(self, fn: Callable[[str], None]) -> Callable[[tuple[Any, ...]], None]:
        def run(index: tuple[Any, ...]) -> None:
            fn(str(index[0]))
            self._refresh()

        return run

    def _lock(self, ep: str) -> None:
        state = self.states.lock(ep)
        self.unit.log.info("endpoint_lock", endpoint=ep, state=state)

    def _unlock(self, ep: str) -> None:
        self.states.unlock(ep)
        self.unit.log.info("endpoint_unlock", endpoint=ep)

    def _force_lock(self, ep: str) -> None:
        if self.states.force_lock(ep):
            calls = self._calls()
            if calls is not None:
                self.unit._spawn(calls.hangup(ep))
        self.unit.log.info("endpoint_force_lock", endpoint=ep)

    def _on_call(self, call: Any) -> None:
        ep = call.endpoint
        if ep not in self.states.admin:
            return
        calls = self._calls()
        busy = calls is not None and calls.current(ep) is not None
        if busy != self.states.busy.get(ep):
            if self.states.set_busy(ep, busy):
                self.unit.log.info("endpoint_locked_after_call", endpoint=ep)
            self._refresh()

    def _on_change(self, ev: Any) -> None:
        if ev.param.name == "EpAdm.BehaviorWhileInUnitShuttingDownState":
            self._refresh()

    def _refresh(self) -> None:
        s = self.states
        s.enabled = self._sipep_running()
        s.allow_while_shutting_down = self.config.get("EpAdm.BehaviorWhileInUnitShuttingDownState") == "AllowNewCalls"
        for ep, admin in s.admin.items():
            self.config.set_status(f"EpAdm.Endpoint[{ep}].AdminState", admin)
            self.config.set_status(f"EpAdm.Endpoint[{ep}].OpState", s.op_state(ep))
            self.config.set_status(f"EpAdm.Endpoint[{ep}].UsageState", s.usage(ep))
        self.config.set_status("EpAdm.UnitAdminState", s.unit_admin())
        self.config.set_status("EpAdm.UnitOpState", "Enable" if s.enabled else "Disable")
        self.config.set_status("EpAdm.UnitUsageState", s.unit_usage())
