"""The life cycle of one keepalived (VRRP only) per LB instance, inside the LB's namespace: a protocol,
the real daemon, and an in-memory fake for reconciler tests.

* **check** writes ``keepalived.conf.new`` and runs ``keepalived -t`` *inside the namespace* (the config
  test needs the VIP interface to exist); ``swap`` renames it over ``keepalived.conf``.
* **start**: ``ip netns exec <ns> keepalived --vrrp -f <cfg> -p <pid> -r <vrrp pid>``; keepalived
  daemonizes itself (its parent process stays, with a VRRP child). Launched in its own session, output
  appended to ``keepalived.log``: like HAProxy, it keeps serving when the agent dies.
* **adopt**: ``is_running`` accepts the pid from the pid file only if ``/proc/<pid>/cmdline`` is a
  keepalived with ``-f <this cfg>`` and it is not a zombie; ``ensure_running`` also checks the namespace.
* **reload**: SIGHUP (keepalived re-reads its config; VRRP state is kept where it can be).
* **stop**: SIGTERM to the parent (it stops its child), wait, then SIGKILL to both, by pid only; a VRRP
  child whose parent was killed is stopped too, and both pid files are removed (keepalived refuses to
  start while one names a pid that still exists, a zombie included).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lbaas.agent import daemon
from lbaas.agent.netns import nsexec
from lbaas.agent.paths import LbPaths


class KeepalivedError(RuntimeError):
    pass


class KeepalivedRejected(KeepalivedError):
    """``keepalived -t`` refused the config; ``output`` holds its words."""

    def __init__(self, output: str) -> None:
        super().__init__(output)
        self.output = output


class KeepalivedProcess(Protocol):
    def check(self, text: str, paths: LbPaths, ns: str) -> None: ...

    def swap(self, paths: LbPaths) -> None: ...

    def is_running(self, paths: LbPaths) -> int | None: ...

    def running_in(self, paths: LbPaths, ns: str) -> int | None: ...

    def ensure_running(self, paths: LbPaths, ns: str) -> int: ...

    def reload(self, paths: LbPaths) -> None: ...

    def stop(self, paths: LbPaths) -> None: ...


def _is_ours(pid: int, cfg: Path) -> bool:
    return daemon.runs_config(pid, "keepalived", cfg)


class KeepalivedDaemon:
    def __init__(self, keepalived_bin: str = "keepalived", *, ip_bin: str = "ip", start_timeout: float = 10.0,
                 stop_timeout: float = 5.0) -> None:  # fmt: skip
        self.keepalived_bin = keepalived_bin
        self.ip_bin = ip_bin
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout

    def check(self, text: str, paths: LbPaths, ns: str) -> None:
        paths.ensure()
        fd = os.open(paths.keepalived_cfg_new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        argv = nsexec.ip_netns_exec(ns, [self.keepalived_bin, "-t", "-l", "-f", str(paths.keepalived_cfg_new)],
                                    ip_bin=self.ip_bin)  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise KeepalivedRejected((proc.stdout + proc.stderr).strip() or f"keepalived -t exited {proc.returncode}")

    def swap(self, paths: LbPaths) -> None:
        try:
            os.replace(paths.keepalived_cfg_new, paths.keepalived_cfg)
        except FileNotFoundError as e:
            raise KeepalivedError(f"no checked keepalived configuration in {paths.directory}") from e

    def is_running(self, paths: LbPaths) -> int | None:
        pid = daemon.read_pid(paths.keepalived_pid)
        if pid is None or not daemon.alive(pid) or not _is_ours(pid, paths.keepalived_cfg):
            return None
        return pid

    def running_in(self, paths: LbPaths, ns: str) -> int | None:
        pid = self.is_running(paths)
        return pid if pid is not None and nsexec.pid_in_netns(pid, ns) else None

    def ensure_running(self, paths: LbPaths, ns: str) -> int:
        pid = self.running_in(paths, ns)
        if pid is not None:
            return pid
        self.stop(paths)  # anything of ours elsewhere (a namespace that was replaced)
        if not paths.keepalived_cfg.exists():
            raise KeepalivedError(f"{paths.keepalived_cfg} does not exist; check() and swap() first")
        argv = nsexec.ip_netns_exec(
            ns,
            [self.keepalived_bin, "--vrrp", "--log-console", "-f", str(paths.keepalived_cfg),
             "-p", str(paths.keepalived_pid), "-r", str(paths.vrrp_pid)],
            ip_bin=self.ip_bin,
        )  # fmt: skip
        with open(paths.keepalived_log, "ab") as logf:
            launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                        start_new_session=True, close_fds=True, cwd="/")  # fmt: skip
        try:
            rc = launcher.wait(timeout=self.start_timeout)
        except subprocess.TimeoutExpired as e:
            launcher.kill()
            launcher.wait()
            raise KeepalivedError(f"keepalived did not daemonize in {self.start_timeout}s") from e
        if rc != 0:
            raise KeepalivedError(f"keepalived exited with {rc} in {ns}")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            pid = self.is_running(paths)
            if pid is not None:
                return pid
            time.sleep(0.005)
        raise KeepalivedError(f"keepalived in {ns} not running after {self.start_timeout}s")

    def reload(self, paths: LbPaths) -> None:
        pid = self.is_running(paths)
        if pid is None:
            raise KeepalivedError(f"keepalived for {paths.lb_id} is not running")
        os.kill(pid, signal.SIGHUP)

    def stop(self, paths: LbPaths) -> None:
        pid = self.is_running(paths)
        child = daemon.read_pid(paths.vrrp_pid)
        if child is not None and not (daemon.alive(child) and _is_ours(child, paths.keepalived_cfg)):
            child = None
        everyone = [p for p in (pid, child) if p is not None]  # the VRRP child may outlive a killed parent
        if everyone and not daemon.terminate(everyone[0], everyone, lambda p: _is_ours(p, paths.keepalived_cfg),
                                             timeout=self.stop_timeout):  # fmt: skip
            raise KeepalivedError(f"keepalived {everyone} for {paths.lb_id} survived SIGKILL")
        # both pid files: keepalived refuses to start while one names a live pid (a dead parent can stay a
        # zombie a while under a PID 1 that reaps late, and kill(pid, 0) still finds it)
        paths.keepalived_pid.unlink(missing_ok=True)
        paths.vrrp_pid.unlink(missing_ok=True)


@dataclass
class FakeKeepalived:
    """In-memory KeepalivedProcess (files written where the real one writes them); ``calls`` records verbs."""

    reject: str | None = None
    running: dict[str, str] = field(default_factory=dict)  # lb_id → namespace
    calls: list[tuple[str, str]] = field(default_factory=list)
    _next_pid: int = 200000

    def check(self, text: str, paths: LbPaths, ns: str) -> None:
        self.calls.append(("check", paths.lb_id))
        if self.reject is not None:
            raise KeepalivedRejected(self.reject)
        paths.ensure()
        paths.keepalived_cfg_new.write_text(text)

    def swap(self, paths: LbPaths) -> None:
        self.calls.append(("swap", paths.lb_id))
        os.replace(paths.keepalived_cfg_new, paths.keepalived_cfg)

    def is_running(self, paths: LbPaths) -> int | None:
        return 1000 if paths.lb_id in self.running else None

    def running_in(self, paths: LbPaths, ns: str) -> int | None:
        return 1000 if self.running.get(paths.lb_id) == ns else None

    def ensure_running(self, paths: LbPaths, ns: str) -> int:
        if self.running.get(paths.lb_id) != ns:
            self.running[paths.lb_id] = ns
            self.calls.append(("start", paths.lb_id))
        return 1000

    def reload(self, paths: LbPaths) -> None:
        if paths.lb_id not in self.running:
            raise KeepalivedError("not running")
        self.calls.append(("reload", paths.lb_id))

    def stop(self, paths: LbPaths) -> None:
        if self.running.pop(paths.lb_id, None) is not None:
            self.calls.append(("stop", paths.lb_id))


__all__ = ["FakeKeepalived", "KeepalivedDaemon", "KeepalivedError", "KeepalivedProcess", "KeepalivedRejected"]
