"""The ``lbaas`` command: serve (all-in-one), the scale-out processes (api, controller, agent), db, and the
data-plane tools (host, demo).

Settings not given as options come from ``LBAAS_*`` environment variables (pydantic-settings), so a
deployment can keep the shared values (database URL, broker URL, internal secret) in the environment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from lbaas.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Load-Balancing-as-a-Service (Octavia v2 API).")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
host_app = typer.Typer(no_args_is_help=True, help="Test hosts: namespaces standing in for cloud instances.")
app.add_typer(host_app, name="host")

Endpoint = Annotated[str, typer.Option(help="the lbaas API", envvar="LBAAS_ENDPOINT")]
StateDir = Annotated[Path, typer.Option(help="state directory", envvar="LBAAS_STATE_DIR")]
DEFAULT_ENDPOINT = "http://127.0.0.1:9876"
DEFAULT_STATE = Path("/var/lib/lbaas")


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


MaxBody = Annotated[
    int | None, typer.Option(help="largest request body in bytes (default 1 MiB); larger gets 413", envvar="LBAAS_MAX_BODY_SIZE")
]


@app.command()
def serve(
    bind: Annotated[str, typer.Option(help="host:port of the API")] = "127.0.0.1:9876",
    state_dir: Annotated[Path, typer.Option(help="state directory (SQLite database, per-LB files)")] = Path(
        "/var/lib/lbaas"
    ),
    database_url: Annotated[str | None, typer.Option(help="e.g. postgresql+psycopg://user@host/db")] = None,
    provider: Annotated[str, typer.Option(help="default provider: haproxy or noop")] = "haproxy",
    physical_interface_mappings: Annotated[list[str] | None, typer.Option(help="physnet:interface, repeatable")] = None,
    log_level: Annotated[str, typer.Option()] = "info",
    max_body_size: MaxBody = None,
) -> None:
    """Run the embedded all-in-one: API, controller and an in-process agent on one machine."""
    from lbaas.embedded import run_embedded

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mappings = dict(m.split(":", 1) for m in physical_interface_mappings or [])
    settings = _settings(
        bind=bind,
        state_dir=state_dir,
        database_url=database_url,
        provider=provider,
        physical_interface_mappings=mappings or None,
        max_body_size=max_body_size,
    )
    run_embedded(settings, log_level=log_level)


Secret = Annotated[
    str | None, typer.Option(help="shared secret of the internal agent API", envvar="LBAAS_INTERNAL_SECRET")
]
AmqpUrl = Annotated[
    str | None, typer.Option(help="e.g. amqp://guest:guest@127.0.0.1:5672/%2F", envvar="LBAAS_AMQP_URL")
]
DbUrl = Annotated[str | None, typer.Option(help="e.g. postgresql+psycopg://user@host/db", envvar="LBAAS_DATABASE_URL")]
LogLevel = Annotated[str, typer.Option()]


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def api(
    bind: Annotated[str, typer.Option(help="host:port; several api processes may share it")] = "127.0.0.1:9876",
    database_url: DbUrl = None,
    amqp_url: AmqpUrl = None,
    internal_secret: Secret = None,
    log_level: LogLevel = "info",
    max_body_size: MaxBody = None,
) -> None:
    """Scale-out: one stateless API process (run `lbaas db upgrade` first)."""
    from lbaas.distributed import run_api

    _logging(log_level)
    run_api(
        _settings(
            bind=bind,
            database_url=database_url,
            amqp_url=amqp_url,
            internal_secret=internal_secret,
            max_body_size=max_body_size,
        ),
        log_level=log_level,
    )


@app.command()
def controller(
    database_url: DbUrl = None,
    amqp_url: AmqpUrl = None,
    agent_down_time: Annotated[float | None, typer.Option(help="seconds of silence before an agent is dead")] = None,
    log_level: LogLevel = "info",
) -> None:
    """Scale-out: the scheduler (placement, failover on agent death, circuit breaker)."""
    from lbaas.distributed import run_controller

    _logging(log_level)
    run_controller(_settings(database_url=database_url, amqp_url=amqp_url, agent_down_time=agent_down_time))


agent_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Run an agent (lbaas agent --host NAME …) or manage agents (list, enable, disable, drain).",
)
app.add_typer(agent_app, name="agent")


@agent_app.callback()
def agent(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="this agent's unique name")] = None,
    availability_zone: Annotated[str | None, typer.Option(help="the compute zone this host is in")] = None,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    amqp_url: AmqpUrl = None,
    internal_secret: Secret = None,
    state_dir: StateDir = DEFAULT_STATE,
    physical_interface_mappings: Annotated[list[str] | None, typer.Option(help="physnet:interface, repeatable")] = None,
    resync_interval: Annotated[float | None, typer.Option(help="seconds between full resyncs")] = None,
    fake_dataplane: Annotated[bool, typer.Option(hidden=True)] = False,
    log_level: LogLevel = "info",
) -> None:
    """Scale-out: an agent. Needs the API endpoint, the shared secret and the broker; no database."""
    if ctx.invoked_subcommand is not None:
        return
    if not host:
        raise typer.BadParameter("--host is required to run an agent", param_hint="--host")
    from lbaas.distributed import run_agent

    _logging(log_level)
    mappings = dict(m.split(":", 1) for m in physical_interface_mappings or [])
    settings = _settings(
        host=host,
        availability_zone=availability_zone,
        amqp_url=amqp_url,
        internal_secret=internal_secret,
        state_dir=state_dir,
        physical_interface_mappings=mappings or None,
        resync_interval=resync_interval,
    )
    run_agent(settings, endpoint=endpoint, fake_dataplane=fake_dataplane)


def _admin(endpoint: str, method: str, path: str, body: object = None) -> dict[str, Any]:
    import httpx

    r = httpx.request(method, endpoint.rstrip("/") + path, json=body, timeout=10)
    if r.status_code >= 400:
        raise typer.BadParameter(f"{r.status_code}: {r.text}")
    return dict(r.json())


@agent_app.command("list")
def agent_list(endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """Every agent: host, zone, alive, enabled, LB count, last heartbeat; then the failover breaker."""
    rows = _admin(endpoint, "GET", "/v2/octavia/agents")["agents"]
    typer.echo("HOST\tZONE\tALIVE\tENABLED\tLBS\tLAST_HEARTBEAT")
    for a in rows:
        typer.echo(
            f"{a['host']}\t{a['availability_zone'] or '-'}\t{a['liveness']}\t{a['admin_state_up']}\t"
            f"{a['loadbalancer_count']}\t{a['last_heartbeat'] or '-'}"
        )
    b = _admin(endpoint, "GET", "/v2/octavia/failover_breaker")["failover_breaker"]
    typer.echo(f"failover breaker: {b['reason']}")


@agent_app.command("disable")
def agent_disable(agent: str, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """No new load balancers on AGENT (host or id); what it runs stays."""
    _admin(endpoint, "PUT", f"/v2/octavia/agents/{agent}", {"agent": {"admin_state_up": False}})


@agent_app.command("enable")
def agent_enable(agent: str, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """Let AGENT take load balancers again."""
    _admin(endpoint, "PUT", f"/v2/octavia/agents/{agent}", {"agent": {"admin_state_up": True}})


@agent_app.command("drain")
def agent_drain(agent: str, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """Disable AGENT and move its load balancers to other agents."""
    moved = _admin(endpoint, "POST", f"/v2/octavia/agents/{agent}/drain")["loadbalancers"]
    typer.echo(f"{len(moved)} load balancers moving off {agent}")


@db_app.command("upgrade")
def db_upgrade(
    state_dir: Annotated[Path, typer.Option()] = Path("/var/lib/lbaas"),
    database_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Apply schema migrations up to the newest revision."""
    from lbaas import statedir
    from lbaas.db.migrate import upgrade

    settings = _settings(state_dir=state_dir, database_url=database_url)
    statedir.secure(settings.state_dir)
    upgrade(settings.db_url())
    typer.echo(f"database at head: {settings.db_url()}")


