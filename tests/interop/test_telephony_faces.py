"""The call router (CRout) and endpoint services (EpServ) tables are one set of tables, whichever face reaches them.

A whole unit (as ``emulator.lab`` builds it: every engine, the HTTP API, the SSH CLI, the SNMP agent and the TR-069
client) on 127.0.0.1, reached by real clients: net-snmp's ``snmpset``/``snmpget``/``snmpwalk`` with the vendor MIBs
loaded (``DGW_VENDOR_MIBS``), the OpenSSH client (``sshpass`` feeds the password), the scripted ACS of
``tests/interop/acs.py`` (every envelope validated against the cwmp schemas) and an HTTP client for the API.

Each face sets a cell the others then show (a ``CRout.Route`` row's criteria, a ``CRout.MappingExpression`` row, a
``CRout.Hunt`` row, ``EpServ.ForwardOnBusyConfig[EpId]``, an ``EpServ.CallDtmfMapAllowed`` row), the staged edit
shows as ``CRout.ConfigModifiedStatus`` Yes until ``CRout.ApplyConfig``, and the ``CRout.*Status`` tables show the
configuration in use. A malformed value (a regular expression that does not compile, a DTMF map that does not parse)
is refused on every face with the reason, the previous value intact.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from emulator.lab import RunningUnit, UnitSpec, build_unit
from emulator.runtime.unit import Unit
from testkit.peers import require_peer
from tests.helpers.ssh import SSH_OPTS
from tests.interop.acs import CwmpValidator, TestAcs, connection_request, gpv, require_validator, values
from tests.interop.snmp_base_mibs import vendor_mibs, write_base_mibs

pytestmark = pytest.mark.peer

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Basic cHVibGljOg=="}  # the factory user public, no password (Admin)
V2 = ["-v2c", "-c", "public"]
CROUT = "MX-CROUT-MIB::"
EPSERV = "MX-EPSERV-MIB::"
VENDOR = "Device.X_0090F8_"
EP = "Phone-Fax1"
# CRout.ApplyConfig: the service's first command (firmware_model.service_commands), mediatrixServices.1750.1.59900.1.0
APPLY_CONFIG = ".1.3.6.1.4.1.4935.1000.100.200.100.1750.1.59900.1.0"
SNMP_EP = ".".join(str(b) for b in (len(EP), *EP.encode()))  # a string index: its length, then its bytes


@dataclass
class Faces:
    """One running unit and the clients of its faces."""

    ru: RunningUnit
    acs: TestAcs
    http: aiohttp.ClientSession
    tmp: Path
    snmp_env: dict[str, str]
    mibs: str

    @property
    def unit(self) -> Unit:
        return self.ru.unit

    # ------------------------------------------------------------------ HTTP API
    async def api(self, method: str, path: str, body: Any = None, text: str | None = None) -> tuple[int, Any]:
        url = self.unit.listening["api"] + "/api/v1" + path
        async with self.http.request(method, url, json=body if text is None else None,
                                     data=text.encode() if text is not None else None) as r:
            return r.status, await r.json()

    async def row(self, table: str, index: str) -> dict[str, Any]:
        status, doc = await self.api("GET", f"/tables/{table}/rows/{index}")
        assert status == 200, doc
        return doc["values"] if "values" in doc else doc["row"]

    # ------------------------------------------------------------------ net-snmp
    def _snmp(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        target = self.unit.listening["snmp"]
        return subprocess.run([tool, "-t", "5", "-r", "0", "-M", self.mibs, "-m", "ALL", *V2, target, *args],
                              capture_output=True, text=True, env=self.snmp_env, timeout=60)

    async def snmp(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """net-snmp tools block: run them in a thread while the agent answers on the loop."""
        return await asyncio.to_thread(self._snmp, tool, *args)

    async def snmp_value(self, oid: str) -> str:
        proc = await self.snmp("snmpget", "-Oqv", oid)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip().strip('"')

    # ------------------------------------------------------------------ OpenSSH
    async def ssh(self, *command: str) -> tuple[int, str, str]:
        bins = require_peer("ssh", "sshpass")
        host, port = self.unit.listening["ssh"].rsplit(":", 1)
        proc = await asyncio.create_subprocess_exec(
            bins["sshpass"], "-p", "", bins["ssh"], *SSH_OPTS, "-p", port, f"public@{host}", *command,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(b""), 30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    # ------------------------------------------------------------------ TR-069
    async def session(self, *bodies: str) -> list[Any]:
        """One ACS session started by a connection request, the RPCs ``bodies`` in it; the unit's answers."""
        last = self.acs.sessions[-1].number
        self.acs.queue(*bodies)
        assert await connection_request(self.unit, "admin", "administrator") == 200
        s = await self.acs.wait_session(lambda s: len(s.responses) >= len(bodies), after=last)
        return list(s.responses)


