"""SRTP/SRTCP contexts over pylibsrtp (libsrtp 2), with the rollover counter made explicit.

RFC 3711 in one paragraph, as far as this module cares: each direction of a stream has a cryptographic
context — master key and salt (30 bytes for the AES_CM_128 suites, the SDES ``inline:`` value), the rollover
counter ROC that extends the 16-bit RTP sequence number to the 48-bit packet index (§3.3.1), and a replay
window. The receiver *guesses* the ROC from the sequence numbers it sees (§3.3.1, Appendix A). A receiver
whose context was regenerated (ROC back to 0) while the sender kept its own (ROC 1 after a wrap) computes the
authentication tag over the wrong ROC (§4.2: the tag covers the authenticated portion || ROC) and every packet
fails — the DGW's "Mipt 110: SRTP cryptographic error" after a sequence rollover or a resume from hold.

What this module offers:

* :class:`SrtpContext` — one direction (outbound or inbound). ``protect``/``unprotect`` and their RTCP
  twins; a pre-check that tells garbage (STUN, truncated, version != 2) from crypto failure; typed errors
  (:class:`SrtpAuthError`, :class:`SrtpReplayError`, :class:`SrtpParseError`); the ROC tracked in Python
  (``roc``) and, for tests, read back from libsrtp (``library_roc``); an explicit initial ROC (``roc=``) so a
  lab can start a stream at any packet index; MKI (RFC 3711 §3.1, RFC 4568 ``|mki:len``) inserted/stripped
  around libsrtp, which never sees it; ``regenerate()`` (same or new key, ROC 0, fresh replay window).
* :class:`SrtpSession` — both directions of one media stream, and :meth:`SrtpSession.update` applying the
  DGW's keep/regenerate behaviour on a session update (``Mipt.SessionUpdateCryptoMode``,
  ``Mipt.SrtpCryptoContextBehavior``).
* ``reference_protect_rtp`` / ``reference_unprotect_rtp`` / ``reference_protect_rtcp`` — a slow pure-Python
  RFC 3711 transform keyed by :mod:`emulator.protocols.keying.kdf`, used by the tests to prove byte-for-byte that
  our key derivation is libsrtp's, and by labs to forge packets at an arbitrary ROC.

The hot path calls libsrtp through pylibsrtp's own cffi binding with a preallocated buffer (pylibsrtp's
``Session.protect`` allocates an ``int *`` per call). The media engine goes one step further with the in-place
pair :meth:`SrtpContext.protect_in_place` / :meth:`SrtpContext.unprotect_in_place`: it writes the plain packet
(``struct.pack_into``) or receives the datagram (``socket.recv_into``) straight into the context's
:attr:`~SrtpContext.buffer`, so a packet crosses Python without a single ``bytes`` object being made. If a future
pylibsrtp hides those internals, the context falls back to the public ``Session`` methods (and ``inplace`` is
False).
"""

from __future__ import annotations

import ctypes
import enum
import functools
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import pylibsrtp
from pylibsrtp import Policy, Session

from emulator.protocols.keying.kdf import aes_cm_keystream, derive_session_keys, srtp_iv
from emulator.protocols.keying.suites import SrtpKeying, SrtpSuite, generate_master
from emulator.protocols.media.rtp import RtpError, rtp_header_length

try:  # pylibsrtp's cffi binding: the fast path (see module docstring)
    from pylibsrtp import _binding
    from pylibsrtp._binding import ffi as _ffi
    from pylibsrtp._binding import lib as _lib

    _BINDING_FILE: str | None = _binding.__file__

    _srtp_protect = _lib.srtp_protect
    _srtp_unprotect = _lib.srtp_unprotect
    _LIB_OPS: dict[str, Callable[..., int]] = {
        "protect": _srtp_protect,
        "unprotect": _srtp_unprotect,
        "protect_rtcp": _lib.srtp_protect_rtcp,
        "unprotect_rtcp": _lib.srtp_unprotect_rtcp,
    }
except ImportError:  # pragma: no cover - depends on the installed pylibsrtp
    _ffi = None
    _lib = None
    _LIB_OPS = {}
    _BINDING_FILE = None

