"""Faces that come up after the ready file (issue 14, "start fast").

A process of units writes its ready file once the units' faces listen. Some faces cost much more to load than
to run: the SSH command line (:class:`emulator.faces.cli.server.CliEngine`) needs asyncssh, about a sixth of a
one-unit start, and a host-key load per unit. In a lab run by :mod:`emulator.fleet.run` such a face's socket is
bound and listening before the ready file (so the face is listed, at its address, and a client that connects
at once is served: the kernel queues the connection), while the face's library loads and its server starts
only once the ready file is written. Until then the unit's entry lists the face under ``coming_up`` too; the
entry is rewritten without it once the face serves. A reader that needs the face served at once waits for
``coming_up`` to go; one that only connects is served a little later.

Units built without a gate (tests, tools) get the face itself: nothing is deferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa
    from emulator.faces.cli.server import CliEngine
    from emulator.runtime.unit import Unit

__all__ = ["LateCli", "LateFaces"]

BACKLOG = 100  # as asyncssh's own listen


class LateFaces:
    """One unit's faces started after the ready file: which are still coming up, and the gate they wait for."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate
        self.coming_up: set[str] = set()
        self.changed: Callable[[], None] = lambda: None  # the runner rewrites the unit's entry

    def arrived(self, face: str) -> None:
        if face in self.coming_up:
            self.coming_up.discard(face)
            self.changed()


class LateCli:
    """The Cli service of a unit whose SSH face comes up after the ready file (see the module docstring).

    The first start binds the SSH socket (``Cli.SshPort``, as the engine would) and lists the face; once the
    gate opens, asyncssh loads and :class:`CliEngine` serves that socket. Later starts (an Scm restart) are the
    engine's own."""

    name = "Cli"

    def __init__(self, unit: Unit, aaa: Aaa, late: LateFaces) -> None:
        self.unit = unit
        self.aaa = aaa
        self.late = late
        self.engine: CliEngine | None = None
        self._pending: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    def _engine(self) -> CliEngine:
        if self.engine is None:
            from emulator.faces.cli.server import CliEngine  # asyncssh loads here, after the ready file

            self.engine = CliEngine(self.unit, self.aaa)
        return self.engine

    async def start(self) -> None:
        if self.engine is not None or self.late.gate.is_set():
            await self._engine().start()
            return
        cfg = self.unit.config
        if cfg.get("Cli.EnableSsh") != "Enable":
            return
        host = self.unit.host
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, self.unit.ports.real_port(int(cfg.get("Cli.SshPort") or 22), "ssh")))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.late.coming_up.add("ssh")
        self.unit.listening["ssh"] = f"{host}:{sock.getsockname()[1]}"
        self._pending = asyncio.ensure_future(self._serve_later())

    async def _serve_later(self) -> None:
        await self.late.gate.wait()
        await asyncio.sleep(0)  # the ready file's writer runs first
        engine = self._engine()
        engine.sock, self._sock = self._sock, None
        try:
            await engine.start()
        except Exception as e:  # as a failed boot start: the service is stopped, its comment says why
            if engine.sock is not None:  # never handed to the server
                engine.sock.close()
                engine.sock = None
            self.unit.listening.pop("ssh", None)
            st = self.unit.services.get(self.name)
            if st is not None:
                st.state = "Stopped"
                st.comment = str(e)[:255]
            self.unit.log.error("service_start_failed", service=self.name, error=str(e))
        finally:
            self.late.arrived("ssh")

    async def stop(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        if self._sock is not None:  # bound, never served
            self._sock.close()
            self._sock = None
            self.unit.listening.pop("ssh", None)
            self.late.coming_up.discard("ssh")
        if self.engine is not None:
            await self.engine.stop()
