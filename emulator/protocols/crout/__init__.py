"""The call router (CRout) as a pure core: its configuration checked and compiled (:mod:`.table`), the routing
decision for a call (:mod:`.router`), call properties (:mod:`.properties`), interface names (:mod:`.names`) and
Q.850 causes (:mod:`.causes`). The expression languages live in :mod:`firmware_model.crout_expressions`, where
``Config.set`` checks them. The engine that runs it is :mod:`emulator.engines.crout`."""

from emulator.protocols.crout.causes import NO_ROUTE, cause_for_status, reason_header, status_for_cause
from emulator.protocols.crout.properties import CallProperties
from emulator.protocols.crout.router import Decision, HuntPlan, Leg, Redirect, Refusal, Router
from emulator.protocols.crout.table import (
    AutoEndpoint,
    AutoRouting,
    Problem,
    RoutingConfigError,
    RoutingTable,
    Signaling,
    build_table,
    check,
)

__all__ = [
    "NO_ROUTE", "AutoEndpoint", "AutoRouting", "CallProperties", "Decision", "HuntPlan", "Leg", "Problem",
    "Redirect", "Refusal", "Router", "RoutingConfigError", "RoutingTable", "Signaling", "build_table",
    "cause_for_status", "check", "reason_header", "status_for_cause",
]
