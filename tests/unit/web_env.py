"""The web interface of one unit over a real socket, driven by the aiohttp client (shared by the web tests)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from emulator.engines.aaa import Aaa
from emulator.engines.cert.engine import CertEngine
from emulator.runtime.unit import PortPolicy, Unit
from firmware_model.profiles import get_profile
from web_ui.app import WebEngine

__all__ = ["Env", "web_env"]


@dataclass
class Env:
    unit: Unit
    aaa: Aaa
    certs: CertEngine
    web: WebEngine
    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        if self.base.startswith("https"):
            kw.setdefault("ssl", False)
        async with self.http.get(self.base + path, allow_redirects=True, **kw) as r:
            return r.status, await r.text()

    async def post(self, path: str, data: Any, **kw: Any) -> tuple[int, str, str]:
        if self.base.startswith("https"):
            kw.setdefault("ssl", False)
        async with self.http.post(self.base + path, data=data, allow_redirects=True, **kw) as r:
            return r.status, await r.text(), str(r.url.path)

    async def login(self, user: str = "public", password: str = "") -> tuple[int, str, str]:
        _, html = await self.get("/login")
        token = re.search(r'name="token" value="([^"]+)"', html)
        assert token is not None
        return await self.post("/login", {"token": token.group(1), "username": user, "password": password, "next": ""})

    async def csrf(self, path: str) -> str:
        _, html = await self.get(path)
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m is not None, html[:500]
        return m.group(1)


async def web_env(tmp_path: Path, mode: str = "Unsecure", attach: Callable[[Unit], None] | None = None,
                  **settings: Any) -> AsyncIterator[Env]:
    """A started unit with Aaa, Cert and Web; ``attach`` adds more engines before the start."""
    unit = Unit(name="u1", profile=get_profile("4102"), state_dir=tmp_path / "u1", ports=PortPolicy(mode="auto"),
                fsync=False)
    unit.config.set("Web.HttpMode", mode)
    for name, value in settings.items():
        unit.config.set(name.replace("_", "."), value)
    aaa = Aaa(unit)
    unit.attach(aaa)
    certs = CertEngine(unit, factory_dir=tmp_path)
    unit.attach(certs)
    web = WebEngine(unit, aaa, certs)
    unit.attach(web)
    if attach is not None:
        attach(unit)
    await unit.start()
    base = unit.listening["web"] if mode != "Secure" else unit.listening["web_secure"]
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        yield Env(unit, aaa, certs, web, base, http)
    await unit.stop()
