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
    # Identity (README "Identity"): noauth | token | keystone. noauth is Octavia's: every caller is an
    # administrator; allowed only on a loopback bind unless insecure_noauth. ``lbaas serve`` defaults to
    # noauth, ``lbaas api`` to token.
    auth_strategy: str = "noauth"
    insecure_noauth: bool = False
    # keystone: keystonemiddleware's auth_token, configured like Octavia's [keystone_authtoken].
    keystone_www_authenticate_uri: str | None = None  # sent in WWW-Authenticate; default: keystone_auth_url
    keystone_auth_url: str | None = None
    keystone_username: str | None = None
    keystone_password: str | None = None
    keystone_project_name: str = "service"
    keystone_user_domain_name: str = "Default"
    keystone_project_domain_name: str = "Default"
    keystone_region_name: str | None = None
    keystone_token_cache_time: int = 300  # seconds a validated token is trusted without asking Keystone
    # token: the URI named in WWW-Authenticate of a 401 (default: the request's own base URL).
    www_authenticate_uri: str | None = None
    # TLS for the API itself (PEM files); both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Authorization: Octavia's default policy, overridden by an Octavia policy.yaml (LBAAS_POLICY_FILE).
    # With enforce_new_defaults off, Octavia's load-balancer_* roles and Keystone's reader/member/admin
    # are both accepted (oslo.policy's [oslo_policy] enforce_new_defaults).
    policy_file: Path | None = None
    policy_enforce_new_defaults: bool = False
    # Quota defaults per resource; -1 is unlimited.
    quota_defaults: dict[str, int] = Field(
        default_factory=lambda: {
            k: -1 for k in ("loadbalancer", "listener", "member", "pool", "healthmonitor", "l7policy", "l7rule")
        }
    )
    reserved_ips: tuple[str, ...] = ("169.254.169.254",)
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