__all__ = [
    "MAX_RTP_PACKET",
    "ContextBehaviour",
    "SrtpAuthError",
    "SrtpContext",
    "SrtpError",
    "SrtpKeyExpiredError",
    "SrtpKeying",
    "SrtpNoContextError",
    "SrtpParseError",
    "SrtpReplayError",
    "SrtpSession",
    "SrtpSuite",
    "SrtpUpdate",
    "estimate_roc",
    "generate_master",
    "libsrtp_version",
    "reference_protect_rtcp",
    "reference_protect_rtp",
    "reference_unprotect_rtp",
]

MAX_RTP_PACKET = 1500  # largest plain RTP/RTCP packet accepted for protection
_BUFFER_SIZE = 2048  # room for MAX_RTP_PACKET + trailer (tag, SRTCP index) + libsrtp's scratch
_HDR = struct.Struct("!BBHII")  # RTP fixed header: V/P/X/CC, M/PT, sequence, timestamp, SSRC


# --------------------------------------------------------------------------------------------- errors


class SrtpError(Exception):
    """An SRTP/SRTCP packet could not be protected or unprotected; the packet is dropped.

    `crypto_error` tells the stream whether this counts as a cryptographic error of the incoming stream
    (the DGW's Mipt 110 notification) rather than garbage on the port.
    """

    crypto_error = False

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # libsrtp srtp_err_status_t, when libsrtp reported it


class SrtpAuthError(SrtpError):
    """Authentication tag mismatch (RFC 3711 §3.3 step 5): wrong key, wrong ROC or a forged/damaged packet."""

    crypto_error = True


class SrtpReplayError(SrtpError):
    """Replayed or too old packet index (RFC 3711 §3.3.2): dropped silently, not by itself a crypto error."""

    @property
    def too_old(self) -> bool:
        """'Index too old' (behind the replay window) rather than a duplicate. Sustained, it means the
        receiver's ROC/sequence state no longer matches the sender's (a desynchronised context)."""
        return self.status in (10, 26)


class SrtpParseError(SrtpError):
    """Not an SRTP/SRTCP packet of this context: too short, not version 2, bad header lengths, wrong MKI."""


class SrtpNoContextError(SrtpError):
    """No context for the packet's SSRC (a context bound to one SSRC received another)."""


class SrtpKeyExpiredError(SrtpError):
    """The master key reached its lifetime (RFC 3711 §9.2); a rekey is needed."""

    crypto_error = True


# libsrtp 2 srtp_err_status_t -> exception class
_STATUS_CLASS: dict[int, type[SrtpError]] = {
    2: SrtpParseError,  # bad_param: too short, CSRC/extension overrun
    7: SrtpAuthError,
    9: SrtpReplayError,
    10: SrtpReplayError,
    13: SrtpNoContextError,
    14: SrtpParseError,  # cant_check
    15: SrtpKeyExpiredError,
    21: SrtpParseError,
    25: SrtpParseError,  # bad_mki
    26: SrtpReplayError,  # pkt_idx_old
}
_STATUS_TEXT = dict(enumerate(pylibsrtp.ERRORS)) if hasattr(pylibsrtp, "ERRORS") else {}


def _status_error(status: int, what: str) -> SrtpError:
    cls = _STATUS_CLASS.get(status, SrtpError)
    return cls(f"{what}: {_STATUS_TEXT.get(status, f'libsrtp status {status}')}", status)


def _message_error(exc: Exception, what: str) -> SrtpError:
    """Map a pylibsrtp.Error message (fallback path) to our classes."""
    text = str(exc)
    for status, msg in _STATUS_TEXT.items():
        if msg == text:
            return _status_error(status, what)
    return SrtpError(f"{what}: {text}")


# ------------------------------------------------------------------------------------- ROC helpers


def estimate_roc(roc: int, s_l: int, seq: int) -> int:
    """The receiver's ROC guess v for sequence number `seq` (RFC 3711 §3.3.1), given its ROC and highest s_l."""
    if s_l < 32768:
        return roc - 1 if seq - s_l > 32768 else roc
    return roc + 1 if s_l - 32768 > seq else roc


