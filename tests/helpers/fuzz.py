"""What every parser fuzz test checks: any input is either accepted or refused with the parser's own error,
never a crash (IndexError, struct.error, UnicodeDecodeError...) nor a hang."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def accepted_or_refused(error: type[Exception], call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``call(*args, **kwargs)``'s result, or None when it refuses with ``error``; any other exception propagates
    and fails the test."""
    try:
        return call(*args, **kwargs)
    except error:
        return None
