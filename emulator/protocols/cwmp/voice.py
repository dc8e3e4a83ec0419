"""TR-104 (VoiceService:1) ``Services.VoiceService.1`` over the DGW parameters, shown when ``Cwmp.Tr104Enable`` is
Enable: the objects a generic ACS uses to provision SIP lines, each mapped onto the SipEp/Mipt parameter that holds
the value, so that a value set by TR-069 is the value every other face shows and the engines use.

:data:`MAPPINGS` is the one mapping table: a TR-104 path (relative to ``Services.VoiceService.1.``; ``{line}`` is a
``Line`` instance, ``{entry}`` a ``Codec.List`` entry), its xsd type, whether an ACS may write it, the DGW parameters
behind it (README's table is this one) and how the value is read and written (``kind``, the method of
:class:`VoiceService` that builds the leaf). One ``VoiceProfile.1`` is the SipEp service (its default servers, the
unit's transport); one ``Line`` per ``SipEp.UserAgent`` row (its endpoint: instance numbers as for the vendor
tables, kept across restarts). Mapping choices (the vendor documents no TR-104 mapping):

* ``RegistrarServer``/``ProxyServer``/``OutboundProxy`` and their ``...Port`` are the host and the port of one DGW
  ``host:port`` value (port 0 = the transport's default); the three ``...Transport`` are the unit's one transport
  (``SipEp.TransportConfig``: TLS is all or nothing on the DGW): ``TLS``, ``TCP`` or ``UDP``.
* ``Line.Enable`` is whether the endpoint registers (``SipEp.UserAgent.Register``); ``Line.Status`` comes from its
  ``SipEp.RegistrationStatus`` row (``Registered``/``Refreshing`` -> ``Up``), ``X_0090F8_RegistrationState`` is
  that row's state as SipEp spells it.
* ``SIP.AuthUserName``/``AuthPassword`` are the endpoint's own ``SipEp.Authentication`` row (``CriteriaSelection``
  Endpoint), made by the first write; the password reads "" (TR-069 A.3.2.1).
* ``Codec.List`` holds the codecs the media engine carries (G.711 u-law and A-law). A write makes the endpoint's codec
  settings its own (``Mipt.EpSpecificCodec.EnableConfig``, starting from the values in force); TR-104 ``Priority``
  1 (the highest) .. 11 is the DGW ``VoicePriority`` 10 .. 0 (the higher DGW number is offered first).
* ``Line.CallState`` and ``Line.Stats`` come from the running SipEp service (:class:`LineRuntime`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.protocols.cwmp.leaf import Leaf, Setter, cell_address, config_set, fault_of, vendor_leaf
from emulator.protocols.cwmp.soap import CwmpFault
from firmware_model.config import ConfigError, Index

__all__ = ["BASE", "CODECS", "MAPPINGS", "STATS", "LineRuntime", "VoiceMapping", "VoiceService"]

BASE = "Services.VoiceService.1."
UA = "SipEp.UserAgent"
AUTH = "SipEp.Authentication"
# (Mipt parameter stem, TR-104 codec name, bit rate): Codec.List entries 1, 2...
CODECS: tuple[tuple[str, str, int], ...] = (("G711Mulaw", "G.711MuLaw", 64000), ("G711Alaw", "G.711ALaw", 64000))
STATS = (
    "IncomingCallsReceived", "IncomingCallsAnswered", "IncomingCallsConnected", "IncomingCallsFailed",
    "OutgoingCallsAttempted", "OutgoingCallsAnswered", "OutgoingCallsConnected", "OutgoingCallsFailed",
    "CallsDropped", "TotalCallTime",
)
_LINE_STATUS = {"Registered": "Up", "Refreshing": "Up", "Registering": "Registering",
                "Unregistering": "Unregistering", "Unregistered": "Initializing"}  # the other states: Error
_DTMF = {"InBand": "InBand", "OutOfBandUsingRtp": "RFC2833", "SignalingProtocolDependent": "RFC2833",
         "OutOfBandUsingSignalingProtocol": "SIPInfo"}
_DTMF_SET = {"inband": "InBand", "rfc2833": "OutOfBandUsingRtp", "sipinfo": "OutOfBandUsingSignalingProtocol"}
_TRANSPORTS = ("UDP", "TCP", "TLS")
MAX_PRIORITY = 11  # TR-104 Priority 1..11 <-> DGW VoicePriority 10..0


class LineRuntime(Protocol):
    """What the running unit knows of a line beyond its configuration (the SipEp service's calls)."""

    def call_state(self, endpoint: str) -> str:
        """TR-104 ``Line.CallState``: Idle, Calling, Ringing, Connecting, InCall, Hold, Disconnecting."""
        ...

    def stats(self, endpoint: str) -> Mapping[str, int]:
        """TR-104 ``Line.Stats`` counters by name (:data:`STATS`)."""
        ...

    def reset_stats(self, endpoint: str) -> None: ...


@dataclass(frozen=True, slots=True)
class VoiceMapping:
    """One row of the mapping table (see the module docstring)."""

    path: str
    xsd: str
    writable: bool
    dgw: str
    kind: str
    arg: str = ""


def _m(path: str, xsd: str, writable: bool, dgw: str, kind: str, arg: str = "") -> VoiceMapping:
    return VoiceMapping(path, xsd, writable, dgw, kind, arg)


def _server(leaf: str, param: str) -> tuple[VoiceMapping, VoiceMapping]:
    """A server and its port: the two parts of one DGW ``host:port`` value."""
    return (_m(f"VoiceProfile.1.SIP.{leaf}", "string", True, f"{param} (host)", "host", param),
            _m(f"VoiceProfile.1.SIP.{leaf}Port", "unsignedInt", True, f"{param} (port)", "port", param))


_VP = "VoiceProfile.1."
_LN = _VP + "Line.{line}."
_CL = _LN + "Codec.List.{entry}."
_U, _B, _S = "unsignedInt", "boolean", "string"
MAPPINGS: tuple[VoiceMapping, ...] = (
    _m("VoiceProfileNumberOfEntries", _U, False, "(one profile: the SipEp service)", "const", "1"),
    _m("Capabilities.MaxProfileCount", _U, False, "-", "const", "1"),
    _m("Capabilities.MaxLineCount", _U, False, "the SipEp.UserAgent rows", "lines"),
    _m("Capabilities.MaxSessionsPerLine", _U, False, "-", "const", "1"),
    _m("Capabilities.SignalingProtocols", _S, False, "-", "const", "SIP"),
    _m("Capabilities.SIP.Role", _S, False, "-", "const", "UserAgent"),
    _m("Capabilities.SIP.Transports", _S, False, "-", "const", "UDP, TCP, TLS"),
    _m(_VP + "Enable", _S, True, "(the SipEp service; only Enabled is accepted)", "profile_enable"),
    _m(_VP + "SignalingProtocol", _S, False, "-", "const", "SIP"),
    _m(_VP + "NumberOfLines", _U, False, "the SipEp.UserAgent rows", "lines"),
    _m(_VP + "LineNumberOfEntries", _U, False, "the SipEp.UserAgent rows", "lines"),
    _m(_VP + "MaxSessions", _U, False, "the SipEp.UserAgent rows", "lines"),
    _m(_VP + "DTMFMethod", _S, True, "Mipt.DefaultDtmfTransportMethod (InBand, RFC2833 = OutOfBandUsingRtp, "
       "SIPInfo = OutOfBandUsingSignalingProtocol)", "dtmf"),
    *_server("RegistrarServer", "SipEp.DefaultStaticRegistrarServerHost"),
    _m(_VP + "SIP.RegistrarServerTransport", _S, True, "SipEp.TransportConfig TlsEnable/TcpEnable/UdpEnable",
       "transport"),
    *_server("ProxyServer", "SipEp.DefaultStaticProxyHomeDomainHost"),
    _m(_VP + "SIP.ProxyServerTransport", _S, True, "SipEp.TransportConfig (as RegistrarServerTransport)",
       "transport"),
    *_server("OutboundProxy", "SipEp.DefaultStaticProxyOutboundHost"),
    _m(_VP + "SIP.UserAgentDomain", _S, True, "SipEp.Gateway[first].Domain", "gateway", "Domain"),
    _m(_VP + "SIP.UserAgentPort", _U, True, "SipEp.Gateway[first].Port (0 = 5060)", "gateway", "Port"),
    _m(_VP + "SIP.UserAgentTransport", _S, True, "SipEp.TransportConfig (as RegistrarServerTransport)",
       "transport"),
    _m(_VP + "SIP.RegisterExpires", _U, True, "SipEp.DefaultRegistrationExpirationValue", "param",
       "SipEp.DefaultRegistrationExpirationValue"),
    _m(_VP + "SIP.RegisterRetryInterval", _U, True, "SipEp.DefaultRegistrationRetryTime", "param",
       "SipEp.DefaultRegistrationRetryTime"),
    _m(_LN + "Enable", _S, True, "SipEp.UserAgent[ep].Register (Enabled = Enable, Disabled = Disable)",
       "line_enable"),
    _m(_LN + "DirectoryNumber", _S, True, "SipEp.UserAgent[ep].Username", "ua", "Username"),
    _m(_LN + "Status", _S, False, "SipEp.RegistrationStatus[ep].State (Registered, Refreshing = Up)",
       "line_status"),
    _m(_LN + "CallState", _S, False, "the endpoint's current call (SipEp)", "call_state"),
    _m(_LN + "X_0090F8_EpId", _S, False, "SipEp.UserAgent[ep].EpId", "epid"),
    _m(_LN + "X_0090F8_RegistrationState", _S, False, "SipEp.RegistrationStatus[ep].State", "reg", "State"),
    _m(_LN + "X_0090F8_Registrar", _S, False, "SipEp.RegistrationStatus[ep].Registrar", "reg", "Registrar"),
    _m(_LN + "SIP.AuthUserName", _S, True, "SipEp.Authentication[Endpoint ep].Username", "auth", "Username"),
    _m(_LN + "SIP.AuthPassword", _S, True, "SipEp.Authentication[Endpoint ep].Password (reads empty)", "auth",
       "Password"),
    _m(_LN + "SIP.URI", _S, True, "SipEp.UserAgent[ep].Username", "ua", "Username"),
    _m(_LN + "CallingFeatures.CallerIDName", _S, True, "SipEp.UserAgent[ep].FriendlyName", "ua", "FriendlyName"),
    _m(_CL + "EntryID", _U, False, "-", "codec_entry"),
    _m(_CL + "Codec", _S, False, "-", "codec_name"),
    _m(_CL + "BitRate", _U, False, "-", "codec_bitrate"),
    _m(_CL + "PacketizationPeriod", _S, False, "Mipt.EpSpecificCodec<codec>[ep] (else Mipt.DefaultCodec<codec>) "
       "MinPTime-MaxPTime",
       "codec_ptime"),
    _m(_CL + "SilenceSuppression", _B, False, "-", "const", "false"),
    _m(_CL + "Enable", _B, True, "Mipt.EpSpecificCodec<codec>[ep].VoiceEnable (else Mipt.DefaultCodec<codec>"
       "VoiceEnable)", "codec", "VoiceEnable"),
    _m(_CL + "Priority", _U, True, "Mipt.EpSpecificCodec<codec>[ep].VoicePriority (else the default): "
       "11 - VoicePriority", "codec", "VoicePriority"),
    _m(_LN + "Stats.ResetStatistics", _B, True, "(the SipEp service's line counters)", "reset_stats"),
    *(_m(_LN + f"Stats.{name}", _U, False, "the SipEp service's line counters", "stat", name) for name in STATS),
)


def _split(text: str) -> tuple[str, str]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port text); the port "0" when absent."""
    text = (text or "").strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return f"[{host}]", rest[1:] if rest.startswith(":") and rest[1:].isdigit() else "0"
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, port
    return text, "0"


class VoiceService:
    """Builds the TR-104 leaves of one unit (see the module docstring). ``runtime``: the running line state, or
    None (a unit without SipEp: CallState Idle, counters 0)."""

    def __init__(self, config: Any, source: str, strict: Callable[[], bool],
                 runtime: Callable[[], LineRuntime | None]) -> None:
        self.config = config
        self.catalog = config.catalog
        self.source = source
        self.strict = strict
        self.runtime = runtime

    def leaves(self, root: str, lines: list[tuple[int, Index]]) -> dict[str, Leaf]:
        """Relative path -> leaf, for ``lines`` (Line instance, ``SipEp.UserAgent`` index) in order."""
        out: dict[str, Leaf] = {}
        for m in MAPPINGS:
            if "{line}" not in m.path:
                self._add(out, root, m, m.path, {})
                continue
            for inst, index in lines:
                ep = str(index[0])
                if "{entry}" not in m.path:
                    self._add(out, root, m, m.path.format(line=inst), {"ep": ep})
                    continue
                for entry, codec in enumerate(CODECS, start=1):
                    self._add(out, root, m, m.path.format(line=inst, entry=entry),
                              {"ep": ep, "entry": entry, "codec": codec})
        return out

    def _add(self, out: dict[str, Leaf], root: str, m: VoiceMapping, rel: str, ctx: dict[str, Any]) -> None:
        build: Callable[[VoiceMapping, str, dict[str, Any]], Leaf] = getattr(self, f"_{m.kind}")
        out[BASE + rel] = build(m, f"{root}.{BASE}{rel}", ctx)

    # ------------------------------------------------------------------ helpers
    def _leaf(self, m: VoiceMapping, path: str, get: Callable[[], str], setter: Setter | None = None,
              config_name: str | None = None) -> Leaf:
        return Leaf(path, m.xsd, m.writable and setter is not None, get, setter, config_name,
                    active_ok=config_name is not None)

    def _set(self, name: str, value: Any) -> None:
        config_set(self.config, name, value, self.source)

    def _text(self, name: str) -> str:
        try:
            return self.config.get_text(name)
        except ConfigError:
            return ""

    @staticmethod
    def _uint(value: str, lo: int, hi: int) -> int:
        s = value.strip()
        if not s.isdigit() or not lo <= int(s) <= hi:
            raise CwmpFault(9007, f"{value!r} is not an unsignedInt in {lo}..{hi}")
        return int(s)

    # ------------------------------------------------------------------ the profile
    def _const(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        value = m.arg
        return self._leaf(m, path, lambda: value)

    def _lines(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        return self._leaf(m, path, lambda: str(len(self.config.indexes(UA))))

    def _profile_enable(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        def setter(value: str) -> None:
            if value.strip() != "Enabled":
                raise CwmpFault(9007, f"{value!r}: the profile is the SipEp service, always Enabled")

        return self._leaf(m, path, lambda: "Enabled", setter)

    def _dtmf(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        name = "Mipt.DefaultDtmfTransportMethod"

        def setter(value: str) -> None:
            dgw = _DTMF_SET.get(value.strip().lower())
            if dgw is None:
                raise CwmpFault(9007, f"{value!r} is not InBand, RFC2833 or SIPInfo")
            self._set(name, dgw)

        return self._leaf(m, path, lambda: _DTMF.get(self._text(name), "InBand"), setter, name)

    def _host(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        name = m.arg

        def setter(value: str) -> None:
            host = value.strip()
            if not host or (":" in host.strip("[]") and not host.startswith("[")):
                raise CwmpFault(9007, f"{value!r} is not a host name or address")
            self._set(name, f"{host}:{_split(self._text(name))[1]}")

        return self._leaf(m, path, lambda: _split(self._text(name))[0].strip("[]"), setter, name)

    def _port(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        name = m.arg

        def setter(value: str) -> None:
            port = self._uint(value, 0, 65535)
            self._set(name, f"{_split(self._text(name))[0]}:{port}")

        return self._leaf(m, path, lambda: _split(self._text(name))[1], setter, name)

    def _transport_row(self) -> Index:
        indexes = self.config.indexes("SipEp.TransportConfig")
        if not indexes:
            raise CwmpFault(9002, "the unit has no SipEp.TransportConfig row")
        return indexes[0]

    def _transport(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        def cell(index: Index, column: str) -> str:
            return cell_address("SipEp.TransportConfig", index, column)

        def get() -> str:
            indexes = self.config.indexes("SipEp.TransportConfig")
            if not indexes:
                return "UDP"
            if self._text(cell(indexes[0], "TlsEnable")) == "Enable":
                return "TLS"
            tcp_only = self._text(cell(indexes[0], "TcpEnable")) == "Enable" and \
                self._text(cell(indexes[0], "UdpEnable")) != "Enable"
            return "TCP" if tcp_only else "UDP"

        def setter(value: str) -> None:
            kind = value.strip().upper()
            if kind not in _TRANSPORTS:
                raise CwmpFault(9007, f"{value!r}: the unit's SIP transports are UDP, TCP and TLS")
            index = self._transport_row()
            self._set(cell(index, "TlsEnable"), "Enable" if kind == "TLS" else "Disable")
            if kind != "TLS":
                self._set(cell(index, "UdpEnable"), "Enable" if kind == "UDP" else "Disable")
                self._set(cell(index, "TcpEnable"), "Enable" if kind == "TCP" else "Disable")

        first = self.config.indexes("SipEp.TransportConfig")
        return self._leaf(m, path, get, setter, cell(first[0], "TlsEnable") if first else None)

    def _gateway(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        indexes = self.config.indexes("SipEp.Gateway")
        if not indexes:
            return self._leaf(m, path, lambda: "")
        p = self.catalog.params[f"SipEp.Gateway.{m.arg}"]
        return vendor_leaf(self.config, p, cell_address("SipEp.Gateway", indexes[0], m.arg), path, writable=True,
                           strict=self.strict, source=self.source)

    def _param(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        return vendor_leaf(self.config, self.catalog.params[m.arg], m.arg, path, writable=True, strict=self.strict,
                           source=self.source)

    # ------------------------------------------------------------------ a line
    @staticmethod
    def _ua_address(ep: str, column: str) -> str:
        return f"{UA}[{ep}].{column}"  # the form a ChangeEvent's address takes (VALUE CHANGE)

    def _ua(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]
        lf = vendor_leaf(self.config, self.catalog.params[f"{UA}.{m.arg}"], cell_address(UA, (ep,), m.arg), path,
                         writable=True, strict=self.strict, source=self.source)
        lf.config_name = self._ua_address(ep, m.arg)
        return lf

    def _epid(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]
        return self._leaf(m, path, lambda: ep)

    def _line_enable(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]
        address = cell_address(UA, (ep,), "Register")

        def setter(value: str) -> None:
            v = value.strip()
            if v not in ("Enabled", "Disabled"):
                raise CwmpFault(9007, f"{v!r}: Enabled or Disabled (Quiescent is not supported)")
            self._set(address, "Enable" if v == "Enabled" else "Disable")

        return self._leaf(m, path, lambda: "Enabled" if self._text(address) == "Enable" else "Disabled", setter,
                          self._ua_address(ep, "Register"))

    def _registration(self, ep: str) -> dict[str, Any] | None:
        for row in self.config.rows("SipEp.RegistrationStatus"):
            if str(row.get("Endpoint")) == ep:
                return dict(row)
        return None

    def _line_status(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]

        def get() -> str:
            if self._text(cell_address(UA, (ep,), "Register")) != "Enable":
                return "Disabled"
            row = self._registration(ep)
            return "Initializing" if row is None else _LINE_STATUS.get(str(row.get("State")), "Error")

        return self._leaf(m, path, get)

    def _reg(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep, column = ctx["ep"], m.arg

        def get() -> str:
            row = self._registration(ep)
            if row is None:
                return "Unregistered" if column == "State" else ""
            return str(row.get(column) or "")

        return self._leaf(m, path, get)

    def _call_state(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]

        def get() -> str:
            rt = self.runtime()
            return rt.call_state(ep) if rt is not None else "Idle"

        return self._leaf(m, path, get)

    def _auth_row(self, ep: str) -> Index | None:
        """The endpoint's own ``SipEp.Authentication`` row (CriteriaSelection Endpoint), the first one."""
        for row in sorted(self.config.rows(AUTH), key=lambda r: int(r["Index"])):
            if row.get("CriteriaSelection") == "Endpoint" and str(row.get("EpId")) == ep:
                return (row["Index"],)
        return None

    def _auth(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep, column = ctx["ep"], m.arg
        secret = self.catalog.params[f"{AUTH}.{column}"].secret or column == "Password"

        def get() -> str:
            index = self._auth_row(ep)
            return "" if secret or index is None else self._text(cell_address(AUTH, index, column))

        def setter(value: str) -> None:
            index = self._auth_row(ep)
            if index is not None:
                self._set(cell_address(AUTH, index, column), value)
                return
            try:
                self.config.add_row(AUTH, {"CriteriaSelection": "Endpoint", "EpId": ep, column: value},
                                    source=self.source)
            except ConfigError as e:
                raise fault_of(e) from None

        index = self._auth_row(ep)
        name = f"{AUTH}[{index[0]}].{column}" if index is not None else None
        return self._leaf(m, path, get, setter, name)

    # ------------------------------------------------------------------ the line's codecs
    def _specific(self, ep: str) -> bool:
        return self._text(cell_address("Mipt.EpSpecificCodec", (ep,), "EnableConfig")) == "Enable"

    def _codec_value(self, ep: str, stem: str, column: str) -> str:
        if self._specific(ep):
            return self._text(cell_address(f"Mipt.EpSpecificCodec{stem}", (ep,), column))
        return self._text(f"Mipt.DefaultCodec{stem}{column}")

    def _codec_entry(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        return self._leaf(m, path, lambda: str(ctx["entry"]))

    def _codec_name(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        return self._leaf(m, path, lambda: str(ctx["codec"][1]))

    def _codec_bitrate(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        return self._leaf(m, path, lambda: str(ctx["codec"][2]))

    def _codec_ptime(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep, stem = ctx["ep"], ctx["codec"][0]

        def get() -> str:
            lo, hi = self._codec_value(ep, stem, "MinPTime"), self._codec_value(ep, stem, "MaxPTime")
            return lo if lo == hi else f"{lo}-{hi}"

        return self._leaf(m, path, get)

    def _own_codecs(self, ep: str) -> None:
        """The endpoint takes codec settings of its own, starting from the values in force (the defaults)."""
        if self._specific(ep):
            return
        for stem, _, _ in CODECS:
            for column in ("VoiceEnable", "VoicePriority", "MinPTime", "MaxPTime"):
                self._set(cell_address(f"Mipt.EpSpecificCodec{stem}", (ep,), column),
                          self._text(f"Mipt.DefaultCodec{stem}{column}"))
        self._set(cell_address("Mipt.EpSpecificCodec", (ep,), "EnableConfig"), "Enable")

    def _codec(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep, stem, column = ctx["ep"], ctx["codec"][0], m.arg

        def get() -> str:
            v = self._codec_value(ep, stem, column)
            if column == "VoiceEnable":
                return "true" if v == "Enable" else "false"
            return str(MAX_PRIORITY - int(v or 0))

        def setter(value: str) -> None:
            if column == "VoiceEnable":
                dgw = "Enable" if value.strip().lower() in ("1", "true") else "Disable"
                if value.strip().lower() not in ("0", "1", "true", "false"):
                    raise CwmpFault(9007, f"{value!r} is not a boolean")
            else:
                dgw = str(MAX_PRIORITY - self._uint(value, 1, MAX_PRIORITY))
            self._own_codecs(ep)
            self._set(cell_address(f"Mipt.EpSpecificCodec{stem}", (ep,), column), dgw)

        return self._leaf(m, path, get, setter, f"Mipt.EpSpecificCodec{stem}[{ep}].{column}")

    # ------------------------------------------------------------------ the line's statistics
    def _stat(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep, name = ctx["ep"], m.arg

        def get() -> str:
            rt = self.runtime()
            return str(rt.stats(ep).get(name, 0)) if rt is not None else "0"

        return self._leaf(m, path, get)

    def _reset_stats(self, m: VoiceMapping, path: str, ctx: dict[str, Any]) -> Leaf:
        ep = ctx["ep"]

        def setter(value: str) -> Callable[[], None] | None:
            if value.strip().lower() not in ("0", "1", "true", "false"):
                raise CwmpFault(9007, f"{value!r} is not a boolean")
            if value.strip().lower() in ("0", "false"):
                return None

            def commit() -> None:  # after the batch: a refused SetParameterValues resets nothing
                rt = self.runtime()
                if rt is not None:
                    rt.reset_stats(ep)

            return commit

        return self._leaf(m, path, lambda: "false", setter)