def _hosts(endpoint: str, state_dir: Path):  # type: ignore[no-untyped-def]
    from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
    from lbaas.tools.client import Client
    from lbaas.tools.hosts import Hosts

    return Hosts(Client(endpoint), Pyroute2Plumber(), state_dir=state_dir)


@host_app.command("create")
def host_create(
    name: str,
    network: Annotated[str, typer.Option(help="network name or id")],
    ip: Annotated[str | None, typer.Option(help="fixed address (default: the next free one)")] = None,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Allocate a port on NETWORK and make namespace lbh-NAME with its MAC, address and default route."""
    host = _hosts(endpoint, state_dir).create(name, network, ip)
    typer.echo(f"{host.name} {host.ip} {host.ns}")


@host_app.command("serve")
def host_serve(
    name: str,
    port: Annotated[int, typer.Option()] = 80,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Run the built-in HTTP echo server in the host (JSON: host, peer, X-Forwarded-* headers)."""
    pid = _hosts(endpoint, state_dir).serve(name, port)
    typer.echo(f"echo server for {name} on port {port}, pid {pid}")


@host_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def host_exec(
    ctx: typer.Context, name: str, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE
) -> None:
    """Run a command inside the host's namespace: lbaas host exec NAME -- CMD…"""
    import os

    argv = _hosts(endpoint, state_dir).exec_argv(name, list(ctx.args))
    os.execvp(argv[0], argv)


@host_app.command("list")
def host_list(endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Every test host: name, address, MAC, namespace."""
    for h in _hosts(endpoint, state_dir).all():
        typer.echo(f"{h.name}\t{h.ip}\t{h.port['mac_address']}\t{h.ns}")


@host_app.command("show")
def host_show(name: str, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Print the host's namespace name."""
    typer.echo(_hosts(endpoint, state_dir).get(name).ns)


@host_app.command("delete")
def host_delete(name: str, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Stop the host's server, remove its namespace and release its port."""
    _hosts(endpoint, state_dir).delete(name)


@app.command()
def demo(
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    state_dir: StateDir = DEFAULT_STATE,
    keep: Annotated[bool, typer.Option(help="leave the hosts and the LB in place")] = False,
) -> None:
    """The one-arm reference topology, live: client, WEB1, WEB2 and a load balancer on one subnet."""
    from rich.console import Console

    from lbaas.tools.demo import Demo

    hosts = _hosts(endpoint, state_dir)
    Demo(client=hosts.client, hosts=hosts, console=Console()).run(keep=keep)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
