"""CRout: the unit's call router (numkey 1750, "Call Routing") — every call of the unit, both directions, goes
through it (MX-CROUT-MIB; DGW "Call Router").

* **Staged configuration.** Edits of the CRout tables and auto-routing parameters take effect only when the
  ``CRout.ApplyConfig`` command runs (CLI, scripts, API command, lab file). ``CRout.ConfigModifiedStatus`` is
  ``Yes`` while the configuration differs from the one in use. ApplyConfig checks the whole configuration
  (:mod:`emulator.protocols.crout.table`): a loop, a dangling reference or a malformed row refuses it with the
  reason (the command fails, notification CRout 9002), and the routing in use stays as it was; otherwise it is
  put in use (CRout 9001). Each row's ``ConfigStatus`` says ``Valid`` or what is wrong with it, as soon as it
  is edited. Malformed expressions are refused earlier, at set time (``firmware_model.crout_expressions``).
* **Status tables.** ``InterfaceStatus`` (the unit's interfaces: ``sip-<Gateway name>`` for each SIP gateway,
  ``fxs-<EpId>`` for an FXS line, ``isdn-<EpId>`` for a BRI/PRI port), ``RouteStatus`` (the user's routes,
  then the auto-routing ones, ``Type`` ``Auto``), and the other ``*Status`` tables show the configuration in
  use. ``AutoRouting`` shows each endpoint's E.164, SIP user name and name (``SipEp.UserAgent``).
* **Auto-routing** follows the endpoints' user names and the SIP gateways as they change (they are not CRout
  configuration: no ApplyConfig needed for them).
* **Row commands** ``Up``, ``Down`` (swap a row with its neighbour) and ``Insert`` (a new row before this one)
  of every CRout table; ``Delete`` is the configuration's own.
* **Start.** The service starts with the stored configuration in use when it is valid; when not, with no
  routes (every call refused) and CRout 9002 — the configuration waits for a correction and ApplyConfig.
  While the service is stopped every call is refused with cause 3.

**Factory routing (emulator choice).** Whether a factory unit ships with auto-routing on is not documented.
For a factory unit to call as the emulator always did, the emulator's factory configuration turns auto-routing
on (``CRout.AutoRoutingEnable`` Enable) with ``AutoRoutingCriteriaType`` ``SipUsername``, so that a call whose
Request-URI user is an endpoint's user name rings that endpoint and each line calls out through its own SIP
gateway; the ISDN ports of a C740 or 3621 are auto-routable in the factory rows (``Autoroutable`` Enable; the
vendor's ``HardwareDependent`` means FXS lines only). With ``AutoRoutingGateway`` empty, the emulator takes
calls in from every SIP gateway and sends a line's calls out through the endpoint's own gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator.engines.sipep.calls import CallManager
from emulator.engines.sipep.routing import RoutedCalls
from emulator.protocols.crout.causes import NO_ROUTE, cause_for_status, status_for_cause
from emulator.protocols.crout.names import split_names
from emulator.protocols.crout.properties import CallProperties, is_e164
from emulator.protocols.crout.router import Decision, Refusal, Router
from emulator.protocols.crout.table import AutoEndpoint, AutoRouting, Problem, RoutingTable, check
from firmware_model.config import ChangeEvent, ConfigError

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["CONFIG_TABLES", "CRoutEngine"]

# the CRout tables a user configures, in the order the checks read them
CONFIG_TABLES = ("CRout.Route", "CRout.MappingType", "CRout.MappingExpression", "CRout.Hunt",
                 "CRout.SignalingProperties", "CRout.SipHeadersTranslation", "CRout.CallPropertiesTranslation",
                 "CRout.SipRedirect")
STATUS_TABLES = ("CRout.InterfaceStatus", "CRout.RouteStatus", "CRout.MappingTypeStatus",
                 "CRout.MappingExpressionStatus", "CRout.HuntStatus", "CRout.SignalingPropertiesStatus",
                 "CRout.SipHeadersTranslationStatus", "CRout.CallPropertiesTranslationStatus",
                 "CRout.SipRedirectStatus")
AUTO_SCALARS = ("CRout.AutoRoutingEnable", "CRout.AutoRoutingCriteriaType", "CRout.AutoRoutingIncomingMappings",
                "CRout.AutoRoutingOutgoingMappings", "CRout.AutoRoutingIncomingSignalingProperties",
                "CRout.AutoRoutingOutgoingSignalingProperties")
_LINE_PREFIX = {"fxs": "fxs-", "fxo": "fxo-", "bri": "isdn-", "pri": "isdn-"}
_LIVE = ("SipEp.Gateway", "SipEp.UserAgent")  # what auto-routing and the interfaces follow without ApplyConfig


def _short(name: str) -> str:
    """``CRout.Route`` -> ``Route`` (the pure core's table names)."""
    return name.split(".", 1)[1]


class CRoutEngine:
    """The CRout service of one unit (see the module docstring)."""

    name = "CRout"

    def __init__(self, unit: Unit, calls: CallManager | None = None) -> None:
        self.unit = unit
        self.config = unit.config
        self.router = Router()
        self.running = False
        self._applied: dict[str, Any] | None = None  # the configuration in use (see _snapshot)
        self._line_prefix = _LINE_PREFIX.get(unit.profile.endpoint_kind, "fxs-")
        self.routed = RoutedCalls(calls, self) if calls is not None else None
        self._available: frozenset[str] = frozenset()  # the interfaces of the routing in use
        self._stale_marks = self._stale_live = self._refresh_scheduled = False
        c = self.config
        c.provide("CRout.ConfigModifiedStatus", lambda: "No" if self._applied == self._snapshot() else "Yes")
        for table in STATUS_TABLES:
            c.provide_rows(table, self._status_rows(_short(table)))
        for table in CONFIG_TABLES:
            c.on_command(f"{table}.Up", self._mover(table, -1))
            c.on_command(f"{table}.Down", self._mover(table, +1))
            c.on_command(f"{table}.Insert", self._inserter(table))
        unit.commands["CRout.ApplyConfig"] = self.apply_config
        c.subscribe(self._on_change)
        self._show_auto_routing()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        snapshot = self._snapshot()
        problems, table = self._compile(snapshot)
        self._mark(problems)
        if problems:
            self._use(RoutingTable(interfaces=tuple(self.interfaces())))
            self._applied = None
            self.unit.notify("CRout", 9002, reason="; ".join(str(p) for p in problems))
        else:
            self._use(table)
            self._applied = snapshot
        self.running = True

    async def stop(self) -> None:
        self.running = False

    # ------------------------------------------------------------------ the command
    def apply_config(self) -> str:
        """``CRout.ApplyConfig``: put the configuration in use, or refuse it with the reason (ConfigError)."""
        snapshot = self._snapshot()
        problems, table = self._compile(snapshot)
        self._mark(problems)
        if problems:
            reason = "; ".join(str(p) for p in problems)
            self.unit.notify("CRout", 9002, reason=reason)
            raise ConfigError("invalid", "CRout.ApplyConfig",
                              f"CRout.ApplyConfig refused, the routing in use is unchanged: {reason}")
        self._use(table)
        self._applied = snapshot
        self.unit.notify("CRout", 9001, routes=len(table.routes))
        return f"Call routing configuration applied: {len(table.routes)} routes in use\n"

    # ------------------------------------------------------------------ the call layer's router (CallRouter)
    def route(self, source: str, properties: CallProperties) -> Decision:
        if not self.running:
            return Refusal(NO_ROUTE, "the CRout service is not running")
        if self._stale_live:
            self.refresh()
        return self.router.route(source, properties, self._local_now, available=self._available.__contains__,
                                 local_ip_port=self._local_ip_port())

    def _local_now(self) -> datetime:
        return datetime.strptime(self.unit.local_time(), "%Y-%m-%d %H:%M:%S")

    def _use(self, table: RoutingTable) -> None:
        self.router.table = table
        self._available = frozenset(table.interfaces)

    def line_interface(self, endpoint: str) -> str:
        return f"{self._line_prefix}{endpoint}"

    def line_endpoint(self, interface: str) -> str | None:
        if not interface.startswith(self._line_prefix):
            return None
        endpoint = interface[len(self._line_prefix):]
        return endpoint if endpoint in self.unit.profile.endpoints else None

    def sip_status(self, cause: int) -> int:
        """The SIP status a cause is answered with: ``SipEp.ErrorMappingCauseToSip``, else RFC 3398."""
        overrides = {int(r["Cause"]): int(r["SipCode"]) for r in self.config.rows("SipEp.ErrorMappingCauseToSip")}
        return status_for_cause(cause, overrides)

    def cause_of(self, status: int) -> int:
        """The cause a SIP final response stands for: ``SipEp.ErrorMappingSipToCause``, else RFC 3398."""
        overrides = {int(r["SipCode"]): int(r["Cause"]) for r in self.config.rows("SipEp.ErrorMappingSipToCause")}
        return cause_for_status(status, overrides)

    def _local_ip_port(self) -> str:
        return self.unit.listening.get("sip") or self.unit.listening.get("sip_tls") or self.unit.host

    # ------------------------------------------------------------------ configuration
    def interfaces(self) -> list[str]:
        gateways = [f"sip-{r['Name']}" for r in self.config.rows("SipEp.Gateway")]
        return gateways + [self.line_interface(ep) for ep in self.unit.profile.endpoints]

    def _snapshot(self) -> dict[str, Any]:
        """The CRout configuration (what ApplyConfig puts in use): its tables' columns and auto-routing."""
        c = self.config
        out: dict[str, Any] = {}
        for table in (*CONFIG_TABLES, "CRout.AutoRouting"):
            t = c.catalog.tables[table]
            keep = [p.column for p in t.columns.values() if p.column and (p.column in t.index or
                                                                          (p.writable and not p.is_command))]
            out[_short(table)] = [{k: row.get(k) for k in keep} for row in c.rows(t.name)]
        for name in AUTO_SCALARS:
            out[_short(name)] = c.get(name)
        return out

    def _compile(self, snapshot: dict[str, Any]) -> tuple[list[Problem], RoutingTable]:
        users = {str(r["EpId"]): r for r in self.config.rows("SipEp.UserAgent")}
        gateways = [str(r["Name"]) for r in self.config.rows("SipEp.Gateway")]

        def own_gateway(epid: str) -> str:  # "all" (every gateway): calls go out through the first, as SipEp's do
            name = str(users.get(epid, {}).get("GatewayName") or "")
            return name if name in gateways else (gateways[0] if gateways else "default")

        endpoints = tuple(
            AutoEndpoint(str(r["EpId"]), self.line_interface(str(r["EpId"])), str(r.get("Autoroutable")),
                         tuple(split_names(r.get("AutoRoutingGateway"))), str(r.get("AutoRoutingDestination") or ""),
                         # the user name the line presents in SIP: its Username, else its EpId (as SipEp does)
                         str(users.get(str(r["EpId"]), {}).get("Username") or r["EpId"]),
                         own_gateway(str(r["EpId"])))
            for r in snapshot["AutoRouting"] if str(r["EpId"]) in self.unit.profile.endpoints)
        auto = AutoRouting(snapshot["AutoRoutingEnable"] == "Enable", str(snapshot["AutoRoutingCriteriaType"]),
                           endpoints, *(str(snapshot[_short(n)] or "") for n in AUTO_SCALARS[2:]))
        return check({_short(t): snapshot[_short(t)] for t in CONFIG_TABLES}, self.interfaces(), auto)

    def _mark(self, problems: list[Problem]) -> None:
        """Each configured row's ``ConfigStatus``: ``Valid`` or its problems."""
        by_row: dict[tuple[str, str], list[str]] = {}
        for p in problems:
            by_row.setdefault((p.table, str(p.index)), []).append(p.reason)
        for name in CONFIG_TABLES:
            for index in self.config.indexes(name):
                text = "; ".join(by_row.get((name, str(index[0])), [])) or "Valid"
                self.config.set_status(f"{name}[{index[0]}].ConfigStatus", text)

    def _on_change(self, ev: ChangeEvent) -> None:
        table = ev.param.table or ""
        live = table in _LIVE or ev.kind == "reset"
        if not (live or ev.param.service == "CRout"):
            return
        # A script or a batch sends one event per value: the checks run once, when the loop turns (or before the
        # next call is routed, or ApplyConfig), not once per event.
        self._stale_marks = True
        self._stale_live = self._stale_live or live
        if not self._refresh_scheduled:
            try:
                asyncio.get_running_loop().call_soon(self.refresh)
                self._refresh_scheduled = True
            except RuntimeError:  # no loop (a configuration built before the unit runs): at once
                self.refresh()

    def refresh(self) -> None:
        """Bring the rows' ConfigStatus, the AutoRouting status columns and the live part of the routing in use
        up to date with the configuration."""
        self._refresh_scheduled = False
        if self._stale_live:
            self._stale_live = False
            self._show_auto_routing()
            if self._applied is not None:  # auto-routes and interfaces follow the endpoints and gateways
                self._use(self._compile(self._applied)[1])
        if self._stale_marks:
            self._stale_marks = False
            self._mark(self._compile(self._snapshot())[0])

    def _show_auto_routing(self) -> None:
        users = {str(r["EpId"]): r for r in self.config.rows("SipEp.UserAgent")}
        for index in self.config.indexes("CRout.AutoRouting"):
            user = users.get(str(index[0]), {})
            name = str(user.get("Username") or "")
            for column, value in (("E164", name if is_e164(name) else ""), ("SipUsername", name),
                                  ("Name", str(user.get("FriendlyName") or ""))):
                self.config.set_status(f"CRout.AutoRouting[{index[0]}].{column}", value)

    def _status_rows(self, table: str) -> Callable[[], list[dict[str, Any]]]:
        def rows() -> list[dict[str, Any]]:
            if table == "InterfaceStatus" and not self.router.table.interfaces:
                return [{"Index": n, "Name": name} for n, name in enumerate(self.interfaces(), 1)]
            return [dict(r) for r in self.router.table.status.get(table, [])]
        return rows

    # ------------------------------------------------------------------ row commands
    def _columns(self, table: str) -> list[str]:
        t = self.config.catalog.tables[table]
        return [p.column for p in t.config_columns if p.column and p.column not in t.index]

    def _copy(self, table: str, values: dict[str, Any], index: Any) -> None:
        for column, value in values.items():
            self.config.set(f"{table}[{index}].{column}", value, source="CRout")

    def _mover(self, table: str, delta: int) -> Callable[[tuple[Any, ...]], None]:
        def move(index: tuple[Any, ...]) -> None:
            order = sorted(self.config.indexes(table))
            pos = order.index(index) + delta
            if not 0 <= pos < len(order):
                return  # the first row cannot go up, nor the last down
            rows: dict[tuple[Any, ...], dict[str, Any]] = {(r["Index"],): r for r in self.config.rows(table)}
            columns = self._columns(table)
            mine, theirs = ({c: rows[i][c] for c in columns} for i in (index, order[pos]))
            self._copy(table, theirs, index[0])
            self._copy(table, mine, order[pos][0])
        return move

    def _inserter(self, table: str) -> Callable[[tuple[Any, ...]], None]:
        def insert(index: tuple[Any, ...]) -> None:
            name = table
            self.config.add_row(name, source="CRout")
            order = sorted(self.config.indexes(name))
            rows: dict[tuple[Any, ...], dict[str, Any]] = {(r["Index"],): r for r in self.config.rows(name)}
            columns = self._columns(table)
            defaults = self.config.catalog.tables[name].row_defaults()
            pos = order.index(index)
            for i in range(len(order) - 1, pos, -1):  # every row from this one on moves one down
                self._copy(table, {c: rows[order[i - 1]][c] for c in columns}, order[i][0])
            self._copy(table, {c: defaults.get(c, "") for c in columns}, index[0])
        return insert