@functools.cache
def _shared_library() -> ctypes.CDLL | None:
    """pylibsrtp's extension module opened as a shared library: the libsrtp functions its cffi binding does
    not declare (ROC access, version string) are exported there."""
    if _BINDING_FILE is None:  # pragma: no cover - depends on the wheel
        return None
    try:
        return ctypes.CDLL(_BINDING_FILE)
    except OSError:  # pragma: no cover
        return None


@functools.cache
def _roc_api() -> tuple[Callable[..., int], Callable[..., int]] | None:
    """libsrtp's srtp_set_stream_roc / srtp_get_stream_roc."""
    so = _shared_library()
    if so is None:  # pragma: no cover - depends on the wheel
        return None
    try:
        set_roc = so.srtp_set_stream_roc
        set_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]
        set_roc.restype = ctypes.c_int
        get_roc = so.srtp_get_stream_roc
        get_roc.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32)]
        get_roc.restype = ctypes.c_int
    except AttributeError:  # pragma: no cover - depends on the wheel
        return None
    return set_roc, get_roc


def libsrtp_version() -> str:
    """The bundled libsrtp version string, e.g. 'libsrtp2 2.7.0' (for reports and bug triage)."""
    so = _shared_library()
    if so is None:  # pragma: no cover
        return "unknown"
    try:
        so.srtp_get_version_string.restype = ctypes.c_char_p
        return str(so.srtp_get_version_string().decode())
    except AttributeError:  # pragma: no cover
        return "unknown"


# ------------------------------------------------------------------------------------------ context


