"""The HTTP control API test environment: a unit with Aaa and the API on 127.0.0.1 (port 0), and a small client
that sends JSON or text as a user of ``Aaa.Users`` (Basic authentication)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from emulator.engines.aaa import Aaa
from emulator.faces.api.server import ApiServer
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile

ADMIN = ("public", "")


def _auth(user: tuple[str, str] | None) -> dict[str, str]:
    if user is None:
        return {}
    token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


@dataclass
class Client:
    base: str
    session: aiohttp.ClientSession

    def url(self, path: str) -> URL:
        # encoded=True: send the path exactly as written (brackets raw or percent-encoded)
        return URL(self.base + path, encoded=True)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        user: tuple[str, str] | None = ADMIN,
        text: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        h = {**_auth(user), **(headers or {})}
        kw: dict[str, Any] = {}
        if body is not None:
            kw["data"] = json.dumps(body)
            h["Content-Type"] = "application/json"
        elif text is not None:
            kw["data"] = text
            h["Content-Type"] = "text/plain"
        async with self.session.request(method, self.url(path), headers=h, **kw) as r:
            raw = await r.text()
            ctype = r.headers.get("Content-Type", "")
            parsed: Any = json.loads(raw) if ctype.startswith("application/json") else raw
            return Answer(r.status, parsed, r.headers)

    async def get(self, path: str, **kw: Any) -> Answer:
        return await self.call("GET", path, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> Answer:
        return await self.call("PUT", path, body, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Answer:
        return await self.call("POST", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Answer:
        return await self.call("DELETE", path, **kw)


@dataclass
class Env:
    unit: Unit
    aaa: Aaa
    api: ApiServer
    c: Client


async def _env(tmp_path: Path, profile: str = "4102") -> AsyncIterator[Env]:
    unit = Unit(name="u1", profile=get_profile(profile), state_dir=tmp_path, ports=PortPolicy(mode="auto"), fsync=False)
    aaa = Aaa(unit)
    await unit.start()
    api = ApiServer(unit, aaa)
    await api.start(0)
    base = unit.listening["api"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    async with aiohttp.ClientSession() as session:
        yield Env(unit, aaa, api, Client(base, session))
    await api.stop()
    await unit.stop()
    assert "api" not in unit.listening


def _add_user(unit: Unit, name: str, password: str, rights: str, **extra: Any) -> None:
    unit.config.add_row("Aaa.Users", {"UserName": name, "Password": password, "AccessRights": rights, **extra})


def _saved(unit: Unit) -> str:
    return (unit.state_dir / "config.json").read_text() if (unit.state_dir / "config.json").exists() else ""
