"""Access logs: each load balancer's HAProxy logs to a unix datagram socket of its own, and one thread
of the agent writes what arrives to a size-bounded, rotated file in the LB's directory (0600), and
optionally forwards it to syslog receivers (Octavia's log offloading: tenant flow logs and admin logs,
UDP or TCP).

    <log_socket_dir>/<lb_id>.sock   bound by the agent, owned by the HAProxy user (the workers send
                                    after dropping privileges), in a directory only root and the
                                    HAProxy group may enter
    <state_dir>/lb/<lb_id>/access.log, access.log.1 … access.log.<backups>

Which messages are which: HAProxy sends its traffic (flow) lines at severity ``info`` and its own
events (server DOWN, reload alerts) at ``notice`` or above; flow lines go to the tenant targets with
``user_log_facility``, the others to the admin targets with ``administrative_log_facility``. Both land
in the LB's file unless local storage is off.

The tenant flow format is Octavia's (``user_log_format``, HAProxy log-format variables plus
``{{ project_id }}`` and ``{{ lb_id }}``). ``{{ lb_id }}`` is rendered into HAProxy's config; the
project is written by the receiver (HAProxy logs a marker there), so the renderer needs no more than
the LB's paths.

Nothing here touches namespaces: unix sockets live in the file system, which HAProxy shares.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import queue
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.paths import UNIX_PATH_MAX, LbPaths
from lbaas.config import OCTAVIA_USER_LOG_FORMAT, Settings
from lbaas.services.accesslogs import access_log_path

log = logging.getLogger(__name__)

PROJECT_MARKER = "@@lbaas-project@@"
_MARKER = PROJECT_MARKER.encode()
_PRI = re.compile(rb"^<(\d{1,3})>")
FACILITIES = {f"local{i}": 16 + i for i in range(8)}
SEVERITY_INFO = 6


# --------------------------------------------------------------------------- the LB's file


class RotatingFile:
    """Appends lines; past ``max_bytes`` the file becomes ``.1`` (``.1`` → ``.2`` …, the oldest goes)."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1024)
        self.backups = max(backups, 0)
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            os.fchmod(self._fd, 0o600)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def write(self, data: bytes) -> None:
        fd = self._open()
        if self._size and self._size + len(data) > self.max_bytes:
            self.rotate()
            fd = self._open()
        os.write(fd, data)
        self._size += len(data)

    def rotate(self) -> None:
        self.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def reopen_if_moved(self) -> None:
        """The file was removed or replaced under us (an LB torn down and built again here): write to
        the new one from the next line on."""
        if self._fd is None:
            return
        try:
            same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            same = False
        if not same:
            self.close()


# --------------------------------------------------------------------------- syslog forwarding


def parse_targets(values: Iterable[str]) -> list[tuple[str, int]]:
    """``host:port`` (``[v6]:port`` or Octavia's ``v6:port``) → (host, port); refuses anything else."""
    out = []
    for raw in values:
        v = raw.strip()
        if not v:
            continue
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise ValueError(f"log target {raw!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


class SyslogForwarder:
    """Sends syslog lines to the first target (UDP), or to the first that accepts (TCP, newline framing,
    RFC 6587), from its own thread through a bounded queue: a slow or absent receiver drops lines and
    never slows the data plane's logging."""

    def __init__(self, targets: list[tuple[str, int]], protocol: str = "UDP", *, queue_size: int = 10000) -> None:
        self.targets = targets
        self.protocol = protocol.upper()
        if self.protocol not in ("UDP", "TCP"):
            raise ValueError("log_protocol must be UDP or TCP")
        self.dropped = 0
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_size)
        self._tcp: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="syslog-forward", daemon=True)
        self._thread.start()

    def send(self, line: bytes) -> None:
        try:
            self._q.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        udp: socket.socket | None = None
        while (line := self._q.get()) is not None:
            try:
                if self.protocol == "UDP":
                    host, port = self.targets[0]
                    if udp is None:
                        udp = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
                    udp.sendto(line, (host, port))
                else:
                    self._send_tcp(line + b"\n")
            except OSError as exc:
                self.dropped += 1
                log.debug("syslog forward failed: %s", exc)
        if udp is not None:
            udp.close()
        if self._tcp is not None:
            self._tcp.close()

    def _send_tcp(self, data: bytes) -> None:
        for _ in range(2):
            if self._tcp is None:
                self._tcp = self._connect()
            try:
                self._tcp.sendall(data)
                return
            except OSError:
                self._tcp.close()
                self._tcp = None
        raise OSError("no syslog target accepted the line")

    def _connect(self) -> socket.socket:
        last: OSError | None = None
        for host, port in self.targets:  # primary first, then the secondaries
            try:
                return socket.create_connection((host, port), timeout=2.0)
            except OSError as exc:
                last = exc
        raise last or OSError("no log targets")


# --------------------------------------------------------------------------- the receiver