@dataclass(slots=True, eq=False, repr=False)
class SrtpContext:
    """One direction of one SRTP stream (RFC 3711 §3.2 cryptographic context) backed by libsrtp.

    outbound=True protects what we send; outbound=False unprotects what we receive. `ssrc` binds the context
    to one SSRC (required for an outbound context with a non-zero initial ROC; an inbound context with a
    non-zero ROC and no SSRC binds to the SSRC of the first packet). Without an SSRC, any SSRC is accepted
    (libsrtp's ssrc_any_outbound / ssrc_any_inbound templates), which follows a peer that changes SSRC.

    `roc` is the initial rollover counter (RFC 3711 §3.3.1). Zero is what every fresh context uses; a lab
    can give the value a peer that has already wrapped would hold (or a MIKEY CS ID map carries).
    """

    suite: SrtpSuite
    master: bytes
    _: KW_ONLY
    outbound: bool
    ssrc: int | None = None
    roc: int = 0  # ROC as this wrapper tracks it (sender: exact; receiver: RFC 3711 §3.3.1 after auth)
    mki: bytes = b""
    window_size: int = 0
    allow_repeat_tx: bool = False
    initial_roc: int = field(init=False)  # the `roc` given
    rtp_tag_length: int = field(init=False)  # octets the in-place pair adds/strips (no MKI there)
    s_l: int = field(default=-1, init=False)  # highest sequence number seen (receiver), last sent (sender); -1 = none
    packets: int = field(default=0, init=False)
    auth_failures: int = field(default=0, init=False)
    replay_failures: int = field(default=0, init=False)
    inplace: bool = field(default=False, init=False)  # protect/unprotect_in_place usable (once libsrtp's stream exists)
    buffer: Any = field(default=None, init=False)  # the packet buffer of the in-place pair (a writable cffi buffer)
    _rtp_tag: int = field(init=False)
    _rtcp_tag: int = field(init=False)
    _session: Session | None = field(default=None, init=False)
    _srtp: Any = field(default=None, init=False)
    _seen_ssrc: int = field(default=-1, init=False)  # SSRC of the packets being tracked (receiver); -1 = none yet
    _cdata: Any = field(init=False)
    _lenp: Any = field(init=False)

    def __post_init__(self) -> None:
        suite, roc, window_size = self.suite, self.roc, self.window_size
        if len(self.master) != suite.master_length:
            raise ValueError(f"{suite.value} needs {suite.master_length} bytes of key||salt, got {len(self.master)}")
        if not 0 <= roc <= 0xFFFFFFFF:
            raise ValueError(f"ROC out of range: {roc}")
        if window_size and not 64 <= window_size < 0x8000:
            raise ValueError("replay window must be 64..32767 packets (RFC 3711 §3.3.2)")
        self.initial_roc = roc
        self._rtp_tag = self.rtp_tag_length = suite.rtp_tag_length
        self._rtcp_tag = suite.rtcp_tag_length
        if _ffi is not None:
            self._cdata = _ffi.new("unsigned char[]", _BUFFER_SIZE)
            self.buffer = _ffi.buffer(self._cdata)
            self._lenp = _ffi.new("int *")
        if self.ssrc is not None or roc == 0 or self.outbound:
            if self.outbound and roc and self.ssrc is None:
                raise ValueError("an outbound context with an initial ROC needs its SSRC")
            self._create(self.ssrc)

    # -- construction

    def _create(self, ssrc: int | None) -> None:
        if ssrc is None:
            ssrc_type = Policy.SSRC_ANY_OUTBOUND if self.outbound else Policy.SSRC_ANY_INBOUND
            policy = Policy(key=self.master, ssrc_type=ssrc_type, srtp_profile=self.suite.profile)
        else:
            policy = Policy(
                key=self.master, ssrc_type=Policy.SSRC_SPECIFIC, ssrc_value=ssrc, srtp_profile=self.suite.profile
            )
        if self.window_size:
            policy.window_size = self.window_size
        if self.allow_repeat_tx:
            policy.allow_repeat_tx = True
        session = Session(policy)
        self._session = session
        self.ssrc = ssrc
        try:
            self._srtp = session._srtp[0] if _ffi is not None else None
        except (AttributeError, TypeError, IndexError):  # pragma: no cover - pylibsrtp internals changed
            self._srtp = None
        self.inplace = self._srtp is not None and not self.mki
        if self.initial_roc:
            api = _roc_api()
            if api is None or self._srtp is None:  # pragma: no cover
                raise SrtpError("this libsrtp build does not export srtp_set_stream_roc: cannot start at a ROC")
            status = api[0](int(_ffi.cast("uintptr_t", self._srtp)), ssrc or 0, self.initial_roc)
            if status:
                raise _status_error(status, "set ROC")

    def regenerate(self, master: bytes | None = None, *, roc: int = 0) -> SrtpContext:
        """A fresh context (ROC `roc`, empty replay window) with the same or a new master key.

        This is what a DGW set to Regenerate does on a session update; keeping the context is simply going
        on with this object.
        """
        return SrtpContext(
            self.suite,
            self.master if master is None else master,
            outbound=self.outbound,
            ssrc=self.ssrc if (self.outbound or roc) else None,
            roc=roc,
            mki=self.mki,
            window_size=self.window_size,
            allow_repeat_tx=self.allow_repeat_tx,
        )

    # -- RTP

    def protect(self, packet: bytes) -> bytes:
        """Plain RTP -> SRTP (RFC 3711 §3.3). Raises SrtpParseError for what is not an RTP packet."""
        n = len(packet)
        if n < 12 or n > MAX_RTP_PACKET or packet[0] & 0xC0 != 0x80:
            raise SrtpParseError(f"protect: not an RTP packet ({n} bytes)")
        out = self._transform(packet, "protect")
        seq = (packet[2] << 8) | packet[3]
        last = self.s_l
        if last >= 0 and seq < last and last - seq > 0x8000:
            self.roc = (self.roc + 1) & 0xFFFFFFFF
        self.s_l = seq
        self.packets += 1
        return self._add_mki(out, self._rtp_tag)

    def unprotect(self, packet: bytes) -> bytes:
        """SRTP -> plain RTP (RFC 3711 §3.3). Raises SrtpAuthError / SrtpReplayError / SrtpParseError."""
        n = len(packet)
        tag = self._rtp_tag
        mki = self.mki
        if n < 12 + tag + len(mki) or n > MAX_RTP_PACKET + 16 + len(mki) or packet[0] & 0xC0 != 0x80:
            raise SrtpParseError(f"unprotect: not an SRTP packet ({n} bytes)")
        packet = self._strip_mki(packet, tag, "unprotect")
        if self._session is None:  # inbound with an initial ROC: bind to the first packet's SSRC
            self._create(int.from_bytes(packet[8:12], "big"))
        out = self._transform(packet, "unprotect")
        # RFC 3711 §3.3.1: update ROC and s_l only after authentication succeeded; a new SSRC is a new
        # stream (libsrtp clones its template for it), so the tracking restarts
        self._track((packet[2] << 8) | packet[3], int.from_bytes(packet[8:12], "big"))
        return out

    def _track(self, seq: int, ssrc: int) -> None:
        """Receiver ROC / s_l update of RFC 3711 §3.3.1 for an authenticated packet."""
        if ssrc != self._seen_ssrc:
            if self._seen_ssrc >= 0:
                self.roc = self.initial_roc
                self.s_l = -1
            self._seen_ssrc = ssrc
        s_l = self.s_l
        if s_l < 0:
            self.s_l = seq
        else:
            roc = self.roc
            if s_l < 32768:
                v = roc - 1 if seq - s_l > 32768 else roc
            else:
                v = roc + 1 if s_l - 32768 > seq else roc
            if v > roc:
                self.roc = v & 0xFFFFFFFF
                self.s_l = seq
            elif v == roc and seq > s_l:
                self.s_l = seq
        self.packets += 1

    # -- RTP in place (the media engine's hot path)

    def protect_in_place(self, n: int, seq: int) -> int:
        """Protect the `n`-octet plain RTP packet (sequence number `seq`) the caller wrote at the start of
        :attr:`buffer`; returns the SRTP length (the packet to send is ``buffer[:length]``).

        Only when :attr:`inplace` (no MKI, pylibsrtp's binding reachable); same ROC tracking and errors as
        :meth:`protect`. The caller guarantees a well-formed RTP header (it wrote it).
        """
        if n > MAX_RTP_PACKET:
            raise SrtpParseError(f"protect: not an RTP packet ({n} bytes)")
        lenp = self._lenp
        lenp[0] = n
        status = _srtp_protect(self._srtp, self._cdata, lenp)
        if status:
            raise _status_error(status, "protect")
        last = self.s_l
        if seq < last and last - seq > 0x8000:
            self.roc = (self.roc + 1) & 0xFFFFFFFF
        self.s_l = seq
        self.packets += 1
        return lenp[0]  # type: ignore[no-any-return]

    def unprotect_in_place(self, n: int) -> tuple[int, int, int, int, int]:
        """Unprotect the `n`-octet datagram the caller received into :attr:`buffer` (``sock.recv_into``).

        Returns the plain packet's fixed header fields ``(b0, b1, sequence, timestamp, ssrc)``; the plain
        packet is ``buffer[:n - tag]`` (tag = the suite's RTP tag length). Same checks, errors, counters and
        ROC tracking as :meth:`unprotect` — garbage (too short/long, not version 2) is told from crypto
        failure only once libsrtp refused it, the common case paying for nothing. After an error the buffer
        still holds the datagram as received (libsrtp authenticates before it decrypts). Only when
        :attr:`inplace`.
        """
        lenp = self._lenp
        lenp[0] = n
        status = _srtp_unprotect(self._srtp, self._cdata, lenp)
        if status:
            raise self._in_place_error(status, n)
        hdr: tuple[int, int, int, int, int] = _HDR.unpack_from(self.buffer)
        seq = hdr[2]
        s_l = self.s_l
        if hdr[4] == self._seen_ssrc and seq > s_l and seq - s_l < 32768:  # in order, no wrap: the common case
            self.s_l = seq
            self.packets += 1
        else:
            self._track(seq, hdr[4])
        return hdr

    def _in_place_error(self, status: int, n: int) -> SrtpError:
        if n < 12 + self._rtp_tag or n > MAX_RTP_PACKET + 16 or self._cdata[0] & 0xC0 != 0x80:
            return SrtpParseError(f"unprotect: not an SRTP packet ({n} bytes)")
        return self._counted(_status_error(status, "unprotect"))

    # -- RTCP

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Plain compound RTCP -> SRTCP (RFC 3711 §3.4); libsrtp keeps the 31-bit SRTCP index."""
        n = len(packet)
        if n < 8 or n > MAX_RTP_PACKET or packet[0] & 0xC0 != 0x80:
            raise SrtpParseError(f"protect_rtcp: not an RTCP packet ({n} bytes)")
        if self._srtp is None and self._session is None:
            self._create(self.ssrc)
        return self._add_mki(self._transform(packet, "protect_rtcp"), self._rtcp_tag)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """SRTCP -> plain compound RTCP (RFC 3711 §3.4)."""
        n = len(packet)
        tag = self._rtcp_tag
        if n < 8 + 4 + tag + len(self.mki) or n > MAX_RTP_PACKET + 32 or packet[0] & 0xC0 != 0x80:
            raise SrtpParseError(f"unprotect_rtcp: not an SRTCP packet ({n} bytes)")
        if not 200 <= packet[1] <= 204:  # RFC 3550 §6.1: a compound packet starts with SR/RR (SDES/BYE/APP tolerated)
            raise SrtpParseError(f"unprotect_rtcp: packet type {packet[1]} is not RTCP")
        packet = self._strip_mki(packet, tag, "unprotect_rtcp")
        if self._session is None:
            self._create(int.from_bytes(packet[4:8], "big"))
        return self._transform(packet, "unprotect_rtcp")

    # -- helpers (the general path: one ``bytes`` in, one out)

    def _transform(self, packet: bytes, op: str) -> bytes:
        """libsrtp's `op` on `packet` in the context's buffer (pylibsrtp's public API when its binding is out of
        reach); a failure is counted and raised as its typed error."""
        srtp = self._srtp
        if srtp is None:
            return self._slow(packet, op)
        n = len(packet)
        self.buffer[0:n] = packet
        lenp = self._lenp
        lenp[0] = n
        status = _LIB_OPS[op](srtp, self._cdata, lenp)
        if status:
            raise self._counted(_status_error(status, op))
        return self.buffer[0 : lenp[0]]  # type: ignore[no-any-return]

    def _slow(self, packet: bytes, op: str) -> bytes:
        """pylibsrtp's public API (used when its cffi internals are unavailable)."""
        assert self._session is not None
        try:
            return bytes(getattr(self._session, op)(packet))
        except pylibsrtp.Error as exc:
            raise self._counted(_message_error(exc, op)) from None
        except ValueError as exc:
            raise SrtpParseError(f"{op}: {exc}") from None

    def _counted(self, err: SrtpError) -> SrtpError:
        """`err`, after counting it among the authentication or replay failures."""
        if isinstance(err, SrtpAuthError):
            self.auth_failures += 1
        elif isinstance(err, SrtpReplayError):
            self.replay_failures += 1
        return err

    def _add_mki(self, out: bytes, tag: int) -> bytes:
        """The MKI goes between the encrypted portion and the tag (RFC 3711 §3.1); libsrtp never sees it."""
        mki = self.mki
        return out[:-tag] + mki + out[-tag:] if mki else out

    def _strip_mki(self, packet: bytes, tag: int, op: str) -> bytes:
        mki = self.mki
        if not mki:
            return packet
        n, m = len(packet), len(mki)
        if packet[n - tag - m : n - tag] != mki:
            raise SrtpParseError(f"{op}: unknown MKI")
        return packet[: n - tag - m] + packet[n - tag :]

    def library_roc(self, ssrc: int | None = None) -> int | None:
        """The ROC libsrtp holds for `ssrc` (default: the bound SSRC, else the last one received), or None if
        libsrtp has no such stream.

        For an outbound context libsrtp reports the ROC of the last packet protected. Meant for tests and
        diagnostics (it goes through ctypes, ~1 µs).
        """
        api = _roc_api()
        if api is None or self._srtp is None or _ffi is None:
            return None
        if ssrc is None:
            ssrc = self.ssrc
        if ssrc is None and self._seen_ssrc >= 0:
            ssrc = self._seen_ssrc
        if ssrc is None:
            return None
        out = ctypes.c_uint32()
        status = api[1](int(_ffi.cast("uintptr_t", self._srtp)), ssrc, ctypes.byref(out))
        return None if status else int(out.value)

    @property
    def packet_index(self) -> int:
        """The 48-bit index ROC * 2^16 + s_l of the last packet sent/accepted (-1 before the first)."""
        return -1 if self.s_l < 0 else (self.roc << 16) | self.s_l

    def __repr__(self) -> str:
        direction = "outbound" if self.outbound else "inbound"
        ssrc = "any" if self.ssrc is None else f"{self.ssrc:#010x}"
        return f"<SrtpContext {direction} {self.suite.value} ssrc={ssrc} roc={self.roc} s_l={self.s_l}>"


