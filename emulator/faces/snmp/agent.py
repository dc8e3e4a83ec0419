"""Snmp: a pysnmp 7 agent per unit serving the whole configuration at the vendor OIDs (MX-*-MIB).

What the DGW ``Snmp`` parameters mean here (MX-SNMP-MIB):

* ``Snmp.Port`` — UDP port, bound on the unit's address (``unit.ports.real_port``: 161 becomes
  10161 when the process may not bind privileged ports, 0 = any in "auto" mode).
* ``Snmp.EnableSnmpV1`` / ``EnableSnmpV2`` / ``EnableSnmpV3`` — a disabled version's messages are
  dropped unanswered (its message processing model is removed), as for an unknown community.
* ``Snmp.Community`` — the one community of SNMPv1/v2c. Its rights are those of the ``Aaa.Users``
  user named by ``Snmp.SnmpUser`` (or, when that is empty, of the user named like the community),
  as the MIB says; no such user = no access. Admin and User rights read and write, Observer only reads.
* SNMPv3 — the USM users are the ``Aaa.Users`` rows (their password is the authentication
  pass phrase; USM needs 8 characters at least, shorter ones cannot use v3) with ``Snmp.AuthProtocol``
  (Md5/Sha1) and ``Snmp.PrivProtocol`` (None = authNoPriv required; Des, or Aes when the enum has it,
  = authPriv required, with ``Snmp.PrivPassword``).
* Secrets (passwords...) read as empty text and cannot be written, and ``Aaa.Users`` cannot be
  written, unless the user has Admin rights (as through the API).

VACM: every access is checked through pysnmp's VACM with views built explicitly — read view
``1.3.6.1`` included, write view either ``1.3.6.1`` included (read-write) or ``1.3.6.1`` *excluded*
(read-only). pysnmp 7.1 grants access through a view that has no entry at all, so a read-only user
must never be given an empty write view.

The MIB is not registered as pysnmp managed objects (2,000+ per unit): one instrumentation controller
answers GET/GETNEXT/GETBULK/SET from :class:`firmware_model.oidmap.OidTree`, plus MIB-II ``system``
(RFC 3418; sysContact/sysName/sysLocation are ``Hoc.SystemContact/SystemName/SystemLocation``) and the
``snmpEngine`` group (RFC 3411; snmpEngineID = enterprise 4935, MAC format). A SET goes through
``Config.set`` (source "snmp"), all varbinds of a request in one ``Config.batch`` (all or nothing):
ConfigError "invalid" -> wrongValue, "read-only" -> notWritable, "unknown"/"no-row" -> noCreation (the
vendor MIBs have no RowStatus: rows are not created over SNMP), others -> inconsistentValue; a value of
another ASN.1 type -> wrongType.

The unit owns the UDP socket. SNMPv2c GET/GETNEXT/GETBULK with the right community are answered by a
fast path (``emulator.protocols.snmp_ber``, no pyasn1: about 15 times faster), with the same policy; every other
datagram goes to the pysnmp engine, which is built on the first datagram that needs it (or at start
when SNMPv1 or an SNMPv3 user is configured), so a lab of idle units costs a socket each.

Traps: when ``Snmp.EnableTrap`` is Enable, every notification the unit publishes is sent as an SNMPv2c
trap (community ``Snmp.Community``) to each of ``Snmp.TrapDest`` (up to 5, comma-separated,
``host[:port]``, port 162 by default), from the unit's address; snmpTrapOID is
``mediatrixServices.<service numkey>.0.<message id>`` and one varbind under it (``.1``) carries the
text (emulator choices: the vendor MIBs define no notification for these). A destination the unit cannot
reach is reported once with notification Snmp 9001.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config as pconfig
from pysnmp.entity import engine as pengine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c
from pysnmp.smi import error as smi_error
from pysnmp.smi.instrum import AbstractMibInstrumController

from emulator.engines.aaa import AuthResult
from emulator.faces.snmp.policy import AccessPlan, access_plan, engine_id_for, trap_destinations
from emulator.ops.policy import Forbidden, check_command
from emulator.protocols import snmp_ber as ber
from emulator.protocols.snmp_ber import (
    decode_request,
    encode_response,
    encode_value,
    encode_varbind,
    message_error,
)
from firmware_model.config import Address, ChangeEvent, ConfigError
from firmware_model.notifications import NotificationEvent
from firmware_model.oidmap import (
    INTEGER,
    OCTETS,
    OID,
    UNSIGNED,
    OidTree,
    SnmpValueError,
    from_snmp,
    parse_oid,
    to_snmp,
)
from firmware_model.service_commands import COMMAND_GROUP, RUN, service_commands

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = ["SnmpEngine"]

SERVICES_OID = (1, 3, 6, 1, 4, 1, 4935, 1000, 100, 200, 100)
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
SNMP_ENGINE = (1, 3, 6, 1, 6, 3, 10, 2, 1)
SNMP_GROUP = (1, 3, 6, 1, 2, 1, 11)  # MIB-II snmp group (RFC 3418)
# The counters of the snmp group this agent keeps: column -> (our key, pysnmp's SNMPv2-MIB symbol or "").
SNMP_COUNTERS: dict[int, tuple[str, str]] = {
    1: ("in_pkts", ""),  # snmpInPkts: every datagram reaches our socket first (pysnmp's count would double)
    3: ("bad_versions", "snmpInBadVersions"),
    4: ("bad_community_names", "snmpInBadCommunityNames"),
    6: ("asn_parse_errs", "snmpInASNParseErrs"),
}
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SYS_UPTIME = (*SYSTEM, 3, 0)
ALL = (1, 3, 6, 1)
MAX_BULK_VARBINDS = 1000
MAX_RESPONSE_BYTES = 60000  # under the 65,507-byte UDP payload with the message header

_VIEW_ALL = "dgw-all"
_VIEW_NONE = "dgw-none"
_GROUP = {True: "dgw-rw", False: "dgw-ro"}
_COMMUNITY_INDEX = "dgw-community"


# ------------------------------------------------------------------------------------ pysnmp glue
_PROTO_INT = rfc1902.Integer32()
_PROTO_UNSIGNED = rfc1902.Unsigned32()
_PROTO_OCTETS = rfc1902.OctetString()
_TAG_SYNTAX = {
    rfc1902.Integer32.tagSet: INTEGER,
    rfc1902.Integer.tagSet: INTEGER,
    rfc1902.Unsigned32.tagSet: UNSIGNED,
    rfc1902.OctetString.tagSet: OCTETS,
}
_KIND_ERRORS: dict[str, type[smi_error.SmiError]] = {
    "invalid": smi_error.WrongValueError,
    "read-only": smi_error.NotWritableError,
    "unknown": smi_error.NoCreationError,
    "no-row": smi_error.NoCreationError,
}
_STATUS_ERRORS: dict[str, type[smi_error.SmiError]] = {
    "wrongType": smi_error.WrongTypeError,
    "wrongValue": smi_error.WrongValueError,
    "wrongLength": smi_error.WrongLengthError,
}


Neutral = tuple[str, Any]  # (kind, value): kinds of emulator.protocols.snmp_ber.encode_value
_NO_SUCH_OBJECT: Neutral = ("noSuchObject", None)
_NO_SUCH_INSTANCE: Neutral = ("noSuchInstance", None)
_END_OF_MIB: Neutral = ("endOfMibView", None)
_EXCEPTIONS = {
    "noSuchObject": rfc1905.noSuchObject,
    "noSuchInstance": rfc1905.noSuchInstance,
    "endOfMibView": rfc1905.endOfMibView,
}


def _neutral(param: Any, value: Any) -> Neutral:
    v = to_snmp(param, value)
    if isinstance(v, bytes):
        return "octets", v
    if param.type.kind == "uint":
        return "uint", max(0, min(v, 2**32 - 1))
    return "int", max(-(2**31), min(v, 2**31 - 1))


_PROTOTYPES: dict[str, Any] = {
    "octets": _PROTO_OCTETS,
    "int": _PROTO_INT,
    "uint": _PROTO_UNSIGNED,
    "ticks": rfc1902.TimeTicks(),
    "counter": rfc1902.Counter32(),
    "oid": rfc1902.ObjectIdentifier(),
}


def _pysnmp(value: Neutral) -> Any:
    kind, v = value
    proto = _PROTOTYPES.get(kind)
    return _EXCEPTIONS[kind] if proto is None else proto.clone(v)


@dataclass(slots=True)
class _Extra:
    """A non-vendor object (MIB-II system, snmpEngine, a service command): a getter and, if writable, its
    parameter or the service command a SET of ``commands.RUN`` runs."""

    get: Callable[[], Neutral]
    address: Address | None = None
    command: str | None = None


def _no_op() -> Neutral:
    return "int", 0


class _Instrumentation(AbstractMibInstrumController):
    """GET/GETNEXT/SET for pysnmp's command responders, answered from the OID tree.

    ``read``/``next`` give neutral (kind, value) pairs, shared by the pysnmp path and the fast path."""

    def __init__(self, agent: SnmpEngine, tree: OidTree) -> None:
        self.agent = agent
        self.tree = tree
        self.config = agent.unit.config
        self.extras: dict[OID, _Extra] = {}
        self.extra_oids: list[OID] = []

    def set_extras(self, extras: dict[OID, _Extra]) -> None:
        self.extras = extras
        self.extra_oids = sorted(extras)

    # ---------------------------------------------------------------- neutral core
    def _rights(self, ctx: dict[str, Any]) -> str:
        exec_ctx = ctx["snmpEngine"].observer.get_execution_context("rfc3412.receiveMessage:request")
        name = bytes(exec_ctx["securityName"]).decode("utf-8", "replace")
        return self.agent.rights_of(name)

    @staticmethod
    def _is_getnext(ctx: dict[str, Any]) -> bool:
        exec_ctx = ctx["snmpEngine"].observer.get_execution_context("rfc3412.receiveMessage:request")
        return bool(exec_ctx["pdu"].getTagSet() == rfc1905.GetNextRequestPDU.tagSet)

    def value(self, addr: Address, admin: bool) -> Neutral:
        p = addr.param
        if p.secret and not admin:
            return "octets", b""
        try:
            value = self.config.get(addr)
        except ConfigError:
            return _NO_SUCH_INSTANCE
        return _neutral(p, value)

    def read(self, oid: OID, admin: bool) -> Neutral:
        extra = self.extras.get(oid)
        if extra is not None:
            return extra.get()
        addr = self.tree.lookup(oid)
        if addr is None:
            if self.tree.find_column(oid) is not None:
                return _NO_SUCH_INSTANCE
            return _NO_SUCH_OBJECT
        if not self.tree.row_exists(addr):
            return _NO_SUCH_INSTANCE
        return self.value(addr, admin)

    def next(self, oid: OID, admin: bool) -> tuple[OID, Neutral]:
        """The next instance and its value (every OID served is in the read view 1.3.6.1)."""
        hit = self._next_one(oid)
        if hit is None:
            return oid, _END_OF_MIB
        nxt, target = hit
        return nxt, target.get() if isinstance(target, _Extra) else self.value(target, admin)

    def _next_one(self, oid: OID) -> tuple[OID, Address | _Extra] | None:
        k = bisect_right(self.extra_oids, oid)
        extra = self.extra_oids[k] if k < len(self.extra_oids) else None
        hit = self.tree.next(oid)
        if hit is not None and (extra is None or hit[0] < extra):
            return hit
        if extra is not None:
            return extra, self.extras[extra]
        return None

    # ---------------------------------------------------------------- pysnmp API
    def _begin(self, ctx: dict[str, Any], counter: str | None) -> tuple[Callable[..., Any], bool]:
        """Start of a PDU: a fresh view of the tree, the PDU counted (``Snmp.Stats*``), and pysnmp's access
        check with whether the requester has Admin rights."""
        self.tree.new_request()
        if counter is not None:
            self.agent.stats[counter] += 1
        return ctx["acFun"], self._rights(ctx) == "Admin"

    @staticmethod
    def _each(varbinds: tuple[Any, ...], ctx: dict[str, Any]) -> Iterator[tuple[int, Any, Any]]:
        """(index, name, value) of each varbind, with ``ctx["idx"]`` set as pysnmp's access check wants."""
        for idx, (name, val) in enumerate(varbinds):
            ctx["idx"] = idx
            yield idx, name, val

    def read_variables(self, *varBinds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        ac, admin = self._begin(ctx, "get")
        out = []
        for _idx, name, _val in self._each(varBinds, ctx):
            if ac("read", (name, None), **ctx):
                out.append((name, rfc1905.noSuchObject))
                continue
            out.append((name, _pysnmp(self.read(tuple(name), admin))))
        return out

    def read_next_variables(self, *varBinds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        # Snmp.StatsGetNextRequest counts GETNEXT PDUs (not GETBULK repetitions)
        ac, admin = self._begin(ctx, "next" if self._is_getnext(ctx) else None)
        out = []
        for _idx, name, _val in self._each(varBinds, ctx):
            oid = tuple(name)
            while True:
                hit = self._next_one(oid)
                if hit is None:
                    out.append((name, rfc1905.endOfMibView))
                    break
                oid, target = hit
                obj = rfc1902.ObjectName(oid)
                if ac("read", (obj, None), **ctx):
                    continue  # not in view: skip it
                value = target.get() if isinstance(target, _Extra) else self.value(target, admin)
                out.append((obj, _pysnmp(value)))
                break
        return out

    def write_variables(self, *varBinds: Any, **ctx: Any) -> list[tuple[Any, Any]]:
        ac, admin = self._begin(ctx, "set")
        plan: list[tuple[int, Any, Address, Any]] = []
        runs: list[tuple[int, str]] = []
        for idx, name, val in self._each(varBinds, ctx):
            oid = tuple(name)
            if ac("write", (name, val), **ctx):
                raise smi_error.NotWritableError(name=name, idx=idx)
            extra = self.extras.get(oid)
            if extra is not None and extra.command is not None:
                if self._command_value(extra.command, val, admin, name, idx):
                    runs.append((idx, extra.command))
                continue
            addr = extra.address if extra is not None else self.tree.lookup(oid)
            if addr is None:
                if extra is not None:
                    raise smi_error.NotWritableError(name=name, idx=idx)
                raise smi_error.NoCreationError(name=name, idx=idx)
            p = addr.param
            if not p.writable:
                raise smi_error.NotWritableError(name=name, idx=idx)
            if not self.tree.row_exists(addr):
                raise smi_error.NoCreationError(name=name, idx=idx)
            if (p.secret or p.table == "Aaa.Users") and not admin:
                raise smi_error.NoAccessError(name=name, idx=idx)
            syntax = _TAG_SYNTAX.get(val.tagSet, "other")
            raw = bytes(val) if syntax == OCTETS else int(val) if syntax != "other" else b""
            try:
                value = from_snmp(p, syntax, raw)
            except SnmpValueError as e:
                raise _STATUS_ERRORS[e.status](name=name, idx=idx) from None
            plan.append((idx, name, addr, value))
        current, running = 0, False
        try:
            with self.config.batch():
                for idx, _name, addr, value in plan:
                    current = idx
                    self.config.set(addr, value, source="snmp")
                running = True
                for idx, command in runs:  # last, on the values just set; a refusal undoes the whole request
                    current = idx
                    self.agent.unit.commands[command]()
        except ConfigError as e:
            # a refused command: the configuration it checks is inconsistent (RFC 3416), its reason is logged
            # and in the rows' ConfigStatus
            error = smi_error.InconsistentValueError if running else \
                _KIND_ERRORS.get(e.kind, smi_error.InconsistentValueError)
            self.agent.unit.log.info("snmp_set_refused", address=e.name, kind=e.kind, reason=str(e))
            raise error(name=varBinds[current][0], idx=current) from None
        # RFC 3416 §4.2.5: the Response to a SET carries the request's values; a command object's (10) is echoed
        # as sent, though a GET of it reads 0 afterwards
        out = {idx: varBinds[idx][1] for idx, _name, _val in self._each(varBinds, ctx)}
        for idx, _name, addr, _value in plan:
            after = self.value(addr, admin)  # a row command may have removed the row: echo the request
            out[idx] = varBinds[idx][1] if after == _NO_SUCH_INSTANCE else _pysnmp(after)
        return [(varBinds[idx][0], value) for idx, value in sorted(out.items())]

    def _command_value(self, command: str, val: Any, admin: bool, name: Any, idx: int) -> bool:
        """A SET of a service command's object: 10 runs it, 0 does nothing; anything else is refused."""
        if _TAG_SYNTAX.get(val.tagSet) != INTEGER:
            raise smi_error.WrongTypeError(name=name, idx=idx)
        if int(val) not in (0, RUN):
            raise smi_error.WrongValueError(name=name, idx=idx)
        try:
            check_command(AuthResult(True, "snmp", "Admin" if admin else "User"), command)
        except Forbidden:
            raise smi_error.NoAccessError(name=name, idx=idx) from None
        return int(val) == RUN


class _BulkResponder(cmdrsp.BulkCommandResponder):
    max_varbinds = MAX_BULK_VARBINDS


class _PysnmpTransport(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport, fed by :class:`_AgentProtocol` instead of owning a socket.

    A datagram is handed to the dispatcher at once, not through ``loop.call_soon`` as pysnmp does: an
    exception then reaches :meth:`_AgentProtocol.datagram_received` (which logs it once, with the
    datagram's peer) instead of the event loop's exception handler."""

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self._callback_function(self, transportAddress, datagram)


class _AgentProtocol(asyncio.DatagramProtocol):
    """The unit's SNMP socket: the fast path first, then pysnmp."""

    def __init__(self, agent: SnmpEngine) -> None:
        self.agent = agent
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        agent = self.agent
        agent.counters["in_pkts"] += 1
        if message_error(data) is not None:
            # RFC 3412 §7.2.2 (and RFC 3584 §4 for v1/v2c): a datagram that is not the serialization of a
            # message is counted in snmpInASNParseErrs and discarded, without an answer or a log line.
            agent.counters["asn_parse_errs"] += 1
            return
        try:
            reply = agent._fast(data)
            if reply is None:
                agent._ensure_engine().datagram_received(data, addr)
            elif reply and self.transport is not None:
                self.transport.sendto(reply, addr)
        except Exception:  # a well-formed message that breaks the agent is a defect: logged with its traceback
            agent.unit.log.error("snmp_request_failed", peer=str(addr[0]), exc_info=True)


class SnmpEngine:
    """The Snmp service of one unit (see the module docstring)."""

    name = "Snmp"

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.stats = {"get": 0, "next": 0, "set": 0, "traps": 0}
        self.counters = {key: 0 for key, _ in SNMP_COUNTERS.values()}  # ours; pysnmp's are added when read
        self.port = 0
        self.tree: OidTree | None = None
        self._engine: pengine.SnmpEngine | None = None
        self._pysnmp_transport: _PysnmpTransport | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _AgentProtocol | None = None
        self._instrum: _Instrumentation | None = None
        self._plan: AccessPlan | None = None
        self._applied: dict[str, Any] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._trap_sock: socket.socket | None = None
        self._trap_reported: set[str] = set()
        self._trap_ids = random.randrange(1 << 30)  # request-id of the traps (RFC 3416: any, unique per message)
        self._started = 0.0
        self._community = b""
        c = unit.config
        c.provide("Snmp.StatsGetRequest", lambda: self.stats["get"])
        c.provide("Snmp.StatsGetNextRequest", lambda: self.stats["next"])
        c.provide("Snmp.StatsSetRequest", lambda: self.stats["set"])

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        unit = self.unit
        configured = int(unit.config.get("Snmp.Port") or 161)
        family = socket.AF_INET6 if ":" in unit.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((unit.host, unit.ports.real_port(configured, "snmp")))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        self._started = time.monotonic()
        self.tree = OidTree(unit.config)
        self._instrum = _Instrumentation(self, self.tree)
        self._instrum.set_extras(self._extras())
        plan = access_plan(unit.config)  # versions, community, protocols: fixed until the next restart
        self._plan = plan
        self._community = plan.community.encode("utf-8")
        loop = asyncio.get_running_loop()
        self._transport, self._protocol = await loop.create_datagram_endpoint(lambda: _AgentProtocol(self), sock=sock)
        if plan.v1 or (plan.v3 and plan.users):
            self._ensure_engine()  # else built on the first request that needs it (100 idle units stay cheap)
        self._unsubscribe = [
            unit.config.subscribe(self._on_change),
            unit.on_notification(self._on_notification),
        ]
        unit.listening["snmp"] = f"{unit.host}:{self.port}"
        self._trap_reported.clear()
        unit.log.info(
            "snmp_started", port=self.port, v1=plan.v1, v2c=plan.v2c, v3=plan.v3,
            v3_users=len(plan.users), auth=plan.auth, priv=plan.priv,
        )
        if plan.skipped and plan.v3:
            unit.log.info("snmp_v3_users_skipped", users=list(plan.skipped), reason="pass phrase under 8 characters")
        if unit.config.get("Snmp.EnableTrap") == "Enable":
            for host, port in trap_destinations(str(unit.config.get("Snmp.TrapDest") or "")):
                self._check_destination(host, port)

    def _ensure_engine(self) -> _PysnmpTransport:
        """The pysnmp engine (v1, v3, SET...), sharing the unit's socket; built once, on first need."""
        if self._engine is not None and self._pysnmp_transport is not None:
            return self._pysnmp_transport
        assert self._instrum is not None and self._transport is not None
        eng = pengine.SnmpEngine(snmpEngineID=v2c.OctetString(engine_id_for(self.unit.identity.mac)))
        pt = _PysnmpTransport()
        pt.transport = self._transport  # not opened: replies go out through the unit's socket
        pconfig.add_transport(eng, udp.DOMAIN_NAME, pt)
        pconfig.add_context(eng, b"")
        pconfig.add_vacm_view(eng, _VIEW_ALL, "included", ALL, b"")
        pconfig.add_vacm_view(eng, _VIEW_NONE, "excluded", ALL, b"")  # never an empty view (pysnmp 7.1)
        ctx = context.SnmpContext(eng)
        ctx.context_names[b""] = self._instrum  # type: ignore[assignment]
        cmdrsp.GetCommandResponder(eng, ctx)
        cmdrsp.SetCommandResponder(eng, ctx)
        cmdrsp.NextCommandResponder(eng, ctx)
        _BulkResponder(eng, ctx)
        self._engine = eng
        self._pysnmp_transport = pt
        self._applied = {}
        self._apply_access()
        return pt

    async def stop(self) -> None:
        for fn in self._unsubscribe:
            fn()
        self._unsubscribe = []
        if self.tree is not None:
            self.tree.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._protocol is not None:
            # The socket is closed once connection_lost ran: a restart can bind the same port again.
            await asyncio.wait_for(asyncio.shield(self._protocol.closed), 2.0)
            self._protocol = None
        if self._engine is not None:
            for key, symbol in SNMP_COUNTERS.values():  # the engine goes; its counts stay in ours
                self.counters[key] += self._pysnmp_count(symbol)
            self._engine.close_dispatcher()
            self._engine = None
            self._pysnmp_transport = None
        if self._trap_sock is not None:
            self._trap_sock.close()
            self._trap_sock = None
        self.unit.listening.pop("snmp", None)
        self._applied = {}
        self._plan = None

    # ---------------------------------------------------------------- access
    def rights_of(self, security_name: str) -> str:
        """Aaa.Users access rights of a security name ("" when none)."""
        for r in self.unit.config.rows("Aaa.Users"):
            if r["UserName"] == security_name:
                return str(r.get("AccessRights") or "")
        return ""

    def _on_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset" or (ev.param.table == "Aaa.Users"):
            self._apply_access()

    def _apply_access(self) -> None:
        """(Re)build communities, USM users and VACM groups from the configuration."""
        eng = self._engine
        if eng is None:
            return
        plan = access_plan(self.unit.config)
        fixed = self._plan
        assert fixed is not None
        # Disabled versions: their messages are dropped unanswered.
        enabled = {0: fixed.v1, 1: fixed.v2c, 3: fixed.v3}
        eng.message_processing_subsystems = {
            k: v for k, v in eng.message_processing_subsystems.items() if enabled.get(int(k), True)
        }
        for model, sec_name in self._applied.get("groups", ()):
            pconfig.delete_vacm_group(eng, model, sec_name)
        for user in self._applied.get("users", ()):
            pconfig.delete_v3_user(eng, user)
        groups: list[tuple[int, str]] = []
        if not self._applied:
            if fixed.v1 or fixed.v2c:
                pconfig.add_v1_system(eng, _COMMUNITY_INDEX, fixed.community, securityName=fixed.community_user)
            level3 = 3 if fixed.priv != "none" else 2
            security_models = [m for m, on in ((1, fixed.v1), (2, fixed.v2c), (3, fixed.v3)) if on]
            for writable, group in _GROUP.items():
                write_view = _VIEW_ALL if writable else _VIEW_NONE
                for model in security_models:
                    level = level3 if model == 3 else 1
                    pconfig.add_vacm_access(eng, group, b"", model, level, "exact", _VIEW_ALL, write_view, _VIEW_ALL)
        community_writable = plan.community_writable
        if community_writable is not None:
            for model, model_on in ((1, fixed.v1), (2, fixed.v2c)):
                if model_on:
                    pconfig.add_vacm_group(eng, _GROUP[community_writable], model, fixed.community_user)
                    groups.append((model, fixed.community_user))
        users: list[str] = []
        if fixed.v3:
            auth = pconfig.USM_AUTH_HMAC96_SHA if fixed.auth == "sha" else pconfig.USM_AUTH_HMAC96_MD5
            priv = {
                "none": pconfig.USM_PRIV_NONE,
                "des": pconfig.USM_PRIV_CBC56_DES,
                "aes": pconfig.USM_PRIV_CFB128_AES,
            }[fixed.priv]
            for u in plan.users:
                if fixed.priv == "none":
                    pconfig.add_v3_user(eng, u.name, auth, u.auth_key)
                else:
                    pconfig.add_v3_user(eng, u.name, auth, u.auth_key, priv, fixed.priv_key)
                users.append(u.name)
                pconfig.add_vacm_group(eng, _GROUP[u.writable], 3, u.name)
                groups.append((3, u.name))
        self._applied = {"groups": groups, "users": users}

    # ---------------------------------------------------------------- fast path
    def _fast(self, data: bytes) -> bytes | None:
        """Answer an SNMPv2c GET/GETNEXT/GETBULK without pyasn1 (about 2 ms less per message).
        Returns the reply, b"" to drop the datagram, or None to hand it to pysnmp.

        Same policy as the pysnmp path: the community's Aaa user must exist (its rights decide
        what secrets read as); every OID served lies in the read view (1.3.6.1). Anything else
        returns None and goes to pysnmp (SNMPv1, SNMPv3, SET, another community, malformed data)."""
        plan = self._plan
        instr = self._instrum
        if plan is None or instr is None:
            return None
        req = decode_request(data)
        if req is None:
            return None
        if not (plan.v1 if req.version == 0 else plan.v2c):
            self.counters["bad_versions"] += 1
            return b""  # dropped unanswered, as pysnmp would (its message processing model is removed)
        if req.community != self._community:
            self.counters["bad_community_names"] += 1
            return b""  # dropped unanswered, as pysnmp would (RFC 3584 §5.2.1)
        if req.version != 1 or req.pdu_type == ber.SET:
            return None
        rights = self.rights_of(plan.community_user)
        if not rights:
            return None
        admin = rights == "Admin"
        instr.tree.new_request()
        oids = req.oids
        varbinds: list[bytes] = []
        if req.pdu_type == ber.GET:
            self.stats["get"] += 1
            varbinds = [encode_varbind(o, encode_value(*instr.read(o, admin))) for o in oids]
        elif req.pdu_type == ber.GETNEXT:
            self.stats["next"] += 1
            for o in oids:
                nxt, value = instr.next(o, admin)
                varbinds.append(encode_varbind(nxt, encode_value(*value)))
        else:
            n = min(max(req.non_repeaters, 0), len(oids))
            m = max(req.max_repetitions, 0)
            size = 0
            for o in oids[:n]:
                nxt, value = instr.next(o, admin)
                varbinds.append(encode_varbind(nxt, encode_value(*value)))
            current = list(oids[n:])
            if current:
                m = min(m, MAX_BULK_VARBINDS // len(current))
            for _ in range(m):
                ended = 0
                for k, o in enumerate(current):
                    nxt, value = instr.next(o, admin)
                    ended += value[0] == "endOfMibView"
                    vb = encode_varbind(nxt, encode_value(*value))
                    size += len(vb)
                    if size > MAX_RESPONSE_BYTES:
                        break
                    varbinds.append(vb)
                    current[k] = nxt
                if size > MAX_RESPONSE_BYTES or ended == len(current):
                    break
        return encode_response(1, req.community, req.request_id, 0, 0, varbinds)

    # ---------------------------------------------------------------- MIB-II system, snmp, snmpEngine
    def _pysnmp_count(self, symbol: str) -> int:
        """A counter of pysnmp's own SNMPv2-MIB instrumentation (0 without an engine or a symbol)."""
        if self._engine is None or not symbol:
            return 0
        (obj,) = self._engine.get_mib_builder().import_symbols("__SNMPv2-MIB", symbol)
        return int(obj.syntax)

    def counter(self, column: int) -> int:
        """MIB-II snmp group counter ``1.3.6.1.2.1.11.<column>.0`` (RFC 3418): ours plus pysnmp's."""
        key, symbol = SNMP_COUNTERS[column]
        return (self.counters[key] + self._pysnmp_count(symbol)) % 2**32

    def _extras(self) -> dict[OID, _Extra]:
        unit = self.unit
        cfg = unit.config

        def text(name: str) -> Callable[[], Neutral]:
            return lambda: ("octets", str(cfg.get(name) or "").encode("utf-8"))

        def uptime() -> Neutral:
            return "ticks", int(unit.clock.uptime() * 100) % 2**32

        def descr() -> Neutral:  # per request: a firmware install or rollback changes unit.version
            return "octets", f"{unit.profile.product} DGW {unit.version}".encode()

        sys_oid = parse_oid(unit.profile.sys_object_id)
        engine_id = engine_id_for(unit.identity.mac)
        return {
            (*SYSTEM, 1, 0): _Extra(descr),
            (*SYSTEM, 2, 0): _Extra(lambda: ("oid", sys_oid)),
            (*SYSTEM, 3, 0): _Extra(uptime),
            (*SYSTEM, 4, 0): _Extra(text("Hoc.SystemContact"), cfg.resolve("Hoc.SystemContact")),
            (*SYSTEM, 5, 0): _Extra(text("Hoc.SystemName"), cfg.resolve("Hoc.SystemName")),
            (*SYSTEM, 6, 0): _Extra(text("Hoc.SystemLocation"), cfg.resolve("Hoc.SystemLocation")),
            (*SYSTEM, 7, 0): _Extra(lambda: ("int", 72)),  # application + end-to-end layers
            (*SNMP_ENGINE, 1, 0): _Extra(lambda: ("octets", engine_id)),
            (*SNMP_ENGINE, 2, 0): _Extra(lambda: ("int", 1)),
            (*SNMP_ENGINE, 3, 0): _Extra(lambda: ("int", int(time.monotonic() - self._started))),
            (*SNMP_ENGINE, 4, 0): _Extra(lambda: ("int", 65507)),
            **{(*SNMP_GROUP, column, 0): _Extra(self._counter_getter(column)) for column in SNMP_COUNTERS},
            **{(*SERVICES_OID, cfg.catalog.services[c.service].numkey, 1, COMMAND_GROUP, c.number, 0):
               _Extra(_no_op, command=c.name) for c in service_commands(unit)},
        }

    def command_oids(self) -> list[OID]:
        """The instances of the unit's service commands (``firmware_model.service_commands``), in OID order."""
        return [oid for oid, extra in self._instrum.extras.items() if extra.command is not None] \
            if self._instrum is not None else []

    def _counter_getter(self, column: int) -> Callable[[], Neutral]:
        return lambda: ("counter", self.counter(column))

    # ---------------------------------------------------------------- traps
    def _on_notification(self, ev: NotificationEvent) -> None:
        if ev.service == "Snmp" and ev.msg_id == 9001:
            return  # never a trap about traps
        cfg = self.unit.config
        if cfg.get("Snmp.EnableTrap") != "Enable" or self._plan is None:
            return  # Snmp.EnableTrap alone decides (EnableSnmpV1/V2 are about requests)
        data = self._trap_pdu(ev)
        for host, port in trap_destinations(str(cfg.get("Snmp.TrapDest") or "")):
            self._send_trap(data, host, port)

    def _trap_pdu(self, ev: NotificationEvent) -> bytes:
        """An SNMPv2c trap message (encoded here: pysnmp's encoder took ~0.7 ms a trap, two per unit's boot)."""
        trap_oid = (*SERVICES_OID, ev.numkey, 0, ev.msg_id)
        assert self._plan is not None
        self._trap_ids = (self._trap_ids + 1) & 0x7FFFFFFF
        return encode_response(1, self._plan.community.encode(), self._trap_ids, 0, 0, [
            encode_varbind(SYS_UPTIME, encode_value("ticks", int(self.unit.clock.uptime() * 100) % 2**32)),
            encode_varbind(SNMP_TRAP_OID, encode_value("oid", trap_oid)),
            encode_varbind((*trap_oid, 1), encode_value("octets", ev.message.encode("utf-8"))),
        ], pdu_tag=ber.TRAP_V2)

    def _check_destination(self, host: str, port: int) -> None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return  # a name: tried when a trap is sent
        self._send_trap(None, host, port)

    def _send_trap(self, data: bytes | None, host: str, port: int) -> None:
        """Send (or, with no data, check reachability by connecting) from the unit's address."""
        dest = f"{host}:{port}"
        try:
            if data is None:
                family = socket.AF_INET6 if ":" in self.unit.host else socket.AF_INET
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.bind((self.unit.host, 0))
                    probe.connect((host, port))
                return
            if self._trap_sock is None:
                family = socket.AF_INET6 if ":" in self.unit.host else socket.AF_INET
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.bind((self.unit.host, 0))
                self._trap_sock = s
            self._trap_sock.sendto(data, (host, port))
            self.stats["traps"] += 1
        except BlockingIOError:
            return
        except OSError as e:
            if dest not in self._trap_reported:
                self._trap_reported.add(dest)
                reason = e.strerror or str(e)
                self.unit.log.warning("snmp_trap_unreachable", destination=dest, error=reason)
                self.unit.notify("Snmp", 9001, host=dest, reason=reason)