@dataclass(frozen=True)
class AccessLogSettings:
    socket_dir: Path
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 2
    local_storage: bool = True  # Octavia: not disable_local_log_storage
    connection_logging: bool = True  # Octavia: connection_logging (flow lines at all)
    user_log_format: str = OCTAVIA_USER_LOG_FORMAT
    user_log_facility: int = 0  # LOG_LOCAL0
    administrative_log_facility: int = 1  # LOG_LOCAL1
    haproxy_user: str = "haproxy"
    haproxy_group: str = "haproxy"
    hostname: str = "lbaas"
    sweep_interval: float = 5.0  # how often LBs torn down lose their socket


class _Lb:
    def __init__(self, lb_id: str, sock: socket.socket, path: Path, file: RotatingFile) -> None:
        self.lb_id = lb_id
        self.sock = sock
        self.path = path
        self.file = file
        self.project: str | None = None
        self.inode = os.stat(path).st_ino  # the socket file we bound (to never unlink another's)


class AccessLogReceiver:
    def __init__(
        self,
        settings: AccessLogSettings,
        state_dir: Path,
        *,
        project_of: Callable[[str], str | None] | None = None,
        tenant: SyslogForwarder | None = None,
        admin: SyslogForwarder | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self._project_of = project_of
        self._tenant = tenant
        self._admin = admin
        self._lbs: dict[str, _Lb] = {}
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lines = 0

    # ------------------------------------------------------------------ setup

    def start(self) -> None:
        d = self.settings.socket_dir
        created = [p for p in (d, *d.parents) if not p.exists()]
        d.mkdir(parents=True, exist_ok=True)
        for parent in created[1:]:  # ancestors made here (under the process's umask 077): search only
            os.chmod(parent, 0o711)
        for parent in [d, *d.parents]:  # HAProxy's workers must reach the socket: search on every ancestor
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001 and parent != d:
                log.warning("HAProxy's user cannot enter %s: access logs will stay empty", parent)
        try:
            gid = grp.getgrnam(self.settings.haproxy_group).gr_gid
            os.chown(d, 0, gid)
            os.chmod(d, 0o750)
        except (KeyError, PermissionError) as exc:
            log.warning("cannot give %s to group %s: %s", d, self.settings.haproxy_group, exc)
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for lb_id in list(self._lbs):
                self._close(lb_id)

    def socket_path(self, lb_id: str) -> Path:
        return self.settings.socket_dir / f"{lb_id}.sock"

    def log_path(self, lb_id: str) -> Path:
        return access_log_path(self.state_dir, lb_id)

    def render_options(self, paths: LbPaths, opts: RenderOptions) -> RenderOptions:
        """What HAProxy needs to log here (the agent's render hook); attaches the LB's socket first.
        Logging never stands in the data plane's way: if the socket cannot be made, the LB runs unlogged."""
        try:
            self.attach(paths.lb_id)
        except (OSError, ValueError) as exc:
            log.warning("access log of %s disabled: %s", paths.lb_id, exc)
            return opts
        fmt = None
        if self.settings.connection_logging:
            fmt = self.settings.user_log_format.replace("{{ lb_id }}", paths.lb_id).replace(
                "{{ project_id }}", PROJECT_MARKER
            )
        return replace(
            opts,
            log_target=str(self.socket_path(paths.lb_id)),
            log_facility=f"local{self.settings.user_log_facility}",
            log_requests=self.settings.connection_logging,
            log_format=fmt,
        )

    def attach(self, lb_id: str) -> None:
        with self._lock:
            if lb_id in self._lbs:
                return
            path = self.socket_path(lb_id)
            if len(os.fsencode(path)) > UNIX_PATH_MAX:
                raise ValueError(f"log socket path {path} exceeds {UNIX_PATH_MAX} bytes; use a shorter log_socket_dir")
            path.unlink(missing_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind(str(path))
            os.chmod(path, 0o600)
            try:
                os.chown(path, pwd.getpwnam(self.settings.haproxy_user).pw_uid, -1)
            except (KeyError, PermissionError) as exc:
                log.warning("cannot give %s to %s: %s", path, self.settings.haproxy_user, exc)
            sock.setblocking(False)
            file = RotatingFile(self.log_path(lb_id), self.settings.max_bytes, self.settings.backups)
            self._lbs[lb_id] = _Lb(lb_id, sock, path, file)
            self._sel.register(sock, selectors.EVENT_READ, lb_id)

    def detach(self, lb_id: str) -> None:
        with self._lock:
            self._close(lb_id)

    def _close(self, lb_id: str) -> None:
        lb = self._lbs.pop(lb_id, None)
        if lb is None:
            return
        try:
            self._sel.unregister(lb.sock)
        except (KeyError, ValueError):
            pass
        try:  # only our own socket: another agent on this machine may have bound the same name since
            ours = os.stat(lb.path).st_ino == lb.inode
        except OSError:
            ours = False
        if ours:
            lb.path.unlink(missing_ok=True)
        lb.sock.close()
        lb.file.close()

    def attached(self) -> set[str]:
        with self._lock:
            return set(self._lbs)

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        last_sweep = time.monotonic()
        while not self._stop.is_set():
            for key, _ in self._sel.select(timeout=0.5):
                try:
                    self._drain(str(key.data))
                except Exception:  # a full disk, a bad file: never stop every LB's logs for one
                    log.warning("access log of %s: lines dropped", key.data, exc_info=True)
            if time.monotonic() - last_sweep > self.settings.sweep_interval:
                last_sweep = time.monotonic()
                self._sweep()

    def _sweep(self) -> None:
        """LBs torn down (their directory is gone) lose their socket."""
        with self._lock:
            for lb_id, lb in list(self._lbs.items()):
                if not LbPaths(self.state_dir, lb_id).directory.is_dir():
                    self._close(lb_id)
                else:
                    lb.file.reopen_if_moved()

    def _drain(self, lb_id: str) -> int:
        """Read what the LB's socket holds (up to 256 datagrams); how many."""
        with self._lock:
            lb = self._lbs.get(lb_id)
        if lb is None:
            return 0
        lines: list[bytes] = []  # written in one go: one write(2) per wake-up, not one per request
        seen = 0
        for _ in range(256):
            try:
                msg = lb.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            seen += 1
            try:
                line = self._line(lb, msg)
            except Exception:  # one bad line must not stop the loop
                log.debug("access log line for %s dropped", lb_id, exc_info=True)
                continue
            if line is not None:
                lines.append(line)
        self._store(lb, lines)
        self.lines += seen  # counted once stored: a reader of ``lines`` finds them in the file
        return seen

    def handle(self, lb: _Lb, msg: bytes) -> None:
        self._store(lb, [line] if (line := self._line(lb, msg)) is not None else [])
        self.lines += 1

    def _store(self, lb: _Lb, lines: list[bytes]) -> None:
        if lines:
            with self._lock:
                if lb.lb_id in self._lbs:
                    try:
                        lb.file.write(b"".join(lines))
                    except FileNotFoundError:  # the LB's directory is gone (torn down): its last lines go too
                        self._close(lb.lb_id)

    def _line(self, lb: _Lb, msg: bytes) -> bytes | None:
        """One datagram: forwarded to its syslog target, and the line for the LB's file (None: not stored)."""
        m = _PRI.match(msg)
        pri = int(m.group(1)) if m else 16 * 8 + SEVERITY_INFO
        body = msg[m.end() :] if m else msg
        severity = pri & 7
        body = body.rstrip(b"\n").replace(b"\n", b" ")
        if _MARKER in body:
            body = body.replace(_MARKER, self._project(lb).encode(), 1)
        flow = severity == SEVERITY_INFO
        fwd = self._tenant if flow else self._admin
        if fwd is not None:
            facility = self.settings.user_log_facility if flow else self.settings.administrative_log_facility
            # RFC 3164: <PRI>TIMESTAMP HOSTNAME TAG: MSG (HAProxy sent TIMESTAMP TAG: MSG)
            ts, tag = body[:15], body[16:]
            line = b"<%d>%s %s %s" % ((16 + facility) * 8 + severity, ts, self.settings.hostname.encode(), tag)
            fwd.send(line)
        return body + b"\n" if self.settings.local_storage else None

    def _project(self, lb: _Lb) -> str:
        if lb.project is None and self._project_of is not None:
            try:
                lb.project = self._project_of(lb.lb_id)
            except Exception as exc:
                log.debug("project of %s unknown: %s", lb.lb_id, exc)
        return lb.project or "-"


def from_settings(settings: Settings, project_of: Callable[[str], str | None] | None) -> AccessLogReceiver:
    """The agent's receiver (not started) with forwarders for the configured syslog targets."""
    tenant = admin = None
    if settings.connection_logging and settings.tenant_log_targets:
        tenant = SyslogForwarder(parse_targets(settings.tenant_log_targets), settings.log_protocol)
    if settings.admin_log_targets:
        admin = SyslogForwarder(parse_targets(settings.admin_log_targets), settings.log_protocol)
    # one directory per agent: several agents on one machine (simulated hosts) may run the same LB id
    agent_dir = "".join(c if c.isalnum() or c in "-_" else "_" for c in settings.host)[:32] or "agent"
    cfg = AccessLogSettings(
        socket_dir=settings.log_socket_dir / agent_dir,
        max_bytes=settings.access_log_max_bytes,
        backups=settings.access_log_backups,
        local_storage=not settings.disable_local_log_storage,
        connection_logging=settings.connection_logging,
        user_log_format=settings.user_log_format,
        user_log_facility=settings.user_log_facility,
        administrative_log_facility=settings.administrative_log_facility,
        haproxy_user=settings.haproxy_user,
        haproxy_group=settings.haproxy_group,
        hostname=settings.host,
    )
    return AccessLogReceiver(cfg, settings.state_dir, project_of=project_of, tenant=tenant, admin=admin)
