"""The service's own metrics (Prometheus text format at ``/metrics``), one registry per app or process.

* API: requests by method, route template and status, and latency histograms, counted by a pure ASGI
  middleware (one dict lookup and two metric updates per request).
* Load balancers by provisioning and operating status, agents (heartbeat age, liveness, LB count) and
  the failover breaker: computed at scrape time from the database (a few GROUP BY queries).
* Reconcile durations and work-queue depth (an in-process agent), failovers and breaker state (a
  controller), bus (re)connects: read from the running components at scrape time.

Nothing here is global: ``ServiceMetrics`` owns its ``CollectorRegistry``, so several apps (tests,
several API processes in one interpreter) never share series.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Queue(Protocol):
    observe: Callable[[float, bool], None] | None

    def pending(self) -> int: ...


class _Controller(Protocol):
    failovers: int

    @property
    def breaker_open(self) -> bool: ...


class _Callback(Collector):
    def __init__(self, fn: Callable[[], Iterable[Metric]]) -> None:
        self._fn = fn

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._fn()
        except Exception as exc:  # a scrape must answer even while the database is away
            log.warning("metrics collector failed: %s", exc)

    def describe(self) -> list[Metric]:
        return []


class RequestStats(Collector):
    """Request counts and latency histograms kept as plain dicts (the middleware's per-request cost is
    two dict updates and a bisect, ~1 µs, instead of prometheus_client's locked children, ~12 µs) and
    turned into Prometheus families at scrape time. Updated from the event loop's thread only."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: dict[tuple[str, str, int], int] = {}
        self.hist: dict[tuple[str, str], list[float]] = {}  # per bucket, then +Inf, then the sum

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        h = self.hist.get((method, route))
        if h is None:
            h = self.hist[(method, route)] = [0.0] * (len(self.buckets) + 2)
        h[bisect.bisect_left(self.buckets, seconds)] += 1
        h[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        c = CounterMetricFamily("lbaas_api_requests", "API requests answered", labels=["method", "route", "status"])
        for (method, route, status), n in sorted(list(self.counts.items())):
            c.add_metric([method, route, str(status)], n)
        yield c
        h = HistogramMetricFamily(
            "lbaas_api_request_duration_seconds", "API request latency", labels=["method", "route"]
        )
        for (method, route), values in sorted(list(self.hist.items())):
            v = list(values)
            cumulative, buckets = 0.0, []
            for i, le in enumerate(self.buckets):
                cumulative += v[i]
                buckets.append((floatToGoString(le), cumulative))
            buckets.append(("+Inf", cumulative + v[len(self.buckets)]))
            h.add_metric([method, route], buckets, sum_value=v[-1])
        yield h

    def describe(self) -> list[Metric]:
        return []


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestStats()
        self.registry.register(self.requests)
        self._reconcile: Histogram | None = None

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def add(self, fn: Callable[[], Iterable[Metric]]) -> None:
        """Register a scrape-time collector."""
        self.registry.register(_Callback(fn))

    # ------------------------------------------------------------------ components

    def watch_queue(self, queue: _Queue) -> None:
        """An agent's work queue: reconcile durations (by outcome) and its depth."""
        if self._reconcile is None:
            self._reconcile = Histogram(
                "lbaas_reconcile_duration_seconds", "Reconcile runs of one load balancer", ["outcome"],
                buckets=RECONCILE_BUCKETS, registry=self.registry,
            )  # fmt: skip
        hist = self._reconcile

        def observe(seconds: float, ok: bool) -> None:
            hist.labels("ok" if ok else "error").observe(seconds)

        queue.observe = observe

        def depth() -> Iterable[Metric]:
            g = GaugeMetricFamily("lbaas_reconcile_queue_depth", "Load balancers queued or being reconciled")
            g.add_metric([], queue.pending())
            yield g

        self.add(depth)

    def watch_controller(self, controller: _Controller) -> None:
        def collect() -> Iterable[Metric]:
            c = CounterMetricFamily("lbaas_failovers", "Load balancers failed over from a dead agent")
            c.add_metric([], controller.failovers)
            yield c
            g = GaugeMetricFamily("lbaas_controller_breaker_open", "The controller holds the failover breaker open")
            g.add_metric([], 1.0 if controller.breaker_open else 0.0)
            yield g

        self.add(collect)

    def watch_bus(self, side: str, connections: Callable[[], int]) -> None:
        """A broker client: its reconnects (every successful connect after the first)."""

        def collect() -> Iterable[Metric]:
            c = CounterMetricFamily("lbaas_bus_reconnects", "Reconnects to the message broker", labels=["side"])
            c.add_metric([side], max(connections() - 1, 0))
            yield c
            g = GaugeMetricFamily("lbaas_bus_connections", "Connects to the message broker so far", labels=["side"])
            g.add_metric([side], connections())
            yield g

        self.add(collect)


def _template(scope: Scope) -> str:
    """The matched route's path template, with the /v2 or /v2.0 prefix it was included under (newer
    FastAPIs put the router's own route, without the include prefix, in the scope)."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    path: str = scope.get("path", "")
    for prefix in ("/v2.0", "/v2"):
        if path.startswith(prefix + "/") and not template.startswith(prefix + "/"):
            return prefix + template
    return str(template)


class MetricsMiddleware:
    """Counts every HTTP request by its route template (``/v2/lbaas/loadbalancers/{lb_id}``), never by its
    raw path, so ids do not become series. Paths no route matched count as ``unmatched``."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.stats = metrics.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            self.stats.observe(scope.get("method", "GET"), _template(scope), status, time.perf_counter() - start)


def watch_database(metrics: ServiceMetrics, db: Any, settings: Any) -> None:
    """Scrape-time series from the database: load balancers by status, agents, the failover breaker."""
    from lbaas.domain.agents import Liveness, Timing, breaker, liveness
    from lbaas.services import agents, fleet

    timing = Timing.from_heartbeat(down_time=settings.agent_down_time, heartbeat_interval=settings.heartbeat_interval)

    def collect() -> Iterable[Metric]:
        with db.read() as s:
            counts = fleet.lb_status_counts(s)
            views = agents.views(s)
        now = agents.precise_utcnow()
        lbs = GaugeMetricFamily(
            "lbaas_loadbalancers", "Load balancers by status", labels=["provisioning_status", "operating_status"]
        )
        for (prov, oper), n in sorted(counts.items()):
            lbs.add_metric([prov, oper], n)
        yield lbs
        alive = GaugeMetricFamily("lbaas_agent_alive", "1 if the agent's heartbeat is recent", labels=["host"])
        age = GaugeMetricFamily(
            "lbaas_agent_heartbeat_age_seconds", "Seconds since the last heartbeat", labels=["host"]
        )
        load = GaugeMetricFamily("lbaas_agent_loadbalancers", "Load balancers bound to the agent", labels=["host"])
        up = GaugeMetricFamily("lbaas_agent_admin_state_up", "1 if the agent takes new load balancers", labels=["host"])
        for a in views:
            alive.add_metric([a.host], 1.0 if liveness(a.last_heartbeat, now, timing) is Liveness.ALIVE else 0.0)
            if a.last_heartbeat is not None:
                age.add_metric([a.host], max((now - a.last_heartbeat).total_seconds(), 0.0))
            load.add_metric([a.host], a.load)
            up.add_metric([a.host], 1.0 if a.admin_state_up else 0.0)
        yield from (alive, age, load, up)
        b = breaker(views, now, timing, max_share=settings.failover_max_dead_share)
        tripped = GaugeMetricFamily("lbaas_failover_breaker_tripped", "1 while automatic failover is stopped")
        tripped.add_metric([], 1.0 if b.tripped else 0.0)
        down = GaugeMetricFamily("lbaas_failover_breaker_down_agents", "Agents down or suspect")
        down.add_metric([], b.down)
        yield from (tripped, down)

    metrics.add(collect)
