"""Units and proxies for the SIP interop tests: a real Kamailio with TLS (testkit.kamailio) and units built the
way ``emulator.lab`` builds them, with fast SIP timers. The pytest fixtures over these (``pkis``, ``kamailios``,
``units``) are in ``tests/interop/conftest.py``.

Units live on 127.0.0.2, 127.0.0.3... so that each can use port 16000 as on the hardware."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.engines.cert.engine import CertEngine
from emulator.engines.crout.engine import CRoutEngine
from emulator.engines.epadm import EpAdmEngine
from emulator.engines.mipt.call_media import CallMedia
from emulator.engines.nlm import NlmEngine
from emulator.engines.sipep.engine import SipEpEngine
from emulator.ops import actions
from emulator.protocols.sip.transaction import TimerConfig
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.kamailio import Kamailio, start_kamailio
from testkit.pki import Issued, Pki

__all__ = [
    "EPS", "FAST", "USERS", "Pkis", "heard", "kamailio", "lab_unit", "make_pkis", "make_unit", "nlm_cert_unit", "pair",
    "reg_state", "secure_unit", "sipep", "sipep_notes", "stream", "tones_heard_both_ways",
    "wait_for",
]

USERS = {"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
FAST = TimerConfig(t1=0.02, t2=0.2, t4=0.2, d=0.2)
EPS = {"4102": "Phone-Fax1", "C740": "Bri1"}


@dataclass
class Pkis:
    dir: Path
    ca: Issued
    server: tuple[Path, Path]
    wrong_name: tuple[Path, Path]


def make_pkis(d: Path) -> Pkis:
    """A lab CA, the proxy's certificate (127.0.0.1, localhost) and one that names another host."""
    pki = Pki("rsa")
    ca = pki.ca("SIP Lab CA")
    server = pki.leaf(ca, "127.0.0.1", dns=("localhost",), ips=("127.0.0.1",)).write(d, "server")
    wrong = pki.leaf(ca, "proxy.example", dns=("proxy.example",), ips=()).write(d, "wrong")
    return Pkis(d, ca, server, wrong)


def kamailio(kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, *, cert: str = "server", tls_only: bool = False,
             defines: tuple[str, ...] = (), tls_port: int | None = None) -> Kamailio:
    crt, key = pkis.server if cert == "server" else pkis.wrong_name
    k = start_kamailio(tmp_path / f"kamailio{len(kamailios)}", crt, key, USERS, tls_only=tls_only, defines=defines,
                       tls_port=tls_port)
    kamailios.append(k)
    return k


def nlm_cert_unit(name: str, tmp_path: Path, pkis: Pkis, *, host: str, profile: str = "4102") -> Unit:
    """A unit (not started) on ``host`` with the Nlm engine (notifications, syslog, the packet capture) and the Cert
    engine (its factory files under ``pkis.dir``), the engines a lab unit and a capture unit share."""
    u = Unit(name=name, profile=get_profile(profile), state_dir=tmp_path / name, host=host,
             ports=PortPolicy(mode="auto"), fsync=False)
    nlm = NlmEngine(u)
    u.attach(nlm)
    u.nlm = nlm
    cert = CertEngine(u, pkis.dir / "factory")
    u.attach(cert)
    u.cert = cert
    return u


async def lab_unit(units: list[Unit], tmp_path: Path, pkis: Pkis, *, user: str, registrar: str, profile: str = "4102",
                   key_management: str | None = None, tls: bool = True, settings: dict[str, Any] | None = None,
                   synchronized: bool = True, timers: TimerConfig = FAST, routing: bool = False) -> Unit:
    """A unit registering ``user`` to ``registrar``. With ``key_management`` it has the media engine and EpAdm and
    makes secure calls (Media/Security Secure with that key management); without, plain audio and SipEp at Info.
    With ``routing``, its calls go through the call router (the CRout engine), as in a lab."""
    secure = key_management is not None
    n = len(units)
    name = f"{'s' if secure else 'u'}{n}"
    u = nlm_cert_unit(name, tmp_path, pkis, host=f"127.0.0.{n + 2}", profile=profile)
    if secure:
        media = CallMedia.for_unit(u)
        u.nlm.capture.media = media.engine  # as emulator.lab wires it: the capture's SRTP keys
        engine = SipEpEngine(u, timers=timers, poll_s=0.05, media=media)
        media.control = engine.calls  # as emulator.lab wires it: the fax machine's re-INVITEs and hang-ups
        u.attach(engine)
        u.attach(EpAdmEngine(u))
    else:
        u.attach(SipEpEngine(u, timers=timers, poll_s=0.05))
    if routing:
        u.attach(CRoutEngine(u, sipep(u).calls))  # as emulator.lab wires it
    c = u.config
    ep = EPS[profile]
    if not secure:
        c.set("SipEp.MinSeverity", "Info")
    c.set("SipEp.TransportConfig[default].TlsEnable", "Enable" if tls else "Disable")
    c.set("SipEp.DefaultStaticRegistrarServerHost", registrar)
    c.set("SipEp.DefaultStaticProxyHomeDomainHost", registrar)
    c.set(f"SipEp.UserAgent[{ep}].Username", user)
    c.set(f"SipEp.UserAgent[{ep}].Register", "Enable")
    c.add_row("SipEp.Authentication", {"Username": user, "Password": USERS.get(user, "wrong")})
    if secure:
        c.set("Mipt.DefaultSecurityRtpMode", "Secure")  # Media/Security: Mode Secure
        c.set("Mipt.DefaultSecurityKeyManagement", key_management)
        c.set("Mipt.MinSeverity", "Info")
    for param, value in (settings or {}).items():
        c.set(param, value)
    units.append(u)
    await u.start()
    u.cert.import_other(pkis.ca.pem())
    u.clock.synchronized = synchronized
    return u


