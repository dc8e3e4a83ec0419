"""The state of each FXS line as its phone and the faces show it: ``Pots.Line`` (Id, TypeStatus, State), the
caller ID it presents, its message-waiting indicator.

* ``Pots.Line`` ``State`` (an emulator choice of rules; the hardware's values): ``Disabled`` when the endpoint is
  locked or out of service (``EpAdm.Endpoint`` AdminState Locked or OpState Disable), ``InUse`` while it has a
  call (ringing, dialling, connected or held), else ``Idle``. ``Bypass`` and ``Down`` need hardware.
* The caller ID of the line's most recent incoming call still up (ringing, waiting or connected), from its INVITE
  as :mod:`emulator.protocols.sip.caller_id` reads it with the line's ``Pots.FxsCallerId`` Activation,
  ``Pots.FxsCallerIdPrivateCallingPartyName`` and ``Pots.CallerIdCustomization``.
* The message-waiting state: :class:`~emulator.engines.sipep.mwi.LineIndicator` (lit by MWI NOTIFYs).
"""

from __future__ import annotations

from typing import Any

from emulator.engines.sipep.call import Call
from emulator.engines.sipep.calls import CallManager
from emulator.engines.sipep.mwi import LineIndicator, MwiSubscriptions
from emulator.protocols.sip.caller_id import CallerId, caller_id

__all__ = ["LineStatus"]


class LineStatus:
    """The FXS lines of one unit (``lines``: their EpIds; none on a unit without FXS lines)."""

    def __init__(self, config: Any, calls: CallManager, mwi: MwiSubscriptions, lines: tuple[str, ...]) -> None:
        self.config = config
        self.calls = calls
        self.mwi = mwi
        self.lines = lines

    def _calls(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls.calls if c.endpoint == endpoint and c.active]

    def state(self, endpoint: str) -> str:
        """``Pots.Line`` State of the line (see the module docstring)."""
        for row in self.config.rows("EpAdm.Endpoint"):
            if str(row.get("EpId")) == endpoint and (row.get("AdminState") == "Locked" or
                                                     row.get("OpState") == "Disable"):
                return "Disabled"
        return "InUse" if self._calls(endpoint) else "Idle"

    def rows(self) -> list[dict[str, Any]]:
        """``Pots.Line``: one row per FXS line."""
        return [{"Id": ep, "TypeStatus": "Fxs", "State": self.state(ep)} for ep in self.lines]

    def caller_id(self, endpoint: str) -> CallerId | None:
        """What the line presents for its latest incoming call still up, None when none (or presentation off)."""
        incoming = [c for c in self._calls(endpoint) if c.direction == "incoming" and c.invite is not None]
        if not incoming:
            return None
        call = max(incoming, key=lambda c: c.id)
        assert call.invite is not None
        activation = "Enable"
        for row in self.config.rows("Pots.FxsCallerId"):
            if str(row.get("Id")) == endpoint:
                activation = str(row.get("Activation") or "Enable")
        return caller_id(call.invite, activation=activation,
                         private_name=str(self.config.get("Pots.FxsCallerIdPrivateCallingPartyName") or ""),
                         customization=str(self.config.get("Pots.CallerIdCustomization") or "Country"))

    def message_waiting(self, endpoint: str) -> dict[str, Any]:
        return self.mwi.lines.get(endpoint, LineIndicator(activation=self.mwi.activation(endpoint))).row()

    def snapshot(self, endpoint: str) -> dict[str, Any]:
        """The line as the faces show it: state (None for a port that is not an FXS line), message waiting, caller
        ID (None when no incoming call is up)."""
        cid = self.caller_id(endpoint)
        return {"state": self.state(endpoint) if endpoint in self.lines else None,
                "message_waiting": self.message_waiting(endpoint),
                "caller_id": cid.row() if cid is not None else None}
