"""File transfers of the Conf and Fpu services: get and put one file over HTTP, HTTPS, TFTP, FTP or the unit's
own storage (File), from the unit's address, bounded in time and size.

* **HTTP/HTTPS** (aiohttp): basic (RFC 7617) or digest (RFC 2617/7616) credentials, answered to the server's 401
  challenge (``Conf.ScriptsTransferHttpAuthenticationMethod`` ``ProprietaryV1`` — the vendor's EMS login — is
  not emulated: it falls back to ``Normal`` as the vendor documents for a server without it). HTTPS goes through
  the unit's TLS policy for the service (``emulator.engines.cert.tls``: ``Conf.ScriptsTransferTlsVersion``,
  ``CipherSuite``, ``CertificateValidation``, ``TrustLevel``, the Cert store, the unit's clock): a refused server
  certificate fails the transfer with the Cert reason (and the Cert notification).
* **TFTP**: the sans-IO core :mod:`emulator.protocols.tftp` through :mod:`emulator.engines.conf.tftp_io`
  (blksize 1432, tsize).
* **FTP**: aioftp (passive mode), binding its control and data connections to the unit's address; user
  ``anonymous`` when none is configured.
* **File**: ``<state dir>/files/persistent|volatile/<path>``; a path leaving that folder is refused.

Failures are :class:`TransferError` with a ``kind`` the Conf retry rule reads (MX-CONF-MIB
``ScriptsTransferRetriesNumber``: retries "only if the server is unreachable"; a closed port or a missing file is
not retried): ``unreachable`` (no answer, no route, a timeout — retried), ``refused`` (the port is closed, or the
server answered with an error status), ``not-found``, ``auth``, ``tls``, ``too-large``, ``local`` (the unit's own
storage, a bad URL).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aioftp
import aiohttp
from yarl import URL

from emulator.engines.cert.errors import PeerRefused, TlsError
from emulator.engines.cert.tls import TlsPolicy
from emulator.engines.conf.tftp_io import TftpRefused, tftp_transfer
from emulator.engines.conf.url import Target
from emulator.protocols.cwmp.session import answer_challenges
from emulator.protocols.tftp import Failed
from firmware_model.store import atomic_write

__all__ = ["MAX_FILE_BYTES", "TransferError", "Transferer"]

MAX_FILE_BYTES = 64 * 1024 * 1024  # the largest file a unit takes (firmware packs included)
_REFUSED = (errno.ECONNREFUSED, errno.ECONNRESET)


@dataclass(slots=True)
class TransferError(Exception):
    kind: str  # unreachable | refused | not-found | auth | tls | too-large | local
    message: str

    def __str__(self) -> str:
        return self.message

    @property
    def retryable(self) -> bool:
        """Only an unreachable server is tried again (MX-CONF-MIB ScriptsTransferRetriesNumber)."""
        return self.kind == "unreachable"


@dataclass(slots=True)
class Transferer:
    """Transfers of one service of one unit: its address, its storage, its TLS policy for HTTPS."""

    local_host: str
    state_dir: Path
    tls: Callable[[], TlsPolicy] | None = None  # the service's TLS policy (None: HTTPS refused)
    timeout: float = 30.0
    tftp_timeout: float = 1.0
    tftp_retries: int = 5
    max_size: int = MAX_FILE_BYTES
    user_agent: str = "DGW"

    async def get(self, target: Target) -> bytes:
        """The file's bytes, or :class:`TransferError`."""
        try:
            if target.scheme in ("http", "https"):
                return await self._http(target, "GET")
            if target.scheme == "tftp":
                return await self._tftp(target)
            if target.scheme == "ftp":
                return await self._ftp_get(target)
            return self._file_get(target)
        except TransferError:
            raise
        except (PeerRefused, TlsError, OSError, TimeoutError, aiohttp.ClientError, aioftp.AIOFTPException) as e:
            raise _classify(target, e) from None

    async def put(self, target: Target, data: bytes) -> None:
        """Store ``data`` as the target's file, or :class:`TransferError`."""
        try:
            if target.scheme in ("http", "https"):
                await self._http(target, "PUT", data)
            elif target.scheme == "tftp":
                await self._tftp(target, data)
            elif target.scheme == "ftp":
                await self._ftp_put(target, data)
            else:
                atomic_write(self._file_path(target), data, mode=0o600)
        except TransferError:
            raise
        except (PeerRefused, TlsError, OSError, TimeoutError, aiohttp.ClientError, aioftp.AIOFTPException) as e:
            raise _classify(target, e) from None

    # ------------------------------------------------------------------ HTTP(S)
    async def _http(self, target: Target, method: str, body: bytes | None = None) -> bytes:
        # The path percent-encoded once, here: the digest "uri" must be the request-target aiohttp sends.
        url = str(URL.build(scheme=target.scheme, host=target.host, port=target.real_port, path=f"/{target.path}"))
        if target.scheme == "https":
            if self.tls is None:
                raise TransferError("local", "HTTPS is not available to this service")
            connector: aiohttp.TCPConnector = self.tls().aiohttp_connector(force_close=True)
        else:
            connector = aiohttp.TCPConnector(local_addr=(self.local_host, 0), force_close=True)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        headers = {"User-Agent": self.user_agent}
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for _ in range(2):  # the request, then once more with credentials answering the 401 challenge
                async with http.request(method, url, headers=headers, data=body, allow_redirects=False) as resp:
                    if resp.status == 401 and target.username and "Authorization" not in headers:
                        challenges = resp.headers.getall("WWW-Authenticate", [])
                        headers["Authorization"] = answer_challenges(challenges, method, url, target.username,
                                                                     target.password)
                        continue
                    _check_status(target, resp.status, resp.reason or "")
                    return await self._read(target, resp) if method == "GET" else b""
        raise TransferError("auth", "the server refused the credentials")

    async def _read(self, target: Target, resp: aiohttp.ClientResponse) -> bytes:
        if resp.content_length is not None and resp.content_length > self.max_size:
            raise _too_large(target, resp.content_length)
        data = await resp.content.read(self.max_size + 1)
        if len(data) > self.max_size:
            raise _too_large(target, len(data))
        # aiohttp's read(n) returns what has arrived, up to n: read on until the end of the body
        chunks = [data]
        size = len(data)
        while not resp.content.at_eof():
            more = await resp.content.read(self.max_size + 1 - size)
            if not more:
                break
            size += len(more)
            if size > self.max_size:
                raise _too_large(target, size)
            chunks.append(more)
        return b"".join(chunks)

    # ------------------------------------------------------------------ TFTP
    async def _tftp(self, target: Target, data: bytes | None = None) -> bytes:
        result = await tftp_transfer(target.host, target.real_port, target.path, local_host=self.local_host,
                                     data=data, timeout=self.tftp_timeout, retries=self.tftp_retries,
                                     max_size=self.max_size)
        if isinstance(result, Failed):
            raise _tftp_error(target, result)
        return result.data

    # ------------------------------------------------------------------ FTP
    def _ftp_client(self) -> aioftp.Client:
        # Extra keyword arguments reach asyncio.open_connection for the control and the data connections.
        return aioftp.Client(socket_timeout=self.timeout, connection_timeout=self.timeout,
                             local_addr=(self.local_host, 0))

    async def _ftp_login(self, client: aioftp.Client, target: Target) -> None:
        await client.connect(target.host, target.real_port)
        try:
            await client.login(target.username or "anonymous", target.password or "anonymous@")
        except aioftp.StatusCodeError as e:
            raise TransferError("auth", f"the FTP server refused the login ({_ftp_reply(e)})") \
                from None

    async def _ftp_get(self, target: Target) -> bytes:
        client = self._ftp_client()
        try:
            await self._ftp_login(client, target)
            chunks: list[bytes] = []
            size = 0
            try:
                async with client.download_stream(target.path) as stream:
                    async for block in stream.iter_by_block():
                        size += len(block)
                        if size > self.max_size:
                            raise _too_large(target, size)
                        chunks.append(block)
            except aioftp.StatusCodeError as e:
                raise _ftp_status(target, e) from None
            await client.quit()
            return b"".join(chunks)
        finally:
            client.close()

    async def _ftp_put(self, target: Target, data: bytes) -> None:
        client = self._ftp_client()
        try:
            await self._ftp_login(client, target)
            try:
                async with client.upload_stream(target.path) as stream:
                    await stream.write(data)
            except aioftp.StatusCodeError as e:
                raise _ftp_status(target, e) from None
            await client.quit()
        finally:
            client.close()

    # ------------------------------------------------------------------ File
    def _file_path(self, target: Target) -> Path:
        disk, _, rest = target.path.partition(":")
        root = (self.state_dir / "files" / disk.lower()).resolve()
        path = (root / rest).resolve()
        if not rest or not path.is_relative_to(root) or path == root:
            raise TransferError("local", f"{target.path}: not a file of the unit's {disk} storage")
        return path

    def _file_get(self, target: Target) -> bytes:
        path = self._file_path(target)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise TransferError("not-found", f"{target.path}: no such file") from None
        if size > self.max_size:
            raise _too_large(target, size)
        return path.read_bytes()


