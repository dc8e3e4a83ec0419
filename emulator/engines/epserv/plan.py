"""One endpoint's dial plan read from the EpServ configuration (:class:`~.collector.DialPlan`), pure over a
config-like object (``get``/``rows``).

* Allowed and refused maps: the enabled rows of ``CallDtmfMapAllowed`` / ``CallDtmfMapRefuse`` in index order
  whose ``ApplyTo`` is ``Unit``, or ``Endpoint`` with this endpoint among ``EpId`` (several endpoints separated by
  commas). Emulator choice: a unit with no ``CallDtmfMapAllowed`` row at all (the factory configuration) allows
  what the column's default map allows, ``x.T`` (any number, ended by the inter-DTMF timeout).
* Service codes: the ``Default*DtmfMap*`` activation/deactivation maps of call waiting (and its per-call cancel)
  and of the three forwardings; empty maps are not codes.
* Timeouts: ``EpSpecificDtmfMapTimeout`` when its ``EnableConfig`` is Enable, else the ``DtmfMapTimeout*``
  defaults.
* Auto-call (hotline) and delayed hotline: the ``EpSpecific*`` row when its ``EnableConfig`` is Enable, else the
  ``Default*`` parameters; on only with a target address.
"""

from __future__ import annotations

from typing import Any

from emulator.engines.epserv.collector import AllowedMap, DialPlan, ServiceCode, Timeouts
from firmware_model.digit_maps import DigitMap, DigitMapError, parse_digit_map

__all__ = ["SERVICE_CODES", "dial_plan"]

# (parameter, service, action): the user activation codes recognised while dialling
SERVICE_CODES = (
    ("EpServ.DefaultCallWaitingActivationDtmfMap", "CallWaiting", "Activation"),
    ("EpServ.DefaultCallWaitingDeactivationDtmfMap", "CallWaiting", "Deactivation"),
    ("EpServ.DefaultCallWaitingCancelDtmfMap", "CallWaiting", "Cancel"),
    ("EpServ.DefaultForwardUnconditionalDtmfMapActivation", "ForwardUnconditional", "Activation"),
    ("EpServ.DefaultForwardUnconditionalDtmfMapDeactivation", "ForwardUnconditional", "Deactivation"),
    ("EpServ.DefaultForwardOnBusyDtmfMapActivation", "ForwardOnBusy", "Activation"),
    ("EpServ.DefaultForwardOnBusyDtmfMapDeactivation", "ForwardOnBusy", "Deactivation"),
    ("EpServ.DefaultForwardNoAnswerDtmfMapActivation", "ForwardNoAnswer", "Activation"),
    ("EpServ.DefaultForwardNoAnswerDtmfMapDeactivation", "ForwardNoAnswer", "Deactivation"),
)


def _applies(row: dict[str, Any], endpoint: str) -> bool:
    if row.get("Enable") != "Enable":
        return False
    if row.get("ApplyTo") != "Endpoint":
        return True
    return endpoint in [e.strip() for e in str(row.get("EpId") or "").split(",")]


def _map(text: Any) -> DigitMap | None:
    try:
        return parse_digit_map(str(text or "")) if text else None
    except DigitMapError:  # refused at set time; a stored one from an older release is skipped
        return None


def _row(config: Any, table: str, endpoint: str) -> dict[str, Any] | None:
    for row in config.rows(table):
        if str(row.get("EpId")) == endpoint and row.get("EnableConfig") == "Enable":
            return dict(row)
    return None


def _own_or_default(config: Any, table: str, endpoint: str, defaults: dict[str, str]) -> list[Any]:
    """The columns of the endpoint's own row in ``table`` (EnableConfig Enable), else the unit's defaults:
    ``defaults`` maps each column to its Default parameter."""
    own = _row(config, table, endpoint)
    if own is not None:
        return [own.get(column) for column in defaults]
    return [config.get(name) for name in defaults.values()]


def dial_plan(config: Any, endpoint: str) -> DialPlan:
    """The dial plan of ``endpoint`` (see the module docstring)."""
    rows = config.rows("EpServ.CallDtmfMapAllowed")
    allowed: list[AllowedMap] = []
    for row in rows:
        m = _map(row.get("DtmfMap"))
        if m is not None and _applies(row, endpoint):
            allowed.append(AllowedMap(int(row.get("Index") or 0), m, str(row.get("DtmfTransformation") or ""),
                                      str(row.get("TargetHost") or ""), row.get("Emergency") == "Enable"))
    if not rows:
        allowed.append(AllowedMap(0, parse_digit_map("x.T")))
    refused = tuple(m for row in config.rows("EpServ.CallDtmfMapRefuse")
                    if _applies(row, endpoint) and (m := _map(row.get("DtmfMap"))) is not None)
    services = tuple(ServiceCode(service, action, m) for param, service, action in SERVICE_CODES
                     if (m := _map(config.get(param))) is not None)
    first, inter, completion = _own_or_default(config, "EpServ.EpSpecificDtmfMapTimeout", endpoint, {
        "FirstDtmf": "EpServ.DtmfMapTimeoutFirstDtmf", "InterDtmf": "EpServ.DtmfMapTimeoutInterDtmf",
        "Completion": "EpServ.DtmfMapTimeoutCompletion"})
    timeouts = Timeouts(int(first or 20000) / 1000, int(inter or 3000) / 1000, int(completion or 60000) / 1000)
    auto_on, auto_target = _own_or_default(config, "EpServ.EpSpecificAutoCall", endpoint, {
        "Enable": "EpServ.DefaultAutoCallEnable", "TargetAddress": "EpServ.DefaultAutoCallTargetAddress"})
    d_on, d_cond, d_target = _own_or_default(config, "EpServ.EpSpecificDelayedHotline", endpoint, {
        "Enable": "EpServ.DefaultDelayedHotlineEnable", "Condition": "EpServ.DefaultDelayedHotlineCondition",
        "TargetAddress": "EpServ.DefaultDelayedHotlineTargetAddress"})
    return DialPlan(
        allowed=tuple(allowed), refused=refused, services=services, timeouts=timeouts,
        auto_call=str(auto_target or "") if auto_on == "Enable" else "",
        delayed_hotline=str(d_target or "") if d_on == "Enable" else "",
        delayed_condition=str(d_cond or "FirstDtmfTimeout"),
        direct_ip=config.get("EpServ.DefaultCallAllowDirectIp") == "Enable",
    )
