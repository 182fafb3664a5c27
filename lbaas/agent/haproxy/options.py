"""Everything the renderer needs besides the spec, passed in explicitly (no globals, no env lookups).

The agent builds one ``RenderOptions`` per load balancer (paths are per-LB) from its own config and
from what it probed on the installed haproxy binary (``features.probe``), so the renderer itself stays
pure and its output depends only on its two arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbaas.agent.haproxy.quoting import RenderError

LOG_FACILITIES = frozenset(
    {"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
     "ftp", "ntp", "audit", "alert", "cron2", *(f"local{i}" for i in range(8))}
)
LOG_LEVELS = frozenset({"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"})


@dataclass(frozen=True)
class RenderOptions:
    """Per-LB, per-host settings for ``render_haproxy``.

    stats_socket_path:  the per-LB admin socket (mode ``stats_socket_mode``, ``level admin``,
                        ``expose-fd listeners`` for seamless reloads).
    server_state_file:  where the agent dumps ``show servers state`` before a reload.
    user / group:       the unprivileged identity the workers drop to.
    maxconn_cap:        hard ceiling for the global and every frontend ``maxconn`` (RLIMIT_NOFILE is 20000 on
                        our hosts; each proxied connection needs two fds).
    default_listener_maxconn: what ``connection_limit`` -1 (or 0) means per listener, before the cap.
    min_global_maxconn: floor for the global maxconn so the admin socket works with no frontends.
    hard_stop_after_s:  how long an old worker may drain after a reload.
    log_target:         ``None`` = no logging; else a syslog target as HAProxy writes it
                        (``/dev/log``, ``127.0.0.1:514``, ``ring@name``...).
    log_facility / log_level: syslog facility and optional max level.
    log_requests:       with a log target, add ``option httplog`` / ``option tcplog`` to frontends.
    log_format:         with a log target and log_requests, a ``log-format`` for every frontend instead
                        (Octavia's tenant flow format); HTTP-only variables become ``-`` in TCP frontends.
    nbthread:           ``None`` leaves HAProxy's default (one thread per CPU).
    prometheus_exporter: whether the binary has the built-in exporter (``features.probe``); a PROMETHEUS
                        listener is refused with RenderError when it has not.
    ping_check_command: ``None`` renders PING health monitors as layer-4 connect checks. A path
                        enables ``option external-check`` with that command (and the global
                        ``external-check`` + ``insecure-fork-wanted`` it needs); opt-in only.
    stick_table_size:   size of the SOURCE_IP / APP_COOKIE stick tables.
    cert_dir:           where the agent writes the PEM files of TLS listeners and pools (named by their
                        SHA-256, see ``viewmodel.tls_files``); ``None`` refuses TLS material.
    """

    stats_socket_path: str
    server_state_file: str
    user: str = "haproxy"
    group: str = "haproxy"
    stats_socket_mode: str = "600"
    maxconn_cap: int = 9000
    default_listener_maxconn: int = 50000
    min_global_maxconn: int = 100
    hard_stop_after_s: int = 60
    log_target: str | None = None
    log_facility: str = "local0"
    log_level: str | None = None
    log_requests: bool = True
    log_format: str | None = None
    nbthread: int | None = None
    prometheus_exporter: bool = True
    ping_check_command: str | None = None
    stick_table_size: str = "10k"
    cert_dir: str | None = None

    def __post_init__(self) -> None:
        if self.maxconn_cap < 1 or self.default_listener_maxconn < 1 or self.min_global_maxconn < 1:
            raise RenderError("maxconn_cap, default_listener_maxconn and min_global_maxconn must be >= 1")
        if self.hard_stop_after_s < 1:
            raise RenderError("hard_stop_after_s must be >= 1")
        if self.log_facility not in LOG_FACILITIES:
            raise RenderError(f"unknown syslog facility {self.log_facility!r}")
        if self.log_level is not None and self.log_level not in LOG_LEVELS:
            raise RenderError(f"unknown syslog level {self.log_level!r}")
        if self.nbthread is not None and self.nbthread < 1:
            raise RenderError("nbthread must be >= 1")
        if not re.fullmatch(r"[0-7]{3,4}", self.stats_socket_mode):
            raise RenderError(f"stats_socket_mode {self.stats_socket_mode!r} is not an octal mode")
        if int(self.stats_socket_mode, 8) & 0o002:
            raise RenderError("the stats socket must not be world-writable")
