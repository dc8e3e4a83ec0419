"""CWMP envelopes: everything the CPE sends validates against the Broadband Forum schemas; hostile XML refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.protocols.cwmp.datamodel import DataModel
from emulator.protocols.cwmp.rpc import RpcHandler, inform_body, transfer_complete_body, transfer_fault
from emulator.protocols.cwmp.soap import CWMP_NAMESPACES, SoapError, build_envelope, fault_body, parse_envelope
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from testkit.peers import REQUIRE_PEERS
from tests.interop.acs import CwmpValidator, load_validator

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def validator() -> CwmpValidator:
    v = load_validator()
    if v is None:
        if REQUIRE_PEERS:
            pytest.fail("Broadband Forum cwmp-1-x.xsd (DGW_CWMP_XSD) or xmlschema missing")
        pytest.skip("Broadband Forum cwmp-1-x.xsd (DGW_CWMP_XSD) or xmlschema missing")  # not DGW_REQUIRE_PEERS
    return v


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)


def acs_msg(body: str, ns: str = CWMP_NAMESPACES[0], msg_id: str = "a1") -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{ENV}" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:cwmp="{ns}"><soap:Header><cwmp:ID soap:mustUnderstand="1">{msg_id}</cwmp:ID></soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


RPCS = [
    "<cwmp:GetRPCMethods/>",
    "<cwmp:GetParameterNames><ParameterPath>Device.DeviceInfo.</ParameterPath><NextLevel>0</NextLevel>"
    "</cwmp:GetParameterNames>",
    '<cwmp:GetParameterValues><ParameterNames soapenc:arrayType="xsd:string[2]"><string>Device.ManagementServer.'
    "</string><string>Device.X_0090F8_SipEp.Gateway.</string></ParameterNames></cwmp:GetParameterValues>",
    '<cwmp:SetParameterValues><ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]">'
    '<ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformEnable</Name><Value xsi:type="xsd:boolean">'
    "1</Value></ParameterValueStruct></ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>",
    '<cwmp:GetParameterAttributes><ParameterNames soapenc:arrayType="xsd:string[1]"><string>Device.DeviceInfo.'
    "</string></ParameterNames></cwmp:GetParameterAttributes>",
    '<cwmp:SetParameterAttributes><ParameterList soapenc:arrayType="cwmp:SetParameterAttributesStruct[1]">'
    "<SetParameterAttributesStruct><Name>Device.DeviceInfo.ProvisioningCode</Name><NotificationChange>1"
    "</NotificationChange><Notification>1</Notification><AccessListChange>0</AccessListChange>"
    '<AccessList soapenc:arrayType="xsd:string[0]"/></SetParameterAttributesStruct></ParameterList>'
    "</cwmp:SetParameterAttributes>",
    "<cwmp:AddObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.</ObjectName><ParameterKey>k</ParameterKey>"
    "</cwmp:AddObject>",
    "<cwmp:Reboot><CommandKey>r</CommandKey></cwmp:Reboot>",
    "<cwmp:FactoryReset/>",
    "<cwmp:Download><CommandKey>d</CommandKey><FileType>3 Vendor Configuration File</FileType>"
    "<URL>http://127.0.0.1/x</URL><Username/><Password/><FileSize>0</FileSize><TargetFileName/>"
    "<DelaySeconds>0</DelaySeconds><SuccessURL/><FailureURL/></cwmp:Download>",
    "<cwmp:Upload><CommandKey>u</CommandKey><FileType>1 Vendor Configuration File</FileType>"
    "<URL>http://127.0.0.1/x</URL><Username/><Password/><DelaySeconds>0</DelaySeconds></cwmp:Upload>",
    # faults
    '<cwmp:SetParameterValues><ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]">'
    '<ParameterValueStruct><Name>Device.DeviceInfo.SerialNumber</Name><Value xsi:type="xsd:string">x</Value>'
    "</ParameterValueStruct></ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>",
    "<cwmp:ScheduleInform><DelaySeconds>1</DelaySeconds><CommandKey/></cwmp:ScheduleInform>",
    "<cwmp:DeleteObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.99.</ObjectName><ParameterKey/>"
    "</cwmp:DeleteObject>",
]


@pytest.mark.parametrize("ns", CWMP_NAMESPACES[:3])
def test_every_cpe_message_validates(unit: Unit, validator: CwmpValidator, ns: str) -> None:
    model = DataModel(unit)
    handler = RpcHandler(model)
    sent = [build_envelope(ns, "c1", inform_body(model, [("0 BOOTSTRAP", ""), ("M Download", "x")],
                                                  "2026-01-01T00:00:00Z", 3, ["Device.DeviceInfo.UpTime"])),
            build_envelope(ns, "c2", transfer_complete_body("x", transfer_fault(9018, ns), "corrupt",
                                                            "0001-01-01T00:00:00Z", "2026-01-01T00:00:00Z")),
            build_envelope(ns, None, fault_body(9003, "bad"))]
    for rpc in RPCS:
        env = parse_envelope(acs_msg(rpc, ns))
        assert env.ns == ns
        sent.append(build_envelope(env.ns, env.id, handler.handle(env)))
    for data in sent:
        assert validator.errors(data) == [], data[:400]
    kinds = [parse_envelope(d).method for d in sent]
    assert kinds.count("Fault") == 4


def test_validator_catches_mistakes(validator: CwmpValidator) -> None:
    bad = build_envelope(CWMP_NAMESPACES[0], "1", "<cwmp:Informx/>")
    assert validator.errors(bad)
    bad = build_envelope(CWMP_NAMESPACES[0], "1", "<cwmp:RebootResponse><X/></cwmp:RebootResponse>")
    assert validator.errors(bad)


def test_namespace_1_3_and_1_4_are_answered_in_1_2() -> None:
    assert parse_envelope(acs_msg("<cwmp:GetRPCMethods/>", CWMP_NAMESPACES[4])).ns == CWMP_NAMESPACES[2]
    assert parse_envelope(acs_msg("<cwmp:GetRPCMethods/>", CWMP_NAMESPACES[1])).ns == CWMP_NAMESPACES[1]


XXE = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><a>&x;</a></soap:Body>
</soap:Envelope>"""
BOMB = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
        + b']><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x>&i;</x>'
        b"</soap:Body></soap:Envelope>")
