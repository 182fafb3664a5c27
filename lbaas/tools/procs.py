"""Helper processes for tests and scripts: a free loopback port, start a server process with its output in a
log file, wait until it answers (or fails: its log in the error), stop it by its pid.

Shared by tests/clients, tests/e2e (Keystone), tests/dataplane, lbaas.tools.harness and scripts/tempest.py.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

Ready = Callable[[], bool]


def free_port(ports: Iterable[int] | None = None, *, exclude: Collection[int] = ()) -> int:
    """A TCP port nothing listens on at 127.0.0.1: one of ``ports`` (tried in random order, but those in
    ``exclude``), or without ``ports`` any port the kernel picks."""
    if ports is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    candidates = [p for p in ports if p not in exclude]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {min(candidates)}-{max(candidates)}" if candidates else "no port to try")


def http_ok(url: str, context: ssl.SSLContext | None = None) -> Ready:
    """Ready when a GET of ``url`` answers 200 (with ``context`` for https); never through a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))

    def ready() -> bool:
        try:
            with opener.open(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, http.client.HTTPException):  # refused, reset, timed out, an HTTP error status
            return False

    return ready


def tcp_accepts(port: int, host: str = "127.0.0.1", *, timeout: float = 0.2) -> Ready:
    """Ready when something accepts TCP connections on ``host:port``."""

    def ready() -> bool:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True
        except OSError:
            return False

    return ready


def unix_accepts(path: Path) -> Ready:
    """Ready when something accepts connections on the unix socket ``path``."""

    def ready() -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(path))
                return True
            except OSError:
                return False

    return ready


def log_tail(log: Path, chars: int | None = 4000) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    return text if chars is None else text[-chars:]


def start(
    cmd: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    append: bool = False,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with its stdout and stderr in ``log`` (truncated first unless ``append``)."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                start_new_session=new_session)  # fmt: skip


def wait_ready(
    proc: subprocess.Popen[Any],
    ready: Ready,
    *,
    what: str,
    log: Path,
    timeout: float,
    interval: float = 0.1,
    tail: int | None = 4000,
) -> None:
    """Return once ``ready()``; RuntimeError with the end of ``log`` if ``proc`` exits first or ``timeout``
    seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log_tail(log, tail)}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer in {timeout:g} s:\n{log_tail(log, tail)}")
        time.sleep(interval)


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, *, timeout: float = 10.0) -> int:
    """Signal ``proc`` by its pid (if it still runs), SIGKILL it if it has not exited after ``timeout``
    seconds; its exit status."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)


@contextlib.contextmanager
def running(
    cmd: Sequence[str],
    log: Path,
    ready: Ready,
    *,
    what: str,
    timeout: float,
    stop_timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    interval: float = 0.1,
    tail: int | None = 4000,
) -> Iterator[subprocess.Popen[bytes]]:
    """``start`` then ``wait_ready``; the process is stopped (``stop``) when the block ends, or if it never
    became ready."""
    proc = start(cmd, log, env=env, cwd=cwd)
    try:
        wait_ready(proc, ready, what=what, log=log, timeout=timeout, interval=interval, tail=tail)
        yield proc
    finally:
        stop(proc, timeout=stop_timeout)
