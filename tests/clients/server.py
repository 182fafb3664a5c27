"""Run ``lbaas serve --provider noop`` as a subprocess on a free port in 19950–19999."""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lbaas.tools import procs

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
    return procs.free_port(PORTS)


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
    with procs.running(cmd, log, procs.http_ok(url + "/", context), what=f"lbaas serve on {url}",
                       timeout=START_TIMEOUT, env=env, cwd=state_dir, tail=None) as proc:  # fmt: skip
        yield Server(url=url, pid=proc.pid, log=log)
