"""``/notifications``: the unit's notifications, numbered by the API (``seq``), kept (the last 1000) for
``?since=`` and replayed to a Server-Sent Events stream that reconnects (``Last-Event-ID``)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import hdrs, web

from emulator.faces.api.openapi import Schema, arr, obj, query, ref
from emulator.faces.api.routing import PREFIX, ApiError, Route, int_query, json_response, ok, utc_iso
from emulator.ops.errors import ErrorKind
from emulator.runtime.unit import Unit
from firmware_model.notifications import SEVERITIES, NotificationEvent

__all__ = ["COMPONENTS", "NOTIFICATION_BACKLOG", "NotificationFeed"]

NOTIFICATION_BACKLOG = 1000  # notifications kept for GET /notifications and SSE replay
SSE_KEEPALIVE_S = 15.0
SSE_QUEUE = 1000  # events buffered per stream before a slow client is dropped

Item = tuple[int, NotificationEvent]


def _parse_since(text: str) -> tuple[str, float]:
    """``since``: a sequence number (digits), an ISO-8601 time, or epoch seconds with a dot."""
    s = text.strip()
    if s.isascii() and s.isdigit():
        return "seq", float(s)
    try:
        return "time", float(s)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
        return "time", (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):  # OverflowError: a time zone that moves year 1 before the epoch's range
        raise ApiError(ErrorKind.INVALID, f"since={text[:40]!r}: give a sequence number, an ISO-8601 time or "
                                          "epoch seconds") from None


class NotificationFeed:
    """The numbered notifications of one unit and the open event streams (from the feed's creation on)."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.seq = 0
        self.events: deque[Item] = deque(maxlen=NOTIFICATION_BACKLOG)
        self._streams: set[asyncio.Queue[Item | None]] = set()
        for ev in list(unit.notifications):
            self._on_notification(ev)
        self.unsubscribe = unit.on_notification(self._on_notification)

    def _on_notification(self, ev: NotificationEvent) -> None:
        self.seq += 1
        item = (self.seq, ev)
        self.events.append(item)
        for q in list(self._streams):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:  # a client that does not read: drop it (it may reconnect)
                self._end_stream(q)

    def _end_stream(self, q: asyncio.Queue[Item | None]) -> None:
        self._streams.discard(q)
        while not q.empty():
            q.get_nowait()
        q.put_nowait(None)

    def close(self) -> None:
        """End every open stream (the server stops)."""
        for q in list(self._streams):
            self._end_stream(q)

    def _event_json(self, seq: int, ev: NotificationEvent) -> dict[str, Any]:
        return {"seq": seq, "service": ev.service, "numkey": ev.numkey, "service_name": ev.service_name,
                "msg_id": ev.msg_id, "severity": ev.severity, "message": ev.message, "time": ev.time,
                "time_utc": utc_iso(ev.time), "time_local": self.unit.local_time(ev.time), "fields": dict(ev.fields)}

    def _filter(self, request: web.Request) -> Callable[[int, NotificationEvent], bool]:
        q = request.query
        raw = q.get("since") or request.headers.get("Last-Event-ID")
        since = _parse_since(raw) if raw else None
        service = q.get("service", "").lower()
        sev = q.get("severity", "")
        floor = 0
        if sev:
            match = next((k for k in SEVERITIES if k.lower() == sev.lower()), None)
            if match is None:
                raise ApiError(ErrorKind.INVALID, f"severity={sev[:40]!r}: one of {', '.join(SEVERITIES)} is expected")
            floor = SEVERITIES[match]

        def keep(seq: int, ev: NotificationEvent) -> bool:
            if since is not None:
                mode, value = since
                if (seq if mode == "seq" else ev.time) <= value:
                    return False
            if service and ev.service.lower() != service and str(ev.numkey) != service:
                return False
            return SEVERITIES.get(ev.severity, 0) >= floor

        return keep

    async def list_notifications(self, request: web.Request) -> web.Response:
        keep = self._filter(request)
        limit = int_query(request, "limit", 100, 1, NOTIFICATION_BACKLOG)
        picked = [(s, e) for s, e in self.events if keep(s, e)][-limit:]
        return json_response({"notifications": [self._event_json(s, e) for s, e in picked], "count": len(picked),
                              "last_seq": self.seq})

    def _sse(self, seq: int, ev: NotificationEvent) -> bytes:
        data = json_response(self._event_json(seq, ev)).body
        assert isinstance(data, bytes)
        return f"id: {seq}\nevent: notification\ndata: ".encode() + data + b"\n\n"

    async def stream_notifications(self, request: web.Request) -> web.StreamResponse:
        keep = self._filter(request)
        resp = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "text/event-stream; charset=utf-8",
                                           hdrs.CACHE_CONTROL: "no-cache", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        q: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=SSE_QUEUE)
        # No await between taking the backlog and subscribing: no event is lost or doubled.
        replay = "since" in request.query or "Last-Event-ID" in request.headers
        backlog = [(s, e) for s, e in self.events if keep(s, e)] if replay else []
        self._streams.add(q)
        try:
            await resp.write(b": dgw-emulator notifications\nretry: 2000\n\n")
            for s, e in backlog:
                await resp.write(self._sse(s, e))
            while True:
                try:
                    item = await asyncio.wait_for(q.get(), timeout=SSE_KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if item is None:
                    break
                if keep(*item):
                    await resp.write(self._sse(*item))
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self._streams.discard(q)
        return resp

    def routes(self) -> list[Route]:
        P = f"{PREFIX}/notifications"
        since = query("since", "only newer: a sequence number (digits), an ISO-8601 time, or epoch seconds with a "
                      "decimal point", {"type": "string"})
        svc = query("service", "only this service (text key or numeric key)", {"type": "string"})
        sev = query("severity", "minimum severity", {"type": "string", "enum": list(SEVERITIES)})
        return [
            Route("GET", P, self.list_notifications, "read", "listNotifications", "notifications",
                  "Recent notifications, oldest first", {200: ok("notifications", ref("NotificationList"))},
                  (ErrorKind.INVALID,),
                  params=(since, query("limit", "at most this many (the newest), 1..1000, default 100",
                                       {"type": "integer", "minimum": 1, "maximum": 1000}), svc, sev)),
            Route("GET", f"{P}/stream", self.stream_notifications, "read", "streamNotifications", "notifications",
                  "Live notifications (Server-Sent Events)",
                  {200: ok("one `notification` event per notification; `id` is its seq; data is a Notification in "
                           "JSON. Comments every 15 s keep the connection open.", {"type": "string"},
                           "text/event-stream")},
                  (ErrorKind.INVALID,),
                  params=(since, svc, sev, {"name": "Last-Event-ID", "in": "header", "required": False,
                                            "description": "resume after this seq", "schema": {"type": "string"}}),
                  description="With since= or a Last-Event-ID header, the kept notifications after it are sent "
                  "first."),
        ]


def _schemas() -> dict[str, Schema]:
    fields: dict[str, Schema] = {
        "seq": {"type": "integer", "description": "sequence number given by this API (for since=)"},
        "service": {"type": "string"},
        "numkey": {"type": "integer"},
        "service_name": {"type": "string"},
        "msg_id": {"type": "integer"},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "message": {"type": "string"},
        "time": {"type": "number", "description": "unit clock, UTC epoch seconds"},
        "time_utc": {"type": "string", "format": "date-time"},
        "time_local": {"type": "string", "description": "unit local time (Hoc.StaticTimeZone)"},
        "fields": {"type": "object"},
    }
    return {
        "Notification": obj(fields, list(fields)),
        "NotificationList": obj({"notifications": arr(ref("Notification")), "count": {"type": "integer"},
                                 "last_seq": {"type": "integer"}}, ["notifications", "count", "last_seq"]),
    }


COMPONENTS: dict[str, dict[str, Any]] = {"schemas": _schemas()}
