"""Text the model refuses before anything is stored, whatever face sends it (issue 12, defect 5a): a lone
surrogate (JSON ``"\\ud800"``) that no face could write back out, and numbers too long to be any parameter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_model.config import Config, ConfigError
from firmware_model.profiles import factory_for, get_profile
from firmware_model.schema import load_catalog
from firmware_model.script import run_script
from firmware_model.store import JsonStore

CAT = load_catalog()
LONE = "\ud800"


def _config(path: Path | None = None) -> Config:
    return Config(CAT, factory_for(CAT, get_profile("4102")), JsonStore(path, fsync=False) if path else None)


@pytest.mark.parametrize(
    "name",
    [
        "Cli.WelcomeMessage",  # string
        "SipEp.UserAgent[Phone-Fax1].Username",  # string cell
        "Hoc.StaticSntpServerHost",  # hostport
        "Hoc.HostName",  # hostname
        "Web.HttpMode",  # enum
    ],
)
def test_lone_surrogate_refused_before_storing(tmp_path: Path, name: str) -> None:
    cfg = _config(tmp_path / "config.json")
    before = cfg.to_doc()
    with pytest.raises(ConfigError) as e:
        cfg.set(name, f"ab{LONE}cd")
    assert e.value.kind == "invalid"
    assert cfg.to_doc() == before
    e.value.message.encode("utf-8")  # the message itself can be shown by any face


def test_lone_surrogate_refused_in_rows_and_scripts() -> None:
    cfg = _config()
    before = cfg.to_doc()
    with pytest.raises(ConfigError) as e:
        cfg.add_row("Aaa.Users", {"UserName": f"x{LONE}", "Password": "p", "AccessRights": "User"})
    assert e.value.kind == "invalid"
    result = run_script(cfg, f'Cli.WelcomeMessage = "hi{LONE}"\n')
    assert not result.ok and "Unicode" in (result.lines[0].error or "")
    assert cfg.to_doc() == before


def test_a_stored_lone_surrogate_is_dropped_at_load(tmp_path: Path) -> None:
    """A configuration file written before the fix (JSON escapes it) loads without the bad value."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"format": 1, "scalars": {"Cli.WelcomeMessage": LONE, "Cli.SshPort": 2222},
                                "tables": {}}))
    cfg = _config(path)
    assert cfg.get("Cli.SshPort") == 2222
    assert cfg.get_text("Cli.WelcomeMessage").encode("utf-8") is not None
    assert LONE not in cfg.get_text("Cli.WelcomeMessage")


@pytest.mark.parametrize("name", ["Cli.SshPort", "Web.HttpMode", "Cli.WelcomeMessage"])
def test_five_thousand_digits(name: str) -> None:
    cfg = _config()
    digits = "9" * 5000
    if name == "Cli.WelcomeMessage":  # text: too long, said briefly
        with pytest.raises(ConfigError, match="length 5000"):
            cfg.set(name, digits)
        return
    with pytest.raises(ConfigError) as e:
        cfg.set(name, digits)
    assert e.value.kind == "invalid" and len(e.value.message) < 300, e.value.message
    with pytest.raises(ConfigError):
        cfg.set(name, 10**5000)
