"""Settings, built once by the CLI and passed down explicitly (no global config object)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# uvicorn closes an idle keep-alive connection after this many seconds. Its default (5 s) is shorter than
# the idle time of client pools (requests, httpx, Terraform), so a request sent just as the server closes
# got a reset; 75 s outlasts them, like the usual reverse-proxy defaults.
KEEP_ALIVE_S = 75

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LBAAS_", extra="ignore")

    bind: str = "127.0.0.1:9876"
    state_dir: Path = Path("/var/lib/lbaas")
    database_url: str | None = None
    provider: str = "haproxy"  # the default provider; "amphora" and "octavia" are its aliases
    default_project: str = "lbaas-default"
    # noauth: a request that carries no identity headers (X-Roles, X-Project-Id, X-Tenant-Id) is the
    # operator, and may use the admin-only endpoints (flavor/AZ writes, profiles, amphorae, quota writes).
    # The stock ``openstack`` CLI with OS_AUTH_TYPE=none sends none of them. A request that names its
    # roles is judged by them: without "admin" it gets a 403.
    noauth_admin: bool = True
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
    header_timeout: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
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
    heartbeat_interval: float = 1.0
    agent_down_time: float = 3.0  # an agent silent this long is dead; its LBs are re-bound
    controller_interval: float = 0.5
    placement_policy: str = "least_loaded"
    # Circuit breaker: no automatic failover while more than this share of enabled agents is down or suspect.
    failover_max_dead_share: float = 0.5
    failover_breaker_hold: float = 10.0  # once open, stay open this long after recovery (stragglers)

    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'lbaas.sqlite'}"
