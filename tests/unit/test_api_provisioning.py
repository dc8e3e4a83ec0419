"""Provisioning through the HTTP control API (issue 13, item 5): ``/conf`` (script transfer from an in-test HTTP
server, export, configuration backup and restore) and ``/firmware`` (install from the same server, a refused pack,
rollback), with a real unit running its Conf and Fpu engines; the rights (backup, restore, install and rollback
are Admin only), 409 when the service is stopped or busy, 503 without the engine, and the OpenAPI description."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from emulator.engines.aaa import Aaa
from emulator.engines.conf.engine import ConfEngine
from emulator.engines.fpu.engine import FpuEngine
from emulator.faces.api.server import ApiServer
from emulator.runtime.unit import Unit
from firmware_model.mfp import Manifest, build_mfp
from firmware_model.profiles import FIRMWARE_VERSION
from testkit.http_files import FileServer, serve_files
from tests.helpers.api_env import Client
from tests.unit.engine_env import bare_unit

USER = ("bob", "bobpass1")
OBSERVER = ("olga", "olgapass")
NEW = Manifest("DGW 49.12.3001", "49.12.3001", "SIP", ("Mediatrix 4102",))


@dataclass
class Env:
    unit: Unit
    conf: ConfEngine
    fpu: FpuEngine
    api: ApiServer
    files: FileServer
    c: Client


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    unit = bare_unit(tmp_path, info_from="Conf")
    aaa = Aaa(unit)
    unit.attach(aaa)
    conf = ConfEngine(unit, timeout=2.0)
    unit.attach(conf)
    fpu = FpuEngine(unit, poll_s=0.02)
    unit.attach(fpu)
    for name, password, rights in ((*USER, "User"), (*OBSERVER, "Observer")):
        unit.config.add_row("Aaa.Users", {"UserName": name, "Password": password, "AccessRights": rights})
    await unit.start()
    api = ApiServer(unit, aaa)
    await api.start(0)
    async with serve_files() as files, aiohttp.ClientSession() as session:
        yield Env(unit, conf, fpu, api, files, Client(unit.listening["api"], session))
    await api.stop()
    await unit.stop()


def scripts_from(env: Env, generic: str = "", specific: str = "") -> None:
    host = env.files.address
    r = env.unit.run_script(f"""
        Conf.ScriptsTransferProtocol = Http
        Conf.ScriptsTransferSrvHostname = "{host}"
        Conf.ScriptsLocation = "cfg"
        Conf.ScriptGenericFileName = "{generic}"
        Conf.ScriptSpecificFileName = "{specific}"
    """)
    assert r.ok, r.errors


async def test_conf_status_and_transfer(env: Env) -> None:
    r = await env.c.get("/api/v1/conf", user=OBSERVER)
    assert r.status == 200
    assert r.body["service"] == "Started"
    assert r.body["transfer"] == {"state": "Idle", "last_result": "None", "last_datetime": ""}
    assert r.body["backup"] == {"status": "None"} and r.body["restore"] == {"status": "None"}
    env.files.files["cfg/generic.cfg"] = b"Cli.InactivityTimeOut = 33\n"
    env.files.files[f"cfg/{env.unit.identity.mac}.cfg"] = b"Snmp.Community = lab\n"
    scripts_from(env, "generic.cfg", "%mac%.cfg")
    r = await env.c.post("/api/v1/conf/transfer", user=USER)  # a User may run a transfer
    assert r.status == 200, r.body
    assert (r.body["job"], r.body["result"], r.body["ok"]) == ("transfer", "Success", True)
    assert r.body["conf"]["transfer"]["last_result"] == "Success" and r.body["conf"]["transfer"]["state"] == "Idle"
    assert env.unit.config.get("Cli.InactivityTimeOut") == 33 and env.unit.config.get("Snmp.Community") == "lab"
    assert env.files.hits == ["/cfg/generic.cfg", f"/cfg/{env.unit.identity.mac}.cfg"]
    # the same value on every face: the parameter reads what the API answered
    p = await env.c.get("/api/v1/parameters/Conf.ScriptsStatsLastTransferResult")
    assert p.body["value"] == "Success"
    # a script with a bad line: nothing of it applied, the answer says so
    env.files.files["cfg/generic.cfg"] = b"Cli.InactivityTimeOut = 44\nNo.Such = 1\n"
    r = await env.c.post("/api/v1/conf/transfer")
    assert (r.status, r.body["result"], r.body["ok"]) == (200, "ExecutionFailed", False)
    assert env.unit.config.get("Cli.InactivityTimeOut") == 33
    # a file the server does not have
    scripts_from(env, "missing.cfg")
    r = await env.c.post("/api/v1/conf/transfer")
    assert r.body["result"] == "TransferFailed"
    r = await env.c.post("/api/v1/conf/transfer", user=OBSERVER)
    assert (r.status, r.body["kind"]) == (403, "forbidden")


async def test_conf_export_backup_restore_and_rights(env: Env) -> None:
    c = env.unit.config
    c.set("Conf.ScriptExportUrl", "file://out/%mac%.cfg")
    r = await env.c.post("/api/v1/conf/export", user=USER)
    assert (r.status, r.body["result"]) == (200, "Success"), r.body
    out = env.unit.state_dir / "files" / "persistent" / "out" / f"{env.unit.identity.mac}.cfg"
    assert b"Conf." in out.read_bytes()
    assert r.body["conf"]["export"]["last_result"] == "Success" and r.body["conf"]["export"]["last_datetime"]
    assert env.unit.run_script("Conf.ImageTransferProtocol = File\nConf.ImageFileName = img-%serial%.json\n"
                               "Conf.ImagePrivacyAlgo = None\n").ok
    for verb in ("backup", "restore"):  # Admin only, as on the hardware
        r = await env.c.post(f"/api/v1/conf/{verb}", user=USER)
        assert (r.status, r.body["kind"]) == (403, "forbidden")
        assert r.body["error"].startswith("only an Admin user may")
    c.set("Cli.InactivityTimeOut", 41)
    r = await env.c.post("/api/v1/conf/backup")
    assert (r.status, r.body["result"], r.body["conf"]["backup"]["status"]) == (200, "Success", "Success")
    c.set("Cli.InactivityTimeOut", 7)
    r = await env.c.post("/api/v1/conf/restore")
    assert (r.body["result"], c.get("Cli.InactivityTimeOut")) == ("Success", 41)
    # a stopped Conf service refuses the job: 409, nothing done
    await env.unit.stop_service("Conf")
    r = await env.c.post("/api/v1/conf/export")
    assert (r.status, r.body["kind"]) == (409, "conflict")
    assert "not running" in r.body["error"]
    r = await env.c.get("/api/v1/conf")
    assert r.body["service"] == "Stopped"


async def test_firmware_install_refusal_busy_and_rollback(env: Env) -> None:
    r = await env.c.get("/api/v1/firmware", user=OBSERVER)
    assert r.status == 200
    assert (r.body["version"], r.body["status"], r.body["last_result"]) == (FIRMWARE_VERSION, "Idle", "None")
    assert [(b["bank"], b["version"]) for b in r.body["banks"]] == [("MainInUse", FIRMWARE_VERSION), ("None", "")]
    env.files.files["fw/good.mfp"] = build_mfp(NEW, b"image")
    env.files.files["fw/bad.mfp"] = build_mfp(NEW, b"image")[:40]
    base = env.files.base
    r = await env.c.post("/api/v1/firmware/install", {"url": f"{base}/fw/good.mfp"}, user=USER)
    assert (r.status, r.body["kind"]) == (403, "forbidden")  # Admin only
    r = await env.c.post("/api/v1/firmware/install", {"url": f"{base}/fw/bad.mfp"})
    assert r.status == 200
    assert (r.body["result"], r.body["ok"]) == ("Fail", False) and "truncated" in r.body["reason"]
    assert r.body["firmware"]["status"] == "Idle" and r.body["firmware"]["banks"][1]["bank"] == "None"
    r = await env.c.post("/api/v1/firmware/install", {"url": 5})
    assert (r.status, r.body["kind"]) == (400, "bad-request")
    env.unit.config.set("Fpu.MfpUrl", f"{base}/fw/good.mfp")
    r = await env.c.post("/api/v1/firmware/install")  # no body: Fpu.MfpUrl
    assert (r.body["result"], r.body["ok"], r.body["reason"]) == ("Success", True, "")
    fw = r.body["firmware"]
    assert fw["status"] == "WaitingManualRestart" and fw["version"] == FIRMWARE_VERSION  # until the restart
    assert [(b["bank"], b["version"]) for b in fw["banks"]] == [("MainInUse", FIRMWARE_VERSION),
                                                                ("Recovery", "49.12.3001")]
    r = await env.c.post("/api/v1/firmware/install")  # busy: it waits for its restart
    assert (r.status, r.body["kind"]) == (409, "conflict") and "busy" in r.body["error"]
    r = await env.c.post("/api/v1/firmware/rollback")
    assert (r.status, r.body["kind"]) == (409, "conflict")
    await env.unit.reboot()
    r = await env.c.get("/api/v1/firmware")
    assert (r.body["version"], r.body["rollback_available"]) == ("49.12.3001", "Yes")
    r = await env.c.post("/api/v1/firmware/rollback", user=USER)
    assert (r.status, r.body["kind"]) == (403, "forbidden")
    r = await env.c.post("/api/v1/firmware/rollback")
    assert (r.status, r.body["ok"], r.body["firmware"]["status"]) == (200, True, "WaitingManualRestart")
    await env.unit.reboot()
    r = await env.c.get("/api/v1/status")
    assert r.body["version"] == FIRMWARE_VERSION
    r = await env.c.post("/api/v1/firmware/rollback")  # back on Main; Recovery still holds 49.12.3001
    assert r.body["ok"] is True


async def test_openapi_describes_provisioning(env: Env) -> None:
    doc = env.api.description()
    paths = doc["paths"]
    for verb in ("transfer", "export", "backup", "restore"):
        op = paths[f"/api/v1/conf/{verb}"]["post"]
        assert {"200", "403", "409", "503"} <= set(op["responses"]), verb
        assert op["tags"] == ["provisioning"]
    assert {"get"} == set(paths["/api/v1/conf"]) == set(paths["/api/v1/firmware"])
    install = paths["/api/v1/firmware/install"]["post"]
    assert {"200", "400", "409", "503"} <= set(install["responses"])
    assert install["requestBody"]["required"] is False
    assert "FirmwareStatus" in doc["components"]["schemas"] and "ConfStatus" in doc["components"]["schemas"]


async def test_without_engines_unavailable(tmp_path: Path) -> None:
    unit = bare_unit(tmp_path)
    aaa = Aaa(unit)
    unit.attach(aaa)
    await unit.start()
    api = ApiServer(unit, aaa)
    await api.start(0)
    try:
        async with aiohttp.ClientSession() as session:
            c = Client(unit.listening["api"], session)
            r = await c.post("/api/v1/conf/transfer")
            assert (r.status, r.body["kind"]) == (503, "unavailable")
            r = await c.post("/api/v1/firmware/rollback")
            assert (r.status, r.body["kind"]) == (503, "unavailable")
            r = await c.get("/api/v1/firmware")
            assert r.status == 200 and r.body["version"] == FIRMWARE_VERSION
    finally:
        await api.stop()
        await unit.stop()