def spv(key: str, *items: tuple[str, str, str]) -> str:
    x = "".join(f'<ParameterValueStruct><Name>{n}</Name><Value xsi:type="xsd:{t}">{v}</Value>'
                "</ParameterValueStruct>" for n, v, t in items)
    return f'<cwmp:SetParameterValues><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[{len(items)}]">' \
           f"{x}</ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"


@pytest.fixture(scope="module")
def validator() -> CwmpValidator:
    return require_validator()


@pytest.fixture
async def faces(tmp_path: Path, validator: CwmpValidator) -> AsyncIterator[Faces]:
    require_peer("snmpget", "snmpset", "snmpwalk")
    mibs = f"{write_base_mibs(tmp_path / 'base-mibs')}:{vendor_mibs()}"
    persist = tmp_path / "net-snmp"
    persist.mkdir()
    snmp_env = dict(os.environ, SNMP_PERSISTENT_DIR=str(persist), MIBS="", HOME=str(tmp_path))
    acs = TestAcs(validator=validator, ns="urn:dslforum-org:cwmp-1-2")
    await acs.start()
    ru = build_unit(UnitSpec(name="faces", host="127.0.0.1", state_dir=tmp_path / "unit", port_mode="auto",
                             fsync=False, api_port=0, assume_time_synchronized=True, dhcp_acs_url=acs.url,
                             settings={"Snmp.EnableSnmpV2": "Enable", "CRout.AutoRoutingEnable": "Disable"}))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(acs.stop)
        await ru.start()
        stack.push_async_callback(ru.stop)
        await acs.wait_session()  # the boot session: later ones are the tests'
        http = await stack.enter_async_context(aiohttp.ClientSession(headers=AUTH))
        yield Faces(ru, acs, http, tmp_path, snmp_env, mibs)
    assert not acs.invalid, acs.invalid[0]


async def staged_routing(f: Faces) -> None:
    """A route, a transformation and a hunt added through the API and applied: the routing the tests edit."""
    c = f.unit.config
    for table, row in (
            ("CRout.MappingType", {"Name": "ext", "Criteria": "CalledE164", "Transformation": "CalledE164"}),
            ("CRout.MappingExpression", {"Name": "ext", "Criteria": "^555(1...)$", "Transformation": "\\1"}),
            ("CRout.Hunt", {"Name": "lines", "Destinations": "fxs-Phone-Fax1, fxs-Phone-Fax2"}),
            ("CRout.Route", {"SourceCriteria": "sip-default", "PropertiesCriteria": "CalledE164",
                             "ExpressionCriteria": "^5551...$", "Destination": "hunt-lines", "Mappings": "ext"})):
        status, doc = await f.api("POST", f"/tables/{table}/rows", row)
        assert status == 201, doc
    status, doc = await f.api("POST", "/scripts", text="CRout.ApplyConfig\n")
    assert status == 200, doc
    assert c.get("CRout.ConfigModifiedStatus") == "No"