EXTERNAL_DTD = (b'<?xml version="1.0"?><!DOCTYPE e SYSTEM "http://127.0.0.1:1/evil.dtd"><soap:Envelope '
                b'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>')


@pytest.mark.parametrize("data", [XXE, BOMB, EXTERNAL_DTD, b"<a", b"", b"<x/>",
                                  acs_msg("<cwmp:A/><cwmp:B/>"),
                                  acs_msg("<foo:Bar xmlns:foo='urn:other'/>")])
def test_hostile_or_broken_xml_refused(data: bytes) -> None:
    with pytest.raises(SoapError) as ei:
        parse_envelope(data)
    assert ei.value.http_status == 400 and ei.value.fault == 9003


def test_oversized_refused() -> None:
    big = acs_msg("<cwmp:GetRPCMethods/>" + " " * 2_000_000)
    with pytest.raises(SoapError) as ei:
        parse_envelope(big)
    assert ei.value.http_status == 413 and ei.value.fault == 9004


def test_unknown_must_understand_header_refused() -> None:
    data = acs_msg("<cwmp:GetRPCMethods/>").replace(
        b"</soap:Header>", b'<x:Y xmlns:x="urn:x" soap:mustUnderstand="1">1</x:Y></soap:Header>')
    with pytest.raises(SoapError):
        parse_envelope(data)


def test_acs_fault_parsed() -> None:
    env = parse_envelope(acs_msg(
        "<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault>"
        "<FaultCode>8005</FaultCode><FaultString>Retry request</FaultString></cwmp:Fault></detail></soap:Fault>"))
    assert env.method == "Fault" and env.fault_code == 8005 and env.fault_string == "Retry request"
