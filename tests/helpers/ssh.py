"""Talking to a unit's SSH CLI with the real OpenSSH client: the options for a throw-away host key and password
log-in, and reading an interactive session up to a marker."""

from __future__ import annotations

import asyncio

__all__ = ["SSH_OPTS", "_wait_for"]

SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "PreferredAuthentications=password,keyboard-interactive",
    "-o", "PubkeyAuthentication=no",
    "-o", "LogLevel=ERROR",
    "-o", "ConnectTimeout=5",
]


async def _wait_for(stream: asyncio.StreamReader, marker: bytes, buf: bytearray, timeout: float = 5) -> bytes:
    """Read until ``marker``; return what came before it (marker consumed)."""
    async def fill() -> None:
        while marker not in buf:
            chunk = await stream.read(4096)
            if not chunk:
                raise EOFError(bytes(buf))
            buf.extend(chunk)

    await asyncio.wait_for(fill(), timeout)
    before, _, after = bytes(buf).partition(marker)
    buf[:] = after
    return before
