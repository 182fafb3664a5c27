"""Settings, built once by the CLI and passed down explicitly (no global config object).

Where a value comes from, lowest first: the field's default < the config file (TOML, ``/etc/lbaas/lbaas.toml``
or ``--config``/``LBAAS_CONFIG``) < the environment (``LBAAS_<NAME>``) < the command line's flags.
``load_settings`` is the one entry point that reads the file; docs/settings.md is generated from this model
(``lbaas config reference``).
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("/etc/lbaas/lbaas.toml")
_CONFIG_FILE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("lbaas_config_file", default=None)


class ConfigError(ValueError):
    """The config file cannot be used (missing when named, not TOML, unknown settings)."""


# uvicorn closes an idle keep-alive connection after this many seconds. Its default (5 s) is shorter than
# the idle time of client pools (requests, httpx, Terraform), so a request sent just as the server closes
# got a reset; 75 s outlasts them, like the usual reverse-proxy defaults.
KEEP_ALIVE_S = 75

# Octavia's default tenant flow log format ([haproxy_amphora] user_log_format).
OCTAVIA_USER_LOG_FORMAT = (
    "{{ project_id }} {{ lb_id }} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LBAAS_", extra="ignore")

    bind: str = "127.0.0.1:9876"
    unix_socket_mode: str = "0600"  # a unix bind's file mode: 0600, or 0660 for the file's group; never others
    state_dir: Path = Path("/var/lib/lbaas")
    database_url: str | None = None
    provider: str = "haproxy"  # the default provider; "amphora" and "octavia" are its aliases
    default_project: str = "lbaas-default"
    # Identity (README "Identity"): noauth | token | keystone. noauth is Octavia's: every caller is an
    # administrator; allowed only on a loopback bind unless insecure_noauth. ``lbaas serve`` defaults to
    # noauth, ``lbaas api`` to token.
    auth_strategy: str = "noauth"
    insecure_noauth: bool = False  # allow noauth on a non-loopback bind (anyone who reaches it is an administrator)
    # keystone: keystonemiddleware's auth_token, configured like Octavia's [keystone_authtoken].
    keystone_www_authenticate_uri: str | None = None  # sent in WWW-Authenticate; default: keystone_auth_url
    keystone_auth_url: str | None = None  # Keystone's identity endpoint (auth_url), e.g. http://keystone:5000/v3
    keystone_username: str | None = None  # the service user lbaas validates tokens as
    keystone_password: str | None = None  # the service user's password
    keystone_project_name: str = "service"  # the service user's project
    keystone_user_domain_name: str = "Default"  # the service user's domain
    keystone_project_domain_name: str = "Default"  # the service project's domain
    keystone_region_name: str | None = None  # the Keystone region to use (default: any)
    keystone_token_cache_time: int = 300  # seconds a validated token is trusted without asking Keystone
    keystone_service_token_roles: str = "service"  # X-Service-Token: the roles (comma-separated) that make one valid
    keystone_service_token_roles_required: bool = True  # a service token without such a role is a 401
    # token: the URI named in WWW-Authenticate of a 401 (default: the request's own base URL).
    www_authenticate_uri: str | None = None
    # TLS for the API itself (PEM files); both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None  # the PEM private key of tls_cert
    # Authorization: Octavia's default policy, overridden by an Octavia policy.yaml (LBAAS_POLICY_FILE).
    # With enforce_new_defaults off, Octavia's load-balancer_* roles and Keystone's reader/member/admin
    # are both accepted (oslo.policy's [oslo_policy] enforce_new_defaults).
    policy_file: Path | None = None
    policy_enforce_new_defaults: bool = False  # oslo.policy enforce_new_defaults: only the new persona defaults
    # Quota defaults per resource; -1 is unlimited.
    quota_defaults: dict[str, int] = Field(
        default_factory=lambda: {
            k: -1 for k in ("loadbalancer", "listener", "member", "pool", "healthmonitor", "l7policy", "l7rule")
        }
    )
    reserved_ips: tuple[str, ...] = ("169.254.169.254",)
    # Request limits (lbaas/api/limits.py): a larger body gets 413 before it is parsed; headers must
    # arrive within header_timeout seconds and be at most max_header_bytes long.
    max_body_size: int = Field(default=1024 * 1024, ge=1)
    header_timeout: float = Field(default=10.0, gt=0)  # seconds for a request's headers to arrive
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)  # largest header block; larger gets 431
    # Agent.
    host: str = "localhost"
    availability_zone: str | None = None
    physical_interface_mappings: dict[str, str] = Field(default_factory=dict)
    resync_interval: float = 30.0
    stats_interval: float = 1.0
    haproxy_bin: str = "haproxy"
    haproxy_user: str = "haproxy"
    haproxy_group: str = "haproxy"
    # Per-LB HAProxy sizing (bench/density.py; measured with smaps_rollup on HAProxy 2.6). Defaults favour
    # the data plane: HAProxy's own thread count (one per CPU, as a hand-written config gets) and 9000
    # connections for a listener with connection_limit -1. Each thread beyond one costs the worker
    # ~0.2 MB plus a kernel stack; the global maxconn sizes the fd tables (~0.12 kB per connection).
    # A dense host can trade: LBAAS_HAPROXY_NBTHREAD=1 and LBAAS_HAPROXY_DEFAULT_MAXCONN=2000 save ~1 MB
    # per LB. An explicit connection_limit is honoured up to haproxy_maxconn_cap (RLIMIT_NOFILE 20000).
    haproxy_nbthread: int | None = None
    haproxy_default_maxconn: int = 9000
    haproxy_maxconn_cap: int = 9000
    # Scale-out. The internal agent API refuses every call (401) unless a shared secret is configured.
    internal_secret: str | None = None
    agent_endpoint: str = "http://127.0.0.1:9876"  # where agents reach the API (any of the API processes)
    amqp_url: str | None = None  # e.g. amqp://guest:guest@127.0.0.1:5672/%2F; None: no broker (embedded)
    amqp_prefix: str = "lbaas"  # exchange names: <prefix>.nudge (direct), <prefix>.resync (fanout)
    heartbeat_interval: float = 0.25  # seconds between an agent's heartbeats (their own thread)
    # An agent silent agent_down_time is dead and its LBs are re-bound: what bounds a single LB's
    # failover. Measured in tests/e2e/test_failover_detection.py (both cores saturated for 60 s: no false
    # failover) and docs/benchmarks.md (failover bench).
    agent_down_time: float = 1.0  # seconds of silence before an agent is dead and its LBs move
    controller_interval: float = 0.25  # a pass is two small queries; up to one interval adds to detection
    placement_policy: str = "least_loaded"
    # The topology of a load balancer whose flavor names none (Octavia's [controller_worker]
    # loadbalancer_topology). ACTIVE_STANDBY needs the scale-out deployment with at least two agents: the
    # embedded `lbaas serve` (one agent) refuses such a create with 501.
    default_topology: Literal["SINGLE", "ACTIVE_STANDBY"] = "SINGLE"
    # Circuit breaker: no automatic failover while more than this share of enabled agents is down or suspect.
    failover_max_dead_share: float = 0.5
    # Secret store: the Fernet key file, created 0600 at first use (default <state_dir>/secret.key). In
    # distributed mode every API process must point at the same file.
    secret_key_file: Path | None = None
    failover_breaker_hold: float = 10.0  # once open, stay open this long after recovery (stragglers)

    # /healthcheck (as Octavia's [api_settings] healthcheck_refresh_interval and [healthcheck] detailed).
    healthcheck_refresh_interval: float = 5.0  # seconds a /healthcheck result is cached
    healthcheck_detailed: bool = False  # JSON answers add gc, platform and the check's details
    # Where `lbaas controller` and `lbaas agent` serve their own /metrics (host:port); None: not served.
    # The API processes serve /metrics on the API's address.
    metrics_bind: str | None = None
    # Access logs (lbaas.agent.accesslog): each LB's HAProxy logs to <log_socket_dir>/<lb_id>.sock; the agent
    # writes <state_dir>/lb/<lb_id>/access.log (0600), rotated at access_log_max_bytes, keeping
    # access_log_backups old files. The rest are Octavia's log offloading settings, same names and meaning:
    # targets are "host:port" lists (comma-separated in the environment), sent with log_protocol.
    log_socket_dir: Path = Path("/run/lbaas/log")
    access_log_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)  # an LB's access.log rotates past this size
    access_log_backups: int = Field(2, ge=0, le=100)  # rotated files kept (access.log.1 …)
    connection_logging: bool = True  # Octavia: false = no tenant flow (connection) log lines at all
    disable_local_log_storage: bool = False  # Octavia: offload only, write no access.log
    user_log_format: str = OCTAVIA_USER_LOG_FORMAT  # Octavia's tenant flow log format (HAProxy log-format)
    user_log_facility: int = Field(0, ge=0, le=7)  # LOG_LOCAL<n> of offloaded tenant flow lines
    administrative_log_facility: int = Field(1, ge=0, le=7)  # LOG_LOCAL<n> of offloaded HAProxy events
    tenant_log_targets: Annotated[list[str], NoDecode] = Field(default_factory=list)  # flow lines: host:port, …
    admin_log_targets: Annotated[list[str], NoDecode] = Field(default_factory=list)  # HAProxy events: host:port
    log_protocol: Literal["UDP", "TCP"] = "UDP"  # TCP tries the targets in order; UDP sends to the first
    # Scale-out access logs: an agent serves its LBs' logs on agent_logs_bind (host:port, needs internal_secret);
    # API processes reach it at agent_logs_url, where "{host}" is the agent's name (e.g. "http://{host}:9877").
    agent_logs_bind: str | None = None
    agent_logs_url: str | None = None  # API: an agent's log server, "{host}" = its name; unset: /logs is 501

    @field_validator("tenant_log_targets", "admin_log_targets", mode="before")
    @classmethod
    def _targets(cls, v: object) -> object:
        if isinstance(v, str):
            return [t.strip() for t in v.split(",") if t.strip()]
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # first wins: flags (init) > environment > config file > defaults
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        path = _CONFIG_FILE.get()
        if path is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=path),)
        return sources

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'lbaas.sqlite'}"


def config_path(explicit: Path | None = None) -> tuple[Path, bool]:
    """The config file to read and whether it was asked for (``--config`` or ``LBAAS_CONFIG``): a file
    asked for must exist; the default one may be absent."""
    if explicit is not None:
        return explicit, True
    env = os.environ.get("LBAAS_CONFIG")
    if env:
        return Path(env), True
    return DEFAULT_CONFIG, False


def read_config_file(path: Path, required: bool) -> dict[str, object]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)} (see docs/settings.md)")
    return data


def load_settings(config: Path | None = None, /, **flags: object) -> Settings:
    """Settings from the config file, the environment and ``flags`` (None values are not flags)."""
    path, required = config_path(config)
    read_config_file(path, required)  # refuses a broken file or unknown names with one clear message
    token = _CONFIG_FILE.set(path if path.exists() else None)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})  # type: ignore[arg-type]
    finally:
        _CONFIG_FILE.reset(token)
