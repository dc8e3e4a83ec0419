"""DTMF maps (RFC 3435 §2.1.5 digit maps, the vendor's S) and DTMF transformations: parsing, matching, the
refusals with their reason, and the set-time validation every face goes through (firmware_model.digit_maps)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from firmware_model.config import ConfigError
from firmware_model.digit_maps import DigitMapError, check_transformation, parse_digit_map, transform
from firmware_model.profiles import get_profile
from tests.helpers.api_env import _env


def state(map_text: str, dialled: str) -> tuple[bool, bool]:
    m = parse_digit_map(map_text).match(dialled)
    return m.complete, m.more


@pytest.mark.parametrize(("map_text", "dialled", "complete", "more"), [
    ("x.T", "", False, True),
    ("x.T", "123", False, True),  # waits for the timer
    ("x.T", "123T", True, False),
    ("xxx", "12", False, True),
    ("xxx", "123", True, False),
    ("xxx", "1234", False, False),
    ("[1-3]xx", "412", False, False),
    ("[1-35#]x", "#1", True, False),
    ("[1-35#]x", "41", False, False),
    ("(911|1xxx|9x.T)", "911", True, True),  # 911 whole, 9x.T could go on
    ("(911|1xxx|9x.T)", "1555", True, False),
    ("(911|1xxx|9x.T)", "2", False, False),
    ("0T", "0T", True, False),
    ("*72x.T", "*7255T", True, False),
    ("*ab", "*AB", True, False),  # letters in either case
    ("", "1", False, False),  # an empty map matches nothing
])
def test_match(map_text: str, dialled: str, complete: bool, more: bool) -> None:
    assert state(map_text, dialled) == (complete, more)


def test_stutter_marks_the_end_of_the_code() -> None:
    m = parse_digit_map("*72Sx.T")
    assert m.match("*72").stutter and not m.match("*7").stutter and not m.match("*725").stutter
    whole = m.match("*72555T")
    assert whole.complete and whole.code_length == 3


def test_code_length_is_the_literal_prefix() -> None:
    assert parse_digit_map("*21x.T").match("*21444T").code_length == 3
    assert parse_digit_map("(911|*9x.T)").match("*9123T").code_length == 2


@pytest.mark.parametrize(("map_text", "where", "what"), [
    ("[12", "character 1", "never closed"),
    ("12]", "character 3", "without '['"),
    ("x..", "character 3", "'.' must follow"),
    (".1", "character 1", "'.' must follow"),
    ("1||2", "character 3", "empty alternative"),
    ("(12", "character 1", "never closed"),
    ("1(2)", "character 4", "without '('"),
    ("S1", "character 1", "S must follow"),
    ("1S", "character 2", "what follows S"),
    ("[9-1]", "character 2", "backwards"),
    ("[]", "character 1", "empty range"),
    ("12 3", "character 3", "is not a DTMF"),
    ("1e", "character 2", "is not a DTMF"),
])
def test_malformed_maps_name_where_and_what(map_text: str, where: str, what: str) -> None:
    with pytest.raises(DigitMapError) as e:
        parse_digit_map(map_text)
    assert where in str(e.value) and what in str(e.value), str(e.value)


@pytest.mark.parametrize(("transformation", "number", "result"), [  # the MIB's examples
    ("0x", "18195551111#", "018195551111#"),
    ("x{#}", "18195551111#", "18195551111"),
    ("(4)x", "18195551111#", "5551111#"),
    ("(1){819}514x{#}", "18195551111#", "5145551111"),
    ("3332222", "18195551111#", "3332222"),
    ("x", "123", "123"),
    ("", "123", "123"),
    ("{9}x", "123", "123"),  # a prefix removed only when present
    ("x(2)", "12345", "123"),
])
def test_transformation(transformation: str, number: str, result: str) -> None:
    assert transform(transformation, number) == result


@pytest.mark.parametrize(("transformation", "what"), [
    ("xx", "only one x"), ("{1x", "never closed"), ("(a)x", "count of DTMFs"), ("x$", "is not a DTMF"),
    ("9(2)", "without x"),
])
def test_malformed_transformations(transformation: str, what: str) -> None:
    with pytest.raises(DigitMapError, match=what.replace("(", r"\(")):
        check_transformation(transformation)


@pytest.mark.parametrize(("param", "bad"), [
    ("EpServ.DefaultCallWaitingActivationDtmfMap", "*7[0"),
    ("EpServ.DefaultForwardUnconditionalDtmfMapActivation", "*72S"),
    ("EpServ.DefaultForwardOnBusyDtmfMapDeactivation", "x.."),
    ("EpServ.DefaultCallCompletionDtmfMapDeactivation", "1|"),
    ("EpServ.CallDtmfMapAllowed[1].DtmfMap", "[12"),
    ("EpServ.CallDtmfMapAllowed[1].DtmfTransformation", "xx"),
    ("EpServ.CallDtmfMapRefuse[1].DtmfMap", "9)"),
])
def test_config_refuses_a_malformed_map_and_keeps_the_value(param: str, bad: str) -> None:
    """Config.set is what every face (API, CLI, web, scripts, SNMP, TR-069) goes through."""
    from emulator.runtime.unit import Unit

    unit = Unit(name="dm", profile=get_profile("4102"), state_dir=tempfile.mkdtemp(), host="127.0.0.9")
    c = unit.config
    assert len(c.rows("EpServ.CallDtmfMapAllowed")) == 10  # the hardware's ten fixed rows
    good = "(911|1xxx)" if not param.endswith("Transformation") else "0x"
    c.set(param, good)
    with pytest.raises(ConfigError) as e:
        c.set(param, bad)
    assert "character" in str(e.value) or "without x" in str(e.value), str(e.value)
    assert c.get(param) == good


async def test_api_face_refuses_a_malformed_map_with_the_reason(tmp_path: Path) -> None:
    """One face end to end (the others share Config.set): PUT a malformed map, 400 with where and what."""
    async for env in _env(tmp_path):
        path = "/api/v1/parameters/EpServ.CallDtmfMapAllowed[2].DtmfMap"
        r = await env.c.put(path, {"value": "(1xxx|9[0-5x)"})
        assert r.status == 400 and r.body["kind"] == "invalid", r.body
        assert "character 8" in r.body["error"] and "never closed" in r.body["error"], r.body["error"]
        r = await env.c.get(path)
        assert r.body["value"] == "x.T"  # the previous value intact
        r = await env.c.put(path, {"value": "(1xxx|9[0-5]x)"})
        assert r.status == 200 and env.unit.config.get("EpServ.CallDtmfMapAllowed[2].DtmfMap") == "(1xxx|9[0-5]x)"
