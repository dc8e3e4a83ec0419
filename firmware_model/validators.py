"""Checks beyond a parameter's type, for values whose text has a grammar of its own.

Each validator takes the parsed value and raises ValueError with the reason. Config.set (and so
every face) applies them; an empty value always means "not configured" and is accepted.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware_model.crout_expressions import check_causes, check_criteria, check_transformation
from firmware_model.digit_maps import check_digit_map
from firmware_model.digit_maps import check_transformation as check_dtmf_transformation
from firmware_model.schema import Value
from firmware_model.timezone import parse_tz

__all__ = ["VALIDATORS"]


def _posix_tz(value: Value) -> None:
    if str(value):
        parse_tz(str(value))


# the EpServ parameters whose syntax is MxDigitMap
_EPSERV_DIGIT_MAPS = (
    "CallDtmfMapAllowed.DtmfMap", "CallDtmfMapRefuse.DtmfMap", "DefaultCallWaitingCancelDtmfMap",
    "DefaultCallWaitingActivationDtmfMap", "DefaultCallWaitingDeactivationDtmfMap",
    "DefaultForwardUnconditionalDtmfMapActivation", "DefaultForwardUnconditionalDtmfMapDeactivation",
    "DefaultForwardOnBusyDtmfMapActivation", "DefaultForwardOnBusyDtmfMapDeactivation",
    "DefaultForwardNoAnswerDtmfMapActivation", "DefaultForwardNoAnswerDtmfMapDeactivation",
    "DefaultCallCompletionBusySubscriberDtmfMapActivation", "DefaultCallCompletionNoReplyDtmfMapActivation",
    "DefaultCallCompletionDtmfMapDeactivation",
)

VALIDATORS: dict[str, Callable[[Value], None]] = {
    "Hoc.StaticTimeZone": _posix_tz,
    "Hoc.SntpTimeZone": _posix_tz,
    # the call router's expressions (firmware_model/crout_expressions.py): malformed ones refused at set time
    "CRout.Route.ExpressionCriteria": check_criteria,
    "CRout.MappingExpression.Criteria": check_criteria,
    "CRout.MappingExpression.Transformation": check_transformation,
    "CRout.Hunt.Causes": check_causes,
    # DTMF maps (firmware_model/digit_maps.py): a malformed map or transformation refused at set time
    **{f"EpServ.{name}": check_digit_map for name in _EPSERV_DIGIT_MAPS},
    "EpServ.CallDtmfMapAllowed.DtmfTransformation": check_dtmf_transformation,
}
