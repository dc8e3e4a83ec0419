"""Settings derived from a unit's configuration, kept until the configuration they come from changes.

A call reads many settings (EpServ services, forwarding, SDP interop knobs), several of them through whole
100-row tables; read per call they cost a large share of a call's CPU on a unit with many lines. A
:class:`SettingsCache` keeps each derived value under a key until any parameter of the services it depends on
changes (:meth:`~firmware_model.config.Config.subscribe`: every set, added or deleted row and factory reset,
whatever face made it), so a new value takes effect for the next use exactly as when it was read every time.

Inside a configuration batch (``Config.batch``) the cache is bypassed: the batch announces its changes only at its
end and restores the old values without a word when it fails, so nothing read then may be kept or served.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

__all__ = ["SettingsCache", "settings_cache"]

T = TypeVar("T")

# One cache per (configuration, services), shared by every reader of that configuration: a service restarted many
# times makes no new subscription each time, and a configuration dropped takes its caches with it.
_CACHES: weakref.WeakKeyDictionary[Any, dict[frozenset[str], SettingsCache]] = weakref.WeakKeyDictionary()


class SettingsCache:
    """Values computed from ``config``, dropped when a parameter of one of ``services`` changes. Keys are the
    caller's (name them after the caller: several readers of the same services share one cache)."""

    def __init__(self, config: Any, services: Iterable[str]) -> None:
        try:  # weakly: the module's registry keys on the configuration, which must stay collectable
            self._config: Callable[[], Any] = weakref.ref(config)
        except TypeError:
            self._config = lambda: config
        self.services = frozenset(services)
        self._values: dict[Hashable, Any] = {}
        self.enabled = callable(getattr(config, "subscribe", None))  # a bare reader (tests' dicts): no caching
        if self.enabled:
            config.subscribe(self._changed)

    def _changed(self, event: Any) -> None:
        if event.kind == "reset" or event.param.service in self.services:
            self._values.clear()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept under ``key``, else ``compute()`` (kept while the configuration stays as it is)."""
        if not self.enabled or getattr(self._config(), "in_batch", False):
            return compute()
        try:
            return self._values[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._values[key] = compute()
            return value

    def clear(self) -> None:
        self._values.clear()


def settings_cache(config: Any, services: Iterable[str]) -> SettingsCache:
    """The cache of ``config`` for ``services`` (made on first use)."""
    wanted = frozenset(services)
    try:
        per_config = _CACHES.setdefault(config, {})
    except TypeError:  # not weakly referable (a test's plain reader): a cache of its own
        return SettingsCache(config, wanted)
    cache = per_config.get(wanted)
    if cache is None:
        cache = per_config[wanted] = SettingsCache(config, wanted)
    return cache
