"""The asyncio adapter of the TFTP client core (:mod:`emulator.protocols.tftp`): one UDP socket on the unit's
address, the core's datagrams sent to the server's address, its deadlines on the loop's clock.

The socket is not connected: the server answers from a new port (its transfer ID), which the core learns from
the first answer. Datagrams from another address are dropped here; from another port of the server's address the
core answers ERROR 5. An ICMP "port unreachable" (``ECONNREFUSED`` on the socket) ends the transfer at once as
``refused``: nothing listens on the server's TFTP port, which the Conf retry rule does not retry.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import cast

from emulator.protocols.tftp import TFTP_PORT, Completed, Datagram, Failed, TftpClient

__all__ = ["TftpRefused", "tftp_transfer"]


class TftpRefused(ConnectionRefusedError):
    """The server's address answered ICMP port unreachable."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: TftpClient, server: str, done: asyncio.Future[Completed | Failed]) -> None:
        self.client = client
        self.server = server
        self.done = done
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # asyncio's own class does not declare it
        self._send(self.client.start(self.loop.time()))

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if addr[0] != self.server or not isinstance(addr[1], int):
            return  # not the server's address: not part of this transfer
        self._send(self.client.receive(data, addr[1], self.loop.time()))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED and not self.done.done():
            self.done.set_exception(TftpRefused(errno.ECONNREFUSED, "port unreachable"))
            self._cancel_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()

    def _on_timer(self) -> None:
        self._timer = None
        self._send(self.client.handle_timer(self.loop.time()))

    def _send(self, out: list[Datagram]) -> None:
        assert self.transport is not None
        for d in out:
            self.transport.sendto(d.payload, (self.server, d.port))
        while (ev := self.client.next_event()) is not None:
            if not self.done.done():
                self.done.set_result(ev)
        self._cancel_timer()
        deadline = self.client.next_deadline()
        if deadline is not None and not self.done.done():
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def tftp_transfer(host: str, port: int, filename: str, *, local_host: str, data: bytes | None = None,
                        blksize: int = 1432, timeout: float = 1.0, retries: int = 5,
                        max_size: int = 64 * 1024 * 1024) -> Completed | Failed:
    """Read ``filename`` (or write ``data`` to it) on ``host:port``, from an ephemeral port of ``local_host``.
    Raises :class:`TftpRefused` when the server's port is closed, OSError when the address cannot be used."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port or TFTP_PORT, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    server = str(infos[0][4][0])
    client = TftpClient(filename, data=data, blksize=blksize, timeout=timeout, retries=retries, max_size=max_size,
                        server_port=port or TFTP_PORT)
    done: asyncio.Future[Completed | Failed] = loop.create_future()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _Protocol(client, server, done), local_addr=(local_host, 0), family=socket.AF_INET)
    try:
        return await done
    finally:
        proto._cancel_timer()
        transport.close()
