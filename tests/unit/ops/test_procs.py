"""``lbaas.tools.procs``: free ports, readiness checks, a process's log in the start error, stop by pid
escalating to SIGKILL. Only small local Python processes, loopback and a unix socket in tmp_path."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest

from lbaas.tools import procs


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _log_says(log: Path, text: str) -> procs.Ready:
    return lambda: log.exists() and text in log.read_text()


def test_free_port_skips_busy_and_excluded_ports() -> None:
    first, second = procs.free_port(), procs.free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", first))
        busy.listen()
        assert procs.tcp_accepts(first)()
        assert procs.free_port([first, second]) == second
        with pytest.raises(RuntimeError, match="no free port"):
            procs.free_port([first, second], exclude={second})
    assert not procs.tcp_accepts(first)()


def test_unix_accepts(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    assert not procs.unix_accepts(path)()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        assert not procs.unix_accepts(path)()  # bound, not listening
        s.listen()
        assert procs.unix_accepts(path)()


def test_running_http_server_then_stopped(tmp_path: Path) -> None:
    port = procs.free_port()
    cmd = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(tmp_path)]
    url = f"http://127.0.0.1:{port}/"
    with procs.running(cmd, tmp_path / "http.log", procs.http_ok(url), what="http.server", timeout=30) as proc:
        assert proc.poll() is None
        assert procs.http_ok(url)()
        assert not procs.http_ok(url + "missing")()  # 404: not ready
    assert proc.returncode == -signal.SIGTERM
    assert not procs.http_ok(url)()


def test_exit_before_ready_raises_with_the_log(tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    code = "import sys; print('cannot bind: boom', file=sys.stderr); sys.exit(3)"
    with pytest.raises(RuntimeError, match=r"(?s)bad server exited with 3:.*cannot bind: boom"):
        with procs.running(_python(code), log, lambda: False, what="bad server", timeout=30):
            pytest.fail("never ready")


def test_timeout_raises_with_the_log_and_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('waiting', flush=True)\n"
            "while True: time.sleep(1)")  # fmt: skip
    proc = procs.start(_python(code), log)
    try:
        procs.wait_ready(proc, _log_says(log, "waiting"), what="stubborn", log=log, timeout=30)
        with pytest.raises(RuntimeError, match=r"(?s)stubborn did not answer in 0 s:.*waiting"):
            procs.wait_ready(proc, lambda: False, what="stubborn", log=log, timeout=0)
    finally:
        assert procs.stop(proc, timeout=0.5) == -signal.SIGKILL  # SIGTERM ignored


def test_start_truncates_or_appends(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    for word, append in (("one", False), ("two", True), ("three", True)):
        assert procs.start(_python(f"print('{word}')"), log, append=append).wait(timeout=30) == 0
    assert procs.log_tail(log).split() == ["one", "two", "three"]
    assert procs.start(_python("print('four')"), log).wait(timeout=30) == 0
    assert procs.log_tail(log).split() == ["four"]
    assert procs.log_tail(tmp_path / "none.log") == "(no log)"
