"""The ``lbaas`` command: serve (all-in-one), the scale-out processes (api, controller, agent), db, and the
data-plane tools (host, demo).

Every setting comes, lowest first, from its default, the config file (``/etc/lbaas/lbaas.toml``, or
``lbaas --config FILE`` / ``LBAAS_CONFIG``), the ``LBAAS_*`` environment and the command's flags. Flags
default to None so that an unset flag never hides the file or the environment (``lbaas.config.load_settings``).
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lbaas import __version__
from lbaas.config import Settings, load_settings

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Load-Balancing-as-a-Service (Octavia v2 API).",
)
db_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Database schema.")
app.add_typer(db_app, name="db")
config_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Settings: the reference, and what a process would use."
)
app.add_typer(config_app, name="config")
host_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Test hosts: namespaces standing in for cloud instances."
)
app.add_typer(host_app, name="host")

Endpoint = Annotated[str, typer.Option(metavar="URL", help="the lbaas API", envvar="LBAAS_ENDPOINT")]
StateDir = Annotated[Path, typer.Option(metavar="DIR", help="state directory", envvar="LBAAS_STATE_DIR")]


class Fmt(enum.StrEnum):
    table = "table"
    json = "json"


OutputFormat = Annotated[Fmt, typer.Option("--format", help="output: table or json")]
HostName = Annotated[str, typer.Argument(metavar="NAME", help="the test host's name")]
AgentRef = Annotated[str, typer.Argument(metavar="AGENT", help="agent host name or id")]
DEFAULT_ENDPOINT = "http://127.0.0.1:9876"
DEFAULT_STATE = Path("/var/lib/lbaas")
AuthStrategy = Annotated[
    str | None,
    typer.Option(help="noauth (every caller is admin; loopback only), token or keystone", envvar="LBAAS_AUTH_STRATEGY"),
]
InsecureNoauth = Annotated[
    bool, typer.Option(help="allow noauth on a non-loopback address: anyone who reaches it is an administrator")
]
TlsCert = Annotated[Path | None, typer.Option(help="PEM certificate (chain) to serve the API over HTTPS", envvar="LBAAS_TLS_CERT")]
TlsKey = Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert", envvar="LBAAS_TLS_KEY")]


_CONFIG: dict[str, Path | None] = {"path": None}  # --config, set by the app callback


def _settings(**overrides: object) -> Settings:
    return load_settings(_CONFIG["path"], **overrides)


def _command_settings(flags: dict[str, object], *, default_auth: str | None = None) -> Settings:
    """Settings for a server command (serve, api, agent) from its flags, the one way all three read them:
    an unset flag (None, or a switch left off) never hides the file or the environment;
    ``physical_interface_mappings`` come as ``PHYSNET:IFACE`` strings; ``default_auth`` is the command's
    own auth strategy when neither a flag, the environment nor the file chose one."""
    overrides: dict[str, object] = {}
    for name, value in flags.items():
        if name == "physical_interface_mappings" and value:
            assert isinstance(value, list)
            bad = [m for m in value if ":" not in m or not all(m.split(":", 1))]
            if bad:
                raise typer.BadParameter(f"{', '.join(bad)}: use PHYSNET:IFACE", param_hint="--physical-interface-mappings")
            value = dict(m.split(":", 1) for m in value)
        overrides[name] = None if value is False or value == [] else value
    settings = _settings(**overrides)
    if default_auth and "auth_strategy" not in settings.model_fields_set:
        settings = settings.model_copy(update={"auth_strategy": default_auth})
    return settings


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"lbaas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            envvar="LBAAS_CONFIG",
            help="settings file (TOML; default /etc/lbaas/lbaas.toml if present); env and flags override it",
        ),
    ] = None,  # fmt: skip
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    _CONFIG["path"] = config


PolicyFile = Annotated[
    Path | None,
    typer.Option(help="an Octavia policy.yaml overriding the default policy", envvar="LBAAS_POLICY_FILE"),
]


MaxBody = Annotated[
    int | None, typer.Option(help="largest request body in bytes (default 1 MiB); larger gets 413", envvar="LBAAS_MAX_BODY_SIZE")
]


@app.command()
def serve(
    bind: Annotated[str | None, typer.Option(metavar="HOST:PORT", help="API address (default 127.0.0.1:9876)")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="SQLite database, per-LB files (default /var/lib/lbaas)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(metavar="URL", help="e.g. postgresql+psycopg://user@host/db")
    ] = None,
    provider: Annotated[str | None, typer.Option(metavar="NAME", help="haproxy or noop (default haproxy)")] = None,
    physical_interface_mappings: Annotated[
        list[str] | None, typer.Option(metavar="PHYSNET:IFACE", help="repeatable")
    ] = None,
    auth_strategy: AuthStrategy = None,
    insecure_noauth: InsecureNoauth = False,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    policy_file: PolicyFile = None,
    log_level: Annotated[str, typer.Option(metavar="LEVEL")] = "info",
    force: Annotated[
        bool, typer.Option("--force", help="map an interface even if it carries an address or the default route")
    ] = False,
    max_body_size: MaxBody = None,
) -> None:
    """Run the embedded all-in-one: API, controller and an in-process agent on one machine."""
    from lbaas.api.auth import check_startup
    from lbaas.embedded import run_embedded

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _command_settings(
        dict(bind=bind, state_dir=state_dir, database_url=database_url, provider=provider,
             physical_interface_mappings=physical_interface_mappings, auth_strategy=auth_strategy,
             insecure_noauth=insecure_noauth, tls_cert=tls_cert, tls_key=tls_key, policy_file=policy_file,
             max_body_size=max_body_size)
    )  # fmt: skip
    check_startup(settings)
    _check_uplinks(settings, force)
    run_embedded(settings, log_level=log_level)


def _check_uplinks(settings: Settings, force: bool) -> None:
    """Refuse (unless --force) to map an interface the host uses: its bridge would take it over."""
    from lbaas.agent.netns.uplink_guard import check_mappings

    for warning in check_mappings(settings.physical_interface_mappings, force=force):
        logging.getLogger("lbaas").warning("%s", warning)


Secret = Annotated[
    str | None,
    typer.Option(metavar="SECRET", help="shared secret of the internal agent API", envvar="LBAAS_INTERNAL_SECRET"),
]
AmqpUrl = Annotated[
    str | None,
    typer.Option(metavar="URL", help="e.g. amqp://guest:guest@127.0.0.1:5672/%2F", envvar="LBAAS_AMQP_URL"),
]
DbUrl = Annotated[
    str | None,
    typer.Option(metavar="URL", help="e.g. postgresql+psycopg://user@host/db", envvar="LBAAS_DATABASE_URL"),
]
LogLevel = Annotated[str, typer.Option(metavar="LEVEL", help="debug, info, warning or error")]


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def api(
    bind: Annotated[
        str | None,
        typer.Option(metavar="HOST:PORT", help="several api processes may share it (default 127.0.0.1:9876)"),
    ] = None,
    database_url: DbUrl = None,
    amqp_url: AmqpUrl = None,
    internal_secret: Secret = None,
    auth_strategy: AuthStrategy = None,
    insecure_noauth: InsecureNoauth = False,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    log_level: LogLevel = "info",
    policy_file: PolicyFile = None,
    max_body_size: MaxBody = None,
) -> None:
    """Scale-out: one stateless API process (run `lbaas db upgrade` first). Default auth: token."""
    from lbaas.api.auth import check_startup
    from lbaas.distributed import run_api

    _logging(log_level)
    settings = _command_settings(
        dict(bind=bind, database_url=database_url, amqp_url=amqp_url, internal_secret=internal_secret,
             auth_strategy=auth_strategy, insecure_noauth=insecure_noauth, tls_cert=tls_cert, tls_key=tls_key,
             policy_file=policy_file, max_body_size=max_body_size),
        default_auth="token",
    )  # fmt: skip
    check_startup(settings)
    run_api(settings, log_level=log_level)


@app.command()
def controller(
    database_url: DbUrl = None,
    amqp_url: AmqpUrl = None,
    agent_down_time: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="seconds of silence before an agent is dead")
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """Scale-out: the scheduler (placement, failover on agent death, circuit breaker)."""
    from lbaas.distributed import run_controller

    _logging(log_level)
    run_controller(_settings(database_url=database_url, amqp_url=amqp_url, agent_down_time=agent_down_time))


agent_app = typer.Typer(
    rich_markup_mode=None,
    invoke_without_command=True,
    no_args_is_help=False,
    help="Run an agent (lbaas agent --host NAME …) or manage agents (list, enable, disable, drain).",
)
app.add_typer(agent_app, name="agent")


@agent_app.callback()
def agent(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(metavar="NAME", help="this agent's unique name")] = None,
    availability_zone: Annotated[
        str | None, typer.Option(metavar="ZONE", help="the compute zone this host is in")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(metavar="URL", help="the lbaas API (default agent_endpoint, http://127.0.0.1:9876)")
    ] = None,
    amqp_url: AmqpUrl = None,
    internal_secret: Secret = None,
    state_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="state directory (default /var/lib/lbaas)")
    ] = None,
    physical_interface_mappings: Annotated[
        list[str] | None, typer.Option(metavar="PHYSNET:IFACE", help="repeatable")
    ] = None,
    resync_interval: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="seconds between full resyncs")
    ] = None,
    fake_dataplane: Annotated[bool, typer.Option(hidden=True)] = False,
    log_level: LogLevel = "info",
    force: Annotated[
        bool, typer.Option("--force", help="map an interface even if it carries an address or the default route")
    ] = False,
) -> None:
    """Scale-out: an agent. Needs the API endpoint, the shared secret and the broker; no database."""
    if ctx.invoked_subcommand is not None:
        return
    from lbaas.distributed import run_agent

    _logging(log_level)
    settings = _command_settings(
        dict(host=host, availability_zone=availability_zone, amqp_url=amqp_url, internal_secret=internal_secret,
             state_dir=state_dir, physical_interface_mappings=physical_interface_mappings,
             resync_interval=resync_interval, agent_endpoint=endpoint)
    )  # fmt: skip
    if not host and "host" not in settings.model_fields_set:
        raise typer.BadParameter("this agent needs a name: --host, LBAAS_HOST or host in the config file")
    if not fake_dataplane:
        _check_uplinks(settings, force)
    run_agent(settings, endpoint=settings.agent_endpoint, fake_dataplane=fake_dataplane)


def _admin(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    from lbaas.tools.client import Client

    client = Client(endpoint)
    try:
        return dict(client.call(method, path, body))
    finally:
        client.close()


@agent_app.command("list")
def agent_list(endpoint: Endpoint = DEFAULT_ENDPOINT, fmt: OutputFormat = Fmt.table) -> None:
    """Every agent: host, zone, alive, enabled, LB count, last heartbeat; then the failover breaker."""
    rows = _admin(endpoint, "GET", "/v2/octavia/agents")["agents"]
    b = _admin(endpoint, "GET", "/v2/octavia/failover_breaker")["failover_breaker"]
    if fmt is Fmt.json:
        typer.echo(json.dumps({"agents": rows, "failover_breaker": b}, indent=2))
        return
    typer.echo("HOST\tZONE\tALIVE\tENABLED\tLBS\tLAST_HEARTBEAT")
    for a in rows:
        typer.echo(
            f"{a['host']}\t{a['availability_zone'] or '-'}\t{a['liveness']}\t{a['admin_state_up']}\t"
            f"{a['loadbalancer_count']}\t{a['last_heartbeat'] or '-'}"
        )
    typer.echo(f"failover breaker: {b['reason']}")


@agent_app.command("disable")
def agent_disable(agent: AgentRef, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """No new load balancers on AGENT (host or id); what it runs stays."""
    _admin(endpoint, "PUT", f"/v2/octavia/agents/{agent}", {"agent": {"admin_state_up": False}})


@agent_app.command("enable")
def agent_enable(agent: AgentRef, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """Let AGENT take load balancers again."""
    _admin(endpoint, "PUT", f"/v2/octavia/agents/{agent}", {"agent": {"admin_state_up": True}})


@agent_app.command("drain")
def agent_drain(agent: AgentRef, endpoint: Endpoint = DEFAULT_ENDPOINT) -> None:
    """Disable AGENT and move its load balancers to other agents."""
    moved = _admin(endpoint, "POST", f"/v2/octavia/agents/{agent}/drain")["loadbalancers"]
    typer.echo(f"{len(moved)} load balancers moving off {agent}")


@db_app.command("upgrade")
def db_upgrade(
    state_dir: Annotated[Path | None, typer.Option(metavar="DIR", help="default /var/lib/lbaas")] = None,
    database_url: Annotated[str | None, typer.Option(metavar="URL")] = None,
) -> None:
    """Apply schema migrations up to the newest revision."""
    from lbaas import statedir
    from lbaas.db.migrate import upgrade

    settings = _settings(state_dir=state_dir, database_url=database_url)
    statedir.secure(settings.state_dir)
    upgrade(settings.db_url())
    typer.echo(f"database at head: {settings.db_url()}")


token_app = typer.Typer(
    no_args_is_help=True,
    help="Standalone API tokens (--auth-strategy token), kept hashed in the database named by --state-dir "
    "or --database-url.",
)
app.add_typer(token_app, name="token")
TokenStateDir = Annotated[Path, typer.Option(help="state directory (its SQLite database)", envvar="LBAAS_STATE_DIR")]


def _token_db(state_dir: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    from lbaas.db.migrate import upgrade
    from lbaas.db.session import Database

    settings = _settings(state_dir=state_dir, database_url=database_url)
    if settings.database_url is None:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url())
    return Database(settings.db_url())


@token_app.command("create")
def token_create(
    project: Annotated[str, typer.Option(help="the project the token acts for")],
    role: Annotated[list[str], typer.Option(help="a role (repeatable): admin, member, load-balancer_member…")],
    name: Annotated[str | None, typer.Option(help="a name to recognise it by")] = None,
    expires_in: Annotated[str | None, typer.Option(help="lifetime, e.g. 30d, 12h, 90m (default: none)")] = None,
    state_dir: TokenStateDir = DEFAULT_STATE,
    database_url: DbUrl = None,
) -> None:
    """Create a token; prints the token alone on stdout, once (only its SHA-256 is kept)."""
    from lbaas.domain import errors
    from lbaas.services import tokens

    db = _token_db(state_dir, database_url)
    try:
        lifetime = tokens.parse_duration(expires_in) if expires_in else None
        with db.write() as s:
            row, secret = tokens.create(s, project_id=project, roles=role, name=name, expires_in=lifetime)
            ident = row.id
    except errors.LbaasError as e:
        raise typer.BadParameter(e.user_message) from None
    finally:
        db.dispose()
    typer.echo(f"token {ident} for project {project}", err=True)
    typer.echo(secret)


@token_app.command("list")
def token_list(state_dir: TokenStateDir = DEFAULT_STATE, database_url: DbUrl = None) -> None:
    """Every token: id, name, project, roles, created, expires, state (never the token itself)."""
    import datetime as dt

    from lbaas.services import tokens

    db = _token_db(state_dir, database_url)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    typer.echo("ID\tNAME\tPROJECT\tROLES\tCREATED\tEXPIRES\tSTATE")
    try:
        with db.read() as s:
            for t in tokens.list_all(s):
                expired = t.expires_at is not None and t.expires_at <= now
                state = "revoked" if t.revoked else "expired" if expired else "valid"
                typer.echo(
                    f"{t.id}\t{t.name or '-'}\t{t.project_id}\t{','.join(t.roles) or '-'}\t"
                    f"{t.created_at.isoformat()}Z\t{t.expires_at.isoformat() + 'Z' if t.expires_at else '-'}\t{state}"
                )
    finally:
        db.dispose()


@token_app.command("revoke")
def token_revoke(token_id: str, state_dir: TokenStateDir = DEFAULT_STATE, database_url: DbUrl = None) -> None:
    """Revoke a token by its ID (refused from the next request on)."""
    from lbaas.domain import errors
    from lbaas.services import tokens

    db = _token_db(state_dir, database_url)
    try:
        with db.write() as s:
            tokens.revoke(s, token_id)
    except errors.NotFound as e:
        raise typer.BadParameter(e.user_message) from None
    finally:
        db.dispose()
    typer.echo(f"token {token_id} revoked")


@config_app.command("reference")
def config_reference(
    write: Annotated[bool, typer.Option("--write", help="rewrite docs/settings.md instead of printing")] = False,
) -> None:
    """Print the settings reference (docs/settings.md), generated from the settings model."""
    from lbaas.tools import settings_doc

    if write:
        typer.echo(f"wrote {settings_doc.write()}")
    else:
        typer.echo(settings_doc.reference(), nl=False)


@config_app.command("show")
def config_show() -> None:
    """Print the settings this machine's file, environment and defaults give (as JSON; secrets masked)."""
    import json

    data = _settings().model_dump(mode="json")
    for key in ("internal_secret", "database_url", "amqp_url"):
        if data.get(key):
            data[key] = "***"
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _hosts(endpoint: str, state_dir: Path):  # type: ignore[no-untyped-def]
    from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
    from lbaas.tools.client import Client
    from lbaas.tools.hosts import Hosts

    return Hosts(Client(endpoint), Pyroute2Plumber(), state_dir=state_dir)


