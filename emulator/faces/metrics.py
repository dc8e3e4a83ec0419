"""A Prometheus endpoint per process (emulator addition; ``dgw-emulator run --metrics-port``).

``GET /metrics`` on the process's metrics address answers, in the Prometheus text format (prometheus-client),
figures over every unit the process runs — a one-process lab, or one worker of a multi-process lab (each
worker has its own endpoint, listed in the ready file's ``workers``):

==================================== ======= ============================================================
``dgw_units{profile}``               gauge   units running, by model
``dgw_services{state}``              gauge   DGW services of those units by ``Scm.ServicesInfo`` ExecState
``dgw_registrations{state}``         gauge   rows of ``SipEp.RegistrationStatus`` by State
``dgw_calls{state}``                 gauge   calls the units hold (current and recently ended) by state
``dgw_srtp_undecryptable_packets``   gauge   SRTP packets that could not be decrypted, in those calls
``dgw_cwmp_sessions_total{outcome}`` counter TR-069 sessions with the ACS, ``ok`` or ``failed``
``dgw_scripts_total{source,outcome}``counter configuration scripts run (API, CLI, web, TR-069 Download,
                                             a transfer...), from the Conf notifications
``dgw_notifications_total{service,   counter notifications raised
severity}``
``process_*``                        —       the process's CPU, memory and descriptors
==================================== ======= ============================================================

Figures are read when scraped, through public names only (the configuration's status tables,
:mod:`emulator.ops.snapshots`, the Cwmp engine's session counters); notifications are counted as they are
raised. Per-unit detail stays with each unit's API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from emulator.ops import snapshots
from emulator.runtime.http import app_runner, bound_port
from emulator.runtime.unit import Unit
from firmware_model.notifications import NotificationEvent

__all__ = ["CONTENT_TYPE", "MetricsServer", "UnitsCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRIPT_OUTCOME = {9001: "ok", 9002: "refused"}  # Conf notifications of a script run (runtime/unit.py)


class CwmpCounters(Protocol):
    sessions_ok: int
    sessions_failed: int


class UnitsCollector(Collector):
    """The figures of the units ``units()`` returns, computed at each scrape."""

    def __init__(self, units: Callable[[], Iterable[Unit]]) -> None:
        self.units = units
        self.notifications: Counter[tuple[str, str]] = Counter()
        self.scripts: Counter[tuple[str, str]] = Counter()
        self._watched: set[int] = set()

    def watch(self, unit: Unit) -> None:
        """Count the unit's notifications from now on."""
        if id(unit) not in self._watched:
            self._watched.add(id(unit))
            unit.on_notification(self._count)

    def _count(self, ev: NotificationEvent) -> None:
        self.notifications[(ev.service, ev.severity)] += 1
        if ev.service == "Conf" and ev.msg_id in SCRIPT_OUTCOME:
            self.scripts[(str(ev.fields.get("source", "")), SCRIPT_OUTCOME[ev.msg_id])] += 1

    def collect(self) -> Iterator[Metric]:
        profiles: Counter[str] = Counter()
        services: Counter[str] = Counter()
        registrations: Counter[str] = Counter()
        calls: Counter[str] = Counter()
        undecryptable = 0
        cwmp = {"ok": 0, "failed": 0}
        for unit in self.units():
            profiles[unit.profile.key] += 1
            services.update(st.state for st in unit.services.values())
            if unit.services.get("SipEp") is not None and unit.services["SipEp"].state == "Started":
                registrations.update(str(r.get("State", "")) for r in unit.config.rows("SipEp.RegistrationStatus"))
            manager = snapshots.call_manager(unit)
            if manager is not None:
                calls["ended"] += len(manager.history)  # ended calls kept as summaries
            for call in manager.calls if manager is not None else ():
                calls[str(call.state)] += 1
                stream = snapshots.stream_of(call)
                if stream is not None:
                    undecryptable += stream.undecryptable
            engine: Any = unit.services["Cwmp"].engine if "Cwmp" in unit.services else None
            if engine is not None and hasattr(engine, "sessions_ok"):
                counters: CwmpCounters = engine
                cwmp["ok"] += counters.sessions_ok
                cwmp["failed"] += counters.sessions_failed
        yield _gauge("dgw_units", "Units running in this process, by model", "profile", profiles)
        yield _gauge("dgw_services", "DGW services of the units by execution state", "state", services)
        yield _gauge("dgw_registrations", "SIP registrations (SipEp.RegistrationStatus rows) by state", "state",
                     registrations)
        yield _gauge("dgw_calls", "Calls the units hold (current and recently ended) by state", "state", calls)
        g = GaugeMetricFamily("dgw_srtp_undecryptable_packets", "SRTP packets not decrypted, in the calls held")
        g.add_metric([], undecryptable)
        yield g
        c = CounterMetricFamily("dgw_cwmp_sessions", "TR-069 sessions with the ACS", labels=["outcome"])
        for outcome, n in cwmp.items():
            c.add_metric([outcome], n)
        yield c
        c = CounterMetricFamily("dgw_scripts", "Configuration scripts run, by source and outcome",
                                labels=["source", "outcome"])
        for (source, outcome), n in sorted(self.scripts.items()):
            c.add_metric([source, outcome], n)
        yield c
        c = CounterMetricFamily("dgw_notifications", "Notifications raised, by service and severity",
                                labels=["service", "severity"])
        for (service, severity), n in sorted(self.notifications.items()):
            c.add_metric([service, severity], n)
        yield c


def _gauge(name: str, doc: str, label: str, counts: Counter[str]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=[label])
    for value, n in sorted(counts.items()):
        g.add_metric([value], n)
    return g


class MetricsServer:
    """``GET /metrics`` for the units of this process, on ``host:port`` (port 0: the kernel chooses)."""

    def __init__(self, units: Callable[[], Iterable[Unit]], log: Any) -> None:
        self.collector = UnitsCollector(units)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self.registry.register(ProcessCollector(registry=None))
        self.log = log
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> str:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        runner = app_runner(app, self.log.bind(server="metrics"))
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port(site)}/metrics"
        self.log.info("metrics_listening", url=self.url)
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _scrape(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE})
