"""HTTP control API: a real server on 127.0.0.1 (port 0) driven with aiohttp's client."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from emulator.faces.api.routing import json_value
from emulator.faces.api.server import ApiServer, basic_credentials
from emulator.runtime.unit import Unit
from firmware_model.notifications import NotificationEvent
from tests.helpers.api_env import ADMIN, Env, _add_user, _auth, _env, _saved


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in _env(tmp_path):
        yield e


# ---------------------------------------------------------------------------------------------- parameters
async def test_get_and_set_scalar(env: Env) -> None:
    r = await env.c.get("/api/v1/parameters/Cli.SshPort")
    assert (r.status, r.body) == (200, {"name": "Cli.SshPort", "value": 22, "behaviour": "restart"})
    r = await env.c.get("/api/v1/parameters/cli.sshport")  # names are case-insensitive, answer canonical
    assert r.body["name"] == "Cli.SshPort"
    r = await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": 2222})
    assert (r.status, r.body) == (200, {"name": "Cli.SshPort", "value": 2222})
    assert env.unit.config.get("Cli.SshPort") == 2222
    assert json.loads(_saved(env.unit))["scalars"]["Cli.SshPort"] == 2222  # persisted before the answer
    r = await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": "2223"})  # numbers as text are parsed
    assert r.body["value"] == 2223
    # enums: by label (any case) or by number; answered as the label
    r = await env.c.put("/api/v1/parameters/Web.HttpMode", {"value": "secure"})
    assert r.body == {"name": "Web.HttpMode", "value": "Secure"}
    num = env.unit.catalog.params["Web.HttpMode"].type.number_of("Unsecure")
    r = await env.c.put("/api/v1/parameters/Web.HttpMode", {"value": num})
    assert r.body["value"] == "Unsecure"
    r = await env.c.get("/api/v1/parameters/Cli.WelcomeMessage")
    assert isinstance(r.body["value"], str)


async def test_get_and_set_cell_both_forms_and_url_encoded(env: Env) -> None:
    canonical = "SipEp.UserAgent[Phone-Fax1].Username"
    r = await env.c.put("/api/v1/parameters/SipEp.UserAgent[Phone-Fax1].Username", {"value": "1001"})
    assert (r.status, r.body) == (200, {"name": canonical, "value": "1001"})
    for path in (
        "SipEp.UserAgent[Phone-Fax1].Username",
        "SipEp.UserAgent%5BPhone-Fax1%5D.Username",
        "SipEp.UserAgent.Username[EpId=Phone-Fax1]",
        "SipEp.UserAgent.Username%5BEpId%3DPhone-Fax1%5D",
        "sipep.useragent.username%5Bepid=Phone-Fax1%5d",
    ):
        r = await env.c.get(f"/api/v1/parameters/{path}")
        assert (r.status, r.body) == (200, {"name": canonical, "value": "1001", "behaviour": "restart"}), path
    r = await env.c.put("/api/v1/parameters/SipEp.UserAgent.Username%5BEpId%3DPhone-Fax2%5D", {"value": "1002"})
    assert r.body == {"name": "SipEp.UserAgent[Phone-Fax2].Username", "value": "1002"}
    assert env.unit.config.get("SipEp.UserAgent[Phone-Fax2].Username") == "1002"
    # enum cell and numeric index
    r = await env.c.put("/api/v1/parameters/Nlm.Events[1].Activation", {"value": "Disable"})
    assert r.body == {"name": "Nlm.Events[1].Activation", "value": "Disable"}


async def test_index_with_a_slash(tmp_path: Path) -> None:
    async for e in _env(tmp_path, "3621"):
        r = await e.c.put("/api/v1/parameters/SipEp.UserAgent%5BSlot2%2FE1T1%5D.Username", {"value": "2001"})
        assert (r.status, r.body) == (200, {"name": "SipEp.UserAgent[Slot2/E1T1].Username", "value": "2001"})
        r = await e.c.get("/api/v1/parameters/SipEp.UserAgent.Username[EpId=Slot2/E1T1]")
        assert r.body["value"] == "2001"
        r = await e.c.get("/api/v1/tables/SipEp.UserAgent/rows/Slot2%2FE1T1")
        assert r.status == 200 and r.body["index"] == ["Slot2/E1T1"] and r.body["row"]["Username"] == "2001"


@pytest.mark.parametrize(
    ("path", "value", "status", "kind", "words"),
    [
        ("Cli.NoSuchThing", 1, 404, "unknown", ["Cli.NoSuchThing", "unknown"]),
        ("Nope.Table[1].Col", 1, 404, "unknown", ["Nope.Table"]),
        ("Cli.SshPort", 70000, 400, "invalid", ["Cli.SshPort", "1..65535"]),
        ("Cli.SshPort", "ssh", 400, "invalid", ["Cli.SshPort"]),
        ("Web.HttpMode", "Sometimes", 400, "invalid", ["Web.HttpMode", "Secure", "Unsecure", "Both"]),
        ("Cli.SshPort", True, 400, "invalid", ["Cli.SshPort"]),
        ("Cli.SshPort", 22.5, 400, "invalid", ["Cli.SshPort"]),
        ("Dcm.UnitInfoProductName", "x", 409, "read-only", ["Dcm.UnitInfoProductName", "read-only"]),
        ("SipEp.UserAgent[Nobody].Username", "x", 404, "no-row", ["SipEp.UserAgent", "Nobody"]),
        ("SipEp.UserAgent.Username", "x", 400, "syntax", ["index"]),
        ("SipEp.UserAgent.Nope[EpId=Phone-Fax1]", "x", 404, "unknown", ["Nope"]),
    ],
)
async def test_refusals_change_nothing(
    env: Env, path: str, value: Any, status: int, kind: str, words: list[str]
) -> None:
    env.unit.config.set("Cli.SshPort", 2200)
    before_doc, before_file = env.unit.config.to_doc(), _saved(env.unit)
    r = await env.c.put(f"/api/v1/parameters/{path}", {"value": value})
    assert r.status == status, r.body
    assert r.body["kind"] == kind
    assert set(r.body) == {"error", "kind"}
    for w in words:
        assert w in r.body["error"], (w, r.body["error"])
    assert env.unit.config.to_doc() == before_doc
    assert _saved(env.unit) == before_file


async def test_get_refusals(env: Env) -> None:
    r = await env.c.get("/api/v1/parameters/Cli.Nothing")
    assert (r.status, r.body["kind"]) == (404, "unknown")
    r = await env.c.get("/api/v1/parameters/SipEp.UserAgent[Nobody].Username")
    assert (r.status, r.body["kind"]) == (404, "no-row")
    r = await env.c.get("/api/v1/parameters/SipEp.UserAgent[a,b].Username")
    assert (r.status, r.body["kind"]) == (400, "syntax")


async def test_json_body_without_content_type(env: Env) -> None:
    # curl -d sends application/x-www-form-urlencoded: the body is still read as JSON
    async with env.c.session.put(
        env.c.url("/api/v1/parameters/Cli.SshPort"),
        data=b'{"value": 2022}',
        headers={**_auth(ADMIN), "Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        assert r.status == 200 and (await r.json())["value"] == 2022


async def test_bad_bodies(env: Env) -> None:
    for raw in ("not json", "", '{"val": 1}', "[1]"):
        async with env.c.session.put(env.c.url("/api/v1/parameters/Cli.SshPort"), data=raw, headers=_auth(ADMIN)) as r:
            assert r.status == 400
            assert (await r.json())["kind"] == "bad-request"
    assert env.unit.config.get("Cli.SshPort") == 22


async def test_list_parameters(env: Env) -> None:
    env.unit.config.set("Cli.SshPort", 2022)
    r = await env.c.get("/api/v1/parameters?prefix=cli.")
    assert r.status == 200
    names = [p["name"] for p in r.body["parameters"]]
    assert names and all(n.startswith("Cli.") for n in names) and r.body["count"] == len(names)
    ssh = next(p for p in r.body["parameters"] if p["name"] == "Cli.SshPort")
    assert ssh["value"] == 2022 and ssh["default"] == 22 and ssh["access"] == "read-write"
    assert ssh["modified"] is True and ssh["restart"] is True
    assert ssh["type"]["kind"] == "uint" and "65535" in ssh["type"]["description"]
    r = await env.c.get("/api/v1/parameters?prefix=Cli.&modified=true")
    assert [p["name"] for p in r.body["parameters"]] == ["Cli.SshPort"]
    r = await env.c.get("/api/v1/parameters?service=Dcm&access=read-only")
    prod = next(p for p in r.body["parameters"] if p["name"] == "Dcm.UnitInfoProductName")
    assert prod["value"] == "Mediatrix 4102"
    r = await env.c.get("/api/v1/parameters?access=sometimes")
    assert (r.status, r.body["kind"]) == (400, "invalid")
    r = await env.c.get("/api/v1/parameters?prefix=Web.HttpMode")
    assert r.body["parameters"][0]["type"]["values"] == ["Secure", "Unsecure", "Both"]


def test_json_value_types() -> None:
    from firmware_model.schema import load_catalog

    cat = load_catalog()
    mode = cat.params["Web.HttpMode"]
    assert json_value(mode, "Secure") == "Secure"
    assert json_value(mode, mode.type.number_of("Both")) == "Both"
    assert json_value(cat.params["Cli.SshPort"], "22") == 22
    assert json_value(cat.params["Cli.WelcomeMessage"], 5) == "5"
    assert json_value(cat.params["Cli.SshPort"], None) is None


# ---------------------------------------------------------------------------------------------- auth
def test_basic_credentials() -> None:
    assert basic_credentials("Basic " + base64.b64encode(b"public:").decode()) == ("public", "")
    assert basic_credentials("basic " + base64.b64encode(b"u:a:b").decode()) == ("u", "a:b")
    assert basic_credentials("Basic " + base64.b64encode("é:ü".encode()).decode()) == ("é", "ü")
    for bad in ("Bearer abc", "Basic", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        with pytest.raises(ValueError):
            basic_credentials(bad)


async def test_authentication_required(env: Env) -> None:
    for user in (None, ("public", "wrong"), ("nobody", "")):
        r = await env.c.get("/api/v1/parameters/Cli.SshPort", user=user)
        assert r.status == 401 and r.body["kind"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith('Basic realm="Mediatrix 4102"')
    async with env.c.session.get(env.c.url("/api/v1/status"), headers={"Authorization": "Basic %%%"}) as resp:
        assert resp.status == 401
    r = await env.c.get("/api/v1/no/such/route", user=None)  # unknown routes do not leak without auth
    assert r.status == 401
    r = await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": 23}, user=None)
    assert r.status == 401 and env.unit.config.get("Cli.SshPort") == 22


async def test_rights_observer_and_user(env: Env) -> None:
    _add_user(env.unit, "obs", "x", "Observer")
    _add_user(env.unit, "usr", "y", "User")
    obs, usr = ("obs", "x"), ("usr", "y")
    r = await env.c.get("/api/v1/parameters/Cli.SshPort", user=obs)
    assert r.status == 200
    before = env.unit.config.to_doc()
    for method, path, body in (
        ("PUT", "/api/v1/parameters/Cli.SshPort", {"value": 2222}),
        ("POST", "/api/v1/tables/Nlm.Events/rows", {"Criteria": "All"}),
        ("DELETE", "/api/v1/tables/Nlm.Events/rows/2", None),
        ("PUT", "/api/v1/tables/Nlm.Events/rows/2", {"Activation": "Disable"}),
        ("POST", "/api/v1/services/Cli/restart", None),
        ("POST", "/api/v1/services/restart-required", None),
        ("POST", "/api/v1/factory-reset", None),
        ("POST", "/api/v1/scripts", None),
    ):
        r = await env.c.call(method, path, body, user=obs)
        assert (r.status, r.body["kind"]) == (403, "forbidden"), (method, path)
    assert env.unit.config.to_doc() == before
    # secrets: 403 on a direct read, null in listings, for users without Admin rights
    for who in (obs, usr):
        r = await env.c.get("/api/v1/parameters/Aaa.Users[public].Password", user=who)
        assert (r.status, r.body["kind"]) == (403, "forbidden")
        r = await env.c.get("/api/v1/tables/Aaa.Users", user=who)
        assert r.status == 200 and all(row["Password"] is None for row in r.body["rows"])
        r = await env.c.get("/api/v1/parameters?prefix=Cwmp.ConnectionRequestPassword", user=who)
        assert r.body["parameters"][0]["value"] is None and r.body["parameters"][0]["secret"] is True
    r = await env.c.get("/api/v1/parameters?prefix=Cwmp.ConnectionRequestPassword")
    assert r.body["parameters"][0]["value"] == "administrator"
    r = await env.c.get("/api/v1/parameters/Aaa.Users[obs].Password")
    assert r.body["value"] == "x"
    # User: may write configuration, not secrets, users, rights or factory reset
    r = await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": 2222}, user=usr)
    assert r.status == 200
    r = await env.c.put("/api/v1/parameters/Cwmp.ConnectionRequestPassword", {"value": "z"}, user=usr)
    assert r.status == 403
    r = await env.c.put("/api/v1/parameters/Aaa.Users[usr].AccessRights", {"value": "Admin"}, user=usr)
    assert r.status == 403
    r = await env.c.post("/api/v1/tables/Aaa.Users/rows", {"UserName": "evil", "AccessRights": "Admin"}, user=usr)
    assert r.status == 403
    r = await env.c.post("/api/v1/factory-reset", user=usr)
    assert r.status == 403
    assert env.unit.config.get("Aaa.Users[usr].AccessRights") == "User"
    assert env.unit.config.get("Cwmp.ConnectionRequestPassword") == "administrator"


async def test_locked_user_gets_429(env: Env) -> None:
    _add_user(env.unit, "obs", "x", "Observer", LockProtectionEnable="Enable")
    env.unit.config.set("Aaa.LoginLockedMaxRetry", 2)
    for _ in range(2):
        r = await env.c.get("/api/v1/status", user=("obs", "bad"))
        assert r.status == 401
    r = await env.c.get("/api/v1/status", user=("obs", "x"))  # right password, but locked
    assert (r.status, r.body["kind"]) == (429, "locked")
    assert int(r.headers["Retry-After"]) > 0
    r = await env.c.get("/api/v1/status")  # other users are not affected
    assert r.status == 200


async def test_secrets_never_logged(env: Env) -> None:
    with capture_logs() as logs:
        r = await env.c.put("/api/v1/parameters/Aaa.Users[public].Password", {"value": "s3cret-Zq9"})
        assert r.status == 200
        r = await env.c.get("/api/v1/status", user=("public", "s3cret-Zq9"))
        assert r.status == 200
        r = await env.c.get("/api/v1/status", user=("public", "wrong-Pw7"))
        assert r.status == 401
    text = json.dumps(logs, default=str)
    assert "api_request" in text
    assert "s3cret-Zq9" not in text and "wrong-Pw7" not in text


# ---------------------------------------------------------------------------------------------- tables
async def test_tables_get_add_put_delete(env: Env) -> None:
    r = await env.c.get("/api/v1/tables/nlm.events")
    assert r.status == 200 and r.body["name"] == "Nlm.Events" and r.body["index"] == ["Index"]
    assert "Criteria" in r.body["columns"] and [row["Index"] for row in r.body["rows"]] == [1, 2]
    r = await env.c.post("/api/v1/tables/Nlm.Events/rows", {"Criteria": "1400.All", "Action": "LogLocally"})
    assert r.status == 201 and r.body["index"] == [3] and r.body["row"]["Criteria"] == "1400.All"
    assert env.unit.config.get("Nlm.Events[3].Action") == "LogLocally"
    # several cells at once, all or nothing
    before = env.unit.config.to_doc()
    r = await env.c.put("/api/v1/tables/Nlm.Events/rows/3", {"Activation": "Disable", "Action": "Sometimes"})
    assert (r.status, r.body["kind"]) == (400, "invalid") and "Action" in r.body["error"]
    assert env.unit.config.to_doc() == before
    r = await env.c.put("/api/v1/tables/Nlm.Events/rows/Index=3", {"Activation": "Disable", "Criteria": "All"})
    assert r.status == 200 and r.body["row"]["Activation"] == "Disable" and r.body["row"]["Criteria"] == "All"
    r = await env.c.put("/api/v1/tables/Nlm.Events/rows/3", {"Index": 9})
    assert r.status == 409
    r = await env.c.put("/api/v1/tables/Nlm.Events/rows/3", {"Bogus": 9})
    assert (r.status, r.body["kind"]) == (404, "unknown")
    r = await env.c.get("/api/v1/tables/Nlm.Events/rows/3")
    assert r.status == 200 and r.body["row"]["Activation"] == "Disable"
    r = await env.c.delete("/api/v1/tables/Nlm.Events/rows/3")
    assert (r.status, r.body) == (200, {"name": "Nlm.Events", "index": [3]})
    assert [row["Index"] for row in env.unit.config.rows("Nlm.Events")] == [1, 2]
    r = await env.c.delete("/api/v1/tables/Nlm.Events/rows/3")
    assert (r.status, r.body["kind"]) == (404, "no-row")
    r = await env.c.get("/api/v1/tables/Nlm.Events/rows/3")
    assert (r.status, r.body["kind"]) == (404, "no-row")
    r = await env.c.put("/api/v1/tables/Nlm.Events/rows/3", {"Activation": "Enable"})
    assert (r.status, r.body["kind"]) == (404, "no-row")


async def test_table_refusals(env: Env) -> None:
    before = env.unit.config.to_doc()
    r = await env.c.post("/api/v1/tables/SipEp.UserAgent/rows", {"EpId": "Phone-Fax3"})
    assert (r.status, r.body["kind"]) == (409, "not-dynamic")
    r = await env.c.delete("/api/v1/tables/SipEp.UserAgent/rows/Phone-Fax1")
    assert (r.status, r.body["kind"]) == (409, "not-dynamic")
    r = await env.c.post("/api/v1/tables/Nlm.Events/rows", {"Index": 1, "Criteria": "All"})
    assert (r.status, r.body["kind"]) == (409, "row-exists")
    r = await env.c.post("/api/v1/tables/Nlm.Events/rows", {"Action": "Nowhere"})
    assert (r.status, r.body["kind"]) == (400, "invalid")
    r = await env.c.get("/api/v1/tables/Nope.Nothing")
    assert (r.status, r.body["kind"]) == (404, "unknown")
    r = await env.c.get("/api/v1/tables/Nlm.Events/rows/abc")
    assert (r.status, r.body["kind"]) == (400, "invalid")
    assert env.unit.config.to_doc() == before


async def test_list_tables(env: Env) -> None:
    r = await env.c.get("/api/v1/tables?service=Aaa")
    users = next(t for t in r.body["tables"] if t["name"] == "Aaa.Users")
    assert users["dynamic"] is True and users["index"] == ["UserName"] and users["status"] is False
    status = next(t for t in r.body["tables"] if t["name"] == "Aaa.UsersStatus")
    assert status["status"] is True


# ---------------------------------------------------------------------------------------------- services
async def test_services_and_restart(env: Env) -> None:
    r = await env.c.get("/api/v1/services")
    svc = {s["name"]: s for s in r.body["services"]}
    assert svc["SipEp"]["numkey"] == 1400 and svc["Cli"]["ExecState"] == "Started"
    assert svc["Cli"]["NeedRestartInfo"] == "No" and "Hardware" not in svc and svc["Cli"]["display"]
    await env.c.put("/api/v1/parameters/Cli.SshPort", {"value": 2222})
    r = await env.c.get("/api/v1/services/cli")
    assert r.body["name"] == "Cli" and r.body["NeedRestartInfo"] == "Yes"
    r = await env.c.get("/api/v1/status")
    assert r.body["needs_restart"] == ["Cli"]
    r = await env.c.post("/api/v1/services/restart-required")
    assert r.status == 200 and r.body["restarted"] == ["Cli"]
    assert r.body["services"][0]["NeedRestartInfo"] == "No"
    r = await env.c.post("/api/v1/services/Nlm/stop")
    assert (r.status, r.body["ExecState"]) == (200, "Stopped")
    r = await env.c.post("/api/v1/services/Nlm/start")
    assert r.body["ExecState"] == "Started"
    await env.c.put("/api/v1/parameters/Web.HttpMode", {"value": "Secure"})
    r = await env.c.post("/api/v1/services/Web/restart")
    assert r.status == 200 and (r.body["ExecState"], r.body["NeedRestartInfo"]) == ("Started", "No")
    r = await env.c.post("/api/v1/services/Nothing/restart")
    assert (r.status, r.body["kind"]) == (404, "unknown")
    r = await env.c.get("/api/v1/services/restart-required")  # GET on a POST-only path
    assert r.status == 404


async def test_factory_reset(env: Env) -> None:
    env.unit.config.set("Cli.SshPort", 2222)
    _add_user(env.unit, "adm", "pw", "Admin")
    r = await env.c.post("/api/v1/factory-reset", user=("adm", "pw"))
    assert r.status == 200 and "Cli" in r.body["needs_restart"] and r.body["restarted"] == []
    assert env.unit.config.get("Cli.SshPort") == 22
    r = await env.c.get("/api/v1/status", user=("adm", "pw"))  # the users are back to the factory account
    assert r.status == 401
    r = await env.c.post("/api/v1/factory-reset?restart=true")
    assert r.status == 200 and "Cli" in r.body["restarted"] and "Cli" not in r.body["needs_restart"]


async def test_status(env: Env) -> None:
    r = await env.c.get("/api/v1/status")
    b = r.body
    assert (b["name"], b["profile"], b["product"]) == ("u1", "4102", "Mediatrix 4102")
    assert b["serial"] == env.unit.identity.serial and re.fullmatch(r"0090f8[0-9a-f]{6}", b["mac"])
    assert b["version"] == env.unit.version and b["uptime"] >= 0
    assert b["listening"]["api"] == env.c.base
    assert b["system_time"]["utc"].endswith("Z") and b["system_time"]["local"]
    assert b["needs_restart"] == []


# ---------------------------------------------------------------------------------------------- misc HTTP
async def test_unknown_route_and_method_are_json(env: Env) -> None:
    r = await env.c.get("/api/v1/nothing/here")
    assert (r.status, r.body["kind"]) == (404, "not-found")
    r = await env.c.delete("/api/v1/parameters/Cli.SshPort")
    assert (r.status, r.body["kind"]) == (405, "method-not-allowed")
    assert set(r.headers["Allow"].split(",")) >= {"GET", "PUT"}


async def test_too_large_body_is_413_json(env: Env) -> None:
    big = json.dumps({"value": "x" * (3 * 1024 * 1024)})
    async with env.c.session.put(
        env.c.url("/api/v1/parameters/Cli.WelcomeMessage"), data=big, headers=_auth(ADMIN)
    ) as r:
        assert r.status == 413
        assert (await r.json())["kind"] == "too-large"
    assert env.unit.config.get("Cli.WelcomeMessage") == env.unit.catalog.params["Cli.WelcomeMessage"].default


# ---------------------------------------------------------------------------------------------- notifications
def _event(unit: Unit, msg_id: int, t: float, severity: str = "Info", service: str = "SipEp") -> NotificationEvent:
    svc = unit.catalog.services[service]
    return NotificationEvent(
        service, svc.numkey, svc.display, msg_id, severity, f"event {msg_id}", t, {"peer": "127.0.0.1"}
    )


async def test_notifications_list(env: Env) -> None:
    t0 = 1_770_000_000.0
    for i in range(5):
        env.unit._published(_event(env.unit, 300 + i, t0 + i, "Warning" if i == 4 else "Info"))
    env.unit._published(_event(env.unit, 10, t0 + 10, "Error", "Cli"))
    r = await env.c.get("/api/v1/notifications")
    assert r.status == 200 and r.body["count"] == 6 and r.body["last_seq"] == 6
    first = r.body["notifications"][0]
    assert first["seq"] == 1 and first["msg_id"] == 300 and first["numkey"] == 1400
    assert first["time"] == t0 and first["time_utc"] == "2026-02-02T02:40:00.000Z"
    assert first["time_local"] == env.unit.local_time(t0) and first["fields"] == {"peer": "127.0.0.1"}
    r = await env.c.get("/api/v1/notifications?since=4")
    assert [n["seq"] for n in r.body["notifications"]] == [5, 6]
    r = await env.c.get("/api/v1/notifications?limit=2")
    assert [n["seq"] for n in r.body["notifications"]] == [5, 6]
    r = await env.c.get("/api/v1/notifications?since=2026-02-02T02:40:02Z")
    assert [n["msg_id"] for n in r.body["notifications"]] == [303, 304, 10]
    r = await env.c.get(f"/api/v1/notifications?since={t0 + 3.5}")
    assert [n["msg_id"] for n in r.body["notifications"]] == [304, 10]
    r = await env.c.get("/api/v1/notifications?service=1400&severity=warning")
    assert [n["msg_id"] for n in r.body["notifications"]] == [304]
    r = await env.c.get("/api/v1/notifications?service=cli")
    assert [n["msg_id"] for n in r.body["notifications"]] == [10]
    for bad in ("since=yesterday", "limit=0", "limit=x", "severity=Loud"):
        r = await env.c.get(f"/api/v1/notifications?{bad}")
        assert (r.status, r.body["kind"]) == (400, "invalid"), bad


async def _read_event(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """Read SSE lines until one whole event; return its fields (data parsed as JSON)."""
    fields: dict[str, Any] = {}
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line == "":
            if "data" in fields:
                return fields
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        fields[key] = json.loads(value) if key == "data" else value


async def test_notification_stream(env: Env) -> None:
    env.unit._published(_event(env.unit, 1, 1_770_000_000.0))  # before the stream: not replayed without since
    async with env.c.session.get(env.c.url("/api/v1/notifications/stream?severity=Info"), headers=_auth(ADMIN)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(resp.content.readline(), 5)
        assert first.startswith(b":")  # the stream is open (headers and a comment flushed)
        env.unit._published(_event(env.unit, 2, 1_770_000_001.0, "Debug"))  # filtered out
        env.unit._published(_event(env.unit, 303, 1_770_000_002.0))
        ev = await _read_event(resp)
        assert ev["event"] == "notification" and ev["id"] == "3"
        assert ev["data"]["msg_id"] == 303 and ev["data"]["seq"] == 3 and ev["data"]["service"] == "SipEp"
    # resume with Last-Event-ID: the kept events after it come first
    async with env.c.session.get(
        env.c.url("/api/v1/notifications/stream"), headers={**_auth(ADMIN), "Last-Event-ID": "1"}
    ) as resp:
        ev = await _read_event(resp)
        assert ev["data"]["seq"] == 2
        ev = await _read_event(resp)
        assert ev["data"]["seq"] == 3
    assert not env.api.feed._streams or all(q.empty() for q in env.api.feed._streams)


async def test_stop_ends_open_streams(tmp_path: Path) -> None:
    gen = _env(tmp_path)
    e = await gen.__anext__()
    async with e.c.session.get(e.c.url("/api/v1/notifications/stream"), headers=_auth(ADMIN)) as resp:
        await asyncio.wait_for(resp.content.readline(), 5)
        t = asyncio.get_running_loop().time()
        await asyncio.wait_for(e.api.stop(), 5)
        assert asyncio.get_running_loop().time() - t < 2.5
        rest = await asyncio.wait_for(resp.content.read(), 5)
        assert b"data:" not in rest
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()


# ---------------------------------------------------------------------------------------------- OpenAPI
def _router_operations(api: ApiServer) -> set[tuple[str, str]]:
    """The operations the aiohttp router serves, but for the catch-all that only refuses unknown actions."""
    refusing = {(r.method.lower(), r.template) for r in api.routes if not r.documented}
    ops = set()
    for route in api.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        assert path, route
        ops.add((route.method.lower(), re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)))
    return ops - refusing


async def test_openapi_is_public_and_describes_every_route(env: Env) -> None:
    r = await env.c.get("/api/v1/openapi.json", user=None)
    assert r.status == 200
    doc = r.body
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert documented == _router_operations(env.api)
    assert {(r.method.lower(), r.template) for r in env.api.routes if r.documented} == documented
    assert doc["components"]["securitySchemes"]["basicAuth"] == {
        **doc["components"]["securitySchemes"]["basicAuth"],
        "type": "http",
        "scheme": "basic",
    }
    for path, item in doc["paths"].items():
        for method, op in item.items():
            public = op.get("security") == []
            assert public == (path == "/api/v1/openapi.json"), path
            assert "200" in op["responses"] or "201" in op["responses"], (method, path)
            if not public:
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            for name in re.findall(r"\{(\w+)\}", path):  # every path template is declared
                declared = [
                    doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                    for p in op.get("parameters", [])
                ]
                assert any(d["name"] == name and d["in"] == "path" for d in declared), (method, path, name)
    # every $ref resolves
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node: Any = doc
        for part in ref.split("/"):
            node = node[part]


async def test_openapi_validates(env: Env) -> None:
    # openapi-spec-validator belongs in the test extras; skipped only where it is not installed
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(env.api.description())
    r = await env.c.get("/api/v1/openapi.json", user=None)
    validator.validate(r.body)  # as served, with its servers entry
    assert r.body["servers"][0]["url"] == env.c.base


# ---------------------------------------------------------------------------------------------- scripts
async def test_script_ok(env: Env) -> None:
    text = 'Cli.SshPort = 2022\n# a comment\nSipEp.UserAgent.Username[EpId=Phone-Fax1] = "1001"\n'
    r = await env.c.post("/api/v1/scripts", text=text)
    assert r.status == 200, r.body
    assert r.body["ok"] is True and r.body["applied"] == 2 and "error" not in r.body
    assert [ln["number"] for ln in r.body["lines"]] == [1, 3] and all(ln["ok"] for ln in r.body["lines"])
    assert env.unit.config.get("Cli.SshPort") == 2022
    assert env.unit.config.get("SipEp.UserAgent[Phone-Fax1].Username") == "1001"


async def test_script_with_a_bad_line_changes_nothing(env: Env) -> None:
    before = env.unit.config.to_doc()
    text = "Cli.SshPort = 2022\nCli.SshPort = 99999\nNope.Thing = 1\nWeb.HttpMode = Secure\n"
    r = await env.c.post("/api/v1/scripts", text=text)
    assert r.status == 400
    assert r.body["ok"] is False and r.body["applied"] == 0 and r.body["committed"] is False
    assert "line 2" in r.body["error"] and "nothing applied" in r.body["error"]
    bad = {ln["number"]: ln["error"] for ln in r.body["lines"] if not ln["ok"]}
    assert set(bad) == {2, 3} and "Cli.SshPort" in bad[2] and "Nope.Thing" in bad[3]
    assert env.unit.config.to_doc() == before


async def test_script_rights(env: Env) -> None:
    _add_user(env.unit, "usr", "y", "User")
    usr = ("usr", "y")
    r = await env.c.post("/api/v1/scripts", text="Cli.SshPort = 2022\n", user=usr)
    assert r.status == 200
    before = env.unit.config.to_doc()
    for text in (
        "Cli.SshPort = 2023\nAaa.Users.Password[UserName=public] = x\n",
        'Aaa.Users.AccessRights[UserName="usr"] = Admin\n',
        "Cwmp.ConnectionRequestPassword = guess\n",
    ):
        r = await env.c.post("/api/v1/scripts", text=text, user=usr)
        assert (r.status, r.body["kind"]) == (403, "forbidden"), text
    r = await env.c.post(
        "/api/v1/scripts", text="Cli.SshPort = 1\nCwmp.Password = a\n# c\nSnmp.PrivPassword = b\n", user=usr
    )
    assert r.status == 403 and r.body["error"].startswith("line(s) 2, 4:")
    assert env.unit.config.to_doc() == before
    r = await env.c.post("/api/v1/scripts", text="Cwmp.ConnectionRequestPassword = guess\n")  # Admin may
    assert r.status == 200 and env.unit.config.get("Cwmp.ConnectionRequestPassword") == "guess"


async def test_script_too_large(env: Env) -> None:
    from firmware_model.script import MAX_SCRIPT_BYTES

    text = "# " + "x" * MAX_SCRIPT_BYTES + "\n"
    r = await env.c.post("/api/v1/scripts", text=text)
    assert (r.status, r.body["kind"]) == (413, "too-large")


async def test_export_and_round_trip(env: Env) -> None:
    cfg = env.unit.config
    cfg.set("Cli.SshPort", 2022)
    cfg.set("SipEp.UserAgent[Phone-Fax1].Username", "1001")
    cfg.set("Cwmp.ConnectionRequestPassword", "s3cret")
    r = await env.c.get("/api/v1/scripts/export")  # defaults: ModifiedConfig, All
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "Cli.SshPort = 2022" in r.body and "s3cret" in r.body
    assert "Web.HttpMode" not in r.body  # not modified
    exported, before = r.body, cfg.to_doc()
    r = await env.c.get("/api/v1/scripts/export?content=AllConfig&service=Cli")
    assert "Cli.SshPort = 2022" in r.body and "Cli.InactivityTimeOut" in r.body and "SipEp." not in r.body
    cfg.set("Conf.ScriptExportContent", "AllConfig")
    r = await env.c.get("/api/v1/scripts/export?service=Web")
    assert "Web.HttpMode" in r.body
    for bad in ("content=Everything", "service=NoSuchService"):
        r = await env.c.get(f"/api/v1/scripts/export?{bad}")
        assert (r.status, r.body["kind"]) == (400, "invalid"), bad
    # users without Admin rights get the export without secrets
    _add_user(env.unit, "usr", "y", "User")
    r = await env.c.get("/api/v1/scripts/export?content=ModifiedConfig", user=("usr", "y"))
    assert "Cli.SshPort = 2022" in r.body and "s3cret" not in r.body and "Password" not in r.body
    assert "secret value(s) left out" in r.body
    # export -> factory reset -> import gives back the configuration
    assert (await env.c.post("/api/v1/factory-reset")).status == 200
    r = await env.c.post("/api/v1/scripts", text=exported)
    assert r.status == 200, r.body
    assert cfg.to_doc() == before
