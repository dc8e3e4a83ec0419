"""Faces that come up after the ready file (issue 14, "start fast").

A process of units writes its ready file once the units' faces listen. Some faces cost much more to start than the
rest of a unit: the SSH command line (:class:`emulator.faces.cli.server.CliEngine`) needs asyncssh, about a sixth of
a one-unit start, and a host-key load per unit; the web pages (:class:`web_ui.app.WebEngine`) an HTTPS context and a
route table per unit, about a sixth of a unit's start in a big lab. In a lab run by :mod:`emulator.fleet.run` such a
face's socket is bound and listening before the ready file (so the face is listed, at its address, and a client that
connects at once is served: the kernel queues the connection), while the face's library loads and its server starts
only once the ready file is written. Until then the unit's entry lists the face under ``coming_up`` too; the entry
is rewritten without it once the face serves. A reader that needs the face served at once waits for ``coming_up`` to
go; one that only connects is served a little later.

Units built without a gate (tests, tools) get the face itself: nothing is deferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa
    from emulator.faces.cli.server import CliEngine
    from emulator.runtime.unit import Unit

__all__ = ["LateCli", "LateFaces", "LateWeb", "WebFace"]

BACKLOG = 100  # as asyncssh's own listen


class LateFaces:
    """One unit's faces started after the ready file: which are still coming up, and the gate they wait for."""

    def __init__(self, gate: asyncio.Event, slots: asyncio.Semaphore | None = None) -> None:
        self.gate = gate
        self.slots = slots  # shared by a process's units: a few late faces start at a time (the loop stays responsive)
        self.coming_up: set[str] = set()
        self.changed: Callable[[], None] = lambda: None  # the runner rewrites the unit's entry

    def arrived(self, face: str) -> None:
        if face in self.coming_up:
            self.coming_up.discard(face)
            self.changed()


