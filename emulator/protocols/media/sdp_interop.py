"""The SDP interop knobs of SipEp: what our offers and answers look like on the wire, as the unit's would.

Applied to every SDP body the unit sends (:class:`SdpInterop.finish`, then :class:`OriginStamp` for o=):

* ``SipEp.InteropSdpDirectionAttributeEnable`` — Enable (factory): the RFC 3264 direction attributes; Disable:
  none at all (the RFC 2543 method: a stream we do not listen to is put on hold by ``c=IN IP4 0.0.0.0``).
* ``SipEp.InteropSdpDirectionAttributeLevel`` — MediaOrSessionLevel (factory): when every stream has the same
  direction, the attribute stands at session level only, else at media level only; MediaAndSessionLevel: at
  both levels when they agree.
* ``SipEp.InteropOnHoldSdpConnectionAddress`` — HoldAddress (factory): a stream we no longer listen to (held:
  sendonly or inactive) carries ``c=IN IP4 0.0.0.0``; MediaAddress: our listening address. IPv4 only.
* ``SipEp.InteropOnHoldSdpStreamDirection`` — the direction of our hold offer: Inactive (factory) or Sendonly.
* ``SipEp.InteropOnHoldAnswerSdpStreamDirection`` — our answer to a sendonly (hold) offer: Recvonly (factory,
  inactive when we hold too) or Inactive.
* ``SipEp.InteropSdpOriginLineSessionIdAndVersionMaxLength`` — Max64bits (factory): the o= session id (and so
  its version) is a 64-bit NTP timestamp (RFC 4566 §5.2 suggests one; up to 20 digits); Max32bits: a 32-bit
  number (up to 10 digits).
* ``SipEp.InteropIncrementSdpVersionWhenModified`` — Enable (factory): the o= version goes up only when the body
  differs from the last one sent (a session refresh repeats it); Disable: at every body we build.

* ``SipEp.InteropSdpDetectPeerDirectionAttributeSupportEnable`` — Enable (factory): once the peer's first body of
  the call carried no direction attribute, our later bodies carry none either (hold by the null address); the
  initial offer of a call we place always has them. Disable: we always send them (:meth:`SdpInterop.for_peer`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from emulator.protocols.sdp.sdp import Connection, Direction, SessionDescription
from firmware_model.settings_cache import settings_cache

__all__ = ["NTP_EPOCH_OFFSET", "OriginStamp", "SdpInterop"]

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_DIRECTIONS = {d.value for d in Direction}


class _ConfigReader(Protocol):
    def get(self, name: str) -> Any: ...


def _opt(config: _ConfigReader | None, name: str, default: str) -> str:
    if config is None:
        return default
    try:
        value = config.get(name)
    except Exception:  # a parameter an older catalog lacks
        return default
    return default if value is None else str(value)


@dataclass(frozen=True, slots=True)
class SdpInterop:
    """The SDP interop settings of one unit (factory values by default; see the module docstring)."""

    direction_attribute: bool = True
    both_levels: bool = False
    hold_address: bool = True
    hold_inactive: bool = True
    hold_answer_inactive: bool = False
    max_32_bits: bool = False
    increment_when_modified: bool = True
    detect_peer: bool = True

    @classmethod
    def from_config(cls, config: _ConfigReader | None) -> SdpInterop:
        """The unit's settings now: read once, then kept until a SipEp parameter changes (every SDP body asked for
        them: eight reads each)."""
        if config is None:
            return cls()
        return settings_cache(config, ("SipEp",)).get(("sdp_interop", cls), lambda: cls._read(config))

    @classmethod
    def _read(cls, config: _ConfigReader) -> SdpInterop:
        return cls(
            direction_attribute=_opt(config, "SipEp.InteropSdpDirectionAttributeEnable", "Enable") == "Enable",
            both_levels=_opt(config, "SipEp.InteropSdpDirectionAttributeLevel", "MediaOrSessionLevel")
            == "MediaAndSessionLevel",
            hold_address=_opt(config, "SipEp.InteropOnHoldSdpConnectionAddress", "HoldAddress") == "HoldAddress",
            hold_inactive=_opt(config, "SipEp.InteropOnHoldSdpStreamDirection", "Inactive") == "Inactive",
            hold_answer_inactive=_opt(config, "SipEp.InteropOnHoldAnswerSdpStreamDirection", "Recvonly") == "Inactive",
            max_32_bits=_opt(config, "SipEp.InteropSdpOriginLineSessionIdAndVersionMaxLength", "Max64bits")
            == "Max32bits",
            increment_when_modified=_opt(config, "SipEp.InteropIncrementSdpVersionWhenModified", "Enable") == "Enable",
            detect_peer=_opt(config, "SipEp.InteropSdpDetectPeerDirectionAttributeSupportEnable", "Enable") == "Enable",
        )

    def for_peer(self, peer_directions: bool | None) -> SdpInterop:
        """The settings for our next body, given whether the peer's first body had direction attributes (None: no
        body from it yet)."""
        if self.detect_peer and peer_directions is False and self.direction_attribute:
            return replace(self, direction_attribute=False)
        return self

    @staticmethod
    def has_directions(body: bytes) -> bool:
        """Whether an SDP body carries a direction attribute (at any level)."""
        return any(line.strip() in (b"a=sendrecv", b"a=sendonly", b"a=recvonly", b"a=inactive")
                   for line in body.splitlines())

    # -- directions we choose

    def hold_offer_direction(self) -> Direction:
        """The direction of our hold offer (``InteropOnHoldSdpStreamDirection``)."""
        return Direction.INACTIVE if self.hold_inactive else Direction.SENDONLY

    def answer_local_direction(self, offered: Direction, hold: bool) -> Direction:
        """What we are willing to do, given to the answer rule (RFC 3264 §6.1): a sendonly offer is answered
        inactive with ``InteropOnHoldAnswerSdpStreamDirection`` Inactive; otherwise sendrecv, or our hold direction."""
        if offered is Direction.SENDONLY and self.hold_answer_inactive:
            return Direction.INACTIVE
        return self.hold_offer_direction() if hold else Direction.SENDRECV

    def received_direction(self, sd: SessionDescription) -> None:
        """A body received while direction attributes are disabled: its attributes are ignored (the unit reads
        only the connection address then), so they are dropped before the offer/answer rules see it."""
        if self.direction_attribute:
            return
        sd.direction = None
        for md in sd.media:
            md.direction = None

    # -- the session id

    def session_id(self, now: float) -> int:
        """A fresh o= session id at unix time `now`: a 64-bit NTP timestamp, or a 32-bit one (its seconds)."""
        if self.max_32_bits:
            return int(now) & 0x7FFFFFFF or 1
        ntp = int((now + NTP_EPOCH_OFFSET) * (1 << 32))
        return ntp & 0x7FFF_FFFF_FFFF_FFFF or 1  # 63 bits: the version can still grow within 64

    # -- the body we send

    def finish(self, sd: SessionDescription) -> SessionDescription:
        """Hold address and direction attributes of a body we built (directions at media level) as configured."""
        live = [md for md in sd.media if md.port != 0]
        directions = [sd.media_direction(md) for md in live]
        ipv4 = sd.connection is None or sd.connection.addrtype == "IP4"
        use_attributes = self.direction_attribute or not ipv4  # IPv6 media always carry them
        null_hold = ipv4 and (self.hold_address or not self.direction_attribute)
        if null_hold and live:
            deaf = [md for md, d in zip(live, directions, strict=True) if not d.receives]
            if len(deaf) == len(live) and sd.connection is not None:
                sd.connection = Connection("0.0.0.0", sd.connection.nettype, sd.connection.addrtype)
                for md in live:
                    md.connection = None
            else:
                for md in deaf:
                    md.connection = Connection("0.0.0.0")
        sd.direction = None
        for md in sd.media:
            md.attributes[:] = [a for a in md.attributes if a.name not in _DIRECTIONS]
        if not use_attributes or not live:
            return sd
        if len(set(directions)) == 1:
            sd.direction = directions[0]
            if self.both_levels:
                for md in live:
                    md.direction = directions[0]
        else:
            for md, d in zip(live, directions, strict=True):
                md.direction = d
        return sd


class OriginStamp:
    """The o= line of one call's bodies: one session id, and a version that goes up as
    ``InteropIncrementSdpVersionWhenModified`` says (the first body carries version = id, RFC 3264 §5)."""

    __slots__ = ("_last", "interop", "session_id", "version")

    def __init__(self, interop: SdpInterop, session_id: int) -> None:
        self.interop = interop
        self.session_id = session_id
        self.version: int | None = None
        self._last: str | None = None

    def next_version(self) -> int:
        """A new version whatever the body (a body built elsewhere, e.g. the switch to T.38)."""
        self.version = self.session_id if self.version is None else self.version + 1
        self._last = None
        return self.version

    def stamp(self, sd: SessionDescription) -> bytes:
        """`sd` with our session id and the version it deserves, as bytes."""
        sd.origin.session_id = self.session_id
        sd.origin.session_version = 0
        key = sd.serialize()
        same = self.version is not None and self.interop.increment_when_modified and key == self._last
        if not same:
            self.version = self.session_id if self.version is None else self.version + 1
        self._last = key
        assert self.version is not None
        sd.origin.session_version = self.version
        return bytes(sd)
