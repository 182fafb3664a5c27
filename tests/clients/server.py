"""Run ``lbaas serve --provider noop`` as a subprocess on a free port in 19950–19999."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PORTS = range(19950, 20000)
START_TIMEOUT = 30.0
LOG_TAIL = 200  # lines of the server log shown with a failure


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:<port>, no trailing slash
    pid: int
    log: Path

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    candidates = list(PORTS)
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lbaas serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/", timeout=1, context=context) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"lbaas serve did not answer on {url} in {START_TIMEOUT}s:\n{log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by pid, then SIGKILL if it has not exited after 10 s."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def running_server(
    state_dir: Path,
    *extra: str,
    scheme: str = "http",
    context: ssl.SSLContext | None = None,
    env_extra: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Server]:
    """A fresh server with its SQLite database and log (``server.log``) in ``state_dir``; ``extra`` are
    more ``lbaas serve`` options (``--auth-strategy token``, ``--tls-cert …`` with scheme https)."""
    log = state_dir / "server.log"
    port = port or free_port()
    url = f"{scheme}://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    env.update(env_extra or {})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "lbaas.cli", "serve", "--provider", "noop",
           "--state-dir", str(state_dir), "--bind", f"127.0.0.1:{port}", *extra]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=state_dir)
    try:
        _wait_ready(url, proc, log, context)
        yield Server(url=url, pid=proc.pid, log=log)
    finally:
        _stop(proc)
