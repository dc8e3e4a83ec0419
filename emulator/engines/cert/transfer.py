"""Certificate file transfers (``Cert`` service, "Transfer"): an HTTP/1.0 GET over plain TCP or over the
service's TLS policy, bounded in time and size.

HTTP/1.0 with ``Connection: close`` keeps the client to one reading loop: the body ends with the
connection (a chunked answer is refused), and at most ``MAX_UPLOAD_BYTES`` are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from emulator.engines.cert.errors import PeerRefused, TlsError
from firmware_model.certs import MAX_UPLOAD_BYTES, CertError

__all__ = ["fetch", "parse_transfer_url"]

OpenTls = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def parse_transfer_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, target)`` of an http/https URL; CertError when it is not one."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CertError("transfer", f"{url!r} is not an http:// or https:// URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise CertError("transfer", f"{url!r}: {e}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


def _http_request(host: str, port: int, target: str, default_port: int, agent: str) -> bytes:
    h = f"[{host}]" if ":" in host else host
    host_header = h if port == default_port else f"{h}:{port}"
    return (f"GET {target} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: {agent}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode()


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d\s+(\d{3})\s*(.*)", lines[0])
    if m is None:
        raise CertError("transfer", "the server did not answer with HTTP")
    headers = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), m.group(2), headers


async def fetch(
    url: tuple[str, str, int, str], *, open_tls: OpenTls, local_host: str, agent: str, timeout: float
) -> bytes:
    """The body of a ``200`` answer to GET `url` (as :func:`parse_transfer_url` gives it), from
    `local_host`; https goes through `open_tls` (the Cert service's validated connection). CertError
    for every failure: unreachable or refused peer, another status, a body over MAX_UPLOAD_BYTES."""
    scheme, host, port, target = url
    try:
        if scheme == "https":
            reader, writer = await open_tls(host, port)
        else:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(local_host, 0)), timeout
            )
    except PeerRefused as e:
        raise CertError("transfer", f"the certificate of {e.peer} was refused ({e.reason})") from None
    except (TlsError, OSError, TimeoutError) as e:
        raise CertError("transfer", f"cannot reach {host}:{port}: {e}") from None
    try:
        writer.write(_http_request(host, port, target, 443 if scheme == "https" else 80, agent))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status, reason, headers = _parse_head(head[:-4])
        if status != 200:
            raise CertError("transfer", f"the server answered {status} {reason}".rstrip())
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise CertError("transfer", "the server answered with a chunked body to an HTTP/1.0 request")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise CertError("too-large", f"the file is too large: {length} bytes, the most a certificate "
                                         f"file may hold is {MAX_UPLOAD_BYTES} bytes")
        body = b""
        while len(body) <= MAX_UPLOAD_BYTES:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise CertError("too-large", f"the file is too large: more than {MAX_UPLOAD_BYTES} bytes")
        return body
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, TimeoutError) as e:
        raise CertError("transfer", f"transfer from {host}:{port} failed: {e.__class__.__name__}") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