async def make_unit(units: list[Unit], tmp_path: Path, pkis: Pkis, *, user: str, registrar: str, tls: bool = True,
                    settings: dict[str, Any] | None = None, synchronized: bool = True,
                    timers: TimerConfig = FAST) -> Unit:
    """A 4102 with plain audio (SipEp notifications from Info up)."""
    return await lab_unit(units, tmp_path, pkis, user=user, registrar=registrar, tls=tls, settings=settings,
                          synchronized=synchronized, timers=timers)


async def secure_unit(units: list[Unit], tmp_path: Path, pkis: Pkis, *, profile: str, user: str, registrar: str,
                      key_management: str) -> Unit:
    """A unit with the media engine making SRTP calls keyed by ``key_management`` (Sdes or Mikey)."""
    return await lab_unit(units, tmp_path, pkis, user=user, registrar=registrar, profile=profile,
                          key_management=key_management)


async def pair(units: list[Unit], kamailios: list[Kamailio], tmp_path: Path, pkis: Pkis, km_a: str,
               km_b: str) -> tuple[Unit, Unit]:
    """A 4102 (alice) and a C740 (bob) registered over TLS to one TLS-only Kamailio."""
    k = kamailio(kamailios, tmp_path, pkis, tls_only=True)
    a = await secure_unit(units, tmp_path, pkis, profile="4102", user="alice", registrar=k.tls_address,
                          key_management=km_a)
    b = await secure_unit(units, tmp_path, pkis, profile="C740", user="bob", registrar=k.tls_address,
                          key_management=km_b)
    await wait_for(lambda: reg_state(a) == "Registered" and reg_state(b) == "Registered", what="both registered")
    return a, b


def stream(call: Any) -> Any:
    return call.media.stream


def sipep(u: Unit) -> SipEpEngine:
    engine = u.services["SipEp"].engine
    assert isinstance(engine, SipEpEngine)
    return engine


def heard(s: Any, f: float) -> bool:
    """The stream ``s`` receives a tone of ``f`` Hz (within 15 Hz) above -30 dBm0."""
    m = s.measure()
    return m.frequency is not None and abs(m.frequency - f) < 15 and m.level_dbm0 > -30


async def tones_heard_both_ways(call: Any, incoming: Any, what: str) -> None:
    """The caller's side plays 1 kHz, the called side 440 Hz; waits (6 s) until each hears the other's tone."""
    stream(call).play_tone(1000.0)
    stream(incoming).play_tone(440.0)
    await wait_for(lambda: heard(stream(incoming), 1000.0) and heard(stream(call), 440.0), timeout=6, what=what)


async def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


def endpoint_action(u: Unit, name: str, endpoint: str = "Phone-Fax1", **args: Any) -> Any:
    """Run the endpoint action `name` (emulator.ops.actions, as every face does) with `args`."""
    action = actions.find(name)
    assert action is not None, name
    return action.run(actions.Invocation(u, endpoint, args))


def reg_state(u: Unit, index: int = 1) -> str:
    rows = {r["Index"]: r for r in u.config.rows("SipEp.RegistrationStatus")}
    return str(rows[index]["State"]) if index in rows else ""


def sipep_notes(u: Unit) -> list[tuple[int, str]]:
    return [(e.msg_id, e.message) for e in u.notifications if e.service == "SipEp"]
