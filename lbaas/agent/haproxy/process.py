"""The life cycle of one HAProxy per load balancer, inside the LB's namespace: a small protocol, the
real master-worker implementation, and an in-memory fake for reconciler tests.

How a process is handled, and why:

* **check** writes ``haproxy.cfg.new`` (0640) and runs ``haproxy -c``; a rejected file is kept as
  ``.failed`` for the operator and ``ConfigRejected`` carries HAProxy's output. **stage** only writes
  it: for a first start, which parses the file itself (the reconciler checks only to explain a failure). The live config is only
  touched by **swap** (an atomic ``os.replace``).
* **start**: ``ip netns exec <ns> haproxy -W -D -S <master.sock>,mode,600 -f <cfg> -p <pid>``. Master-
  worker (``-W``) because reloads through the master lose no connection (dataplane-facts: 0 failures vs
  1200+ with ``-sf``); ``-D`` because PID 1 is not systemd here. The launcher runs in its own session
  with stdin from /dev/null and stdout/stderr appended to ``haproxy.log``: no pipe ties HAProxy to the
  agent, so HAProxy keeps serving when the agent dies (tested with ``kill -9``).
* **adopt**: nothing is remembered in memory. ``is_running`` reads the pid file and accepts the pid only
  if ``/proc/<pid>/cmdline`` is an haproxy with ``-f <this cfg>`` (pid reuse safe) and it is not a
  zombie. ``ensure_running`` also checks that the process lives in *this* namespace (same nsfs inode):
  after a namespace was recreated the old master is stopped and a new one started.
* **reload**: ``reload`` on the master CLI; the master re-executes itself with the swapped config. We
  confirm through ``show proc``: the master's reload counter moved, its failure counter did not, and a
  worker with 0 reloads exists (its pid is returned).
* **stop**: SIGTERM (or SIGUSR1 for a graceful drain) to the master, wait, then SIGKILL to the master
  and to its workers, by pid only and after re-checking each cmdline. Zombies count as gone: the
  daemonized master is reparented to a PID 1 that reaps late.
* **runtime** sends one command line to the stats socket (``show stat``, ``set server b/s state maint``).
* **death** (measured on 2.6, no ``no-exit-on-failure``): a worker killed with SIGKILL makes the master
  stop the others and exit; a master killed with SIGKILL takes its workers with it at once. Either way
  ``is_running`` turns None (a dead master left as a zombie counts as gone), which is what the
  agent's 1 s observer watches; tests/dataplane/test_robustness.py holds both to a 2 s repair.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from lbaas.agent import daemon
from lbaas.agent.netns import nsexec
from lbaas.agent.paths import LbPaths


class HaproxyError(RuntimeError):
    """HAProxy could not be started, reloaded, stopped or reached."""


class ConfigRejected(HaproxyError):
    """``haproxy -c`` refused the configuration (or a reload failed on it)."""

    def __init__(self, output: str) -> None:
        super().__init__(f"haproxy rejected the configuration:\n{output}")
        self.output = output


@runtime_checkable
class HaproxyProcess(Protocol):
    def check(self, cfg_text: str, paths: LbPaths) -> None: ...

    def stage(self, cfg_text: str, paths: LbPaths) -> None:
        """Write ``haproxy.cfg.new`` for ``swap`` without checking it (the first start checks it itself)."""
        ...

    def swap(self, paths: LbPaths) -> None: ...

    def ensure_running(self, paths: LbPaths, ns: str) -> int:
        """Adopt or start the master; returns the master pid."""
        ...

    def reload(self, paths: LbPaths) -> int:
        """Reload with the current cfg; returns the new worker's pid."""
        ...

    def is_running(self, paths: LbPaths) -> int | None: ...

    def running_in(self, paths: LbPaths, ns: str) -> int | None:
        """The master's pid if it runs and serves in namespace ``ns`` (not in an older one of that name)."""
        ...

    def stop(self, paths: LbPaths, *, graceful: bool = False) -> None: ...

    def runtime(self, paths: LbPaths, command: str) -> str: ...


# -- helpers -------------------------------------------------------------------------------------


