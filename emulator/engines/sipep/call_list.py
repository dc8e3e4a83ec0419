"""The calls a unit lists (current ones, and ended ones kept a while), indexed by endpoint and by Call-ID.

A call looks up the line's calls (focus, held, waiting: line_calls.py) and the call of each in-dialog request
several times; scanning every call of the unit each time was a large share of a call's CPU on a unit with a
hundred lines. :class:`CallList` is the list the call layer and the faces read, with both indexes kept
in step by its own ``append``, ``extend`` (``+=``), ``remove`` and ``clear`` (whoever adds or removes a call).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from emulator.engines.sipep.call import Call

__all__ = ["CallList"]


class CallList(list[Call]):
    """A list of calls, oldest first, with :meth:`of_endpoint` and :meth:`of_call_id` (each oldest first too)."""

    def __init__(self, calls: Iterable[Call] = ()) -> None:
        super().__init__()
        self._by_endpoint: dict[str, list[Call]] = {}
        self._by_call_id: dict[str, list[Call]] = {}
        self.extend(calls)

    def of_endpoint(self, endpoint: str) -> list[Call]:
        """The endpoint's calls (do not change the list returned)."""
        return self._by_endpoint.get(endpoint, [])

    def of_call_id(self, call_id: str) -> list[Call]:
        """The calls with this Call-ID (do not change the list returned)."""
        return self._by_call_id.get(call_id, [])

    def append(self, call: Call) -> None:
        super().append(call)
        self._by_endpoint.setdefault(call.endpoint, []).append(call)
        self._by_call_id.setdefault(call.call_id, []).append(call)

    def extend(self, calls: Iterable[Call]) -> None:
        for call in calls:
            self.append(call)

    def __iadd__(self, calls: Iterable[Call]) -> CallList:  # type: ignore[override,misc]
        self.extend(calls)
        return self

    def remove(self, call: Call) -> None:
        super().remove(call)
        for index, key in ((self._by_endpoint, call.endpoint), (self._by_call_id, call.call_id)):
            same = index[key]
            same.remove(call)
            if not same:
                del index[key]

    def clear(self) -> None:
        super().clear()
        self._by_endpoint.clear()
        self._by_call_id.clear()

    def _unsupported(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("a CallList changes by append, extend (+=), remove and clear only (its indexes follow them)")

    insert = pop = __setitem__ = __delitem__ = __imul__ = _unsupported  # type: ignore[assignment]
