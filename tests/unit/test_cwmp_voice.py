"""TR-104 ``Services.VoiceService.1`` over the DGW parameters (emulator/protocols/cwmp/voice.py), with no sockets:
every TR-104 value an ACS writes lands in the SipEp/Mipt parameter the mapping table names (and reads back from
it), the password is write-only, a refused value changes nothing, line status and registration state follow
``SipEp.RegistrationStatus``, call state and counters come from the running lines, and README documents every row
of the table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from emulator.protocols.cwmp.datamodel import DataModel
from emulator.protocols.cwmp.rpc import RpcHandler
from emulator.protocols.cwmp.soap import CWMP_NAMESPACES, CwmpFault, build_envelope, parse_envelope
from emulator.protocols.cwmp.voice import MAPPINGS, STATS
from emulator.protocols.media.session_setup import codecs_from_config
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

VS = "Device.Services.VoiceService.1."
VP = VS + "VoiceProfile.1."
L1 = VP + "Line.1."
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    u.config.set("Cwmp.Tr104Enable", "Enable")
    return u


def spv(m: DataModel, *items: tuple[str, str, str]) -> str:
    """SetParameterValues through the RPC handler: the response body text (a fault or the response)."""
    values = "".join(f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="xsd:{t}">{v}</Value>'
                     "</ParameterValueStruct>" for n, v, t in items)
    body = (f'<cwmp:SetParameterValues><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[{len(items)}]">'
            f"{values}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>")
    return RpcHandler(m).handle(parse_envelope(build_envelope(CWMP_NAMESPACES[2], "1", body)))


def get(m: DataModel, path: str) -> str:
    return m.leaf(path).get()


def test_profile_servers_transport_and_line_provisioning(unit: Unit) -> None:
    m = DataModel(unit)
    c = unit.config
    ep = get(m, L1 + "X_0090F8_EpId")
    assert ep == "Phone-Fax1"
    assert (get(m, VP + "SIP.RegistrarServer"), get(m, VP + "SIP.RegistrarServerPort")) == ("192.168.10.10", "0")
    assert get(m, VP + "SIP.RegistrarServerTransport") == "UDP" and get(m, L1 + "Enable") == "Disabled"
    out = spv(m,
              (VP + "SIP.RegistrarServer", "127.0.0.1", "string"),
              (VP + "SIP.RegistrarServerPort", "5061", "unsignedInt"),
              (VP + "SIP.ProxyServer", "proxy.lab", "string"),
              (VP + "SIP.OutboundProxy", "obp.lab", "string"),
              (VP + "SIP.OutboundProxyPort", "5070", "unsignedInt"),
              (VP + "SIP.RegistrarServerTransport", "TLS", "string"),
              (VP + "SIP.RegisterExpires", "600", "unsignedInt"),
              (VP + "DTMFMethod", "RFC2833", "string"),
              (L1 + "Enable", "Enabled", "string"),
              (L1 + "DirectoryNumber", "alice", "string"),
              (L1 + "SIP.AuthUserName", "alice-auth", "string"),
              (L1 + "SIP.AuthPassword", "s3cret", "string"))
    assert "SetParameterValuesResponse" in out, out
    assert c.get("SipEp.DefaultStaticRegistrarServerHost") == "127.0.0.1:5061"
    assert c.get("SipEp.DefaultStaticProxyHomeDomainHost") == "proxy.lab:0"
    assert c.get("SipEp.DefaultStaticProxyOutboundHost") == "obp.lab:5070"
    assert c.get("SipEp.TransportConfig[default].TlsEnable") == "Enable"
    assert c.get("SipEp.DefaultRegistrationExpirationValue") == 600
    assert c.get("Mipt.DefaultDtmfTransportMethod") == "OutOfBandUsingRtp"
    assert c.get(f"SipEp.UserAgent[{ep}].Register") == "Enable" and c.get(f"SipEp.UserAgent[{ep}].Username") == "alice"
    rows = [r for r in c.rows("SipEp.Authentication") if r["EpId"] == ep]
    assert [(r["CriteriaSelection"], r["Username"], r["Password"]) for r in rows] == [
        ("Endpoint", "alice-auth", "s3cret")]
    # read back: the same values, the password write-only; every transport leaf is the one unit transport
    assert get(m, L1 + "SIP.AuthUserName") == "alice-auth" and get(m, L1 + "SIP.AuthPassword") == ""
    assert get(m, VP + "SIP.ProxyServerTransport") == get(m, VP + "SIP.UserAgentTransport") == "TLS"
    assert (get(m, VP + "SIP.OutboundProxy"), get(m, VP + "SIP.OutboundProxyPort")) == ("obp.lab", "5070")
    assert get(m, L1 + "Enable") == "Enabled" and get(m, VP + "DTMFMethod") == "RFC2833"
    # a second write updates the endpoint's row instead of adding one
    assert "SetParameterValuesResponse" in spv(m, (L1 + "SIP.AuthPassword", "other", "string"))
    assert [r["Password"] for r in c.rows("SipEp.Authentication")] == ["other"]
    # the other faces see the same values: a change there is a VALUE CHANGE of the TR-104 path
    p = c.catalog.params["SipEp.DefaultStaticRegistrarServerHost"]
    paths = m.paths_for_change("SipEp.DefaultStaticRegistrarServerHost", None, p)
    assert VP + "SIP.RegistrarServer" in paths and VP + "SIP.RegistrarServerPort" in paths


def test_refused_values_change_nothing(unit: Unit) -> None:
    m = DataModel(unit)
    before = unit.config.to_doc()
    out = spv(m, (L1 + "DirectoryNumber", "bob", "string"),
              (VP + "SIP.RegistrarServerTransport", "SCTP", "string"),
              (VP + "SIP.RegistrarServerPort", "70000", "unsignedInt"),
              (L1 + "Enable", "Quiescent", "string"),
              (L1 + "Codec.List.1.Priority", "0", "unsignedInt"),
              (L1 + "Status", "Up", "string"))
    faults = dict(re.findall(r"<ParameterName>([^<]+)</ParameterName><FaultCode>(\d+)</FaultCode>", out))
    assert faults == {VP + "SIP.RegistrarServerTransport": "9007", VP + "SIP.RegistrarServerPort": "9007",
                      L1 + "Enable": "9007", L1 + "Codec.List.1.Priority": "9007", L1 + "Status": "9008"}
    assert unit.config.to_doc() == before  # all or nothing: DirectoryNumber was not applied either


def test_codec_list_order_is_the_endpoints_own(unit: Unit) -> None:
    m = DataModel(unit)
    c = unit.config
    lists = {get(m, L1 + f"Codec.List.{i}.Codec"): i for i in (1, 2)}
    assert lists == {"G.711MuLaw": 1, "G.711ALaw": 2}
    assert get(m, L1 + "Codec.List.1.BitRate") == "64000" and get(m, L1 + "Codec.List.1.Enable") == "true"
    assert get(m, L1 + "Codec.List.1.Priority") == get(m, L1 + "Codec.List.2.Priority") == "11"  # DGW 0
    def g711(ep: str) -> list[str]:  # the codecs TR-104's Codec.List maps (G.722/G.729 are offered beside them)
        return [x.name for x in codecs_from_config(c, ep) if x.name in ("PCMU", "PCMA")]

    assert g711("Phone-Fax1") == ["PCMU", "PCMA"]
    out = spv(m, (L1 + "Codec.List.2.Priority", "1", "unsignedInt"), (L1 + "Codec.List.1.Priority", "2", "unsignedInt"))
    assert "SetParameterValuesResponse" in out, out
    assert c.get("Mipt.EpSpecificCodec[Phone-Fax1].EnableConfig") == "Enable"
    assert c.get("Mipt.EpSpecificCodecG711Alaw[Phone-Fax1].VoicePriority") == 10
    assert c.get("Mipt.EpSpecificCodecG711Mulaw[Phone-Fax1].VoicePriority") == 9
    assert g711("Phone-Fax1") == ["PCMA", "PCMU"]  # what the endpoint offers
    assert g711("Phone-Fax2") == ["PCMU", "PCMA"]  # the other line unchanged
    assert get(m, VP + "Line.2.Codec.List.2.Priority") == "11"
    assert "SetParameterValuesResponse" in spv(m, (L1 + "Codec.List.1.Enable", "false", "boolean"))
    assert g711("Phone-Fax1") == ["PCMA"]
    assert get(m, L1 + "Codec.List.1.Enable") == "false" and get(m, L1 + "Codec.List.1.PacketizationPeriod")


class Lines:
    def __init__(self) -> None:
        self.counters = {"IncomingCallsReceived": 2, "TotalCallTime": 31}
        self.resets: list[str] = []

    def call_state(self, endpoint: str) -> str:
        return "InCall" if endpoint == "Phone-Fax1" else "Idle"

    def stats(self, endpoint: str) -> Mapping[str, int]:
        return self.counters if endpoint == "Phone-Fax1" else {}

    def reset_stats(self, endpoint: str) -> None:
        self.resets.append(endpoint)


def test_status_call_state_and_statistics(unit: Unit) -> None:
    m = DataModel(unit)
    assert get(m, L1 + "Status") == "Disabled" and get(m, L1 + "CallState") == "Idle"
    assert get(m, L1 + "X_0090F8_RegistrationState") == "Unregistered"
    assert all(get(m, L1 + f"Stats.{name}") == "0" for name in STATS)
    unit.config.set("SipEp.UserAgent[Phone-Fax1].Register", "Enable")
    assert get(m, L1 + "Status") == "Initializing"  # no registration row yet (SipEp not running)
    state = {"State": "Registering"}
    unit.config.provide_rows("SipEp.RegistrationStatus", lambda: [
        {"Index": 1, "Gateway": "default", "Endpoint": "Phone-Fax1", "State": state["State"],
         "Registrar": "127.0.0.1:5061", "Username": "alice"}])
    assert get(m, L1 + "Status") == "Registering"
    state["State"] = "Registered"
    assert (get(m, L1 + "Status"), get(m, L1 + "X_0090F8_RegistrationState")) == ("Up", "Registered")
    assert get(m, L1 + "X_0090F8_Registrar") == "127.0.0.1:5061"
    state["State"] = "AuthFailed"
    assert get(m, L1 + "Status") == "Error"
    lines = Lines()
    m.line_runtime = lines
    assert get(m, L1 + "CallState") == "InCall" and get(m, VP + "Line.2.CallState") == "Idle"
    assert get(m, L1 + "Stats.IncomingCallsReceived") == "2" and get(m, L1 + "Stats.TotalCallTime") == "31"
    assert "SetParameterValuesResponse" in spv(m, (L1 + "Stats.ResetStatistics", "true", "boolean"))
    assert lines.resets == ["Phone-Fax1"] and get(m, L1 + "Stats.ResetStatistics") == "false"
    with pytest.raises(CwmpFault):
        m.leaf(VP + "Line.3.Status")  # a 4102 has two lines


def test_names_walk_and_readme_documents_every_mapping(unit: Unit) -> None:
    m = DataModel(unit)
    names = dict(m.names(VS, False))
    assert L1 + "Codec.List.2.Priority" in names and names[L1 + "Codec.List.2.Priority"] is True
    assert names[L1 + "Status"] is False and names[VP + "SIP.RegistrarServer"] is True
    values = dict((n, v) for n, _t, v in m.values([VS]))
    assert values[VP + "NumberOfLines"] == "2" and values[VS + "VoiceProfileNumberOfEntries"] == "1"
    text = README.read_text()
    for mapping in MAPPINGS:
        assert f"`{mapping.path}`" in text, mapping.path
