"""The factory credentials of an emulator installation: RSA keys made off the event loop, and the one
factory CA every unit's first-boot host certificate is signed by (``Cert`` service, first boot).

Every suite of CS1/CS2/CS3 authenticates with RSA, so host keys are RSA-2048. The factory CA
(``factory-ca.pem`` / ``factory-ca.key`` in a shared directory) is created once under an exclusive
``flock``, so that 100 units booting together — threads or processes — create exactly one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.runtime.keygen import new_rsa_key_pem
from firmware_model.certs import PrivateKey, build_ca_certificate, certificate_pem, key_pem
from firmware_model.store import atomic_write

__all__ = ["FACTORY_CA_FILE", "FACTORY_CA_KEY", "generate_rsa_key", "load_or_create_factory_ca", "utc_now"]

FACTORY_CA_FILE = "factory-ca.pem"
FACTORY_CA_KEY = "factory-ca.key"


def _new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


_pending_keys = 0
_key_pool: ProcessPoolExecutor | None = None


async def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key (about 80 ms of CPU for 2048 bits, with the GIL held).

    One key is made in a worker thread. When several units boot at once (a lab's first start),
    keys are made in a small process pool so that every core works on them: 100 units' keys take
    about a second per core instead of eight seconds on one."""
    global _pending_keys, _key_pool
    _pending_keys += 1
    try:
        if _pending_keys < 3 and _key_pool is None:
            return await asyncio.to_thread(_new_rsa_key, bits)
        if _key_pool is None:
            _key_pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=mp.get_context("spawn"))
        pem = await asyncio.get_running_loop().run_in_executor(_key_pool, new_rsa_key_pem, bits)
        # Our own freshly made key: the (costly) RSA consistency check adds nothing here.
        key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    finally:
        _pending_keys -= 1
        if _pending_keys == 0 and _key_pool is not None:
            _key_pool.shutdown(wait=False)
            _key_pool = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_FACTORY_CA_CACHE: dict[str, tuple[tuple[bytes, bytes], tuple[x509.Certificate, PrivateKey]]] = {}


def load_or_create_factory_ca(directory: Path, bits: int = 2048) -> tuple[x509.Certificate, PrivateKey]:
    """The installation's factory CA, created once. Race-safe across threads and processes: the
    creator holds an exclusive flock on ``factory-ca.lock``; the key is written before the
    certificate, whose presence means "complete"."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / FACTORY_CA_FILE, directory / FACTORY_CA_KEY

    def load() -> tuple[x509.Certificate, PrivateKey] | None:
        if not cert_path.exists():
            return None
        cert_bytes, key_bytes = cert_path.read_bytes(), key_path.read_bytes()
        cached = _FACTORY_CA_CACHE.get(str(directory))
        if cached is not None and cached[0] == (cert_bytes, key_bytes):
            return cached[1]  # loading (and checking) an RSA key costs ~40 ms; 100 units share one CA
        cert = x509.load_pem_x509_certificate(cert_bytes)
        key = serialization.load_pem_private_key(key_bytes, None)
        assert isinstance(key, rsa.RSAPrivateKey)
        _FACTORY_CA_CACHE[str(directory)] = ((cert_bytes, key_bytes), (cert, key))
        return cert, key

    got = load()
    if got is not None:
        return got
    fd = os.open(directory / "factory-ca.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        got = load()
        if got is not None:
            return got
        key = _new_rsa_key(bits)
        cert = build_ca_certificate(key, "dgw-emulator factory CA", utc_now())
        atomic_write(key_path, key_pem(key), 0o600)
        atomic_write(cert_path, certificate_pem([cert]), 0o644)
        return cert, key
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
