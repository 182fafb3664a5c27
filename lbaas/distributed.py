"""The scale-out wiring: ``lbaas api``, ``lbaas controller`` and ``lbaas agent`` as separate processes.

    api (×N, one address)  ── PostgreSQL ──  controller
        │ internal API (HTTP + shared secret)      │ nudges (ids)
        ▼                                          ▼
    agents (one per host) ◄──────── RabbitMQ ──────┘

* API processes share one port with SO_REUSEPORT (the kernel spreads connections), hold no state,
  and publish the ids a commit touched to the agents concerned (``bus.router``, off the request path).
* The controller places and fails over load balancers; it polls the database, holds no state.
* Agents need only the API endpoint, the shared secret and the broker. Their heartbeat goes over
  the internal API, not the broker: liveness then means "can read desired state and report", which
  is what running a load balancer needs, and a broker outage (nudges only) does not look like every
  agent dying at once. An agent keeps serving what it has while the API or broker is away.

``lbaas serve`` (``embedded``) remains the one-process default: SQLite, in-process agent, no broker.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Iterable
from types import FrameType

import uvicorn

from lbaas import statedir
from lbaas.api.app import create_app
from lbaas.api.auth import uvicorn_tls
from lbaas.api.limits import header_limited_protocol
from lbaas.api.listen import listening_unix, unix_path
from lbaas.api.metrics import ServiceMetrics
from lbaas.bus.base import Nudger
from lbaas.bus.router import NudgeRouter
from lbaas.config import KEEP_ALIVE_S, Settings
from lbaas.db.session import Database
from lbaas.domain.agents import Timing
from lbaas.providers.haproxy_ns import HaproxyProvider
from lbaas.services.env import ServiceEnv
from lbaas.services.wiring import build_providers, provider_names

log = logging.getLogger(__name__)


class NoBus:
    """No broker configured: nothing is published; agents converge on their periodic resync."""

    def publish(self, host: str, lb_ids: Iterable[str]) -> None:
        pass

    def resync_all(self) -> None:
        pass


def make_nudger(settings: Settings) -> Nudger:
    if not settings.amqp_url:
        log.warning("no amqp_url: changes reach agents on their periodic resync only")
        return NoBus()
    from lbaas.bus.amqp import AmqpNudger

    return AmqpNudger(settings.amqp_url, prefix=settings.amqp_prefix)


def timing(settings: Settings) -> Timing:
    return Timing.from_heartbeat(down_time=settings.agent_down_time, heartbeat_interval=settings.heartbeat_interval)


def _reuseport_socket(bind: str) -> socket.socket:
    host, _, port = bind.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host or "127.0.0.1", int(port)))
    sock.set_inheritable(True)
    return sock


def run_api(settings: Settings, *, log_level: str = "info") -> None:
    """One stateless API process; run several on the same --bind (SO_REUSEPORT)."""
    if not settings.internal_secret:
        log.warning("no internal_secret: the internal agent API refuses every agent")
    db = Database(settings.db_url())
    providers = build_providers(settings, db, active_standby=True)
    haproxy = providers["haproxy"]
    nudger = make_nudger(settings)
    router = NudgeRouter(db, nudger)
    if isinstance(haproxy, HaproxyProvider):
        haproxy.connect(router.deliver)
    env = ServiceEnv(settings=settings, providers=providers, default_provider=settings.provider)
    metrics = ServiceMetrics()
    _watch_nudger(metrics, nudger)

    def nudge(ids: set[str]) -> None:
        for prov in providers.values():
            prov.nudge(ids)

    db.on_commit = nudge
    db.before_commit = env.validate_touched
    app = create_app(db=db, env=env, metrics=metrics)
    http = header_limited_protocol(settings.header_timeout, settings.max_header_bytes)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=KEEP_ALIVE_S, http=http,
                       **uvicorn_tls(settings))  # type: ignore[arg-type]  # fmt: skip
    )
    if unix_path(settings.bind):  # one process per unix socket (no SO_REUSEPORT there)
        log.info("lbaas api on %s (database %s)", settings.bind, db.url)
        with listening_unix(settings.bind, settings.unix_socket_mode) as usock:
            server.run(sockets=[usock])
        return
    sock = _reuseport_socket(settings.bind)
    log.info("lbaas api on http://%s (database %s)", settings.bind, db.url)
    server.run(sockets=[sock])


def _watch_nudger(metrics: ServiceMetrics, nudger: Nudger) -> None:
    connections = getattr(nudger, "connections", None)
    if isinstance(connections, int):
        metrics.watch_bus("publisher", lambda: int(getattr(nudger, "connections", 0)))


def serve_metrics(metrics: ServiceMetrics, bind: str | None) -> None:
    """Processes without the API (controller, agent) serve their /metrics on ``metrics_bind``, if set."""
    if not bind:
        return
    from prometheus_client import start_http_server

    host, _, port = bind.rpartition(":")
    start_http_server(int(port), addr=host or "127.0.0.1", registry=metrics.registry)
    log.info("metrics on http://%s/metrics", bind)


def _until_signal() -> threading.Event:
    stop = threading.Event()

    def handler(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def run_controller(settings: Settings) -> None:
    from lbaas.scheduler.controller import Controller
    from lbaas.scheduler.placement import policy

    db = Database(settings.db_url())
    nudger = make_nudger(settings)
    controller = Controller(
        db,
        nudger,
        providers=provider_names(settings, "haproxy"),
        timing=timing(settings),
        max_dead_share=settings.failover_max_dead_share,
        policy=policy(settings.placement_policy),
        interval=settings.controller_interval,
        breaker_hold=settings.failover_breaker_hold,
    )
    metrics = ServiceMetrics()
    metrics.watch_controller(controller)
    _watch_nudger(metrics, nudger)
    serve_metrics(metrics, settings.metrics_bind)
    stop = _until_signal()
    thread = threading.Thread(target=controller.run, name="controller", daemon=True)
    thread.start()
    log.info("lbaas controller running (agent_down_time %.1fs)", settings.agent_down_time)
    stop.wait()
    controller.stop()
    thread.join(timeout=5)


def _quiet_heartbeats(record: logging.LogRecord) -> bool:
    """Drop httpx's line for each successful heartbeat (``PUT /internal/agents/<host>`` → 200); keep the rest."""
    args = record.args if isinstance(record.args, tuple) else ()
    if len(args) >= 4 and args[0] == "PUT" and args[3] == 200:
        return "/loadbalancers/" in str(args[1]) or not str(args[1]).rstrip("/").rsplit("/", 2)[-2] == "agents"
    return True


