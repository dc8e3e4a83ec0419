"""No client input makes the HTTP API answer 500 (issue 12, defect 5b), checked on a whole unit (every
engine of a lab unit) with random requests on every route of the route table: random path values,
query strings, headers, credentials and bodies (JSON of any shape, nested or not, text with lone
surrogates, 5,000-digit numbers, scripts, bytes). Each answer is below 500, an error answer's kind is one
of the contract's with a status that kind may take, and the unit still answers afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from yarl import URL

from emulator.faces.api import endpoints
from emulator.faces.api.routing import STATUS_BY_KIND, STATUSES_OF_KIND, Route
from emulator.lab import RunningUnit, build_unit
from emulator.ops import snapshots
from emulator.ops.errors import ErrorKind
from emulator.runtime.spec import UnitSpec

ADMIN, USER = ("public", ""), ("bob", "pw")
PLAUSIBLE: dict[str, list[str]] = {
    "name": ["Cli.SshPort", "Aaa.Users[public].Password", "SipEp.UserAgent[Phone-Fax1].Username", "Web.HttpMode",
             "Cert.OthersCertificatesInfo.Delete[FileName=factory-ca.pem]", "Scm.ServiceCommands[Nlm].Restart",
             "Hoc.SystemTime", "SipEp.UserAgent.Username", "Nlm.Events[1].Criteria", "Fpu", "SipEp"],
    "table": ["Aaa.Users", "SipEp.UserAgent", "Nlm.Events", "Cert.OthersCertificatesInfo", "Hoc.StaticHosts",
              "Scm.ServicesInfo", "EpAdm.Endpoint"],
    "index": ["public", "Phone-Fax1", "1", "3", "factory-ca.pem", "a,b", "UserName=bob", "Name=Nlm"],
    "kind": ["host", "other"],
    "ep": ["Phone-Fax1", "phone-fax2", "Nope"],
}
QUERY_NAMES = ["prefix", "service", "access", "modified", "content", "since", "limit", "severity", "restart",
               "password", "file_name"]
QUERY_VALUES = ["Cli.", "Cli", "read-only", "true", "AllConfig", "ModifiedConfig", "5", "2026-01-01T00:00:00Z",
                "1.5", "Warning", "All", "x.pem", "-1", "9" * 50]
BODY_KEYS = ["value", "number", "uri", "digits", "duration_ms", "gap_ms", "source", "record", "initial_sequence",
             "url", "kind", "password", "file_name", "UserName", "Password", "AccessRights", "Delete", "Username",
             "Criteria", "tone", "wav", "level_dbm0"]
SCRIPT_NAMES = ["Cli.InactivityTimeOut", "Cwmp.Password", "Scm.RestartRequiredServices", "Aaa.Users[bob].AccessRights",
                "SipEp.UserAgent[Phone-Fax1].Username", "Cert.ActivateUnsecureTransfer", "Nlm.Events[9].Criteria"]

TRICKY = ["\ud800", "a\udfffb", "", " ", "9" * 5000, "%", "[", "é", "sip:", "sips:[", "sip:a@b;x=\"", "sip:@:99999",
          "1#"]
texts = st.one_of(st.text(max_size=20), st.sampled_from(TRICKY))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts, st.just(10**300))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.one_of(texts, st.sampled_from(BODY_KEYS)), inner, max_size=4),
                           max_leaves=12)
shaped = st.dictionaries(st.sampled_from(BODY_KEYS), json_values, max_size=4)
script_lines = st.lists(st.one_of(
    st.tuples(st.sampled_from(SCRIPT_NAMES), st.one_of(st.none(), texts)).map(
        lambda t: t[0] if t[1] is None else f"{t[0]} = {json.dumps(t[1])}"),
    st.text(max_size=30)), max_size=4).map("\n".join)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    script_lines.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=64),
    st.sampled_from([b"[" * 100_000, b'{"value": ' + b"9" * 5000 + b"}", b'{"value": "\\ud800"}', b"-" * 10,
                     b'{"url": "http://127.0.0.1:1/x.pem", "kind": "other"}', b'{"source": {"tone": [1e400]}}']),
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
headers = st.dictionaries(
    st.sampled_from(["Content-Type", "Last-Event-ID", "Accept", "X-Forwarded-For", "Content-Encoding", "Host",
                     "Expect"]),
    st.one_of(header_values, st.sampled_from(["application/json", "text/plain", "gzip", "deflate", "br", "100-continue",
                                              "5", "multipart/form-data; boundary=x"])),
    max_size=3)


def _encode(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Fuzz:
    running: RunningUnit
    session: aiohttp.ClientSession
    base: str
    routes: list[Route]

    def __repr__(self) -> str:
        return f"Fuzz({self.base})"

    async def restore(self) -> None:
        """What a request may have taken away and the next ones need: the Admin and User accounts (no
        lock-out), and services that a request stopped."""
        cfg = self.running.unit.config
        for user, password, rights in (("public", "", "Admin"), ("bob", "pw", "User")):
            if not any(r["UserName"] == user for r in cfg.rows("Aaa.Users")):
                cfg.add_row("Aaa.Users", {"UserName": user})
            cfg.set(f"Aaa.Users[{user}].Password", password)
            cfg.set(f"Aaa.Users[{user}].AccessRights", rights)
            cfg.set(f"Aaa.Users[{user}].LockProtectionEnable", "Disable")
        for st_ in self.running.unit.services.values():
            if st_.engine is not None and st_.state == "Stopped":
                await self.running.unit.start_service(st_.name)
        calls = snapshots.call_manager(self.running.unit)
        if calls is not None:  # calls towards the factory registrar never end by themselves: free the phones
            calls.stop()


@pytest.fixture
async def fuzz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Fuzz]:
    monkeypatch.setattr(endpoints, "ACTION_WAIT_S", 0.05)  # a call action waiting on SIP answers 202 at once
    running = build_unit(UnitSpec(name="fuzz", state_dir=tmp_path / "fuzz", port_mode="auto", fsync=False,
                                  api_port=0))
    await running.start()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        f = Fuzz(running, session, running.unit.listening["api"], running.api.routes)
        await f.restore()
        yield f
    await running.stop()


def _credentials(who: str) -> dict[str, str]:
    if who == "none":
        return {}
    if who == "garbage":
        return {"Authorization": "Basic %%%"}
    user, password = ADMIN if who == "admin" else USER
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
async def test_no_client_input_answers_500(fuzz: Fuzz, data: st.DataObject) -> None:
    await fuzz.restore()
    route = fuzz.routes[data.draw(st.sampled_from(range(len(fuzz.routes))), label="route")]
    note(f"route {route.method} {route.template}")
    path = route.template
    for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
        value = data.draw(st.one_of(st.sampled_from(PLAUSIBLE.get(name, ["x"])), texts), label=name)
        path = path.replace(f"{{{name}}}", _encode(value) or "x", 1)
    query = data.draw(st.dictionaries(st.one_of(st.sampled_from(QUERY_NAMES), texts),
                                      st.one_of(st.sampled_from(QUERY_VALUES), texts), max_size=3), label="query")
    if query:
        path += "?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in query.items())
    method = data.draw(st.one_of(st.just(route.method), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])),
                       label="method")
    who = data.draw(st.sampled_from(["admin"] * 6 + ["user", "none", "garbage"]), label="credentials")
    body = data.draw(bodies, label="body")
    sent = {**data.draw(headers, label="headers"), **_credentials(who)}
    with capture_logs() as logs:
        async with fuzz.session.request(method, URL(fuzz.base + path, encoded=True), data=body, headers=sent) as r:
            status, ctype = r.status, r.headers.get("Content-Type", "")
            raw = b"" if ctype.startswith("text/event-stream") else await r.read()
    assert status < 500, (method, path, status, raw[:300])
    assert not [e for e in logs if e["event"] in ("api_internal_error", "http_server_error")], logs
    if status >= 400 and ctype.startswith("application/json"):
        answer: dict[str, Any] = json.loads(raw)
        kind = ErrorKind(answer.get("kind", "bad-request" if status == 400 else ""))  # a script's 400: its result
        assert status in STATUSES_OF_KIND.get(kind, (STATUS_BY_KIND[kind],)), (method, path, status, answer)
    await fuzz.restore()  # the request may have deleted the account it came with
    async with fuzz.session.get(fuzz.base + "/api/v1/status", headers=_credentials("admin")) as r:
        assert r.status == 200, await r.text()
