"""The TLS parameters of each client of the certificate store, parameter by parameter: what
``emulator/engines/cert/context.py`` reads for a script transfer, a configuration image, a firmware pack, a capture
upload, TR-069 and a certificate import (version floor, cipher set, validation, trust level), and the host
certificate associations that let a service present the unit's certificate (``Cert.HostCertificateAssociation``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.engines.cert.context import SERVICES, read_settings
from emulator.engines.cert.engine import FACTORY_HOST_FILE, CertEngine
from emulator.engines.nlm import NlmEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.cert_validation import Level, TrustLevel
from firmware_model.profiles import get_profile
from tests.helpers.units import configured

# key of SERVICES -> (version, cipher suite, validation or None, trust level or None)
TLS_PARAMETERS = {
    "Conf": ("Conf.ScriptsTransferTlsVersion", "Conf.ScriptsTransferCipherSuite",
             "Conf.ScriptsTransferCertificateValidation", "Conf.ScriptsTransferCertificateTrustLevel"),
    "ConfImage": ("Conf.ImageTransferTlsVersion", "Conf.ImageTransferCipherSuite",
                  "Conf.ScriptsTransferCertificateValidation", "Conf.ScriptsTransferCertificateTrustLevel"),
    "Fpu": ("Fpu.MfpTransferTlsVersion", "Fpu.MfpTransferCipherSuite", "Fpu.MfpTransferCertificateValidation",
            "Fpu.MfpTransferCertificateTrustLevel"),
    "Nlm": ("Nlm.PCaptureTransferTlsVersion", "Nlm.PCaptureTransferCipherSuite",
            "Nlm.PCaptureTransferCertificateValidation", "Nlm.PCaptureTransferCertificateTrustLevel"),
    "Cwmp": ("Cwmp.TransportHttpsTlsVersion", "Cwmp.TransportHttpsCipherSuite", "Cwmp.TransportCertificateValidation",
             None),
    "Cert": ("Cert.TransferHttpsTlsVersion", "Cert.TransferHttpsCipherSuite", None, None),
}


@pytest.mark.parametrize("key", list(TLS_PARAMETERS))
def test_each_transfer_reads_its_own_tls_parameters(tmp_path: Path, key: str) -> None:
    c = configured(tmp_path)
    version, suite, validation, trust = TLS_PARAMETERS[key]
    before = read_settings(c, SERVICES[key])
    assert (before.floor, before.cipher_set, before.level, before.trust) == (
        "TLSv1", "CS1", Level.HOST_NAME, TrustLevel.LOCALLY_TRUSTED)
    c.set(version, "TLSv1_2")
    c.set(suite, "CS3")
    if validation is not None:
        c.set(validation, "NoValidation")
    if trust is not None:
        c.set(trust, "OcspMandatory")
    got = read_settings(c, SERVICES[key])
    assert (got.floor, got.cipher_set) == ("TLSv1_2", "CS3")
    assert got.level == (Level.NO_VALIDATION if validation else Level.HOST_NAME)
    assert got.trust == (TrustLevel.OCSP_MANDATORY if trust else TrustLevel.LOCALLY_TRUSTED)
    # another client's settings did not move
    other = next(k for k in TLS_PARAMETERS if TLS_PARAMETERS[k][0] != version)
    assert read_settings(c, SERVICES[other]).floor == "TLSv1"


@pytest.mark.parametrize("association", ["Nlm", "Conf", "Fpu", "Cwmp", "Web", "Sip", "Cert"])
async def test_host_certificate_association_per_service(tmp_path: Path, association: str) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path / "u1", ports=PortPolicy(mode="auto"),
                fsync=False)
    unit.nlm = NlmEngine(unit)
    unit.attach(unit.nlm)
    engine = CertEngine(unit, tmp_path / "factory")
    unit.attach(engine)
    await unit.start()
    try:
        found = engine.host_credentials(association, "TlsClient")
        assert found is not None and found[0].name == FACTORY_HOST_FILE
        unit.config.set(f"Cert.HostCertificateAssociation[{FACTORY_HOST_FILE}].{association}", "Disable")
        assert engine.host_credentials(association, "TlsClient") is None  # this service presents none now
        other = "Web" if association != "Web" else "Sip"
        assert engine.host_credentials(other, "TlsClient") is not None
    finally:
        await unit.stop()
