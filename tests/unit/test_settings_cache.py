"""The settings cache (firmware_model/settings_cache.py): a derived value is kept until a parameter of the services
it depends on changes, whatever made the change; never kept inside a batch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from firmware_model.config import Config
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.settings_cache import settings_cache

HOLD = "EpServ.DefaultHoldEnable"


def _config() -> Config:
    cat = load_catalog()
    return Config(cat, factory_for(cat, get_profile("4102")))


def _reads(c: Config) -> tuple[list[str], Callable[[], str]]:
    cache = settings_cache(c, ("EpServ",))
    computed: list[str] = []

    def read() -> str:
        def compute() -> str:
            computed.append(str(c.get(HOLD)))
            return computed[-1]
        return cache.get(("test", HOLD), compute)
    return computed, read


def test_kept_until_a_parameter_of_its_service_changes() -> None:
    c = _config()
    computed, read = _reads(c)
    assert read() == "Enable" and read() == "Enable"
    assert computed == ["Enable"]  # computed once
    c.set("SipEp.InteropSdpDirectionAttributeEnable", "Disable")
    assert read() == "Enable" and len(computed) == 1  # another service: still kept
    c.set(HOLD, "Disable")
    assert read() == "Disable" and computed == ["Enable", "Disable"]


def test_a_row_added_or_deleted_and_a_factory_reset_drop_it() -> None:
    c = _config()
    rows = settings_cache(c, ("Nlm",))
    count = lambda: rows.get("rows", lambda: len(c.rows("Nlm.Events")))  # noqa: E731
    before = count()
    c.delete_row("Nlm.Events", c.indexes("Nlm.Events")[0])
    assert count() == before - 1
    cache = settings_cache(c, ("EpServ",))
    c.set(HOLD, "Disable")
    cache.get("hold", lambda: c.get(HOLD))
    c.factory_reset()
    assert cache.get("hold", lambda: c.get(HOLD)) == "Enable"


def test_bypassed_inside_a_batch_that_fails() -> None:
    c = _config()
    _, read = _reads(c)
    assert read() == "Enable"
    with pytest.raises(RuntimeError), c.batch():
        c.set(HOLD, "Disable")
        assert read() == "Disable"  # the batch's value, not the kept one
        raise RuntimeError("refused")
    assert read() == "Enable"  # restored silently: nothing from the batch was kept


def test_one_cache_per_configuration_and_services() -> None:
    a, b = _config(), _config()
    assert settings_cache(a, ("EpServ",)) is settings_cache(a, ["EpServ"])
    assert settings_cache(a, ("EpServ",)) is not settings_cache(b, ("EpServ",))
    assert settings_cache(a, ("EpServ",)) is not settings_cache(a, ("SipEp",))
