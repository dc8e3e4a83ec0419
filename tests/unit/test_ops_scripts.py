"""A script's ``Scm.RestartRequiredServices`` is answered once the restarts are over, and a service that
did not start again fails the command's line (issue 12, defect 5d), through ops/scripts.py and the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from emulator.engines.aaa import AuthResult
from emulator.ops import policy, scripts
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from tests.helpers.api_env import Env, _env

ADMIN = AuthResult(True, "public", "Admin")
USER = AuthResult(True, "bob", "User")
SCRIPT = "Cli.InactivityTimeOut = 20\nScm.RestartRequiredServices  # apply\n"


class SlowEngine:
    """A service engine that takes a while to start, and can be told to fail its next start."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fail_next = False

    async def start(self) -> None:
        await asyncio.sleep(0.2)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("port 2222 is taken")

    async def stop(self) -> None:
        await asyncio.sleep(0.05)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    u = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    for name in ("Fpu", "Lldp"):
        u.attach(SlowEngine(name))  # type: ignore[arg-type]
    await u.start()
    yield u
    await u.stop()


def _states(unit: Unit) -> dict[str, str]:
    return {n: unit.services[n].state for n in ("Fpu", "Lldp")}


async def test_restart_is_waited_for(unit: Unit) -> None:
    for name in ("Fpu", "Lldp"):
        unit.config.mark_restart(name)
    result, restarted = await scripts.run(unit, USER, SCRIPT, source="api")
    assert result.ok and result.committed, result.to_dict()
    assert sorted(restarted) == ["Fpu", "Lldp"]
    assert _states(unit) == {"Fpu": "Started", "Lldp": "Started"}  # not Starting: the answer waited
    assert not unit.config.restart_required()


async def test_a_service_that_does_not_start_again_fails_the_line(unit: Unit) -> None:
    for name in ("Fpu", "Lldp"):
        unit.config.mark_restart(name)
    engine = unit.services["Lldp"].engine
    assert isinstance(engine, SlowEngine)
    engine.fail_next = True
    result, restarted = await scripts.run(unit, ADMIN, SCRIPT, source="api")
    assert result.committed and not result.ok and result.applied == 1
    line = result.lines[1]
    assert not line.ok and line.error is not None
    assert "command failed after the configuration was applied: did not start again: Lldp (port 2222 is taken)" \
        in line.error
    assert restarted == ["Fpu"] and unit.config.get("Cli.InactivityTimeOut") == 20


async def test_policy_first(unit: Unit) -> None:
    observer = AuthResult(True, "eve", "Observer")
    with pytest.raises(policy.Forbidden):
        await scripts.run(unit, observer, SCRIPT, source="api")
    assert unit.config.get("Cli.InactivityTimeOut") != 20


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in _env(tmp_path):
        yield e


async def test_api_script_answer_reports_restarts(env: Env) -> None:
    engine = SlowEngine("Fpu")
    env.unit.attach(engine)  # type: ignore[arg-type]
    await env.unit.start_service("Fpu")
    env.unit.config.mark_restart("Fpu")
    r = await env.c.post("/api/v1/scripts", text=SCRIPT)
    assert r.status == 200 and r.body["restarted"] == ["Fpu"], r.body
    assert env.unit.services["Fpu"].state == "Started"
    env.unit.config.mark_restart("Fpu")
    engine.fail_next = True
    r = await env.c.post("/api/v1/scripts", text=SCRIPT)
    assert r.status == 400 and r.body["committed"] is True and r.body["restarted"] == [], r.body
    assert "configuration applied, but 1 command(s) failed; line 2:" in r.body["error"]
    assert "Fpu (port 2222 is taken)" in r.body["error"]
    service = (await env.c.get("/api/v1/services/Fpu")).body
    assert service["ExecState"] == "Stopped" and "port 2222" in service["Comment"]
