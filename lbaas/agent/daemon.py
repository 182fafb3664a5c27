"""What the daemons the agent starts (HAProxy, keepalived) share: reading their pid files, recognising
them in /proc, and stopping them by pid.

* a pid is **ours** only if ``/proc/<pid>/cmdline`` is the program (by basename prefix) with ``-f <the
  LB's config>``: pid reuse safe, and no process is ever found by name alone;
* a zombie counts as gone (a daemonized process is reparented to a PID 1 that may reap late);
* **terminate**: a signal to the main process, wait; then SIGKILL to each of the given pids that is still
  alive and still ours; wait again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def proc_state(pid: int) -> str | None:
    """The state letter from /proc/<pid>/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2 :].split()[0]


def alive(pid: int) -> bool:
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def runs_config(pid: int, program: str, cfg: Path) -> bool:
    """Is ``pid`` a ``program`` (basename prefix) started with ``-f <cfg>``?"""
    argv = cmdline(pid)
    if not argv or not os.path.basename(argv[0]).startswith(program):
        return False
    return any(a == "-f" and i + 1 < len(argv) and argv[i + 1] == str(cfg) for i, a in enumerate(argv))


def read_pid(path: Path) -> int | None:
    """The pid in a pid file (its first word), or None: no file, not a number, or not above 1."""
    try:
        pid = int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if pid > 1 else None


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.01)
    return not any(alive(p) for p in pids)


def terminate(main: int, everyone: list[int], ours: Callable[[int], bool], *, sig: int = signal.SIGTERM,
              timeout: float) -> bool:  # fmt: skip
    """``sig`` to ``main``, wait up to ``timeout``; then SIGKILL to each of ``everyone`` still alive and
    ours, and wait again. True when all are gone."""
    try:
        os.kill(main, sig)
    except ProcessLookupError:
        pass
    if wait_gone(everyone, timeout):
        return True
    for p in everyone:
        if alive(p) and ours(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return wait_gone(everyone, timeout)


__all__ = ["alive", "cmdline", "proc_state", "read_pid", "runs_config", "terminate", "wait_gone"]