# ---------------------------------------------------------------------------------------------- classifying
def _too_large(target: Target, size: int) -> TransferError:
    return TransferError("too-large", f"the file is {size} bytes or more, larger than a unit takes")


def _check_status(target: Target, status: int, reason: str) -> None:
    if 200 <= status < 300:
        return
    text = f"the server answered HTTP {status} {reason}".rstrip()
    kind = {401: "auth", 403: "auth", 404: "not-found", 410: "not-found"}.get(status, "refused")
    raise TransferError(kind, text)


def _tftp_error(target: Target, failed: Failed) -> TransferError:
    if failed.kind == "timeout":
        return TransferError("unreachable" if not failed.answered else "refused",
                             f"{failed.message}")
    kind = {1: "not-found", 2: "auth"}.get(failed.code or 0, "refused")
    if failed.kind == "too-large":
        kind = "too-large"
    return TransferError(kind, f"TFTP error: {failed.message}")


def _ftp_reply(e: aioftp.StatusCodeError) -> str:
    return " ".join(str(c) for c in e.received_codes) + (f" {' '.join(e.info)}" if e.info else "")


def _ftp_status(target: Target, e: aioftp.StatusCodeError) -> TransferError:
    codes = {str(c) for c in e.received_codes}
    kind = "not-found" if codes & {"550", "450"} else "auth" if codes & {"530", "532"} else "refused"
    return TransferError(kind, f"the FTP server answered {_ftp_reply(e)}".strip())


def _classify(target: Target, e: BaseException) -> TransferError:
    """Which kind a connection-level failure is (see the module docstring)."""
    if isinstance(e, PeerRefused):
        return TransferError("tls", f"the server certificate was refused ({e.reason}): "
                                    f"{e.refusal.detail}")
    if isinstance(e, TlsError):
        return TransferError("tls", str(e))
    if isinstance(e, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return TransferError("tls", f"TLS failed ({e})")
    os_error = e.os_error if isinstance(e, aiohttp.ClientConnectorError) else e
    if isinstance(os_error, TftpRefused | ConnectionRefusedError) or (
            isinstance(os_error, OSError) and os_error.errno in _REFUSED):
        return TransferError("refused", f"connection refused (nothing listens on port "
                                        f"{target.real_port})")
    if isinstance(e, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return TransferError("refused", f"the server broke the transfer ({type(e).__name__})")
    what = getattr(os_error, "strerror", None) or type(e).__name__
    return TransferError("unreachable", f"the server cannot be reached ({what})")
