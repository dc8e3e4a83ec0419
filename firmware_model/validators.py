"""Checks beyond a parameter's type, for values whose text has a grammar of its own.

Each validator takes the parsed value and raises ValueError with the reason. Config.set (and so
every face) applies them; an empty value always means "not configured" and is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware_model.crout_expressions import check_causes, check_criteria, check_transformation
from firmware_model.schema import Value
from firmware_model.timezone import parse_tz

__all__ = ["VALIDATORS"]


def _posix_tz(value: Value) -> None:
    if str(value):
        parse_tz(str(value))


VALIDATORS: dict[str, Callable[[Value], None]] = {
    "Hoc.StaticTimeZone": _posix_tz,
    "Hoc.SntpTimeZone": _posix_tz,
    # the call router's expressions (firmware_model/crout_expressions.py): malformed ones refused at set time
    "CRout.Route.ExpressionCriteria": check_criteria,
    "CRout.MappingExpression.Criteria": check_criteria,
    "CRout.MappingExpression.Transformation": check_transformation,
    "CRout.Hunt.Causes": check_causes,
}