# ------------------------------------------------------------------------------------------------ SNMP
async def test_snmp_sets_crout_and_epserv_rows_that_the_api_shows(faces: Faces) -> None:
    f = faces
    await staged_routing(f)
    assert await f.snmp_value(f"{CROUT}configModifiedStatus.0") == "no"
    # a route's criteria and a transformation's rule set over SNMP: staged, the routing in use unchanged
    proc = await f.snmp("snmpset", f"{CROUT}routeExpressionCriteria.1", "s", "^5552...$",
                        f"{CROUT}mappingExpressionCriteria.1", "s", "^555(2...)$")
    assert proc.returncode == 0, proc.stderr
    route = await f.row("CRout.Route", "1")
    assert route["ExpressionCriteria"] == "^5552...$"
    assert (await f.row("CRout.MappingExpression", "1"))["Criteria"] == "^555(2...)$"
    assert await f.snmp_value(f"{CROUT}configModifiedStatus.0") == "yes"
    assert await f.snmp_value(f"{CROUT}routeStatusExpressionCriteria.1") == "^5551...$"
    # applied by a SET of the command's object (emulator addition: the vendor MIB has none), the status tables follow
    assert await f.snmp_value(APPLY_CONFIG) == "0"
    proc = await f.snmp("snmpset", APPLY_CONFIG, "i", "10")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("10"), proc.stdout  # the response echoes the value set (RFC 3416 §4.2.5)
    assert await f.snmp_value(APPLY_CONFIG) == "0"
    assert await f.snmp_value(f"{CROUT}configModifiedStatus.0") == "no"
    walk = await f.snmp("snmpwalk", "-Oq", f"{CROUT}routeStatusTable")
    assert f'{CROUT}routeStatusExpressionCriteria.1 "^5552...$"' in walk.stdout, walk.stdout + walk.stderr
    assert f'{CROUT}routeStatusDestination.1 "hunt-lines"' in walk.stdout
    walk = await f.snmp("snmpwalk", "-Oq", f"{CROUT}mappingExpressionStatusTable")
    assert f'{CROUT}mappingExpressionStatusCriteria.1 "^555(2...)$"' in walk.stdout, walk.stdout

    # EpServ: a forward on busy set over SNMP is the API's, and a DTMF map set by the API is SNMP's
    proc = await f.snmp("snmpset", f"{EPSERV}forwardOnBusyConfigActivation.{SNMP_EP}", "i", "1",
                        f"{EPSERV}forwardOnBusyConfigForwardingAddress.{SNMP_EP}", "s", "sip:bob@127.0.0.1")
    assert proc.returncode == 0, proc.stderr
    fwd = await f.row("EpServ.ForwardOnBusyConfig", EP)
    assert (fwd["Activation"], fwd["ForwardingAddress"]) == ("Active", "sip:bob@127.0.0.1")
    status, doc = await f.api("PUT", "/tables/EpServ.CallDtmfMapAllowed/rows/2", {"DtmfMap": "555xxxx"})
    assert status == 200, doc
    index = 2
    assert await f.snmp_value(f"{EPSERV}callDtmfMapAllowedDtmfMap.{index}") == "555xxxx"
    walk = await f.snmp("snmpwalk", "-Oq", f"{EPSERV}callStatisticsOutgoingCallsAttempted")
    assert f'{EPSERV}callStatisticsOutgoingCallsAttempted."{EP}" 0' in walk.stdout, walk.stdout + walk.stderr

    # malformed values are refused (wrongValue), nothing changes
    before = f.unit.config.to_doc()
    for oid, bad in ((f"{CROUT}mappingExpressionCriteria.1", "^555(2...$"),
                     (f"{CROUT}routeExpressionCriteria.1", "[0-"),
                     (f"{EPSERV}callDtmfMapAllowedDtmfMap.{index}", "555[12")):
        proc = await f.snmp("snmpset", oid, "s", bad)
        assert proc.returncode != 0 and "wrongValue" in proc.stderr, (oid, proc.stdout, proc.stderr)
    assert f.unit.config.to_doc() == before
    assert (await f.row("CRout.MappingExpression", "1"))["Criteria"] == "^555(2...)$"
    assert await f.snmp_value(f"{EPSERV}callDtmfMapAllowedDtmfMap.{index}") == "555xxxx"
    # a dangling hunt with the command in one request: refused (inconsistentValue), the whole request undone
    dangling = (f"{CROUT}routeDestination.1", "s", "hunt-nowhere")
    proc = await f.snmp("snmpset", *dangling, APPLY_CONFIG, "i", "10")
    assert proc.returncode != 0 and "inconsistentValue" in proc.stderr, proc.stdout + proc.stderr
    assert f.unit.config.to_doc() == before
    # staged alone, then the command: refused, the row's Config Status says why, the routing in use stays
    assert (await f.snmp("snmpset", *dangling)).returncode == 0
    proc = await f.snmp("snmpset", APPLY_CONFIG, "i", "10")
    assert proc.returncode != 0 and "inconsistentValue" in proc.stderr, proc.stdout + proc.stderr
    assert "hunt-nowhere" in await f.snmp_value(f"{CROUT}routeConfigStatus.1")
    assert await f.snmp_value(f"{CROUT}routeStatusDestination.1") == "hunt-lines"
    assert await f.snmp_value(f"{CROUT}configModifiedStatus.0") == "yes"
    proc = await f.snmp("snmpset", APPLY_CONFIG, "i", "3")
    assert proc.returncode != 0 and "wrongValue" in proc.stderr, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------------ TR-069
