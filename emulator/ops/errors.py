"""The kinds of refusal every management face reports, and the error the operations raise.

A face shows a refusal its own way (the HTTP API as ``{"error", "kind"}`` with a status, the CLI as an
``Error:`` line, the web beside the field), but the kinds are one list: the HTTP API's contract
(``docs/api.md``) and its OpenAPI ``Error.kind`` enum are this enum.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["ErrorKind", "OpError"]


class ErrorKind(StrEnum):
    """Why a request was refused (``kind`` in the API's error answers)."""

    # configuration refusals (firmware_model.config.ConfigError.kind)
    UNKNOWN = "unknown"
    NO_ROW = "no-row"
    INVALID = "invalid"
    SYNTAX = "syntax"
    READ_ONLY = "read-only"
    ROW_EXISTS = "row-exists"
    NOT_DYNAMIC = "not-dynamic"
    # the request itself
    BAD_REQUEST = "bad-request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"  # the access policy (emulator.ops.policy.Forbidden)
    LOCKED = "locked"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    TOO_LARGE = "too-large"
    HTTP = "http"
    INTERNAL = "internal"
    # operations on the unit
    CERTIFICATE = "certificate"  # a certificate refused by the store; ``reason`` says why (CertError.kind)
    CALL = "call"  # an endpoint or call action the endpoint's state does not allow
    CONFLICT = "conflict"  # an EpAdm command the endpoint's state refuses
    UNAVAILABLE = "unavailable"  # the unit has no engine for this (no SIP, no media)


class OpError(Exception):
    """A refused operation. ``status`` is the HTTP status when the kind alone does not say it (a call
    refusal is 400, 404, 409 or 503 as :class:`~emulator.engines.sipep.offer_answer.CallError` says);
    ``extra`` holds members added to the API's error answer (``reason`` of a certificate refusal)."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.extra = extra or {}

    def __str__(self) -> str:
        return self.message