# ------------------------------------------------------------------------------------------ session


class ContextBehaviour(enum.Enum):
    """What to do with the crypto contexts on a session update (re-INVITE, hold, resume).

    Values are the enum names of ``Mipt.SessionUpdateCryptoMode`` / ``Mipt.SrtpCryptoContextBehavior``.
    """

    KEEP = "Keep"
    REGENERATE = "Regenerate"

    @classmethod
    def from_parameter(cls, value: str) -> ContextBehaviour:
        """'Keep' / 'Regenerate' (any case) as stored in the configuration."""
        for member in cls:
            if member.value.lower() == value.strip().lower():
                return member
        raise ValueError(f"unknown crypto context behaviour {value!r} (Keep, Regenerate)")


@dataclass(frozen=True, slots=True)
class SrtpUpdate:
    """Outcome of :meth:`SrtpSession.update`: which directions got a fresh context (ROC 0).

    When `tx_regenerated` the stream must restart its RTP sequence number and timestamp (DGW behaviour on
    Regenerate: "new keys + reset seq/timestamp").
    """

    tx_regenerated: bool
    rx_regenerated: bool


class SrtpSession:
    """Both directions of one secured media stream: `tx` protects what we send, `rx` unprotects what we get.

    `local` is our keying (the key we put in our SDP, used to protect), `remote` the peer's (used to
    unprotect). The stream glue may call ``tx.protect`` / ``rx.unprotect`` directly.
    """

    __slots__ = ("local", "remote", "rx", "tx")

    def __init__(
        self,
        local: SrtpKeying,
        remote: SrtpKeying,
        *,
        local_ssrc: int | None = None,
        tx_roc: int = 0,
        rx_roc: int = 0,
        remote_ssrc: int | None = None,
    ) -> None:
        self.local = local
        self.remote = remote
        self.tx = SrtpContext(local.suite, local.master, outbound=True, ssrc=local_ssrc, roc=tx_roc, mki=local.mki)
        self.rx = SrtpContext(remote.suite, remote.master, outbound=False, ssrc=remote_ssrc, roc=rx_roc, mki=remote.mki)

    def protect(self, packet: bytes) -> bytes:
        return self.tx.protect(packet)

    def unprotect(self, packet: bytes) -> bytes:
        return self.rx.unprotect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self.tx.protect_rtcp(packet)

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        return self.rx.unprotect_rtcp(packet)

    def update(self, local: SrtpKeying, remote: SrtpKeying, behaviour: ContextBehaviour) -> SrtpUpdate:
        """Apply a session update: new (or unchanged) keying from the new offer/answer.

        KEEP: a direction whose keying did not change keeps its context (ROC, replay window); a changed key
        necessarily gets a new context. REGENERATE: both directions get fresh contexts (ROC 0) even when the
        key is unchanged — with a peer that keeps its context this is exactly the DGW's desynchronisation:
        after a wrap the kept sender is at ROC >= 1, the regenerated receiver at 0, and every tag fails.
        """
        tx_new = behaviour is ContextBehaviour.REGENERATE or local != self.local
        rx_new = behaviour is ContextBehaviour.REGENERATE or remote != self.remote
        if tx_new:
            self.tx = SrtpContext(local.suite, local.master, outbound=True, ssrc=self.tx.ssrc, mki=local.mki)
        if rx_new:
            self.rx = SrtpContext(remote.suite, remote.master, outbound=False, mki=remote.mki)
        self.local = local
        self.remote = remote
        return SrtpUpdate(tx_regenerated=tx_new, rx_regenerated=rx_new)

    def __repr__(self) -> str:
        return f"<SrtpSession tx={self.tx!r} rx={self.rx!r}>"


