"""emulator.ops.actions: one table of endpoint actions from which the API routes, the OpenAPI description and
the CLI commands are derived. A scratch action registered at test time is served by every face."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.aaa import AuthResult
from emulator.faces.cli.shell import CliShell
from emulator.ops import actions
from emulator.ops.actions import Action, Arg, CliForm, Invocation
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.api_env import Env, _add_user, _env

ADMIN = AuthResult(True, "public", "Admin")


def _ring(inv: Invocation) -> dict[str, Any]:
    return {"endpoint": inv.endpoint, "action": "ring", "times": inv.args["times"], "tone": inv.args.get("tone")}


SCRATCH = Action(
    "ring", "Ring the endpoint's phone (a scratch action of the tests)", _ring,
    args=(Arg("times", "integer", "how many rings", required=True), Arg("tone", "string", "which ring tone")),
    what="ring phones", errors=(ErrorKind.CALL,),
    cli=(CliForm("ring", "ring <EpId> <times>", "ring the endpoint's phone (scratch)", positional=("times",),
                 show=lambda out: f"{out['endpoint']}: rang {out['times']} times\n"),),
)


@pytest.fixture
def scratch() -> Iterator[Action]:
    actions.register(SCRATCH)
    try:
        yield SCRATCH
    finally:
        actions.unregister(SCRATCH.name)


@pytest.fixture
async def env(tmp_path: Path, scratch: Action) -> AsyncIterator[Env]:
    async for e in _env(tmp_path):  # the server is built after the action was registered
        yield e


async def test_a_scratch_action_is_served_described_and_helped(env: Env) -> None:
    # API: callable, typed, under the policy
    r = await env.c.post("/api/v1/endpoints/phone-fax1/ring", {"times": "3"})
    assert (r.status, r.body) == (200, {"endpoint": "Phone-Fax1", "action": "ring", "times": 3, "tone": None})
    r = await env.c.post("/api/v1/endpoints/Phone-Fax1/ring", {"tone": "bell"})
    assert (r.status, r.body["kind"]) == (400, "bad-request") and "ring needs 'times'" in r.body["error"]
    r = await env.c.post("/api/v1/endpoints/Phone-Fax1/ring", {"times": [1]})
    assert (r.status, r.body["kind"]) == (400, "invalid") and "times: a whole number is expected" in r.body["error"]
    r = await env.c.post("/api/v1/endpoints/Nope/ring", {"times": 1})
    assert (r.status, r.body["kind"]) == (404, "call")
    _add_user(env.unit, "obs", "x", "Observer")
    r = await env.c.post("/api/v1/endpoints/Phone-Fax1/ring", {"times": 1}, user=("obs", "x"))
    assert (r.status, r.body["kind"]) == (403, "forbidden")
    assert r.body["error"] == "user obs (Observer rights) may not ring phones"
    # OpenAPI: one operation with the arguments as its body
    doc = (await env.c.get("/api/v1/openapi.json", user=None)).body
    op = doc["paths"]["/api/v1/endpoints/{ep}/ring"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["times"]["type"] == "integer" and body["required"] == ["times"]
    assert body["properties"]["tone"]["description"] == "which ring tone"
    assert {"200", "400", "403", "404"} <= set(op["responses"]) and op["summary"] == SCRATCH.summary
    # CLI: callable, in help, its usage derived
    shell = CliShell(env.unit, ADMIN)
    assert shell.execute("ring Phone-Fax1 2").output == "Phone-Fax1: rang 2 times\n"
    assert shell.execute("ring Phone-Fax1").output == "Error: ring: usage: ring <EpId> <times>\n"
    assert "  ring <EpId> <times>" in shell.execute("help").output
    assert "ring the endpoint's phone (scratch)" in shell.execute("help").output
    refused = CliShell(env.unit, AuthResult(True, "obs", "Observer")).execute("ring Phone-Fax1 2")
    assert refused.output == "Error: ring: user obs (Observer rights) may not ring phones\n"


async def test_every_action_is_served_described_and_helped(env: Env) -> None:
    doc = (await env.c.get("/api/v1/openapi.json", user=None)).body
    served = {(r.method, r.template) for r in env.api.routes}
    shell = CliShell(env.unit, ADMIN)
    general = shell.execute("help").output
    for action in actions.actions():
        path = f"/api/v1/endpoints/{{ep}}/{action.route}"
        assert (action.method, path) in served, action.name
        assert action.method.lower() in doc["paths"][path], action.name
        for form in action.cli:
            assert form.word in general and form.help in general, form.word
            assert shell.execute(form.word).output.startswith(f"Error: {form.word}: usage: "), form.word


def test_help_keeps_one_line_for_the_phone_actions(tmp_path: Path) -> None:
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    shell = CliShell(unit, ADMIN)
    # the arguments are checked before anything runs, and the action is named once
    assert shell.execute("dial Phone-Fax1 sip:").output == "Error: dial: number: not an absolute URI: 'sip:'\n"
    text = shell.execute("help").output
    for line in ("dial <EpId> <number>", "offhook|answer|hangup|hold|resume <EpId>", "transfer <EpId> <number>",
                 "play <EpId> tone <Hz>...|wav <f>|silence", "record <EpId> <file.wav>|off", "listen <EpId>",
                 "dtmf <EpId> <digits>", "lock|unlock|force-lock <EpId>", "calls"):
        assert f"  {line} " in text, line


def test_register_refuses_a_second_action_on_a_route(scratch: Action) -> None:
    with pytest.raises(ValueError, match="exists"):
        actions.register(SCRATCH)
    with pytest.raises(ValueError, match="exists"):
        actions.register(Action("ring-again", "x", _ring, path="ring"))
