"""Where one load balancer's HAProxy files live on the agent host.

One directory per LB, ``<state_dir>/lb/<lb_id>/``, owned by root, mode 0750. The HAProxy master runs as
root and binds every socket before its workers drop to ``nobody``, so nothing here needs to be
writable by the workers. Everything the process layer needs to find (and *adopt*, after an agent
restart) a running HAProxy is derived from ``(state_dir, lb_id)`` alone: no in-memory registry.

AF_UNIX socket paths are limited to 107 bytes; ``ensure()`` refuses a state_dir that would overflow
that instead of letting HAProxy fail at bind time with an obscure message.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

UNIX_PATH_MAX = 107  # sizeof(sun_path) - 1


def read_file(path: Path) -> str | None:
    """A small state file's text, or None when it does not exist. Raw ``os.read``: about twice as fast as
    ``Path.read_text`` (no text wrapper), and a resync reads a few of these for every LB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


@dataclass(frozen=True)
class LbPaths:
    state_dir: Path
    lb_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", Path(self.state_dir))
        if not self.lb_id or "/" in self.lb_id or self.lb_id in (".", "..") or "\0" in self.lb_id:
            raise ValueError(f"bad load balancer id {self.lb_id!r}")

    @functools.cached_property
    def directory(self) -> Path:  # cached: every other path derives from it, on every reconcile
        return self.state_dir / "lb" / self.lb_id

    @property
    def certs(self) -> Path:
        """TLS material (0700; files 0600, named by the SHA-256 of their content)."""
        return self.directory / "certs"

    @property
    def cfg(self) -> Path:
        return self.directory / "haproxy.cfg"

    @property
    def cfg_new(self) -> Path:
        return self.directory / "haproxy.cfg.new"

    @property
    def cfg_failed(self) -> Path:
        return self.directory / "haproxy.cfg.failed"

    @property
    def pid(self) -> Path:
        return self.directory / "haproxy.pid"

    @property
    def stats_sock(self) -> Path:
        return self.directory / "stats.sock"

    @property
    def master_sock(self) -> Path:
        return self.directory / "master.sock"

    @property
    def server_state(self) -> Path:
        return self.directory / "server_state"

    @property
    def loaded(self) -> Path:
        """sha256 of the config the running HAProxy confirmed (written after each start or reload)."""
        return self.directory / "loaded"

    @property
    def cert_keys(self) -> Path:
        """After live certificate swaps: which HAProxy store holds each PEM file's content, for the config
        whose ``loaded`` digest it names (JSON, 0600; ``lbaas.agent.haproxy.unit``)."""
        return self.directory / "cert_keys.json"

    @property
    def network(self) -> Path:
        """The VIP network (a JSON ``NetworkPlug``): which bridge to release when this LB goes."""
        return self.directory / "network.json"

    @property
    def plumbed(self) -> Path:
        """sha256 of the VIP port plug (and namespace) last converged by a full pass: lets a resync trust
        the in-namespace side without entering the namespace (see ``lbaas.agent.plan``)."""
        return self.directory / "plumbed"

    @property
    def epoch(self) -> Path:
        """The binding epoch this LB was last converged for: another epoch means a failover (replace)."""
        return self.directory / "epoch"

    @property
    def keepalived_cfg(self) -> Path:
        """keepalived's config (ACTIVE_STANDBY only); ``keepalived_cfg_new`` is the checked candidate."""
        return self.directory / "keepalived.conf"

    @property
    def keepalived_cfg_new(self) -> Path:
        return self.directory / "keepalived.conf.new"

    @property
    def keepalived_pid(self) -> Path:
        return self.directory / "keepalived.pid"

    @property
    def vrrp_pid(self) -> Path:
        """keepalived's VRRP child process."""
        return self.directory / "vrrp.pid"

    @property
    def track(self) -> Path:
        """HAProxy's health as keepalived tracks it: ``0`` healthy, anything else FAULT (agent-written)."""
        return self.directory / "haproxy.track"

    @property
    def keepalived_log(self) -> Path:
        return self.directory / "keepalived.log"

    @property
    def log(self) -> Path:
        """HAProxy's start-up output (alerts before it daemonizes); not the traffic log."""
        return self.directory / "haproxy.log"

    def ensure(self) -> Path:
        for sock in (self.stats_sock, self.master_sock):
            if len(os.fsencode(sock)) > UNIX_PATH_MAX:
                raise ValueError(f"socket path {sock} exceeds {UNIX_PATH_MAX} bytes; use a shorter state_dir")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.directory
