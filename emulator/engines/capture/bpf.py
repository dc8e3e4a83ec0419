"""The capture filter: ``Nlm.PCaptureFilter`` is pcap-filter(7) syntax (MX-NLM-MIB), so libpcap itself compiles it
(``pcap_compile`` on a "dead" handle, through ctypes: Debian's libpcap0.8) into classic BPF that the kernel runs on
the unit's packet socket — a packet the filter refuses never reaches Python.

What the socket gets is ``host <unit address> and (<user filter>)``: only the unit's own traffic, then the user's
choice. On the loopback device every packet passes twice (once going out, once coming in); :func:`program` puts
three instructions in front that drop the outgoing copy (``SKF_AD_PKTTYPE`` = ``PACKET_OUTGOING``), so each
packet is captured once.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from functools import lru_cache

__all__ = ["FilterError", "LibpcapMissing", "attach", "compile_filter", "program"]

Instruction = tuple[int, int, int, int]  # code, jt, jf, k (struct sock_filter)

_SO_ATTACH_FILTER = 26
_PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
_SKF_AD_PKTTYPE = 0xFFFFF000 + 4
_PACKET_OUTGOING = 4
# ldb [pkttype]; jeq #OUTGOING, 0, 1; ret #0 — the outgoing copy of a loopback packet is dropped
_DROP_OUTGOING: list[Instruction] = [(0x30, 0, 0, _SKF_AD_PKTTYPE), (0x15, 0, 1, _PACKET_OUTGOING), (0x06, 0, 0, 0)]
_INSN = struct.Struct("HBBI")


class FilterError(ValueError):
    """A filter libpcap refuses (``PCaptureState`` FilterFailure); the message is libpcap's."""


class LibpcapMissing(RuntimeError):
    """libpcap is not installed: no filter can be compiled (Debian package libpcap0.8)."""


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


@lru_cache(maxsize=1)
def _libpcap() -> ctypes.CDLL:
    for name in ("libpcap.so.0.8", "libpcap.so.1", "libpcap.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Program), ctypes.c_char_p, ctypes.c_int,
                                     ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.restype = None
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Program)]
        lib.pcap_close.restype = None
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        return lib
    raise LibpcapMissing("libpcap is not installed (Debian package libpcap0.8): capture filters cannot be compiled")


def compile_filter(expression: str, linktype: int = 1, snaplen: int = 262144) -> list[Instruction]:
    """Classic BPF for ``expression`` (pcap-filter(7)) on ``linktype`` (1: Ethernet); FilterError with libpcap's
    reason when it is not a filter."""
    lib = _libpcap()
    handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise LibpcapMissing("libpcap could not open a handle")
    prog = _Program()
    try:
        if lib.pcap_compile(handle, ctypes.byref(prog), expression.encode("utf-8"), 1, _PCAP_NETMASK_UNKNOWN) != 0:
            raise FilterError((lib.pcap_geterr(handle) or b"invalid filter").decode("utf-8", "replace"))
        try:
            return [(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf, prog.bf_insns[i].k)
                    for i in range(prog.bf_len)]
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)


def program(host: str, user_filter: str = "", *, loopback: bool = False) -> list[Instruction]:
    """The socket's program: the unit's address, then the user's filter (checked alone first, so that its own
    error is the one reported), the loopback's outgoing copies dropped."""
    user_filter = user_filter.strip()
    if user_filter:
        compile_filter(user_filter)
    expression = f"host {host}" + (f" and ({user_filter})" if user_filter else "")
    insns = compile_filter(expression)
    return [*_DROP_OUTGOING, *insns] if loopback else insns


def attach(sock: socket.socket, insns: list[Instruction]) -> None:
    """Run ``insns`` in the kernel on every packet ``sock`` would receive (SO_ATTACH_FILTER)."""
    code = ctypes.create_string_buffer(b"".join(_INSN.pack(*i) for i in insns))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } — the kernel copies the code at once
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, struct.pack("HL", len(insns), ctypes.addressof(code)))
