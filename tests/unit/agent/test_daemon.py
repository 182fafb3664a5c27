"""The daemon helpers the HAProxy and keepalived processes share (pid files, /proc, stop by pid)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lbaas.agent import daemon


def test_read_pid(tmp_path: Path) -> None:
    f = tmp_path / "x.pid"
    assert daemon.read_pid(f) is None
    for text, want in (("123\n", 123), ("  77 extra", 77), ("1", None), ("0", None), ("-5", None), ("", None),
                       ("abc", None)):  # fmt: skip
        f.write_text(text)
        assert daemon.read_pid(f) == want, text


def test_runs_config_and_terminate(tmp_path: Path) -> None:
    cfg = tmp_path / "k.conf"
    # a stand-in daemon: argv[0] "keepalived…" (by basename prefix) and -f <cfg>
    proc = subprocess.Popen(["/bin/sh", "-c", 'exec -a keepalived-test sleep 60 -f "$0"', str(cfg)])
    try:
        assert daemon.alive(proc.pid)
        argv = daemon.cmdline(proc.pid)
        if argv and argv[0] == "keepalived-test":  # exec -a is a bash/dash feature; skip the check if absent
            assert daemon.runs_config(proc.pid, "keepalived", cfg)
            assert not daemon.runs_config(proc.pid, "haproxy", cfg)
            assert not daemon.runs_config(proc.pid, "keepalived", tmp_path / "other.conf")
        assert not daemon.runs_config(proc.pid, "python", cfg)
        assert daemon.terminate(proc.pid, [proc.pid], lambda p: True, timeout=5)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    assert not daemon.alive(proc.pid)
    assert daemon.proc_state(proc.pid) is None


def test_a_zombie_counts_as_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert daemon.wait_gone([proc.pid], timeout=5)  # exited, not yet reaped: state Z
    proc.wait()