# ---------------------------------------------------------------------------- reference transform


def _xor(data: bytes, keystream: bytes) -> bytes:
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(keystream[:n], "big")).to_bytes(n, "big")


def reference_protect_rtp(
    master: bytes, packet: bytes, *, roc: int = 0, tag_length: int = 10, mki: bytes = b""
) -> bytes:
    """Pure-Python SRTP protection with AES_CM_128 / HMAC-SHA1 (RFC 3711 §3.3, §4.1.1, §4.2.1).

    Slow (derives the session keys on every call); for tests and for labs forging packets at a chosen ROC.
    """
    try:
        hdr_len = rtp_header_length(packet)
    except RtpError as exc:
        raise SrtpParseError(f"reference protect: {exc}") from None
    keys = derive_session_keys(master[:16], master[16:30])
    ssrc = int.from_bytes(packet[8:12], "big")
    index = (roc << 16) | int.from_bytes(packet[2:4], "big")
    body = packet[hdr_len:]
    encrypted = packet[:hdr_len] + _xor(
        body, aes_cm_keystream(keys.encryption, srtp_iv(keys.salt, ssrc, index), len(body))
    )
    tag = hmac.new(keys.authentication, encrypted + (roc & 0xFFFFFFFF).to_bytes(4, "big"), hashlib.sha1).digest()
    return encrypted + mki + tag[:tag_length]


