"""A real softphone beside a unit, shared by the baresip tests: baresip (Debian's ``baresip-core``) registered to a
real Kamailio over TLS with mandatory SRTP (SDES), and one 4102 (Media/Security Secure, SDES) registered to the same
proxy over TLS.

Kamailio listens on PROXY_HOST, not 127.0.0.1: the Kamailio fixture declares alias="127.0.0.1" (any port), and
baresip 1.0.0 does not bind its outgoing TLS connection, so it reaches a proxy on 127.0.0.x from 127.0.0.1; with the
proxy there too, the Contact Kamailio rewrites to that connection (127.0.0.1:<port>;alias=...) is "myself" for
loose_route(), which then takes the in-dialog ACK for strict routing and loops it back to itself: baresip never gets
the ACK. On its own address the proxy tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.engines.sipep.calls import CallManager
from emulator.runtime.unit import Unit
from testkit.baresip import Baresip, BaresipCtrl, start_baresip, wait_registered, write_dtmf_wav, write_tone_wav
from testkit.kamailio import Kamailio, start_kamailio
from testkit.pki import Pki
from tests.interop.siplab import USERS, Pkis, reg_state, secure_unit, sipep, wait_for

__all__ = ["BARESIP_PASSWORD", "BARESIP_TONE", "BARESIP_USER", "DIGITS", "PROXY_HOST", "TONE_LEVEL", "Lab", "Phone",
           "baresip_pkis", "start_lab"]

BARESIP_USER, BARESIP_PASSWORD = "baresip", "baresippw"
BARESIP_TONE = 697.0  # Hz, the WAV baresip plays
TONE_LEVEL = -10.0  # dBm0
DIGITS = "159#"  # what baresip's source plays in band with source "dtmf"
PROXY_HOST = "127.0.0.10"


def baresip_pkis(tmp_path_factory: pytest.TempPathFactory) -> Pkis:
    """As the SipEp tests' PKI, for a proxy on PROXY_HOST; plus baresip's own certificate and key in one PEM
    (``baresip.pem``: the way baresip wants them)."""
    d = tmp_path_factory.mktemp("baresip-pki")
    pki = Pki("rsa")
    ca = pki.ca("SIP Lab CA")
    server = pki.leaf(ca, PROXY_HOST, dns=("localhost",), ips=(PROXY_HOST,)).write(d, "server")
    wrong = pki.leaf(ca, "proxy.example", dns=("proxy.example",), ips=()).write(d, "wrong")
    phone = pki.leaf(ca, "baresip", dns=("localhost",), ips=("127.0.0.1",))
    (d / "baresip.pem").write_bytes(phone.pem() + phone.key_pem())
    (d / "baresip.pem").chmod(0o600)
    return Pkis(d, ca, server, wrong)


@dataclass
class Phone:
    """A running baresip and its ctrl_tcp connection."""

    proc: Baresip
    ctrl: BaresipCtrl

    def log(self) -> str:
        return f"\n--- baresip log ({self.proc.log_path}) ---\n{self.proc.log()}"


@dataclass
class Lab:
    kamailio: Kamailio
    unit: Unit
    phone: Phone

    @property
    def calls(self) -> CallManager:
        calls = sipep(self.unit).calls
        assert calls is not None
        return calls

    def log(self) -> str:
        return self.phone.log()


async def start_lab(tmp_path: Path, pkis: Pkis, kamailios: list[Kamailio], units: list[Unit], phones: list[Phone],
                    *, codec: str = "PCMU", source: str = "tone") -> Lab:
    """Kamailio on PROXY_HOST, baresip (auto-answer, `codec` its only codec, `source` "tone" or "dtmf" what it
    plays) and the unit (offering and accepting `codec` only) registered to it over TLS."""
    crt, key = pkis.server
    k = start_kamailio(
        tmp_path / "kamailio", crt, key, {**USERS, BARESIP_USER: BARESIP_PASSWORD}, tls_only=True, host=PROXY_HOST
    )
    kamailios.append(k)
    bdir = tmp_path / "baresip"
    bdir.mkdir()
    ca = bdir / "ca.crt"
    ca.write_bytes(pkis.ca.pem())
    if source == "dtmf":
        wav = write_dtmf_wav(bdir / "digits.wav", DIGITS)
    else:
        wav = write_tone_wav(bdir / f"tone{BARESIP_TONE:.0f}.wav", BARESIP_TONE, 20.0, level_dbm0=TONE_LEVEL,
                             rate=16000 if codec == "G722" else 8000)
    proc = start_baresip(bdir, user=BARESIP_USER, password=BARESIP_PASSWORD, proxy=k.tls_address, cafile=ca,
                         certificate=pkis.dir / "baresip.pem", source=wav, answermode="auto", codecs=codec)
    try:
        ctrl = await BaresipCtrl.connect(proc.host, proc.ctrl_port)
    except BaseException:
        proc.stop()
        raise
    phone = Phone(proc, ctrl)
    phones.append(phone)
    unit = await secure_unit(
        units, tmp_path, pkis, profile="4102", user="alice", registrar=k.tls_address, key_management="Sdes"
    )
    if codec != "PCMU":  # the unit offers and accepts that codec only (baresip 1.0 answers with all it has)
        stems = {"G722": "G722", "G726-32": "G726r32kbps"}
        for stem in ("G711Mulaw", "G711Alaw", "G722", "G726r32kbps", "G729"):
            unit.config.set(f"Mipt.DefaultCodec{stem}VoiceEnable", "Enable" if stems[codec] == stem else "Disable")
    await wait_registered(proc, ctrl)
    await wait_for(lambda: reg_state(unit) == "Registered", what="the unit registered")
    return Lab(k, unit, phone)
