"""RPC handlers and the data model over a real unit configuration (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.protocols.cwmp.datamodel import DataModel, ModelState
from emulator.protocols.cwmp.rpc import RpcHandler
from emulator.protocols.cwmp.soap import CWMP_NAMESPACES, CwmpFault, Envelope, parse_envelope
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    return Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"),
                fsync=False)


def call(h: RpcHandler, body: str) -> Envelope:
    data = (f'<soap:Envelope xmlns:soap="{ENV}" xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            f'xmlns:cwmp="{CWMP_NAMESPACES[0]}"><soap:Header><cwmp:ID soap:mustUnderstand="1">1</cwmp:ID>'
            f"</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>").encode()
    env = parse_envelope(data)
    out = h.handle(env)
    return parse_envelope(
        f'<s:Envelope xmlns:s="{ENV}" xmlns:soap-env="{ENV}" xmlns:cwmp="{CWMP_NAMESPACES[0]}" '
        f'xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsi="{XSI}" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><s:Body>{out}</s:Body></s:Envelope>'.encode())


def spv(*items: tuple[str, str, str | None]) -> str:
    def typed(t: str | None) -> str:
        return f' xsi:type="xsd:{t}"' if t else ""

    x = "".join(f"<ParameterValueStruct><Name>{n}</Name><Value{typed(t)}>{v}</Value></ParameterValueStruct>"
                for n, v, t in items)
    return f"<cwmp:SetParameterValues><ParameterList>{x}</ParameterList><ParameterKey>pk</ParameterKey>" \
           "</cwmp:SetParameterValues>"


def test_types_and_writability_follow_the_catalog(unit: Unit) -> None:
    m = DataModel(unit)
    lf = m.leaf("Device.X_0090F8_Cwmp.PeriodicInformEnable")
    assert (lf.type, lf.writable, lf.get()) == ("boolean", True, "false")
    lf = m.leaf("Device.X_0090F8_Cwmp.PeriodicInformInterval")
    assert (lf.type, lf.get()) == ("unsignedInt", "3600")
    lf = m.leaf("Device.X_0090F8_Cwmp.AcsStatus")
    assert (lf.type, lf.writable) == ("string", False)
    assert m.leaf("Device.X_0090F8_Cwmp.ConnectionRequestPassword").get() == ""  # secrets read empty
    assert m.leaf("Device.ManagementServer.ConnectionRequestPassword").get() == ""
    for bad in ("Device.X_0090F8_Nope.X", "Device.Nope", "InternetGatewayDevice.DeviceSummary",
                "Device.X_0090F8_SipEp.Gateway.99.Port", "Device.X_0090F8_SipEp.Gateway.x.Port"):
        with pytest.raises(CwmpFault) as ei:
            m.leaf(bad)
        assert ei.value.code == 9005


def test_root_element_igd(unit: Unit) -> None:
    unit.config.set("Cwmp.RootElement", "InternetGatewayDevice")
    m = DataModel(unit)
    assert m.leaf("InternetGatewayDevice.DeviceInfo.SpecVersion").get() == "1.0"
    assert m.names("", True) == [("InternetGatewayDevice.", False)]


def test_get_parameter_names(unit: Unit) -> None:
    m = DataModel(unit)
    top = dict(m.names("Device.", True))
    assert "Device.X_0090F8_SipEp." in top and "Device.DeviceInfo." in top and "Device.DeviceSummary" in top
    assert all(n.count(".") == 1 or (n.count(".") == 2 and n.endswith(".")) for n in top)
    sub = dict(m.names("Device.X_0090F8_Hoc.StaticHosts.", False))
    assert sub["Device.X_0090F8_Hoc.StaticHosts."] is True  # AddObject allowed
    every = m.names("Device.", False)
    names = [n for n, _ in every]
    assert len(names) == len(set(names)) and len(names) > 2000


def test_spv_all_or_nothing_with_per_parameter_faults(unit: Unit) -> None:
    h = RpcHandler(DataModel(unit))
    before = unit.config.to_doc()
    r = call(h, spv(("Device.X_0090F8_Cwmp.PeriodicInformInterval", "60", "unsignedInt"),
                    ("Device.X_0090F8_Cwmp.PeriodicInformEnable", "maybe", "boolean"),
                    ("Device.DeviceInfo.Manufacturer", "x", "string"),
                    ("Device.X_0090F8_Cwmp.Tr104Enable", "1", "xsd-bogus")))
    assert r.fault_code == 9003
    per = {f.findtext("ParameterName"): f.findtext("FaultCode") for f in r.body.iter("SetParameterValuesFault")}
    assert per == {"Device.X_0090F8_Cwmp.PeriodicInformEnable": "9007", "Device.DeviceInfo.Manufacturer": "9008",
                   "Device.X_0090F8_Cwmp.Tr104Enable": "9006"}
    assert unit.config.to_doc() == before and h.model.state.parameter_key == ""
    r = call(h, spv(("Device.X_0090F8_Cwmp.PeriodicInformInterval", "60", "unsignedInt"),
                    ("Device.ManagementServer.PeriodicInformEnable", "true", "boolean"),
                    ("Device.DeviceInfo.ProvisioningCode", "lab1", None)))
    assert r.method == "SetParameterValuesResponse" and r.body.findtext("Status") == "1"  # Cwmp needs a restart
    assert unit.config.get("Cwmp.PeriodicInformInterval") == 60
    assert unit.config.get("Cwmp.PeriodicInformEnable") == "Enable"
    assert h.model.state.parameter_key == "pk" and h.model.state.provisioning_code == "lab1"
    assert [a.kind for a in h.actions] == ["restart_services"]


def test_strict_type_validation(unit: Unit) -> None:
    h = RpcHandler(DataModel(unit))
    r = call(h, spv(("Device.X_0090F8_Cwmp.PeriodicInformInterval", "60", "string")))
    assert r.method == "SetParameterValuesResponse"  # Tolerant (factory): the value decides
    unit.config.set("Cwmp.InteropParameterTypeValidation", "Strict")
    r = call(h, spv(("Device.X_0090F8_Cwmp.PeriodicInformInterval", "70", "string")))
    assert r.fault_code == 9003 and r.body.findtext(".//SetParameterValuesFault/FaultCode") == "9006"
    r = call(h, spv(("Device.X_0090F8_Cwmp.PeriodicInformEnable", "Enable", "boolean")))
    assert r.fault_code == 9003  # Strict: only true/false/1/0 for a boolean


def test_duplicate_names_and_unknown_methods(unit: Unit) -> None:
    h = RpcHandler(DataModel(unit))
    n = "Device.X_0090F8_Cwmp.PeriodicInformInterval"
    assert call(h, spv((n, "1", None), (n, "2", None))).fault_code == 9003
    assert call(h, "<cwmp:ScheduleDownload/>").fault_code == 9000
    assert call(h, "<cwmp:GetParameterValues/>").fault_code == 9003
    assert call(h, "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>maybe</NextLevel>"
                   "</cwmp:GetParameterNames>").fault_code == 9003
    r = call(h, "<cwmp:Download><CommandKey/><FileType>3 Vendor Configuration File</FileType>"
                "<URL>ftp://127.0.0.1/x</URL><FileSize>0</FileSize><DelaySeconds>0</DelaySeconds></cwmp:Download>")
    assert r.fault_code == 9013


def test_attributes_and_active_notification_refusal(unit: Unit) -> None:
    h = RpcHandler(DataModel(unit))

    def spa(name: str, note: int) -> str:
        return (f"<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>{name}</Name>"
                f"<NotificationChange>1</NotificationChange><Notification>{note}</Notification>"
                "<AccessListChange>0</AccessListChange><AccessList/></SetParameterAttributesStruct>"
                "</ParameterList></cwmp:SetParameterAttributes>")

    assert call(h, spa("Device.DeviceInfo.UpTime", 2)).fault_code == 9009
    assert call(h, spa("Device.X_0090F8_Nope.", 1)).fault_code == 9005
    assert call(h, spa("Device.DeviceInfo.", 1)).method == "SetParameterAttributesResponse"
    assert h.model.state.notifications["Device.DeviceInfo.SerialNumber"] == 1
    r = call(h, "<cwmp:GetParameterAttributes><ParameterNames><string>Device.DeviceInfo.Manufacturer</string>"
                "</ParameterNames></cwmp:GetParameterAttributes>")
    assert r.body.findtext(".//Notification") == "1"


def test_add_delete_object_and_stable_instances(unit: Unit) -> None:
    state = ModelState()
    h = RpcHandler(DataModel(unit, state))
    add = ("<cwmp:AddObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.</ObjectName><ParameterKey>a</ParameterKey>"
           "</cwmp:AddObject>")
    first = call(h, add).body.findtext("InstanceNumber")
    second = call(h, add).body.findtext("InstanceNumber")
    assert (first, second) == ("1", "2")
    r = call(h, "<cwmp:DeleteObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.1.</ObjectName>"
                "<ParameterKey>d</ParameterKey></cwmp:DeleteObject>")
    assert r.method == "DeleteObjectResponse" and unit.config.indexes("Hoc.StaticHosts") == [(2,)]
    # a row re-added from another face with index 1 keeps a fresh instance? index 1 is free again -> 1
    unit.config.add_row("Hoc.StaticHosts", index=(1,))
    model = DataModel(unit, ModelState.from_doc(state.to_doc()))
    assert dict((idx, n) for n, idx in model.instances(unit.config.catalog.tables["Hoc.StaticHosts"]))[(2,)] == 2
    # text-indexed table: instance numbers allocated and kept
    users = unit.config.catalog.tables["Aaa.Users"]
    before = DataModel(unit, state).instances(users)
    r = call(h, "<cwmp:AddObject><ObjectName>Device.X_0090F8_Aaa.Users.</ObjectName><ParameterKey/></cwmp:AddObject>")
    assert r.method == "AddObjectResponse"
    after = DataModel(unit, state).instances(users)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    for bad in ("Device.X_0090F8_Hoc.StaticHosts.1.", "Device.X_0090F8_Scm.ServicesInfo.", "Device.DeviceInfo."):
        body = f"<cwmp:AddObject><ObjectName>{bad}</ObjectName><ParameterKey/></cwmp:AddObject>"
        assert call(h, body).fault_code == 9005
    r = call(h, "<cwmp:DeleteObject><ObjectName>Device.X_0090F8_Hoc.StaticHosts.77.</ObjectName><ParameterKey/>"
                "</cwmp:DeleteObject>")
    assert r.fault_code == 9005


def test_value_change_paths(unit: Unit) -> None:
    m = DataModel(unit)
    p = unit.config.catalog.params["Cwmp.AcsStaticUrl"]
    assert m.paths_for_change("Cwmp.AcsStaticUrl", None, p) == [
        "Device.X_0090F8_Cwmp.AcsStaticUrl", "Device.ManagementServer.URL"]


def test_tr104_voice_service(unit: Unit) -> None:
    m = DataModel(unit)
    line = "Device.Services.VoiceService.1.VoiceProfile.1.Line.1."
    with pytest.raises(CwmpFault):
        m.leaf(line + "DirectoryNumber")  # Cwmp.Tr104Enable is Disable by default
    unit.config.set("Cwmp.Tr104Enable", "Enable")
    ep = m.leaf(line + "X_0090F8_EpId").get()
    h = RpcHandler(m)
    r = call(h, spv((line + "DirectoryNumber", "5551234", "string")))
    assert r.method == "SetParameterValuesResponse"
    assert unit.config.get(f"SipEp.UserAgent[{ep}].Username") == "5551234"
    p = unit.config.catalog.params["SipEp.UserAgent.Username"]
    paths = m.paths_for_change(f"SipEp.UserAgent[{ep}].Username", (ep,), p)
    assert line + "DirectoryNumber" in paths and line + "SIP.URI" in paths
    names = [n for n, _ in m.names("Device.Services.VoiceService.1.VoiceProfile.1.Line.", True)]
    assert names[0] == line and len(names) == len(unit.config.indexes("SipEp.UserAgent"))
