"""The Call Router pages in a real browser (Debian's Chromium through Playwright): log in, add a transformation and
two routes choosing the rows they name from the pages' lists, apply, and a call from one line of the unit to the
other follows those routes.

The routes: a number dialled on Phone-Fax1 that matches ``^8[0-9]$`` goes to the route label ``route-ext`` through
the transformation ``short`` (``8N`` -> ``100N``); from ``route-ext`` only ``1002`` reaches Phone-Fax2. So ``82``
rings Phone-Fax2 (the transformation ran) and ``83`` (``1003``) is refused with cause 3, no route (404): the call
follows the routes made through the pages, auto-routing being turned off on its page too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from emulator.lab import UnitSpec, build_unit
from emulator.runtime.unit import Unit
from tests.helpers.browser import artefact_dir, enter, launch, login, open_page, playwright, section
from tests.interop.siplab import sipep, wait_for

pytestmark = pytest.mark.peer


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    """A whole 4102 as the product assembles it (SipEp, CRout, Web...)."""
    spec = UnitSpec(name="dgw-4102", profile="4102", state_dir=tmp_path / "u", port_mode="auto", fsync=False,
                    api_port=0)
    running = build_unit(spec)
    await running.start()
    try:
        yield running.unit
    finally:
        await running.stop()


async def press(page: Any, scope: Any, button: str) -> None:
    """Click a button that posts its form, and wait for the page it leads to."""
    async with page.expect_navigation():
        await scope.get_by_role("button", name=button, exact=True).click()


async def test_routes_made_in_the_browser_route_a_local_call(unit: Unit) -> None:
    async_playwright = playwright()
    base = unit.listening["web"]
    c = unit.config
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page()
            await login(page, base)
            await open_page(page, "Call Router", "Auto-routing")
            auto = section(page, "Auto-routing")
            await enter(auto, {"Auto-routing Enable": "Disable"})
            await press(page, auto, "Apply")
            assert c.get("CRout.AutoRoutingEnable") == "Disable"

            await open_page(page, "Call Router", "Mappings")
            types = section(page, "Mapping Types")
            await enter(types, {"New Name": "short", "New Criteria Based On": "CalledE164",
                                "New Transformation Applies to": "CalledE164"})
            await press(page, types, "Add")
            expressions = section(page, "Mapping Expressions")
            names = await expressions.get_by_label("New Name", exact=True).locator("option").all_inner_texts()
            assert names == ["", "short"]  # the transformations that exist, not a text box
            await enter(expressions, {"New Name": "short", "New Criteria Rule": "^8([0-9])$",
                                      "New Transformation Rule": "100\\1"})
            await press(page, expressions, "Add")

            await open_page(page, "Call Router", "Route Config")
            routes = section(page, "Routes")
            sources = await routes.get_by_label("New Sources", exact=True).locator("option").all_inner_texts()
            assert sources == ["sip-default", "fxs-Phone-Fax1", "fxs-Phone-Fax2"]
            await enter(routes, {"New Sources": ["fxs-Phone-Fax1"], "New Criteria Property": "CalledE164",
                                 "New Criteria Rule": "^8[0-9]$", "New Destination route label": "ext",
                                 "New Transformations": ["short"]})
            await press(page, routes, "Add")
            routes = section(page, "Routes")
            await enter(routes, {"New Sources": ["route-ext"], "New Criteria Property": "CalledE164",
                                 "New Criteria Rule": "^1002$", "New Destination": "fxs-Phone-Fax2"})
            await press(page, routes, "Add")
            status = section(page, "Configuration Status")
            assert (await status.locator("span.ro").inner_text()) == "Yes"
            await press(page, status, "Apply Config")
            assert "Call routing configuration applied: 2 routes in use" in await page.locator("div.flash").inner_text()
            assert (await section(page, "Configuration Status").locator("span.ro").inner_text()) == "No"
            assert [r["Destination"] for r in c.rows("CRout.Route")] == ["route-ext", "fxs-Phone-Fax2"]
            assert c.get("CRout.Route[1].Mappings") == "short"

            await open_page(page, "Call Router", "Status")
            shown = await section(page, "Routes").locator("tbody tr").all_inner_texts()
            assert len(shown) == 2 and "route-ext" in shown[0] and "short" in shown[0] and "1002" in shown[1]
            await page.screenshot(path=str(artefact_dir() / "Call-Router-Status.png"), full_page=True)
        finally:
            await browser.close()

    calls = sipep(unit).calls
    call = await calls.dial("Phone-Fax1", "82")
    await wait_for(lambda: (c := calls.current("Phone-Fax2")) is not None and c.state == "ringing",
                   what="Phone-Fax2 ringing")
    await calls.answer("Phone-Fax2")
    assert call.state == "connected"
    await calls.hangup("Phone-Fax1")
    assert calls.current("Phone-Fax2") is None
    refused = await calls.dial("Phone-Fax1", "83")
    await wait_for(lambda: refused.state == "ended", what="83 refused")
    assert refused.status == 404 and calls.current("Phone-Fax2") is None
