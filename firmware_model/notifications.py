"""The numbered notification catalog and the notification event type.

A notification is identified by its service (text key, e.g. ``SipEp``; numeric key 1400) and its
message id within that service (e.g. 303). Its text template uses ``{field}`` placeholders filled
from the keyword fields given when it is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["NotificationDef", "NotificationEvent", "SEVERITIES"]

# DGW severities (MinSeverity / local log), lowest to highest.
SEVERITIES: dict[str, int] = {"Debug": 100, "Info": 200, "Warning": 300, "Error": 400, "Critical": 500}


@dataclass(frozen=True, slots=True)
class NotificationDef:
    service: str  # text key, e.g. "SipEp"
    msg_id: int
    severity: str  # a key of SEVERITIES
    template: str  # text with {field} placeholders
    addition: bool = False  # text chosen by the emulator (the hardware's is not known)


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    service: str  # text key
    numkey: int  # service numeric key (%serviceid)
    service_name: str  # display name (%servicename)
    msg_id: int
    severity: str
    message: str  # rendered template (%message)
    time: float  # unit clock, UTC epoch seconds
    fields: dict[str, Any] = field(default_factory=dict)
