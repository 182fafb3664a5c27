"""``lbaas serve --bind unix:/PATH``: a real server process on a unix socket, reached with ``curl --unix-socket``.

noauth is allowed there (as on loopback): the socket file is 0600 (or 0660 with LBAAS_UNIX_SOCKET_MODE),
never open to others; the file goes away when the server stops; a stale file is replaced, a live one or a
non-socket refused; ``lbaas api`` serves on a unix socket too.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.tools import procs
from tests.clients.server import REPO

pytestmark = [pytest.mark.clients]

CURL = shutil.which("curl")


@pytest.fixture
def work() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="lbid-unix-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _start(work: Path, sock: Path, *args: str, command: str = "serve", **env: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "lbaas.cli", command, "--bind", f"unix:{sock}", *args]
    if command == "serve":
        cmd += ["--provider", "noop", "--state-dir", str(work / "state")]
    return procs.start(cmd, work / "server.log", env=_env(**env), cwd=work, append=True)


def curl(sock: Path, path: str, *args: str) -> tuple[int, str]:
    assert CURL, "curl is not installed"
    out = subprocess.run([CURL, "-sS", "--unix-socket", str(sock), "-o", "-", "-w", "\n%{http_code}", *args,
                          f"http://localhost{path}"], capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def _wait_ready(proc: subprocess.Popen[bytes], sock: Path, work: Path) -> None:
    procs.wait_ready(proc, procs.unix_accepts(sock), what=f"lbaas on {sock}", log=work / "server.log", timeout=60,
                     tail=3000)  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> int:
    return procs.stop(proc, timeout=20)


def test_serve_on_a_unix_socket_noauth_mode_0600_removed_on_exit(work: Path) -> None:
    sock = work / "api.sock"
    proc = _start(work, sock)  # noauth is lbaas serve's default: allowed on a unix socket
    try:
        _wait_ready(proc, sock, work)
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        code, body = curl(sock, "/")
        assert code == 200 and "versions" in json.loads(body)
        code, body = curl(sock, "/v2.0/networks", "-X", "POST", "-H", "content-type: application/json",
                          "-d", json.dumps({"network": {"name": "over-unix", "project_id": "p1"}}))  # fmt: skip
        assert code == 201, body
        assert json.loads(body)["network"]["project_id"] == "p1"  # noauth: an administrator, as Octavia's
        code, body = curl(sock, "/v2/lbaas/loadbalancers")
        assert code == 200 and json.loads(body) == {"loadbalancers": [], "loadbalancers_links": []}
    finally:
        assert _stop(proc) == 0
    assert not sock.exists()  # removed on exit


def test_mode_0660_stale_socket_replaced_and_api_command(work: Path) -> None:
    sock = work / "api.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # a dead server's file: nothing accepts on it
    (work / "state").mkdir(mode=0o700)
    db = f"sqlite:///{work / 'state' / 'lbaas.sqlite'}"
    subprocess.run([sys.executable, "-m", "lbaas.cli", "db", "upgrade", "--database-url", db], env=_env(), cwd=work,
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    proc = _start(work, sock, "--auth-strategy", "noauth", "--database-url", db, command="api",
                  LBAAS_UNIX_SOCKET_MODE="0660")  # fmt: skip
    try:
        _wait_ready(proc, sock, work)
        assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
        assert curl(sock, "/v2/lbaas/loadbalancers")[0] == 200
        # a second server on the same live socket is refused, and the first keeps serving
        second = _start(work, sock, "--auth-strategy", "noauth", "--database-url", db, command="api")
        assert second.wait(timeout=60) != 0
        assert "in use" in (work / "server.log").read_text()
        assert curl(sock, "/")[0] == 200
    finally:
        assert _stop(proc) == 0
    assert not sock.exists()


@pytest.mark.parametrize(
    ("mode", "setup", "says"),
    [
        ("0666", None, "lets every local user in"),
        ("0600", "file", "is not a socket"),
        ("0600", "relative", "must be absolute"),
    ],
)
def test_refusals(work: Path, mode: str, setup: str | None, says: str) -> None:
    sock = work / "api.sock"
    if setup == "file":
        sock.write_text("not a socket")
    bind = "unix:api.sock" if setup == "relative" else f"unix:{sock}"
    out = subprocess.run([sys.executable, "-m", "lbaas.cli", "serve", "--provider", "noop", "--state-dir",
                          str(work / "state"), "--bind", bind], env=_env(LBAAS_UNIX_SOCKET_MODE=mode), cwd=work,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode != 0
    assert says in out.stderr + out.stdout
    if setup == "file":
        assert sock.read_text() == "not a socket"  # left alone