class _LateFace:
    """A service whose faces listen at its first start and serve once the gate opens (module docstring).

    Subclasses say which sockets to bind (:meth:`_bind`), give the real engine (:meth:`_engine`) and hand it the
    sockets (:meth:`_hand`, :meth:`_unhanded`). Later starts (an Scm restart) are the engine's own."""

    name = ""

    def __init__(self, unit: Unit, late: LateFaces) -> None:
        self.unit = unit
        self.late = late
        self._pending: asyncio.Task[None] | None = None
        self._socks: dict[str, socket.socket] = {}
        self._deferred_once = False

    # ------------------------------------------------------------------ what a face says
    def _bind(self) -> dict[str, tuple[socket.socket, str]]:
        """Bind and listen each face's socket: face -> (socket, its ready-file address); {} starts at once."""
        raise NotImplementedError

    def _engine(self) -> Any:
        raise NotImplementedError

    def _hand(self, engine: Any, socks: dict[str, socket.socket]) -> None:
        raise NotImplementedError

    def _unhanded(self, engine: Any) -> dict[str, socket.socket]:
        """The sockets the engine's start did not use (taken back from it)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ life
    async def start(self) -> None:
        if self._deferred_once or self.late.gate.is_set():
            await self._engine().start()
            return
        self._deferred_once = True
        bound = self._bind()
        if not bound:
            await self._engine().start()
            return
        for face, (sock, address) in bound.items():
            self._socks[face] = sock
            self.late.coming_up.add(face)
            self.unit.listening[face] = address
        self._pending = asyncio.ensure_future(self._serve_later())

    async def _serve_later(self) -> None:
        faces = list(self._socks)
        try:
            await self.late.gate.wait()
            await asyncio.sleep(0)  # the ready file's writer runs first
            async with self.late.slots or contextlib.nullcontext():
                await self._serve()
        finally:
            for face in faces:
                self.late.arrived(face)

    async def _serve(self) -> None:
        faces = list(self._socks)
        engine = self._engine()
        socks, self._socks = self._socks, {}
        self._hand(engine, socks)
        try:
            await engine.start()
        except Exception as e:  # as a failed boot start: the service is stopped, its comment says why
            self._close(self._unhanded(engine))
            for face in faces:
                self.unit.listening.pop(face, None)
            st = self.unit.services.get(self.name)
            if st is not None:
                st.state = "Stopped"
                st.comment = str(e)[:255]
            self.unit.log.error("service_start_failed", service=self.name, error=str(e))
        else:
            for face in self._close(self._unhanded(engine)):  # bound, but the engine did not serve it
                self.unit.listening.pop(face, None)

    @staticmethod
    def _close(socks: dict[str, socket.socket]) -> list[str]:
        for sock in socks.values():
            sock.close()
        return list(socks)

    async def _stop_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        for face in self._close(self._socks):  # bound, never served
            self.unit.listening.pop(face, None)
            self.late.coming_up.discard(face)
        self._socks = {}


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class LateCli(_LateFace):
    """The Cli service of a unit whose SSH face comes up after the ready file: asyncssh loads once the gate
    opens, and :class:`CliEngine` serves the socket bound at the first start (``Cli.SshPort``)."""

    name = "Cli"

    def __init__(self, unit: Unit, aaa: Aaa, late: LateFaces) -> None:
        super().__init__(unit, late)
        self.aaa = aaa
        self.engine: CliEngine | None = None

    def _engine(self) -> CliEngine:
        if self.engine is None:
            from emulator.faces.cli.server import CliEngine  # asyncssh loads here, after the ready file

            self.engine = CliEngine(self.unit, self.aaa)
        return self.engine

    def _bind(self) -> dict[str, tuple[socket.socket, str]]:
        cfg = self.unit.config
        if cfg.get("Cli.EnableSsh") != "Enable":
            return {}
        host = self.unit.host
        sock = _listen(host, self.unit.ports.real_port(int(cfg.get("Cli.SshPort") or 22), "ssh"))
        return {"ssh": (sock, f"{host}:{sock.getsockname()[1]}")}

    def _hand(self, engine: Any, socks: dict[str, socket.socket]) -> None:
        engine.sock = socks.get("ssh")

    def _unhanded(self, engine: Any) -> dict[str, socket.socket]:
        sock, engine.sock = engine.sock, None
        return {} if sock is None else {"ssh": sock}

    async def stop(self) -> None:
        await self._stop_pending()
        if self.engine is not None:
            await self.engine.stop()


class WebFace(Protocol):
    """What :class:`LateWeb` uses of the web face's engine (``web_ui.app.WebEngine``): the runtime layer names the
    face by this shape, not by importing it (the faces sit above it)."""

    unit: Unit
    certs: Any
    socks: dict[str, socket.socket]

    async def stop(self) -> None: ...


class LateWeb(_LateFace):
    """The Web service (``web``, ``web_secure``) of a unit whose pages are served after the ready file: the
    sockets are bound at the first start (``Web.HttpMode``, ``Web.ServerPort``, ``Web.SecureServerPort``), the
    HTTPS context and the page routes are made once the gate opens. A first boot (no host certificate yet) starts
    the service at once: making the certificate decides whether HTTPS listens."""

    name = "Web"

    def __init__(self, engine: WebFace, late: LateFaces) -> None:
        super().__init__(engine.unit, late)
        self.engine = engine

    def _engine(self) -> WebFace:
        return self.engine

    def _bind(self) -> dict[str, tuple[socket.socket, str]]:
        cfg = self.unit.config
        mode = cfg.get_text("Web.HttpMode") or "Both"
        certs = self.engine.certs
        secure = mode in ("Secure", "Both")
        if secure and (certs is None or not certs.host_certificates()):
            return {}
        host = self.unit.host
        shown = f"[{host}]" if ":" in host else host
        out: dict[str, tuple[socket.socket, str]] = {}
        try:
            if mode in ("Unsecure", "Both"):
                sock = _listen(host, self.unit.ports.real_port(int(cfg.get("Web.ServerPort") or 80), "web"))
                out["web"] = (sock, f"http://{shown}:{sock.getsockname()[1]}")
            if secure:
                port = self.unit.ports.real_port(int(cfg.get("Web.SecureServerPort") or 443), "web_secure")
                sock = _listen(host, port)
                out["web_secure"] = (sock, f"https://{shown}:{sock.getsockname()[1]}")
        except OSError:
            self._close({f: s for f, (s, _) in out.items()})
            raise
        return out

    def _hand(self, engine: Any, socks: dict[str, socket.socket]) -> None:
        engine.socks.update(socks)

    def _unhanded(self, engine: Any) -> dict[str, socket.socket]:
        socks, engine.socks = dict(engine.socks), {}
        return socks

    async def stop(self) -> None:
        await self._stop_pending()
        await self.engine.stop()