async def test_tr069_sets_crout_and_epserv_cells_that_the_api_shows(faces: Faces) -> None:
    f = faces
    await staged_routing(f)
    route, mapping = f"{VENDOR}CRout.Route.1.", f"{VENDOR}CRout.MappingExpression.1."
    fwd = f"{VENDOR}EpServ.ForwardOnBusyConfig.1."
    [answer] = await f.session(spv("crout", (route + "ExpressionCriteria", "^5553...$", "string"),
                                   (mapping + "Criteria", "^555(3...)$", "string"),
                                   (fwd + "Activation", "Active", "string"),
                                   (fwd + "ForwardingAddress", "sip:carol@127.0.0.1", "string")))
    assert answer.tag.endswith("SetParameterValuesResponse"), answer
    assert (await f.row("CRout.Route", "1"))["ExpressionCriteria"] == "^5553...$"
    assert (await f.row("CRout.MappingExpression", "1"))["Criteria"] == "^555(3...)$"
    row = await f.row("EpServ.ForwardOnBusyConfig", EP)
    assert (row["Activation"], row["ForwardingAddress"]) == ("Active", "sip:carol@127.0.0.1")
    got = values((await f.session(gpv(route + "ExpressionCriteria", f"{VENDOR}CRout.ConfigModifiedStatus",
                                      f"{VENDOR}CRout.RouteStatus.1.ExpressionCriteria", fwd + "EpId")))[0])
    assert got == {route + "ExpressionCriteria": "^5553...$", f"{VENDOR}CRout.ConfigModifiedStatus": "Yes",
                   f"{VENDOR}CRout.RouteStatus.1.ExpressionCriteria": "^5551...$", fwd + "EpId": EP}
    # the command's object (emulator addition), set with a cell in one request: it runs last, on the new values
    apply = f"{VENDOR}CRout.ApplyConfig"
    assert values((await f.session(gpv(apply)))[0]) == {apply: "false"}
    [answer] = await f.session(spv("apply", (apply, "true", "boolean"),
                                   (f"{VENDOR}CRout.Hunt.1.Timeout", "7", "unsignedInt")))
    assert answer.tag.endswith("SetParameterValuesResponse"), answer
    assert f.unit.config.rows("CRout.HuntStatus")[0]["Timeout"] == 7
    got = values((await f.session(gpv(f"{VENDOR}CRout.ConfigModifiedStatus",
                                      f"{VENDOR}CRout.RouteStatus.1.ExpressionCriteria",
                                      f"{VENDOR}CRout.MappingExpressionStatus.1.Criteria")))[0])
    assert got == {f"{VENDOR}CRout.ConfigModifiedStatus": "No",
                   f"{VENDOR}CRout.RouteStatus.1.ExpressionCriteria": "^5553...$",
                   f"{VENDOR}CRout.MappingExpressionStatus.1.Criteria": "^555(3...)$"}

    # malformed values: fault 9007 (invalid parameter value) per parameter, nothing set (all or nothing)
    status, doc = await f.api("PUT", "/tables/EpServ.CallDtmfMapAllowed/rows/2", {"DtmfMap": "555xxxx"})
    assert status == 200, doc
    dtmf = f"{VENDOR}EpServ.CallDtmfMapAllowed."
    instance = 2  # the numeric index is the instance number
    before = f.unit.config.to_doc()
    [fault] = await f.session(spv("bad", (mapping + "Criteria", "^555(3...$", "string"),
                                  (f"{dtmf}{instance}.DtmfMap", "555[12", "string"),
                                  (fwd + "ForwardingAddress", "sip:dave@127.0.0.1", "string")))
    assert fault.findtext(".//FaultCode") == "9003"
    per = {x.findtext("ParameterName"): (x.findtext("FaultCode"), x.findtext("FaultString") or "")
           for x in fault.iter("SetParameterValuesFault")}
    assert set(per) == {mapping + "Criteria", f"{dtmf}{instance}.DtmfMap"}
    assert all(code == "9007" for code, _ in per.values())
    assert "CRout.MappingExpression" in per[mapping + "Criteria"][1]
    assert "EpServ.CallDtmfMapAllowed" in per[f"{dtmf}{instance}.DtmfMap"][1]
    assert f.unit.config.to_doc() == before
    row = await f.row("EpServ.ForwardOnBusyConfig", EP)
    assert row["ForwardingAddress"] == "sip:carol@127.0.0.1"
    # a dangling hunt with the command: the command's fault gives the reason, the request is undone
    [fault] = await f.session(spv("dangling", (route + "Destination", "hunt-nowhere", "string"),
                                  (apply, "1", "boolean")))
    assert fault.findtext(".//FaultCode") == "9003"
    [(name, code, text)] = [(x.findtext("ParameterName"), x.findtext("FaultCode"), x.findtext("FaultString") or "")
                            for x in fault.iter("SetParameterValuesFault")]
    assert (name, code) == (apply, "9007") and "refused" in text and "hunt-nowhere" in text, text
    assert f.unit.config.to_doc() == before
    assert f.unit.config.rows("CRout.RouteStatus")[0]["Destination"] == "hunt-lines"


