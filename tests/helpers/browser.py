"""A real browser for the web tests: Debian's Chromium (``/usr/bin/chromium``) driven by Playwright, and the steps a
user takes on the unit's pages (log in, open Menu/Page, type or choose a value by its label)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from testkit.peers import REQUIRE_PEERS, require_peer

__all__ = ["CHROMIUM_ARGS", "artefact_dir", "enter", "launch", "login", "open_page", "playwright", "section"]

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def playwright() -> Any:
    """``async_playwright`` (a missing Chromium or Playwright package fails the test under DGW_REQUIRE_PEERS=1)."""
    require_peer("chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        msg = "the playwright Python package is not installed (test extras)"
        if REQUIRE_PEERS:
            pytest.fail(msg)
        pytest.skip(msg)  # only without DGW_REQUIRE_PEERS=1 (it fails above)
    return async_playwright


def artefact_dir() -> Path:
    """Where screenshots go: ``$DGW_ARTEFACTS/web-screenshots``, or a temporary directory."""
    base = os.environ.get("DGW_ARTEFACTS")
    path = Path(base) / "web-screenshots" if base else Path(tempfile.mkdtemp(prefix="dgw-web-screenshots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


async def launch(pw: Any) -> Any:
    return await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)


async def login(page: Any, base: str, user: str = "public", password: str = "") -> None:
    await page.goto(base + "/")
    await page.get_by_label("Username").fill(user)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Login").click()
    await page.wait_for_url("**/System/Services")


def section(page: Any, title: str) -> Any:
    """The page's section of that title (its h2)."""
    return page.locator("section", has=page.locator(f'h2:text-is("{title}")'))


async def enter(scope: Any, values: dict[str, str | list[str]]) -> None:
    """Type or choose each value in the field of that label, in order, as a user does (a list: the names chosen
    in a list of several)."""
    for label, value in values.items():
        field = scope.get_by_label(label, exact=True)
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            assert isinstance(value, str)
            await field.fill(value)


async def open_page(page: Any, menu: str, name: str) -> None:
    """Click Menu/Page in the left menu, as a user does."""
    href = "/" + f"{menu}/{name}".replace(" ", "_")
    await page.locator(f'nav.menu a[href="{href}"]').click()
    await page.wait_for_selector(f'h1:text-is("{menu}/{name}")')
