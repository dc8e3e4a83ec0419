"""Cert: the unit's certificate store (``Cert`` service, numkey 2300, "Certificate Manager").

Store, in ``<state_dir>/certs`` (persists with the configuration, survives kill -9)::

    host/<FileName>        a host certificate and its chain (PEM)       -> Cert.HostCertificatesInfo
    host/<FileName>.key    its private key (PKCS#8 PEM, mode 0600)
    others/<FileName>      one certificate (PEM)                        -> Cert.OthersCertificatesInfo

Every file is written with ``atomic_write``; a host certificate's key is written before its
certificate, which commits it (a key without its certificate is a crash leftover, removed at load).
Private keys are never logged, never shown, and no method returns them.

Factory certificates (first boot): the emulator installation has one "factory CA"
(``factory-ca.pem`` / ``factory-ca.key`` in a shared directory, by default the parent of the
unit's state directory), created once under an exclusive ``flock`` so that 100 units booting
together — threads or processes — create exactly one. At its first boot each unit gets
``factory-host.pem``: an RSA-2048 key (every suite of CS1/CS2/CS3 authenticates with RSA, so an
ECDSA host key could not serve any of them) and a certificate signed by the factory CA with
SAN = the unit's IP address and name, EKU serverAuth + clientAuth. The factory CA itself is
installed as ``factory-ca.pem`` in the unit's Others store, so units of one installation trust
each other out of the box; a lab trusts the units by downloading it (:meth:`factory_ca_pem`). The
whole first-boot store is built in a temporary folder renamed into place (all or nothing).

Tables: ``Cert.HostCertificatesInfo`` / ``Cert.OthersCertificatesInfo`` are computed from the
store on every read (ValidFrom/ValidTo in the unit's local time); their ``Delete`` row command
deletes the file. ``Cert.HostCertificateAssociation`` and ``Cert.CertificateAuthorities`` are
configuration tables with one row per host certificate / per CA certificate, kept in step with the
store; the first decides which host certificate each service presents.

"Activate unsecure certificate transfer" (emulator design): :meth:`activate_unsecure_transfer`
opens a window (5 minutes by default) during which ONE host-certificate import over plain HTTP
(a web upload over HTTP, or a transfer from an ``http://`` URL) is accepted; the window closes
after that import or when it times out. Outside it such an import is refused before any byte
of the key is fetched. Other certificates (no private key) may always cross plain HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from emulator.engines.cert.context import FFDHE2048_PEM
from emulator.engines.cert.factory import FACTORY_CA_FILE, generate_rsa_key, load_or_create_factory_ca, utc_now
from emulator.engines.cert.tls import TlsPolicy
from emulator.engines.cert.transfer import fetch, parse_transfer_url
from firmware_model.certs import (
    CertError,
    CertInfo,
    build_host_certificate,
    certificate_pem,
    describe,
    key_pem,
    load_certificates,
    load_host_bundle,
    safe_file_name,
)
from firmware_model.config import ChangeEvent
from firmware_model.notifications import get_notification
from firmware_model.store import atomic_write

if TYPE_CHECKING:
    from emulator.runtime.unit import Unit

__all__ = [
    "FACTORY_CA_FILE",
    "FACTORY_HOST_FILE",
    "UNSECURE_TRANSFER_WINDOW_S",
    "CertEngine",
    "StoredCert",
]

FACTORY_HOST_FILE = "factory-host.pem"
UNSECURE_TRANSFER_WINDOW_S = 300.0
KEYLOG_PARAM = "Cert.TlsKeyLogEnable"  # proposed emulator addition (Enable/Disable, default Disable)
HOST_TABLE = "Cert.HostCertificatesInfo"
OTHERS_TABLE = "Cert.OthersCertificatesInfo"
ASSOCIATION_TABLE = "Cert.HostCertificateAssociation"
CA_TABLE = "Cert.CertificateAuthorities"
CERT_USERS = ("SipEp", "Cwmp", "Conf", "Fpu", "Nlm")  # services that validate peers with the stores
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")


@dataclass(frozen=True, slots=True)
class StoredCert:
    file_name: str
    kind: str  # "host" | "other"
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # host: the issuers that follow the certificate in its file
    info: CertInfo
    factory: bool = False


# ------------------------------------------------------------------ the engine
class CertEngine:
    """The Cert service of one unit."""

    name = "Cert"

    def __init__(
        self,
        unit: Unit,
        factory_dir: Path | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit = unit
        self.factory_dir = Path(factory_dir) if factory_dir is not None else Path(unit.state_dir).parent
        self.dir = Path(unit.state_dir) / "certs"
        self.tls_dir = Path(unit.state_dir) / "tls"
        self.generation = 0  # bumped on every change that can alter a TLS context
        self.keylog_enabled = False  # used when the catalog lacks Cert.TlsKeyLogEnable
        self.transfer_timeout = 10.0
        self._monotonic = monotonic
        self._unsecure_until: float | None = None
        self._host: dict[str, StoredCert] = {}
        self._others: dict[str, StoredCert] = {}
        self._anchors: tuple[x509.Certificate, ...] = ()
        self._anchors_pem = ""
        self._policies: dict[str, TlsPolicy] = {}
        self._warned: set[Hashable] = set()
        self._ready_lock = asyncio.Lock()
        self._loaded = False
        c = unit.config
        c.provide_rows(HOST_TABLE, self._host_rows)
        c.provide_rows(OTHERS_TABLE, self._others_rows)
        c.on_command(f"{HOST_TABLE}.Delete", lambda idx: self.delete("host", str(idx[0])))
        c.on_command(f"{OTHERS_TABLE}.Delete", lambda idx: self.delete("other", str(idx[0])))
        c.subscribe(self._on_config_change)
        if self.dir.is_dir():
            self._load()
            self._sync_rows()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.ready()

    async def ready(self) -> None:
        """The store, provisioned at first boot. Any engine may await it from its own start, in
        any order (Scm starts Web and SipEp before Cert); it provisions once."""
        if self._loaded:
            return
        async with self._ready_lock:
            if not self._loaded:
                if not self.dir.is_dir():
                    await self._provision()
                self._load()
                self._sync_rows()

    async def stop(self) -> None:
        return None

    async def _provision(self) -> None:
        """First boot: factory host certificate and the factory CA, all or nothing."""
        ca_cert, ca_key = await asyncio.to_thread(load_or_create_factory_ca, self.factory_dir)
        host_key = await generate_rsa_key()
        u = self.unit
        dns = [u.name] if _HOSTNAME.match(u.name) else []
        cert = build_host_certificate(ca_cert, ca_key, host_key, u.name, [u.host], dns, utc_now())
        tmp = self.dir.with_name(f".certs.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        atomic_write(tmp / "host" / f"{FACTORY_HOST_FILE}.key", key_pem(host_key), 0o600)
        atomic_write(tmp / "host" / FACTORY_HOST_FILE, certificate_pem([cert, ca_cert]), 0o644)
        atomic_write(tmp / "others" / FACTORY_CA_FILE, certificate_pem([ca_cert]), 0o644)
        try:
            os.rename(tmp, self.dir)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not self.dir.is_dir():
                raise
        _fsync_dir(self.dir.parent)
        u.log.info("cert_factory_provisioned", host_certificate=FACTORY_HOST_FILE, subject=u.name)

    def _load(self) -> None:
        for stale in self.dir.parent.glob(".certs.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        host: dict[str, StoredCert] = {}
        others: dict[str, StoredCert] = {}
        host_dir, others_dir = self.dir / "host", self.dir / "others"
        for path in sorted(host_dir.glob("*")) if host_dir.is_dir() else []:
            if path.name.startswith("."):
                path.unlink(missing_ok=True)  # a temporary file of an interrupted write
                continue
            if path.suffix == ".key":
                if not path.with_suffix("").exists():
                    path.unlink(missing_ok=True)  # the key of an import interrupted before its commit
                continue
            if not path.with_name(path.name + ".key").exists():
                continue
            certs = _read_pem(path)
            if certs:
                host[path.name] = StoredCert(path.name, "host", certs[0], tuple(certs[1:]), describe(certs[0]),
                                             path.name == FACTORY_HOST_FILE)
        for path in sorted(others_dir.glob("*")) if others_dir.is_dir() else []:
            if path.name.startswith("."):
                path.unlink(missing_ok=True)
                continue
            certs = _read_pem(path)
            if certs:
                others[path.name] = StoredCert(path.name, "other", certs[0], (), describe(certs[0]),
                                               path.name == FACTORY_CA_FILE)
        self._host, self._others = host, others
        self._loaded = True
        self._changed()

    def _changed(self) -> None:
        self._anchors = tuple(s.certificate for s in self._others.values())
        self._anchors_pem = certificate_pem(self._anchors).decode()
        self.generation += 1

    # -- reading --------------------------------------------------------------------------------------
    def host_certificates(self) -> list[StoredCert]:
        return list(self._host.values())

    def other_certificates(self) -> list[StoredCert]:
        return list(self._others.values())

    def trust_anchors(self) -> tuple[x509.Certificate, ...]:
        """Every certificate of ``Cert.OthersCertificatesInfo`` (what validation trusts)."""
        return self._anchors

    def anchors_pem(self) -> str:
        return self._anchors_pem

    def certificate_pem(self, kind: str, file_name: str) -> bytes:
        """The public certificate(s) of a stored file, for download. Never a key."""
        stored = self._table(kind).get(file_name)
        if stored is None:
            raise CertError("no-file", f"no {kind} certificate named {file_name}")
        return certificate_pem([stored.certificate, *stored.chain])

    def factory_ca_pem(self) -> bytes:
        """The emulator installation's factory CA certificate (what a lab installs to trust units)."""
        return (self.factory_dir / FACTORY_CA_FILE).read_bytes()

    def host_credentials(self, association: str, usage: str) -> tuple[Path, Path] | None:
        """(certificate file, key file) of the host certificate a service presents: one enabled for
        it in Cert.HostCertificateAssociation whose Usage allows ``usage`` (TlsServer/TlsClient);
        imported certificates before the factory one, then by file name."""
        enabled = {r["FileName"]: r.get(association, "Enable") for r in self.unit.config.rows(ASSOCIATION_TABLE)}
        for stored in sorted(self._host.values(), key=lambda s: (s.factory, s.file_name)):
            if enabled.get(stored.file_name, "Enable") != "Enable" or usage not in stored.info.usage:
                continue
            path = self.dir / "host" / stored.file_name
            return path, path.with_name(path.name + ".key")
        return None

    def ocsp_override(self, issuer: x509.Certificate) -> str | None:
        """Cert.CertificateAuthorities[<the issuer's file>].OverrideIssuedCertificateOcspUrl, if set."""
        names = [s.file_name for s in self._others.values() if s.certificate == issuer]
        for row in self.unit.config.rows(CA_TABLE):
            if row["FileName"] in names and row.get("OverrideIssuedCertificateOcspUrl"):
                return str(row["OverrideIssuedCertificateOcspUrl"])
        return None

    def dh_params_path(self) -> Path:
        path = self.tls_dir / "ffdhe2048.pem"
        if not path.exists():
            atomic_write(path, FFDHE2048_PEM, 0o644)
        return path

    def keylog_path(self) -> Path | None:
        """``<state_dir>/tls/keylog.txt`` (NSS key-log format, 0600) when the key log is on."""
        p = self.unit.catalog.param(KEYLOG_PARAM)
        on = self.unit.config.get(KEYLOG_PARAM) == "Enable" if p is not None else self.keylog_enabled
        if not on:
            return None
        path = self.tls_dir / "keylog.txt"
        if not path.exists():
            self.tls_dir.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        return path

    def policy(self, key: str) -> TlsPolicy:
        """The TLS policy of one service of this unit (see emulator.engines.cert.tls)."""
        pol = self._policies.get(key)
        if pol is None:
            pol = self._policies[key] = TlsPolicy(self.unit, key, self)
        return pol

    # -- unsecure transfer --------------------------------------------------------------------------
    def activate_unsecure_transfer(self, seconds: float = UNSECURE_TRANSFER_WINDOW_S) -> None:
        """"Activate unsecure certificate transfer": allow one host-certificate import over plain HTTP."""
        self._unsecure_until = self._monotonic() + seconds
        self.unit.log.warning("cert_unsecure_transfer_activated", seconds=seconds)

    @property
    def unsecure_transfer_active(self) -> bool:
        return self._unsecure_until is not None and self._monotonic() < self._unsecure_until

    def _require_unsecure_window(self) -> None:
        if not self.unsecure_transfer_active:
            raise CertError(
                "unsecure-transfer",
                "a host certificate (with its private key) cannot be transferred over plain HTTP: "
                "activate unsecure certificate transfer first, or use HTTPS",
            )

    # -- import / delete ------------------------------------------------------------------------------
    def import_host(
        self,
        data: bytes,
        password: str | bytes | None = None,
        *,
        file_name: str | None = None,
        over_plain_http: bool = False,
    ) -> str:
        """Install a host certificate with its key (PEM bundle or PKCS#12); the new FileName.
        CertError, store unchanged, on any problem."""
        try:
            if over_plain_http:
                self._require_unsecure_window()
            bundle = load_host_bundle(data, password)
            info = describe(bundle.certificate)
            for s in self._host.values():
                if s.info.fingerprint == info.fingerprint:
                    raise CertError("duplicate", f"this host certificate is already installed as {s.file_name}")
        except CertError as e:
            self._refused("host", e)
            raise
        name = safe_file_name(file_name or info.issued_to, self._host.keys())
        path = self.dir / "host" / name
        atomic_write(path.with_name(name + ".key"), key_pem(bundle.key), 0o600)
        atomic_write(path, certificate_pem([bundle.certificate, *bundle.chain]), 0o644)
        self._host[name] = StoredCert(name, "host", bundle.certificate, bundle.chain, info)
        if over_plain_http:
            self._unsecure_until = None
        self._after_change("imported", name, "host", info)
        return name

    def import_other(self, data: bytes, *, file_name: str | None = None) -> list[str]:
        """Install certificates (PEM, a chain, or DER) in the Others store; their new FileNames."""
        try:
            certs = load_certificates(data)
            known = {s.info.fingerprint: s.file_name for s in self._others.values()}
            fresh = [(c, describe(c)) for c in certs]
            fresh = [(c, i) for c, i in fresh if i.fingerprint not in known]
            if not fresh:
                where = ", ".join(sorted({known[describe(c).fingerprint] for c in certs}))
                raise CertError("duplicate", f"already installed as {where}")
        except CertError as e:
            self._refused("other", e)
            raise
        names: list[str] = []
        taken = set(self._others)
        staged: list[tuple[str, x509.Certificate, CertInfo]] = []
        for i, (cert, info) in enumerate(fresh):
            wanted = file_name if (file_name and i == 0) else info.issued_to
            name = safe_file_name(wanted, taken)
            taken.add(name)
            staged.append((name, cert, info))
        for name, cert, info in staged:
            atomic_write(self.dir / "others" / name, certificate_pem([cert]), 0o644)
            self._others[name] = StoredCert(name, "other", cert, (), info)
            names.append(name)
        for name, _cert, info in staged:
            self._after_change("imported", name, "other", info, sync=False)
        self._sync_rows()
        return names

    def delete(self, kind: str, file_name: str) -> None:
        """Delete a stored certificate (and its key): the ``Delete`` row command."""
        table = self._table(kind)
        stored = table.get(file_name)
        if stored is None:
            raise CertError("no-file", f"no {kind} certificate named {file_name}")
        path = self.dir / ("host" if kind == "host" else "others") / file_name
        path.unlink(missing_ok=True)  # the certificate first: a key alone is a leftover removed at load
        if kind == "host":
            path.with_name(file_name + ".key").unlink(missing_ok=True)
        _fsync_dir(path.parent)
        del table[file_name]
        self._after_change("deleted", file_name, kind, stored.info)

    async def import_from_url(
        self, url: str, kind: str = "other", password: str | bytes | None = None, *, file_name: str | None = None
    ) -> str | list[str]:
        """Transfer a certificate file from an http(s) URL and import it. HTTPS honours
        ``Cert.TransferHttpsTlsVersion``/``CipherSuite`` (and validates the server: HostName,
        LocallyTrusted — the Cert service has no parameter of its own for that). A host certificate
        over plain HTTP needs the unsecure-transfer window, checked before anything is fetched."""
        parts = parse_transfer_url(url)
        scheme, _host, _port, target = parts
        plain = scheme == "http"
        if kind == "host" and plain:
            try:
                self._require_unsecure_window()
            except CertError as e:
                self._refused("host", e)
                raise
        data = await fetch(parts, open_tls=self._open_tls, local_host=self.unit.host, agent=f"DGW/{self.unit.version}",
                           timeout=self.transfer_timeout)
        name = file_name or target.rsplit("/", 1)[-1].split("?", 1)[0] or None
        if kind == "host":
            return self.import_host(data, password, file_name=name, over_plain_http=plain)
        return self.import_other(data, file_name=name)

    async def _open_tls(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self.policy("Cert").connect(host, port, timeout=self.transfer_timeout)

    # -- table rows -----------------------------------------------------------------------------------
    def _table(self, kind: str) -> dict[str, StoredCert]:
        if kind not in ("host", "other"):
            raise ValueError(f"kind is host or other, not {kind!r}")
        return self._host if kind == "host" else self._others

    def _time(self, when: dt.datetime) -> str:
        return self.unit.local_time(when.timestamp())

    def _row(self, s: StoredCert) -> dict[str, Any]:
        return {
            "FileName": s.file_name,
            "IssuedTo": s.info.issued_to,
            "IssuedBy": s.info.issued_by,
            "ValidFrom": self._time(s.info.valid_from),
            "ValidTo": self._time(s.info.valid_to),
            "Usage": s.info.usage,
        }

    def _host_rows(self) -> list[dict[str, Any]]:
        return [self._row(s) for s in self._host.values()]

    def _others_rows(self) -> list[dict[str, Any]]:
        return [dict(self._row(s), CertificateAuthority="Yes" if s.info.certificate_authority else "No")
                for s in self._others.values()]

    def _sync_rows(self) -> None:
        """One Cert.HostCertificateAssociation row per host certificate and one
        Cert.CertificateAuthorities row per CA certificate, keeping the values already set."""
        c = self.unit.config
        for table, names in (
            (ASSOCIATION_TABLE, sorted(self._host)),
            (CA_TABLE, sorted(n for n, s in self._others.items() if s.info.certificate_authority)),
        ):
            current = {r["FileName"]: r for r in c.rows(table)}
            c.set_status_rows(table, [current.get(n) or {"FileName": n} for n in names])

    def _on_config_change(self, ev: ChangeEvent) -> None:
        if ev.kind == "reset":
            self._sync_rows()
            self.generation += 1
        elif ev.param.table == ASSOCIATION_TABLE or ev.param.name == KEYLOG_PARAM:
            self.generation += 1

    # -- notifications ---------------------------------------------------------------------------------
    def _after_change(self, what: str, name: str, kind: str, info: CertInfo, sync: bool = True) -> None:
        self._changed()
        if sync:
            self._sync_rows()
        self.unit.log.info(f"cert_{what}", kind=kind, file_name=name, issued_to=info.issued_to)
        if what == "imported":
            # New trust matters to the services that validate peers; a new host certificate also to the
            # servers that present one. Like the hardware, they take it when restarted.
            for svc in (*CERT_USERS, "Web") if kind == "host" else CERT_USERS:
                if svc in self.unit.services:
                    self.unit.config.mark_restart(svc)
        self._notify(9010 if what == "imported" else 9011, kind="Host" if kind == "host" else "Other",
                     file_name=name, issued_to=info.issued_to)

    def _refused(self, kind: str, error: CertError) -> None:
        self.unit.log.warning("cert_import_refused", kind=kind, error_kind=error.kind, error=error.message)
        self._notify(9012, kind="Host" if kind == "host" else "Other", reason=error.message)

    def warn_once(self, key: Hashable, msg_id: int, **fields: Any) -> None:
        """A warning notification raised once per engine lifetime per key (capability warnings)."""
        if key in self._warned:
            return
        self._warned.add(key)
        self.unit.log.warning("tls_capability", msg_id=msg_id, **fields)
        self._notify(msg_id, **fields)

    def _notify(self, msg_id: int, **fields: Any) -> None:
        try:
            get_notification("Cert", msg_id)
        except KeyError:  # requested catalog entry not there yet: the structlog line above stands
            return
        self.unit.notify("Cert", msg_id, **fields)


def _read_pem(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return []


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
