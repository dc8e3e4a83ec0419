"""Starting and stopping a peer's process: its output goes to a log file, readiness is a marker in that log
or a port that accepts, and stopping is SIGTERM, then SIGKILL if it lingers — so a test never leaves a peer
running. :class:`Peer` is what every testkit peer is (Kamailio, baresip, dnsmasq, rsyslog, openssl...):
its process and its log, ``log()``, ``stop()`` (also at the end of a ``with`` block) and ``wait_until(ready)``."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, Self, TypeVar

__all__ = ["Peer", "ServerPeer", "accepts", "spawn", "stop_process", "stopped_at_exit"]


def spawn(argv: Sequence[str], log: Path, *, cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr into ``log`` (the file handle is the child's alone)."""
    with log.open("wb") as out:
        return subprocess.Popen(list(argv), stdin=stdin, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)


def stop_process(proc: subprocess.Popen[bytes], *, terms: int = 1, grace: float = 5.0) -> None:
    """SIGTERM (``terms`` times, ``grace`` seconds each), then SIGKILL; stdin is closed if we held it."""
    for _ in range(terms):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    if proc.stdin:
        proc.stdin.close()


def accepts(host: str, port: int) -> bool:
    """Whether a TCP connection to host:port succeeds now (a peer's listener is up)."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class Peer:
    """A running peer: its process and the file its output goes to. Subclasses (dataclasses) add what tests
    reach it by (ports, addresses); ``STOP_TERMS``/``STOP_GRACE`` tune the stop, ``LOG_TAIL`` what ``log()``
    shows by default (0: everything)."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    STOP_TERMS: ClassVar[int] = 1
    STOP_GRACE: ClassVar[float] = 5.0
    LOG_TAIL: ClassVar[int] = 0

    def log(self, tail: int | None = None) -> str:
        """The peer's output so far (its last ``tail`` characters; 0: all of it)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        tail = self.LOG_TAIL if tail is None else tail
        return text[-tail:] if tail else text

    def stop(self) -> None:
        stop_process(self.proc, terms=self.STOP_TERMS, grace=self.STOP_GRACE)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 5.0) -> Self:
        """This peer once ``ready()`` holds; if it exits or ``timeout`` passes first it is stopped, and the
        error says ``what`` did not happen, with its log."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} (exit {self.proc.returncode}):\n{self.log()}")
            time.sleep(0.02)
        return self


@dataclass
class ServerPeer(Peer):
    """A peer that serves on one address."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_S = TypeVar("_S", bound=_Stoppable)


@contextmanager
def stopped_at_exit() -> Iterator[list[_S]]:
    """A list for the peers a test starts: each is stopped when the block ends, in the order they started,
    and one stop that fails does not leave the others running."""
    started: list[_S] = []
    try:
        yield started
    finally:
        with ExitStack() as stack:
            for peer in reversed(started):  # an ExitStack unwinds last in, first out
                stack.callback(peer.stop)