def _is_our_haproxy(pid: int, cfg: Path) -> bool:
    return daemon.runs_config(pid, "haproxy", cfg)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def unix_command(path: Path, command: str, *, timeout: float = 5.0) -> str:
    """Send one command line over an HAProxy CLI socket and read the whole answer.

    The write side is shut down after the command: the master CLI only closes after a command when it
    sees EOF (measured on 2.6; without it the read blocks)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(command.rstrip("\n").encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


@dataclass(frozen=True)
class ProcInfo:
    """Parsed ``show proc`` of the master CLI."""

    master_pid: int
    reloads: int
    failed: int
    workers: tuple[tuple[int, int], ...]  # (pid, reloads); 0 reloads = current generation


_MASTER_RE = re.compile(r"^(\d+)\s+master\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?", re.M)
_WORKER_RE = re.compile(r"^(\d+)\s+worker\s+(\d+)", re.M)


def parse_show_proc(text: str) -> ProcInfo:
    m = _MASTER_RE.search(text)
    if m is None:
        raise HaproxyError(f"unexpected 'show proc' answer: {text!r}")
    workers = tuple((int(w.group(1)), int(w.group(2))) for w in _WORKER_RE.finditer(text))
    return ProcInfo(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), workers)


# -- the real thing ------------------------------------------------------------------------------


class MasterWorkerHaproxy:
    def __init__(self, haproxy_bin: str = "haproxy", *, ip_bin: str = "ip", start_timeout: float = 10.0,
                 stop_timeout: float = 5.0, check_timeout: float = 30.0) -> None:
        self.haproxy_bin = haproxy_bin
        self.ip_bin = ip_bin
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.check_timeout = check_timeout

    # config files

    def stage(self, cfg_text: str, paths: LbPaths) -> None:
        paths.ensure()
        fd = os.open(paths.cfg_new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # root only: the master reads it before dropping privileges
            f.write(cfg_text)

    def check(self, cfg_text: str, paths: LbPaths) -> None:
        self.stage(cfg_text, paths)
        try:
            r = subprocess.run([self.haproxy_bin, "-c", "-f", str(paths.cfg_new)], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=self.check_timeout)
        except subprocess.TimeoutExpired as e:
            os.replace(paths.cfg_new, paths.cfg_failed)
            raise ConfigRejected(f"haproxy -c timed out after {e.timeout}s") from e
        if r.returncode != 0:
            os.replace(paths.cfg_new, paths.cfg_failed)
            raise ConfigRejected((r.stdout + r.stderr).strip())

    def swap(self, paths: LbPaths) -> None:
        try:
            os.replace(paths.cfg_new, paths.cfg)
        except FileNotFoundError as e:
            raise HaproxyError(f"no checked configuration to swap in {paths.directory}") from e

    # processes

    def is_running(self, paths: LbPaths) -> int | None:
        pid = daemon.read_pid(paths.pid)
        if pid is None or not daemon.alive(pid) or not _is_our_haproxy(pid, paths.cfg):
            return None
        return pid

    def running_in(self, paths: LbPaths, ns: str) -> int | None:
        pid = self.is_running(paths)
        return pid if pid is not None and nsexec.pid_in_netns(pid, ns) else None

    def ensure_running(self, paths: LbPaths, ns: str) -> int:
        pid = self.is_running(paths)
        if pid is not None:
            if nsexec.pid_netns_identity(pid) == nsexec.netns_identity(ns):
                return pid  # adopted
            self.stop(paths)  # it serves a namespace that no longer is ns: replace it
        if not paths.cfg.exists():
            raise HaproxyError(f"{paths.cfg} does not exist; check() and swap() first")
        paths.ensure()
        paths.pid.unlink(missing_ok=True)
        argv = nsexec.ip_netns_exec(
            ns,
            [self.haproxy_bin, "-W", "-D", "-S", f"{paths.master_sock},mode,600",
             "-f", str(paths.cfg), "-p", str(paths.pid)],
            ip_bin=self.ip_bin,
        )
        with open(paths.log, "ab") as logf:
            launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                        start_new_session=True, close_fds=True, cwd="/")
        try:
            rc = launcher.wait(timeout=self.start_timeout)
        except subprocess.TimeoutExpired as e:
            launcher.kill()
            launcher.wait()
            raise HaproxyError(f"haproxy did not daemonize in {self.start_timeout}s") from e
        if rc != 0:
            raise HaproxyError(f"haproxy exited with {rc} in {ns}: {self._log_tail(paths)}")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            pid = self.is_running(paths)
            if pid is not None:
                try:
                    info = parse_show_proc(unix_command(paths.master_sock, "show proc", timeout=1.0))
                except (OSError, HaproxyError):
                    info = None
                if info is not None and any(r == 0 for _, r in info.workers):
                    return pid
            time.sleep(0.002)
        raise HaproxyError(f"haproxy in {ns} not ready after {self.start_timeout}s: {self._log_tail(paths)}")

    def show_proc(self, paths: LbPaths) -> ProcInfo:
        return parse_show_proc(unix_command(paths.master_sock, "show proc"))

    def reload(self, paths: LbPaths) -> int:
        if self.is_running(paths) is None:
            raise HaproxyError(f"haproxy for {paths.lb_id} is not running")
        before = self.show_proc(paths)
        unix_command(paths.master_sock, "reload")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                info = self.show_proc(paths)
            except (OSError, HaproxyError):  # the master is re-executing; its CLI is briefly away
                time.sleep(0.005)
                continue
            if info.reloads > before.reloads:
                if info.failed > before.failed:
                    raise HaproxyError(f"reload of {paths.lb_id} failed; the previous worker keeps serving: "
                                       f"{self._log_tail(paths)}")
                new = [pid for pid, r in info.workers if r == 0]
                if new:
                    return new[0]
            time.sleep(0.005)
        raise HaproxyError(f"reload of {paths.lb_id} not confirmed after {self.start_timeout}s")

    def stop(self, paths: LbPaths, *, graceful: bool = False) -> None:
        pid = self.is_running(paths)
        if pid is None:
            paths.pid.unlink(missing_ok=True)
            return
        workers = [c for c in child_pids(pid) if _is_our_haproxy(c, paths.cfg)]
        everyone = [pid, *workers]
        if not daemon.terminate(pid, everyone, lambda p: _is_our_haproxy(p, paths.cfg),
                                sig=signal.SIGUSR1 if graceful else signal.SIGTERM, timeout=self.stop_timeout):
            raise HaproxyError(f"haproxy {everyone} for {paths.lb_id} survived SIGKILL")
        paths.pid.unlink(missing_ok=True)
        for sock in (paths.master_sock, paths.stats_sock):
            sock.unlink(missing_ok=True)

    def runtime(self, paths: LbPaths, command: str) -> str:
        try:
            return unix_command(paths.stats_sock, command)
        except OSError as e:
            raise HaproxyError(f"stats socket of {paths.lb_id} unreachable: {e}") from e

    @staticmethod
    def _log_tail(paths: LbPaths, n: int = 2000) -> str:
        try:
            return paths.log.read_text(errors="replace")[-n:].strip()
        except FileNotFoundError:
            return ""


# -- the fake ------------------------------------------------------------------------------------


@dataclass
class FakeLb:
    cfg_new: str | None = None
    cfg: str | None = None
    cfg_failed: str | None = None
    pid: int | None = None
    ns: str | None = None
    worker: int | None = None
    reloads: int = 0
    runtime_log: list[str] = field(default_factory=list)
    new_unchecked: bool = False  # cfg_new came from stage(), not check()
    cfg_unchecked: bool = False


@dataclass
class FakeHaproxyProcess:
    """In-memory HaproxyProcess. ``reject`` returns an error text for a config to refuse (None accepts);
    ``responses`` maps runtime commands to answers; ``crash(paths)`` simulates a dead HAProxy.

    Processes are in memory, but the config files are written where the real one writes them
    (``haproxy.cfg.new``, ``haproxy.cfg``, ``haproxy.cfg.failed``): the reconciler compares the rendered
    text with the file on disk, so a fake that kept them in memory only would reload on every pass."""

    reject: Callable[[str], str | None] | None = None
    responses: dict[str, str] = field(default_factory=dict)
    # answer member commands (add/del/enable/set server) as HAProxy 2.6 does; off: "" to everything,
    # which the reconciler takes as a failed live change (it then reloads)
    live_runtime: bool = False
    lbs: dict[LbPaths, FakeLb] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    _next_pid: int = 100000

    def _lb(self, paths: LbPaths) -> FakeLb:
        return self.lbs.setdefault(paths, FakeLb())

    def _pid(self) -> int:
        self._next_pid += 1
        return self._next_pid

    def check(self, cfg_text: str, paths: LbPaths) -> None:
        lb = self._lb(paths)
        self.calls.append(("check", paths.lb_id))
        paths.ensure()
        error = self.reject(cfg_text) if self.reject is not None else None
        if error is not None:
            lb.cfg_new, lb.cfg_failed = None, cfg_text
            paths.cfg_failed.write_text(cfg_text)
            paths.cfg_new.unlink(missing_ok=True)
            raise ConfigRejected(error)
        lb.cfg_new, lb.new_unchecked = cfg_text, False
        paths.cfg_new.write_text(cfg_text)

    def stage(self, cfg_text: str, paths: LbPaths) -> None:
        paths.ensure()
        lb = self._lb(paths)
        lb.cfg_new, lb.new_unchecked = cfg_text, True
        paths.cfg_new.write_text(cfg_text)

    def swap(self, paths: LbPaths) -> None:
        lb = self._lb(paths)
        if lb.cfg_new is None:
            raise HaproxyError(f"no checked configuration to swap for {paths.lb_id}")
        lb.cfg, lb.cfg_new, lb.cfg_unchecked = lb.cfg_new, None, lb.new_unchecked
        os.replace(paths.cfg_new, paths.cfg)  # the files too, like the real one: the reconciler diffs on disk
        self.calls.append(("swap", paths.lb_id))

    def is_running(self, paths: LbPaths) -> int | None:
        lb = self.lbs.get(paths)
        return lb.pid if lb else None

    def running_in(self, paths: LbPaths, ns: str) -> int | None:
        lb = self.lbs.get(paths)
        return lb.pid if lb is not None and lb.ns == ns else None

    def ensure_running(self, paths: LbPaths, ns: str) -> int:
        lb = self._lb(paths)
        if lb.pid is not None and lb.ns == ns:
            return lb.pid
        if lb.cfg is None:
            raise HaproxyError(f"no configuration for {paths.lb_id}")
        if lb.cfg_unchecked and self.reject is not None and self.reject(lb.cfg) is not None:  # parsed at start
            raise HaproxyError(f"haproxy exited with 1 in {ns}")
        lb.pid, lb.worker, lb.ns = self._pid(), self._pid(), ns
        lb.cfg_unchecked = False  # HAProxy parsed it fine: as good as checked
        self.calls.append(("start", paths.lb_id))
        return lb.pid

    def reload(self, paths: LbPaths) -> int:
        lb = self._lb(paths)
        if lb.pid is None:
            raise HaproxyError(f"haproxy for {paths.lb_id} is not running")
        lb.worker = self._pid()
        lb.reloads += 1
        self.calls.append(("reload", paths.lb_id))
        return lb.worker

    def stop(self, paths: LbPaths, *, graceful: bool = False) -> None:
        lb = self.lbs.get(paths)
        if lb is not None and lb.pid is not None:
            lb.pid = lb.worker = lb.ns = None
            self.calls.append(("stop", paths.lb_id))

    def crash(self, paths: LbPaths) -> None:
        lb = self._lb(paths)
        lb.pid = lb.worker = None

    def runtime(self, paths: LbPaths, command: str) -> str:
        lb = self._lb(paths)
        if lb.pid is None:
            raise HaproxyError(f"stats socket of {paths.lb_id} unreachable")
        lb.runtime_log.append(command)
        if command not in self.responses and ";" in command:  # HAProxy runs each, answers one after another
            return "".join(self._answer(c.strip()) for c in command.split(";"))
        return self._answer(command, terminate=False)

    def _answer(self, command: str, *, terminate: bool = True) -> str:
        if command in self.responses:
            text = self.responses[command]
        elif self.live_runtime and command.startswith("add server "):
            text = "New server registered.\n"
        elif self.live_runtime and command.startswith("del server "):
            text = "Server deleted.\n"
        else:
            text = ""
        return text if not terminate or text.endswith("\n") or not text else text + "\n"


__all__ = [
    "ConfigRejected",
    "FakeHaproxyProcess",
    "HaproxyError",
    "HaproxyProcess",
    "MasterWorkerHaproxy",
    "ProcInfo",
    "parse_show_proc",
    "unix_command",
]