@host_app.command("create")
def host_create(
    name: HostName,
    network: Annotated[str, typer.Option(metavar="NETWORK", help="network name or id")],
    ip: Annotated[str | None, typer.Option(metavar="IP", help="fixed address (default: the next free one)")] = None,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Allocate a port on NETWORK and make namespace lbh-NAME with its MAC, address and default route."""
    host = _hosts(endpoint, state_dir).create(name, network, ip)
    typer.echo(f"{host.name} {host.ip} {host.ns}")


@host_app.command("serve")
def host_serve(
    name: HostName,
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port of the echo server")] = 80,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Run the built-in HTTP echo server in the host (JSON: host, peer, X-Forwarded-* headers)."""
    pid = _hosts(endpoint, state_dir).serve(name, port)
    typer.echo(f"echo server for {name} on port {port}, pid {pid}")


@host_app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def host_exec(
    ctx: typer.Context, name: HostName, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE
) -> None:
    """Run a command inside the host's namespace: lbaas host exec NAME -- CMD…"""
    import os

    argv = _hosts(endpoint, state_dir).exec_argv(name, list(ctx.args))
    os.execvp(argv[0], argv)


@host_app.command("list")
def host_list(
    endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE, fmt: OutputFormat = Fmt.table
) -> None:
    """Every test host: name, address, MAC, namespace."""
    hosts = _hosts(endpoint, state_dir).all()
    if fmt is Fmt.json:
        rows = [{"name": h.name, "ip": h.ip, "mac_address": h.port["mac_address"], "namespace": h.ns,
                 "network_id": h.port["network_id"], "port_id": h.port["id"]} for h in hosts]  # fmt: skip
        typer.echo(json.dumps(rows, indent=2))
        return
    for h in hosts:
        typer.echo(f"{h.name}\t{h.ip}\t{h.port['mac_address']}\t{h.ns}")


@host_app.command("show")
def host_show(name: HostName, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Print the host's namespace name."""
    typer.echo(_hosts(endpoint, state_dir).get(name).ns)


@host_app.command("stop")
def host_stop(name: HostName, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Stop the host's echo server (the host stays; `host serve` starts it again)."""
    hosts = _hosts(endpoint, state_dir)
    hosts.get(name)  # an unknown host is an error, not a no-op
    hosts.stop_server(name)


@host_app.command("delete")
def host_delete(name: HostName, endpoint: Endpoint = DEFAULT_ENDPOINT, state_dir: StateDir = DEFAULT_STATE) -> None:
    """Stop the host's server, remove its namespace and release its port."""
    _hosts(endpoint, state_dir).delete(name)


@app.command()
def logs(
    loadbalancer: Annotated[str, typer.Argument(metavar="LB", help="load balancer name or id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
    tail: Annotated[int, typer.Option(metavar="N", help="lines to show first")] = 100,
    endpoint: Endpoint = DEFAULT_ENDPOINT,
) -> None:
    """Print a load balancer's access log (read through the API)."""
    from lbaas.tools import logs as lb_logs
    from lbaas.tools.client import Client

    client = Client(endpoint)
    lb_id = lb_logs.resolve_lb(client, loadbalancer)
    lines = lb_logs.follow(client, lb_id, tail) if follow else iter(lb_logs.fetch(client, lb_id, tail))
    try:
        for line in lines:
            typer.echo(line)
    except KeyboardInterrupt:
        pass


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


def user_error(exc: BaseException) -> str | None:
    """One line for a mistake of the user or of the environment (no traceback); None for a bug."""
    import httpx
    import pydantic

    from lbaas.agent.netns.uplink_guard import UplinkInUse
    from lbaas.config import ConfigError
    from lbaas.tools.client import ApiError

    if isinstance(exc, ConfigError | UplinkInUse | ApiError | LookupError):
        return str(exc)
    if isinstance(exc, httpx.TransportError):
        where = exc.request.url if exc.request is not None else "the API"
        return f"cannot reach {where}: {exc} (is lbaas running? --endpoint / LBAAS_ENDPOINT)"
    if isinstance(exc, pydantic.ValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {"loc": (), "msg": str(exc)}
        name = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        return f"invalid setting {name}: {first.get('msg')}"
    if isinstance(exc, PermissionError):
        return f"{exc} (this command needs root)"
    if type(exc).__name__ == "PlumbingError":
        return str(exc)
    return None


def main() -> None:
    try:
        app()
    except Exception as exc:
        message = user_error(exc)
        if message is None:
            raise
        typer.echo(f"lbaas: error: {message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
