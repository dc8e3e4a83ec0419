"""SipEp parameters as the SIP endpoint reads them, parameter by parameter (engines/sipep/settings.py and the codec
policy): registration timing (Default and per gateway), the gateway's domain and media networks, the outbound
proxy of a gateway, the failover conditions of a gateway, credential selection by user name and realm, the
User-Agent header, the SDP interop settings of answers, the unit's own registrations, the RTCP XR collector of
a gateway, the local ports of persistent links and the TCP/TLS connect timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulator.engines.sipep.engine import SipEpEngine
from emulator.engines.sipep.settings import Settings
from emulator.engines.sipep.vq_publish import collector_uri
from emulator.lab import build_unit
from emulator.protocols.media.codec_policy import policy_from_config
from emulator.runtime.spec import UnitSpec
from tests.helpers.units import configured

MACROS = {"product": "Mediatrix 4102", "version": "49.0", "profile": "4102", "mac": "0090f8000001", "serial": "s1"}


def _settings(tmp_path: Path) -> Settings:
    return Settings(configured(tmp_path), "127.0.0.2", lambda: MACROS)


def test_default_registration_timing(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    s.config.set("SipEp.DefaultRegistrationRefreshTime", 45)
    s.config.set("SipEp.DefaultRegistrationExpirationValue", 1800)
    s.config.set("SipEp.DefaultRegistrationProposedExpirationValue", 600)
    s.config.set("SipEp.DefaultRegistrationRetryTime", 30)
    gw = s.gateways()["default"]
    assert (gw.refresh_time, gw.expiration, gw.proposed, gw.retry_time) == (45, 1800, 600, 30)


def test_gateway_registration_timing_and_registrar(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    c = s.config
    c.set("SipEp.GwSpecificRegistration[default].RefreshTime", 40)
    c.set("SipEp.GwSpecificRegistration[default].ExpirationValue", 900)
    c.set("SipEp.GwSpecificRegistration[default].ProposedExpirationValue", 300)
    c.set("SipEp.GwSpecificRegistration[default].RetryTime", 20)
    c.set("SipEp.GwSpecificRegistration[default].ServerHost", "127.0.0.9:5080")
    assert s.gateways()["default"].refresh_time == 60  # the gateway's row is not in force yet
    c.set("SipEp.GwSpecificRegistration[default].EnableConfig", "Enable")
    gw = s.gateways()["default"]
    assert (gw.refresh_time, gw.expiration, gw.proposed, gw.retry_time) == (40, 900, 300, 20)
    assert gw.registrar is not None and (gw.registrar.host, gw.registrar.port) == ("127.0.0.9", 5080)


def test_gateway_domain_media_networks_and_outbound_proxy(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    c = s.config
    c.set("SipEp.DefaultStaticProxyHomeDomainHost", "127.0.0.7:5060")
    assert s.gateways()["default"].domain == "127.0.0.7"  # no domain: the proxy's host
    c.set("SipEp.InteropRegisterHomeDomainOverride", "override.example")
    assert s.gateways()["default"].domain == "override.example"
    c.set("SipEp.Gateway[default].Domain", "gw.example")
    c.set("SipEp.Gateway[default].MediaNetworks", "Lan1")
    gw = s.gateways()["default"]
    assert (gw.domain, gw.media_networks) == ("gw.example", "Lan1")
    c.set("SipEp.GwSpecificProxy[default].OutboundHost", "127.0.0.8:5070")
    c.set("SipEp.GwSpecificProxy[default].EnableConfig", "Enable")
    gw = s.gateways()["default"]
    assert gw.outbound is not None and (gw.outbound.host, gw.outbound.port) == ("127.0.0.8", 5070)
    assert gw.hop_server() == gw.outbound  # requests go to the outbound proxy first


def test_gateway_failover_conditions(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    c = s.config
    assert s.conditions("default").fails_over("REGISTER", 503)  # 5xxOnRegistration (factory)
    assert not s.conditions("default").fails_over("INVITE", 503)
    c.set("SipEp.GwSpecificFailover[default].SipFailoverConditions", "5xxOnInvite")
    assert not s.conditions("default").fails_over("INVITE", 503)  # not in force yet
    c.set("SipEp.GwSpecificFailover[default].EnableConfig", "Enable")
    assert s.conditions("default").fails_over("INVITE", 503)
    assert not s.conditions("default").fails_over("REGISTER", 503)


def test_credentials_by_user_name_and_realm(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    c = s.config
    c.add_row("SipEp.Authentication", {"CriteriaSelection": "Username", "UsernameCriteria": "1001",
                                        "Username": "auth1001", "Password": "pw1"})
    c.add_row("SipEp.Authentication", {"CriteriaSelection": "Unit", "Username": "unit", "Password": "pw0",
                                        "ValidateRealm": "Enable", "Realm": "lab.example"})
    assert s.credentials_for("Phone-Fax1", "default", "1001", "any") == ("auth1001", "pw1")
    assert s.credentials_for("Phone-Fax1", "default", "1002", "lab.example") == ("unit", "pw0")
    assert s.credentials_for("Phone-Fax1", "default", "1002", "other.example") is None  # realm refused
    c.set("SipEp.Authentication[2].ValidateRealm", "Disable")
    assert s.credentials_for("Phone-Fax1", "default", "1002", "other.example") == ("unit", "pw0")
    c.set("SipEp.Authentication[1].UsernameCriteria", "1002")
    assert s.credentials_for("Phone-Fax1", "default", "1002", "x") == ("auth1001", "pw1")


def test_user_agent_header_format(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert s.user_agent() == "Mediatrix 4102/v49.0 4102"
    s.config.set("SipEp.InteropUaHeaderFormat", "DGW %mac% %serial% 100%%")
    assert s.user_agent() == "DGW 0090f8000001 s1 100%"
    s.config.set("SipEp.InteropSendUaHeaderEnable", "Disable")
    assert s.user_agent() is None


def test_answer_interop_settings(tmp_path: Path) -> None:
    c = configured(tmp_path)
    p = policy_from_config(c)
    assert (p.dtmf_pt_from_answer, p.allow_less_media) == (False, False)
    c.set("SipEp.InteropUseDtmfPayloadTypeFoundInAnswer", "Enable")
    c.set("SipEp.InteropAllowLessMediaInResponse", "Enable")
    p = policy_from_config(c)
    assert (p.dtmf_pt_from_answer, p.allow_less_media) == (True, True)


def test_unit_registrations_are_registered_on_their_gateway(tmp_path: Path) -> None:
    running = build_unit(UnitSpec(name="u1", profile="4102", state_dir=tmp_path, port_mode="auto", fsync=False))
    engine = running.unit.services["SipEp"].engine
    assert isinstance(engine, SipEpEngine)
    c = running.unit.config

    def unit_regs() -> list[tuple[str, str, str]]:
        return [(r.gateway, r.endpoint, r.username) for r in engine.regs.read(engine.settings.gateways())
                if r.endpoint == ""]

    assert unit_regs() == []
    c.add_row("SipEp.UnitRegistrations", {"Username": "trunk1", "GatewayName": "default"})
    c.add_row("SipEp.UnitRegistrations", {"Username": "trunk2", "GatewayName": "nosuchgateway"})
    assert unit_regs() == [("default", "", "trunk1")]  # a registration on an unknown gateway is left out
    c.set("SipEp.UnitRegistrations[2].GatewayName", "default")
    c.set("SipEp.UnitRegistrations[1].Username", "trunk0")
    assert unit_regs() == [("default", "", "trunk0"), ("default", "", "trunk2")]
    c.set("SipEp.UnitRegistrations.Delete[Index=1]", "Delete")
    assert unit_regs() == [("default", "", "trunk2")]


def test_gateway_rtcp_xr_collector(tmp_path: Path) -> None:
    c = configured(tmp_path)
    c.set("SipEp.DefaultStaticRtcpXrCollectorUri", "sip:collector@127.0.0.5")
    assert collector_uri(c.get, c.rows, "default") == "sip:collector@127.0.0.5"
    c.set("SipEp.GwSpecificRtcpXr[default].CollectorUri", "sip:gw@127.0.0.6")
    assert collector_uri(c.get, c.rows, "default") == "sip:collector@127.0.0.5"  # not in force yet
    c.set("SipEp.GwSpecificRtcpXr[default].EnableConfig", "Enable")
    assert collector_uri(c.get, c.rows, "default") == "sip:gw@127.0.0.6"


def _sipep(tmp_path: Path) -> tuple[Any, SipEpEngine]:
    running = build_unit(UnitSpec(name="u1", profile="4102", state_dir=tmp_path, port_mode="auto", fsync=False))
    engine = running.unit.services["SipEp"].engine
    assert isinstance(engine, SipEpEngine)
    return running.unit, engine


def test_persistent_link_local_ports(tmp_path: Path) -> None:
    unit, engine = _sipep(tmp_path)
    unit.config.set("SipEp.TransportPersistentBasePort", 20000)
    engine.link_set.start()  # read when SipEp starts
    ports = engine.link_set.ports.ports()
    assert ports[:3] == [20000, 20001, 20002] and len(ports) == 100  # interval 0: the first free from the base
    unit.config.set("SipEp.TransportPersistentPortInterval", 100)
    engine.link_set.start()
    ports = engine.link_set.ports.ports()
    assert ports == list(range(20000, 20101))  # a cycle of interval + 1 ports


async def test_tcp_connect_timeout_reaches_the_transport(tmp_path: Path) -> None:
    unit, engine = _sipep(tmp_path)
    unit.config.set("SipEp.InteropTcpConnectTimeout", 3)
    await unit.start_service("SipEp")
    try:
        assert engine.ua.transport is not None and engine.ua.transport.connect_timeout == 3.0
    finally:
        await unit.stop_service("SipEp")