def reference_unprotect_rtp(
    master: bytes, packet: bytes, *, roc: int = 0, tag_length: int = 10, mki_length: int = 0
) -> bytes:
    """Inverse of :func:`reference_protect_rtp` for a known ROC; raises SrtpAuthError on a tag mismatch."""
    if len(packet) < 12 + tag_length + mki_length:
        raise SrtpParseError("reference unprotect: packet too short")
    keys = derive_session_keys(master[:16], master[16:30])
    tag = packet[-tag_length:]
    authenticated = packet[: len(packet) - tag_length - mki_length]
    expect = hmac.new(keys.authentication, authenticated + (roc & 0xFFFFFFFF).to_bytes(4, "big"), hashlib.sha1).digest()
    if not hmac.compare_digest(expect[:tag_length], tag):
        raise SrtpAuthError("reference unprotect: authentication failure")
    try:
        hdr_len = rtp_header_length(authenticated)
    except RtpError as exc:
        raise SrtpParseError(f"reference unprotect: {exc}") from None
    ssrc = int.from_bytes(authenticated[8:12], "big")
    index = (roc << 16) | int.from_bytes(authenticated[2:4], "big")
    body = authenticated[hdr_len:]
    return authenticated[:hdr_len] + _xor(
        body, aes_cm_keystream(keys.encryption, srtp_iv(keys.salt, ssrc, index), len(body))
    )


def reference_protect_rtcp(master: bytes, packet: bytes, *, index: int, tag_length: int = 10) -> bytes:
    """Pure-Python SRTCP protection (RFC 3711 §3.4): encrypt after the first 8 octets, append E||index and tag."""
    if len(packet) < 8:
        raise SrtpParseError("reference protect_rtcp: packet too short")
    keys = derive_session_keys(master[:16], master[16:30], rtcp=True)
    ssrc = int.from_bytes(packet[4:8], "big")
    body = packet[8:]
    encrypted = packet[:8] + _xor(body, aes_cm_keystream(keys.encryption, srtp_iv(keys.salt, ssrc, index), len(body)))
    trailer = (0x80000000 | (index & 0x7FFFFFFF)).to_bytes(4, "big")
    tag = hmac.new(keys.authentication, encrypted + trailer, hashlib.sha1).digest()
    return encrypted + trailer + tag[:tag_length]
