"""What the ctypes bindings of kept C libraries (libbcg729, libspandsp) share: loading a library with its prototypes
on first use, and an opaque C state released exactly once."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["NativeState", "load", "loadable"]

Prototype = tuple[str, Any, list[Any]]  # (function, restype, argtypes)


def load(short: str, soname: str, prototypes: Iterable[Prototype], missing: type[Exception], package: str) -> Any:
    """``ctypes.CDLL`` of lib`short` (its ``soname`` when ldconfig does not know it) with `prototypes` declared;
    `missing` (naming the Debian `package`) when it is not installed."""
    try:
        so = ctypes.CDLL(ctypes.util.find_library(short) or soname)
    except OSError as exc:
        raise missing(f"lib{short} not found ({exc}); install the Debian package {package}") from None
    for name, restype, argtypes in prototypes:
        fn = getattr(so, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return so


def loadable(loader: Callable[[], Any], missing: type[Exception]) -> bool:
    """Whether `loader` (a binding's cached library loader) finds its library on this machine."""
    try:
        loader()
    except missing:
        return False
    return True


class NativeState:
    """An opaque state a C library made (``self._s``) and the function that frees it; :meth:`close` frees it once,
    and so does garbage collection."""

    __slots__ = ("_free", "_s")

    def __init__(self, state: Any, free: Callable[[Any], Any]) -> None:
        self._s = state
        self._free = free

    def close(self) -> None:
        if self._s:
            self._free(self._s)
            self._s = None

    def __del__(self) -> None:
        self.close()