# ------------------------------------------------------------------------------------------------ CLI
async def test_cli_over_ssh_sets_rows_applies_and_shows_the_status(faces: Faces) -> None:
    f = faces
    await staged_routing(f)
    rc, out, err = await f.ssh('CRout.Route.ExpressionCriteria[Index=1] = "^5554...$"')
    assert rc == 0, err
    rc, out, err = await f.ssh('CRout.Hunt.Destinations[Index=1] = "fxs-Phone-Fax2, fxs-Phone-Fax1"')
    assert rc == 0, err
    rc, out, err = await f.ssh("EpServ.ForwardOnBusyConfig.ForwardingAddress[EpId=Phone-Fax1] = sip:erin@127.0.0.1")
    assert rc == 0, err
    assert (await f.row("CRout.Hunt", "1"))["Destinations"] == "fxs-Phone-Fax2, fxs-Phone-Fax1"
    assert (await f.row("EpServ.ForwardOnBusyConfig", EP))["ForwardingAddress"] == "sip:erin@127.0.0.1"
    rc, out, err = await f.ssh("CRout.ConfigModifiedStatus")
    assert (rc, out) == (0, "Yes\n"), err
    rc, out, err = await f.ssh("CRout.ApplyConfig")
    assert rc == 0 and "Call routing configuration applied" in out, out + err
    rc, out, err = await f.ssh("CRout.ConfigModifiedStatus")
    assert (rc, out) == (0, "No\n"), err
    rc, out, err = await f.ssh("CRout.RouteStatus")
    assert rc == 0 and "^5554...$" in out and "hunt-lines" in out, out + err
    rc, out, err = await f.ssh("CRout.HuntStatus")
    assert rc == 0 and "fxs-Phone-Fax2, fxs-Phone-Fax1" in out, out + err
    status, doc = await f.api("GET", "/parameters/CRout.ConfigModifiedStatus")
    assert status == 200 and doc["value"] == "No", doc

    # malformed values are refused with the reason; the values in force stay
    before = f.unit.config.to_doc()
    rc, out, err = await f.ssh('CRout.MappingExpression.Criteria[Index=1] = "^555(1...$"')
    assert rc == 1 and "CRout.MappingExpression" in err and "Criteria" in err, out + err
    status, doc = await f.api("PUT", "/tables/EpServ.CallDtmfMapAllowed/rows/2", {"DtmfMap": "555xxxx"})
    assert status == 200, doc
    index = 2
    before = f.unit.config.to_doc()
    rc, out, err = await f.ssh(f'EpServ.CallDtmfMapAllowed.DtmfMap[Index={index}] = "555[12"')
    assert rc == 1 and "EpServ.CallDtmfMapAllowed" in err and "DtmfMap" in err, out + err
    assert f.unit.config.to_doc() == before
    rc, out, err = await f.ssh(f"EpServ.CallDtmfMapAllowed.DtmfMap[Index={index}]")
    assert (rc, out) == (0, "555xxxx\n"), err
    # the API refuses them the same way (the same validation: one parameter model)
    for table, index_text, bad in (("CRout.MappingExpression", "1", {"Criteria": "^555(1...$"}),
                                   ("EpServ.CallDtmfMapAllowed", str(index), {"DtmfMap": "555[12"})):
        status, doc = await f.api("PUT", f"/tables/{table}/rows/{index_text}", bad)
        assert status == 400 and table in doc["error"], doc
    assert f.unit.config.to_doc() == before
    # a dangling hunt refuses ApplyConfig with the reason, the routing in use unchanged
    rc, out, err = await f.ssh('CRout.Route.Destination[Index=1] = "hunt-nowhere"')
    assert rc == 0, err
    rc, out, err = await f.ssh("CRout.ApplyConfig")
    assert rc == 1 and "refused" in err and "hunt-nowhere" in err, out + err
    rc, out, err = await f.ssh("CRout.RouteStatus")
    assert rc == 0 and "hunt-lines" in out and "hunt-nowhere" not in out, out + err
