"""The all-in-one wiring: one process, one database, the providers and an agent in-process, uvicorn serving."""

from __future__ import annotations

import atexit
import logging

import uvicorn

from lbaas import statedir
from lbaas.api.app import create_app
from lbaas.api.auth import uvicorn_tls
from lbaas.api.limits import header_limited_protocol
from lbaas.api.listen import listening_unix, unix_path
from lbaas.api.metrics import ServiceMetrics
from lbaas.config import KEEP_ALIVE_S, Settings
from lbaas.db.lifecycle import pending_lb_ids
from lbaas.db.migrate import upgrade
from lbaas.db.models import LoadBalancer
from lbaas.db.session import Database
from lbaas.providers.haproxy_ns import HaproxyProvider
from lbaas.services.env import ServiceEnv
from lbaas.services.wiring import build_providers
from lbaas.services.wiring import provider_names as _names

log = logging.getLogger(__name__)


def start_agent(
    settings: Settings, db: Database, provider: HaproxyProvider, metrics: ServiceMetrics | None = None
) -> object:
    """The in-process agent for the haproxy provider (needs root, haproxy and iproute2)."""
    from lbaas.agent import accesslog
    from lbaas.agent.haproxy.process import MasterWorkerHaproxy
    from lbaas.agent.keepalived.pair import pair_parts
    from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
    from lbaas.agent.observe import Observer
    from lbaas.agent.reconciler import AgentConfig, Reconciler
    from lbaas.agent.reporter import DbReporter
    from lbaas.agent.runtime import Agent
    from lbaas.agent.source import DbSource
    from lbaas.services.secrets import store_for

    source = DbSource(
        db, host=settings.host, providers=_names(settings, "haproxy"), availability_zone=settings.availability_zone,
        tls=store_for(settings),
    )
    reporter = DbReporter(db, host=settings.host)

    def project_of(lb_id: str) -> str | None:
        with db.read() as s:
            lb = s.get(LoadBalancer, lb_id)
            return lb.project_id if lb is not None else None

    logs = accesslog.from_settings(settings, project_of)
    logs.start()
    atexit.register(logs.stop)  # remove the sockets; a restarted agent binds them again on its first resync
    plumber, haproxy = Pyroute2Plumber(), MasterWorkerHaproxy(settings.haproxy_bin)
    pair = pair_parts(plumber, haproxy)  # ACTIVE_STANDBY: keepalived, the track files, instance states
    reconciler = Reconciler(
        config=AgentConfig(
            state_dir=settings.state_dir,
            physical_interface_mappings=settings.physical_interface_mappings,
            haproxy_user=settings.haproxy_user,
            haproxy_group=settings.haproxy_group,
            nbthread=settings.haproxy_nbthread,
            default_listener_maxconn=settings.haproxy_default_maxconn,
            maxconn_cap=settings.haproxy_maxconn_cap,
            access_log=logs.render_options,
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
        heartbeat_interval=settings.heartbeat_interval,  # what the agents view judges liveness by
    )
    if metrics is not None:
        metrics.watch_queue(agent.queue)
    provider.connect(agent.nudge)
    pair.connect(agent.nudge)
    agent.start()
    return agent


def run_embedded(settings: Settings, *, log_level: str = "info") -> None:
    statedir.secure(settings.state_dir)
    url = settings.db_url()
    upgrade(url)
    db = Database(url)
    providers = build_providers(settings, db)
    if settings.provider not in providers:
        raise SystemExit(f"provider {settings.provider!r} is not available (have: {', '.join(providers)})")
    env = ServiceEnv(settings=settings, providers=providers, default_provider=settings.provider)

    def nudge(ids: set[str]) -> None:
        # Ids only; each provider picks the LBs that are its own.
        for prov in providers.values():
            prov.nudge(ids)

    db.on_commit = nudge
    db.before_commit = env.validate_touched
    haproxy = providers["haproxy"]
    metrics = ServiceMetrics()
    if settings.provider == "haproxy" and isinstance(haproxy, HaproxyProvider):
        start_agent(settings, db, haproxy, metrics)
    with db.read() as s:
        pending = pending_lb_ids(s)
    if pending:  # anything a previous run left pending is reconciled now (state, not messages)
        nudge(set(pending))
    host, _, port = settings.bind.rpartition(":")
    app = create_app(db=db, env=env, metrics=metrics)
    app.state.local_logs = settings.state_dir  # the agent is in this process: its LBs' access logs are here
    tls = uvicorn_tls(settings)
    http = header_limited_protocol(settings.header_timeout, settings.max_header_bytes)
    if unix_path(settings.bind):
        log.info("lbaas serving on %s (%s, provider %s, database %s, auth %s)", settings.bind,
                 "https" if tls else "http", settings.provider, url, settings.auth_strategy)  # fmt: skip
        config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=KEEP_ALIVE_S, http=http,
                                **tls)  # type: ignore[arg-type]  # fmt: skip
        with listening_unix(settings.bind, settings.unix_socket_mode) as sock:
            uvicorn.Server(config).run(sockets=[sock])
        return
    log.info("lbaas serving on %s://%s:%s (provider %s, database %s, auth %s)", "https" if tls else "http", host, port,
             settings.provider, url, settings.auth_strategy)  # fmt: skip
    uvicorn.run(app, host=host or "127.0.0.1", port=int(port), log_level=log_level, access_log=False,
                timeout_keep_alive=KEEP_ALIVE_S, **tls, http=http)  # type: ignore[arg-type]  # fmt: skip