def run_agent(settings: Settings, *, endpoint: str, fake_dataplane: bool = False) -> None:
    """An agent on this host. ``fake_dataplane`` keeps HAProxy and namespaces in memory (tests only)."""
    from lbaas.agent import accesslog
    from lbaas.agent.haproxy.process import FakeHaproxyProcess, HaproxyProcess, MasterWorkerHaproxy
    from lbaas.agent.keepalived.pair import pair_parts
    from lbaas.agent.netns.base import Plumber
    from lbaas.agent.netns.fake import FakePlumber
    from lbaas.agent.observe import Observer
    from lbaas.agent.reconciler import AgentConfig, Reconciler
    from lbaas.agent.remote import ApiReporter, ApiSource, make_client
    from lbaas.agent.runtime import Agent

    if not settings.internal_secret:
        raise SystemExit("the agent needs internal_secret (LBAAS_INTERNAL_SECRET) to talk to the API")
    statedir.secure(settings.state_dir)
    logging.getLogger("httpx").addFilter(_quiet_heartbeats)  # not a line per heartbeat (several a second)
    client = make_client(endpoint, settings.internal_secret)
    # Heartbeats on their own connection, with a timeout well under agent_down_time: a call stuck on
    # a dead connection is given up in time for the next beat to count.
    beats = make_client(endpoint, settings.internal_secret, timeout=max(0.5, 2 * settings.heartbeat_interval))
    source = ApiSource(
        client, host=settings.host, availability_zone=settings.availability_zone, heartbeat_client=beats
    )
    reporter = ApiReporter(client, host=settings.host)
    plumber: Plumber
    haproxy: HaproxyProcess
    logs = None
    if not fake_dataplane:

        def project_of(lb_id: str) -> str | None:
            spec = source.get(lb_id)
            return spec.project_id if spec is not None else None

        logs = accesslog.from_settings(settings, project_of)
        logs.start()
    if fake_dataplane:
        plumber, haproxy = FakePlumber(), FakeHaproxyProcess()
    else:
        from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber

        plumber, haproxy = Pyroute2Plumber(), MasterWorkerHaproxy(settings.haproxy_bin)
    pair = pair_parts(plumber, haproxy, fake=fake_dataplane)  # ACTIVE_STANDBY: keepalived, track files, states
    reconciler = Reconciler(
        config=AgentConfig(
            state_dir=settings.state_dir,
            physical_interface_mappings=settings.physical_interface_mappings,
            haproxy_user=settings.haproxy_user,
            haproxy_group=settings.haproxy_group,
            nbthread=settings.haproxy_nbthread,
            default_listener_maxconn=settings.haproxy_default_maxconn,
            maxconn_cap=settings.haproxy_maxconn_cap,
            access_log=logs.render_options if logs is not None else None,
        ),
        source=source,
        reporter=reporter,
        plumber=plumber,
        haproxy=haproxy,
        units=[pair.unit],
    )
    observer = Observer(reconciler, reporter, instances=pair.probe, instance_refresh=settings.resync_interval)
    agent = Agent(
        reconciler,
        resync_interval=settings.resync_interval,
        observe_interval=settings.stats_interval,
        observer=observer.observe,
        heartbeat=source.heartbeat,
        heartbeat_interval=settings.heartbeat_interval,
    )
    try:
        source.heartbeat()  # be known before the first resync; if the API is away, serve what runs
    except Exception as exc:
        log.warning("API unreachable at start (%s); serving what runs, retrying", exc)
    stop = _until_signal()
    metrics = ServiceMetrics()
    metrics.watch_queue(agent.queue)
    pair.connect(agent.nudge)
    agent.start()
    consumer = None
    if settings.amqp_url:
        from lbaas.bus.amqp import AmqpConsumer

        consumer = AmqpConsumer(settings.amqp_url, host=settings.host, handler=agent, prefix=settings.amqp_prefix)
        consumer.start()
        metrics.watch_bus("consumer", lambda: consumer.connections if consumer is not None else 0)
    serve_metrics(metrics, settings.metrics_bind)
    log.info("lbaas agent %s (zone %s) using %s", settings.host, settings.availability_zone, endpoint)
    log_server = None
    if settings.agent_logs_bind:
        from lbaas.agent.logserver import LogServer

        log_server = LogServer(settings.agent_logs_bind, settings.state_dir, settings.internal_secret)
        log_server.start()
    stop.wait()
    if log_server is not None:
        log_server.stop()
    if consumer is not None:
        consumer.stop()
    agent.stop()
    if logs is not None:
        logs.stop()
