"""The EpServ settings of the services a line offers while in calls (hold, call waiting, second call, transfer,
conference, hook-flash processing) and their ``*Status`` tables.

Each service has a ``Default...`` scalar and an ``EpSpecific...`` row per endpoint whose values count only when its
``EnableConfig`` is ``Enable`` (the vendor's pattern for every endpoint-specific table). Call waiting also needs
the user's own ``EpServ.CallWaitingUserConfig[EpId].State`` (``Active``/``Inactive``, which the user's activation
codes write). Values are read when a service is used, so an edit acts on the next use (class ``live``): each
table's rows are indexed by EpId once and kept until an EpServ parameter changes (firmware_model/settings_cache.py;
reading the 100-row tables on every call was a large share of a call's CPU).

The status tables (``EpServ.HoldStatus``, ``CallWaitingStatus``, ``SecondCallStatus``, ``TransferStatus``
``BlindState``/``AttendedState``, ``ConferenceStatus``) say ``Active`` for a service the endpoint offers now as
configured, else ``Inactive`` (emulator choice of meaning: the catalog calls the column the service's status).
"""

from __future__ import annotations

from typing import Any

from firmware_model.settings_cache import settings_cache

__all__ = ["STATUS_TABLES", "LineServices"]

STATUS_TABLES = ("EpServ.HoldStatus", "EpServ.CallWaitingStatus", "EpServ.SecondCallStatus",
                 "EpServ.TransferStatus", "EpServ.ConferenceStatus")


class LineServices:
    """Reads one unit's EpServ call-service settings (``config``: the unit's :class:`~firmware_model.config.Config`)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self._cache = settings_cache(config, ("EpServ",))

    def _by_endpoint(self, table: str) -> dict[str, dict[str, Any]]:
        """``table``'s rows by EpId (the first row of an EpId, as a scan finds it)."""
        def index() -> dict[str, dict[str, Any]]:
            rows: dict[str, dict[str, Any]] = {}
            for row in self.config.rows(table):
                rows.setdefault(str(row.get("EpId")), row)
            return rows
        return self._cache.get(("line_services.rows", table), index)

    def _specific(self, table: str, endpoint: str) -> dict[str, Any] | None:
        """The endpoint's row of ``table`` when its EnableConfig is Enable, else None (the defaults apply)."""
        row = self._by_endpoint(table).get(endpoint)
        if row is not None and str(row.get("EnableConfig")) == "Enable":
            return row
        return None

    def _value(self, table: str, column: str, default: str, endpoint: str) -> str:
        row = self._specific(table, endpoint)
        if row is not None:
            return str(row.get(column))
        return str(self._cache.get(("line_services.default", default), lambda: self.config.get(default)))

    def _enabled(self, table: str, column: str, default: str, endpoint: str) -> bool:
        return self._value(table, column, default, endpoint) == "Enable"

    # -- the services
    def hold(self, endpoint: str) -> bool:
        return self._enabled("EpServ.EpSpecificHold", "Enable", "EpServ.DefaultHoldEnable", endpoint)

    def call_waiting(self, endpoint: str) -> bool:
        """Configured (Default/EpSpecific) and left active by the user (``CallWaitingUserConfig``)."""
        if not self._enabled("EpServ.EpSpecificCallWaiting", "Enable", "EpServ.DefaultCallWaitingEnable", endpoint):
            return False
        row = self._by_endpoint("EpServ.CallWaitingUserConfig").get(endpoint)
        return row is None or str(row.get("State")) != "Inactive"

    def second_call(self, endpoint: str) -> bool:
        return self._enabled("EpServ.EpSpecificSecondCall", "Enable", "EpServ.DefaultSecondCallEnable", endpoint)

    def second_call_disconnect(self, endpoint: str) -> str:
        """``Wait`` (the held call stays held until the user flashes) or ``AutoSwitch`` (it is resumed)."""
        return self._value("EpServ.EpSpecificSecondCall", "DisconnectAction",
                           "EpServ.DefaultSecondCallDisconnectAction", endpoint)

    def blind_transfer(self, endpoint: str) -> bool:
        return self._enabled("EpServ.EpSpecificTransfer", "BlindEnable", "EpServ.DefaultTransferBlindEnable", endpoint)

    def attended_transfer(self, endpoint: str) -> bool:
        return self._enabled("EpServ.EpSpecificTransfer", "AttendedEnable", "EpServ.DefaultTransferAttendedEnable",
                             endpoint)

    def conference(self, endpoint: str) -> bool:
        return self._enabled("EpServ.EpSpecificConference", "Enable", "EpServ.DefaultConferenceEnable", endpoint)

    def conference_type(self, endpoint: str) -> str:
        """``Local`` (mixed in the unit) or ``ConferenceServer``."""
        return self._value("EpServ.EpSpecificConference", "Type", "EpServ.DefaultConferenceType", endpoint)

    def flash_processing(self, endpoint: str) -> str:
        """``ProcessLocally`` (the unit's services act on a hook-flash) or ``TransmitUsingSignalingProtocol``."""
        return self._value("EpServ.EpSpecificCall", "HookFlashProcessing", "EpServ.DefaultCallHookFlashProcessing",
                           endpoint)

    # -- the status tables
    def _endpoints(self) -> list[str]:
        return [str(r.get("EpId")) for r in self.config.rows("EpServ.EpSpecificHold")]

    @staticmethod
    def _state(on: bool) -> str:
        return "Active" if on else "Inactive"

    def status_rows(self, table: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for ep in self._endpoints():
            if table == "EpServ.TransferStatus":
                rows.append({"EpId": ep, "BlindState": self._state(self.blind_transfer(ep)),
                             "AttendedState": self._state(self.attended_transfer(ep))})
                continue
            on = {"EpServ.HoldStatus": self.hold, "EpServ.CallWaitingStatus": self.call_waiting,
                  "EpServ.SecondCallStatus": self.second_call, "EpServ.ConferenceStatus": self.conference}[table](ep)
            rows.append({"EpId": ep, "State": self._state(on)})
        return rows

    def provide(self) -> None:
        """Feed the five status tables from the settings (read when a face reads them)."""
        for table in STATUS_TABLES:
            self.config.provide_rows(table, lambda t=table: self.status_rows(t))
