"""The call router's expression languages (firmware_model/crout_expressions.py) and their set-time checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from firmware_model.config import ConfigError
from firmware_model.crout_expressions import compile_criteria, expand, parse_causes, parse_datetime
from tests.helpers.units import configured


@pytest.mark.parametrize(("rule", "value", "groups"), [
    ("^9(.*)$", "95551234", ("95551234", "5551234")),
    ("[[:digit:]]{4}$", "x1001", ("1001",)),
    ("^(\\+1|1)?([2-9][0-9]{2})", "+15145551234", ("+1514", "+1", "514")),
    ("alice|bob", "call-bob", ("bob",)),  # regexec: anywhere in the value unless anchored
    ("<default>", "x", ("x",)),
    ("1001   ", "1001", ("1001",)),  # whitespace at the end of a rule is ignored
])
def test_criteria_match_as_posix_regexec(rule: str, value: str, groups: tuple[str, ...]) -> None:
    assert compile_criteria(rule).match(value) == groups


def test_special_tags() -> None:
    assert compile_criteria("<undefined>").match(None) == ("",)
    assert compile_criteria("<undefined>").match("1") is None
    assert compile_criteria("<default>").match(None) == ("",)
    assert compile_criteria("^1$").match(None) is None


@pytest.mark.parametrize(("rule", "words"), [
    ("\\d+", "\\d"), ("(?i)bob", "(?"), ("a*?", "repetition"), ("(ab", "missing )"), ("*1", "nothing to repeat"),
    ("[0-9", "bracket"), ("^(1)\\1$", "back-reference"), ("[[:digits:]]", "character class"),
    ("1{5,2}", "below the minimum"), ("<anything>", "special tag"), ("12\\", "backslash"),
])
def test_malformed_criteria_refused_at_set_time(tmp_path: Path, rule: str, words: str) -> None:
    cfg = configured(tmp_path)
    index = cfg.add_row("CRout.MappingExpression", {"Name": "m"})
    for name in (f"CRout.MappingExpression[{index[0]}].Criteria", "CRout.Route[1].ExpressionCriteria"):
        if name.startswith("CRout.Route"):
            cfg.add_row("CRout.Route")
        with pytest.raises(ConfigError) as err:
            cfg.set(name, rule)
        assert err.value.kind == "invalid" and words in err.value.message, err.value.message
        assert cfg.get(name) == ""  # the row kept its value


@pytest.mark.parametrize(("rule", "words"), [("\\a", "only \\0 to \\9"), ("1\\", "ends the transformation")])
def test_malformed_transformation_refused_at_set_time(tmp_path: Path, rule: str, words: str) -> None:
    cfg = configured(tmp_path)
    index = cfg.add_row("CRout.MappingExpression", {"Name": "m"})
    with pytest.raises(ConfigError) as err:
        cfg.set(f"CRout.MappingExpression[{index[0]}].Transformation", rule)
    assert words in err.value.message


def test_good_expressions_are_taken(tmp_path: Path) -> None:
    cfg = configured(tmp_path)
    index = cfg.add_row("CRout.MappingExpression", {"Name": "m"})
    cfg.set(f"CRout.MappingExpression[{index[0]}].Criteria", "^9([[:digit:]]+)$")
    cfg.set(f"CRout.MappingExpression[{index[0]}].Transformation", "1\\1@<local_ip_port>")
    assert cfg.get(f"CRout.MappingExpression[{index[0]}].Transformation") == "1\\1@<local_ip_port>"


def test_transformation_expands_groups_and_the_local_address() -> None:
    groups = compile_criteria("^9(.*)$").match("95551234")
    assert groups is not None
    assert expand("1\\1", groups) == "15551234"
    assert expand("\\0\\\\", groups) == "95551234\\"
    assert expand("\\1@<local_ip_port>", groups, "127.0.0.2:5060") == "5551234@127.0.0.2:5060"


def test_hunt_causes(tmp_path: Path) -> None:
    assert parse_causes("31, 34, 38, 41, 42, 43, 44, 47") == (31, 34, 38, 41, 42, 43, 44, 47)
    cfg = configured(tmp_path)
    index = cfg.add_row("CRout.Hunt", {"Name": "h"})
    with pytest.raises(ConfigError) as err:
        cfg.set(f"CRout.Hunt[{index[0]}].Causes", "17, 200")
    assert "'200' is not a cause" in err.value.message


def test_datetime_periods() -> None:
    rule = parse_datetime("25.12.2006 | SUN | MON,TUE/22:00:00-06:00:00 | 01.01.2027/08:00:00-12:00:00")
    assert rule(datetime(2006, 12, 25, 13))  # the date
    assert rule(datetime(2026, 12, 6, 13))  # a Sunday
    assert rule(datetime(2026, 12, 7, 23))  # Monday night
    assert rule(datetime(2026, 12, 8, 5, 59))  # over midnight, Tuesday
    assert not rule(datetime(2026, 12, 8, 12))
    assert rule(datetime(2027, 1, 1, 9)) and not rule(datetime(2027, 1, 1, 13))
    with pytest.raises(ValueError, match="not a week day"):
        parse_datetime("SUN,FUN")
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime("31.02.2026")
