"""The forwarding rows through the faces: the web UI's Telephony/Call Forward page (the vendor's labels, the rows
the user's activation writes, no "stored" mark on what forwarding acts on) and SIP/Interop's Call Diversion, the
API and the CLI reach the same EpServ/SipEp rows that the call layer's forwarding reads."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator.engines.aaa import AuthResult
from emulator.faces.cli.shell import CliShell
from emulator.protocols.forwarding import ForwardRule, line_forwarding
from emulator.runtime.unit import Unit
from tests.helpers.api_env import Env as ApiEnv
from tests.helpers.api_env import _env as api_env
from tests.unit.web_env import Env, web_env

PAGE = "/Telephony/Call_Forward"


def forwarding(unit: Unit, endpoint: str = "Phone-Fax1") -> Any:
    return line_forwarding(unit.config.get, endpoint)


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Env]:
    async for e in web_env(tmp_path):
        yield e


def field_marks(html: str) -> dict[str, str]:
    """Every input of the page -> its behaviour mark ("" when none)."""
    out = {}
    for chunk in html.split('<span class="field')[1:]:
        name = re.search(r' name="([^"]+)"', chunk)
        if name is not None:
            mark = re.search(r'<abbr class="mark mark-(\w+)"', chunk)
            out[htmllib.unescape(name.group(1))] = mark.group(1) if mark else ""
    return out


async def test_call_forward_page_sets_the_rows_forwarding_reads(web: Env) -> None:
    await web.login()
    status, html = await web.get(PAGE)
    assert status == 200
    for label in ("Default Enable/Disable Unconditional Call Forward Service", "Default Forward No Answer Timeout",
                  "Unconditional Forward Activation State", "Forward On Busy Activation Forwarding Address",
                  "Endpoint Specific Forward No Answer Timeout"):
        assert label in htmllib.unescape(html), label
    marks = field_marks(html)
    assert marks["EpServ.DefaultForwardUnconditionalEnable"] == ""  # acted on: no mark
    assert marks['EpServ.ForwardOnBusyConfig["Phone-Fax1"].ForwardingAddress'] == ""
    token = await web.csrf(PAGE)
    status, html, _ = await web.post(PAGE, [
        ("csrf", token), ("action", "apply"), ("EpServ.DefaultForwardOnBusyEnable", "Enable"),
        ('EpServ.ForwardOnBusyConfig["Phone-Fax1"].Activation', "Active"),
        ('EpServ.ForwardOnBusyConfig["Phone-Fax1"].ForwardingAddress', "sip:carol@example.net")])
    assert status == 200, html
    assert forwarding(web.unit).on_arrival(busy=True) == ForwardRule("OnBusy", "sip:carol@example.net")
    status, html = await web.get("/SIP/Interop")
    assert "Call Diversion Method" in html and 'SipEp.DiversionConfig["default"].Method' in htmllib.unescape(html)


async def test_api_and_cli_reach_the_same_rows(tmp_path: Path) -> None:
    env: ApiEnv
    async for env in api_env(tmp_path):
        r = await env.c.put("/api/v1/parameters/EpServ.ForwardUnconditionalConfig[Phone-Fax2].ForwardingAddress",
                            {"value": "5551002"})
        assert r.status == 200, r.body
        r = await env.c.put("/api/v1/parameters/EpServ.ForwardUnconditionalConfig[Phone-Fax2].Activation",
                            {"value": "Active"})
        assert r.status == 200, r.body
        r = await env.c.get("/api/v1/parameters/EpServ.DefaultForwardUnconditionalEnable")
        assert r.body["behaviour"] == "live", r.body
        sh = CliShell(env.unit, AuthResult(True, "public", "Admin"))
        assert sh.execute("EpServ.DefaultForwardUnconditionalEnable = Enable").ok
        assert forwarding(env.unit, "Phone-Fax2").on_arrival(busy=False) == ForwardRule("Unconditional", "5551002")
        shown = sh.execute("EpServ.ForwardUnconditionalConfig").output
        assert re.search(r"Phone-Fax2\s+Active\s+5551002", shown), shown
        assert sh.execute("SipEp.DiversionConfig[default].Method = DiversionHeader").ok
        r = await env.c.get("/api/v1/parameters/SipEp.DiversionConfig[default].Method")
        assert r.body["value"] == "DiversionHeader" and r.body["behaviour"] == "live", r.body
        # a bad value is refused with the model's reason, nothing changed
        r = await env.c.put("/api/v1/parameters/EpServ.DefaultForwardNoAnswerTimeout", {"value": 10})
        assert r.status == 400 and env.unit.config.get("EpServ.DefaultForwardNoAnswerTimeout") == 5000, r.body
