"""Access logs: rotation and tail of the LB's file, the receiver on a real unix datagram socket, and
syslog forwarding to real UDP and TCP receivers on loopback."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from lbaas.agent.accesslog import (
    PROJECT_MARKER,
    AccessLogReceiver,
    AccessLogSettings,
    RotatingFile,
    SyslogForwarder,
    parse_targets,
)
from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.paths import LbPaths
from lbaas.services.accesslogs import access_log_path, tail

LB = "op-lb-1"


def wait_for(cond, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_rotation_keeps_bounded_files(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "access.log", max_bytes=1024, backups=2)
    for i in range(200):
        f.write(f"line {i:04d} ".encode() + b"x" * 40 + b"\n")
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["access.log", "access.log.1", "access.log.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 1024
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    last = tail(tmp_path / "access.log", 30)
    assert last[-1].startswith("line 0199") and len(last) == 30
    assert [int(x.split()[1]) for x in last] == list(range(170, 200))  # reaches into .1, in order


def test_tail_edges(tmp_path: Path) -> None:
    assert tail(tmp_path / "none.log", 10) == []
    (tmp_path / "a.log").write_text("one\ntwo\nthree\n")
    assert tail(tmp_path / "a.log", 0) == []
    assert tail(tmp_path / "a.log", 2) == ["two", "three"]
    assert tail(tmp_path / "a.log", 100) == ["one", "two", "three"]
    with pytest.raises(ValueError):
        access_log_path(tmp_path, "../x")


def test_parse_targets() -> None:
    assert parse_targets(["192.0.2.1:10514", " 2001:db8::10:514", "[2001:db8::1]:514"]) == [
        ("192.0.2.1", 10514), ("2001:db8::10", 514), ("2001:db8::1", 514)
    ]  # fmt: skip
    for bad in ("nohost", "1.2.3.4:0", "1.2.3.4:x", ":514"):
        with pytest.raises(ValueError):
            parse_targets([bad])


def _receiver(tmp_path: Path, **kw: object) -> AccessLogReceiver:
    sockdir = tmp_path / "sock"
    settings = AccessLogSettings(
        socket_dir=sockdir, haproxy_user="root", haproxy_group="root", hostname="agent1", sweep_interval=0.1
    )
    LbPaths(tmp_path, LB).directory.mkdir(parents=True)
    return AccessLogReceiver(settings, tmp_path, project_of=lambda _lb: "proj-1", **kw)  # type: ignore[arg-type]


def test_receiver_writes_lines_and_forwards(tmp_path: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    tenant = SyslogForwarder(parse_targets([f"127.0.0.1:{udp.getsockname()[1]}"]), "UDP")
    admin = SyslogForwarder(parse_targets(["127.0.0.1:1", f"127.0.0.1:{srv.getsockname()[1]}"]), "TCP")
    rec = _receiver(tmp_path, tenant=tenant, admin=admin)
    rec.start()
    try:
        opts = rec.render_options(LbPaths(tmp_path, LB), RenderOptions(stats_socket_path="s", server_state_file="f"))
        assert opts.log_target == str(rec.socket_path(LB)) and opts.log_format is not None
        assert opts.log_format.startswith(f"{PROJECT_MARKER} {LB} %f")
        sock_path = rec.socket_path(LB)
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600
        out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        flow = f"<134>Dec  6 13:33:33 haproxy[42]: {PROJECT_MARKER} {LB} l1 10.0.0.5 4242 x".encode()
        out.sendto(flow, str(sock_path))
        out.sendto(b"<133>Dec  6 13:33:34 haproxy[42]: Server b/m1 is DOWN\n", str(sock_path))
        log = access_log_path(tmp_path, LB)
        lines = wait_for(lambda: len(tail(log, 10)) == 2 and tail(log, 10))
        assert lines[0] == f"Dec  6 13:33:33 haproxy[42]: proj-1 {LB} l1 10.0.0.5 4242 x"
        assert lines[1].endswith("Server b/m1 is DOWN")
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        got = udp.recv(65536)
        assert got == f"<134>Dec  6 13:33:33 agent1 haproxy[42]: proj-1 {LB} l1 10.0.0.5 4242 x".encode()
        conn, _ = srv.accept()
        conn.settimeout(5)
        data = b""
        while not data.endswith(b"\n"):
            data += conn.recv(65536)
        # admin line: local1 (17) * 8 + notice (5) = 141, newline-framed over TCP, secondary target used
        assert data == b"<141>Dec  6 13:33:34 agent1 haproxy[42]: Server b/m1 is DOWN\n"
        conn.close()
        # a torn-down LB (its directory gone) loses its socket
        import shutil

        shutil.rmtree(LbPaths(tmp_path, LB).directory)
        wait_for(lambda: LB not in rec.attached(), timeout=10)
        assert not sock_path.exists()
    finally:
        rec.stop()
        tenant.close()
        admin.close()
        udp.close()
        srv.close()


def test_local_storage_off_and_no_flow_logging(tmp_path: Path) -> None:
    sockdir = tmp_path / "sock"
    settings = AccessLogSettings(
        socket_dir=sockdir, haproxy_user="root", haproxy_group="root", local_storage=False, connection_logging=False
    )
    LbPaths(tmp_path, LB).directory.mkdir(parents=True)
    rec = AccessLogReceiver(settings, tmp_path)
    rec.start()
    try:
        opts = rec.render_options(LbPaths(tmp_path, LB), RenderOptions(stats_socket_path="s", server_state_file="f"))
        assert opts.log_format is None and opts.log_requests is False
        out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        out.sendto(b"<134>Dec  6 13:33:33 haproxy[42]: hello", str(rec.socket_path(LB)))
        wait_for(lambda: rec.lines == 1)
        assert not access_log_path(tmp_path, LB).exists()
    finally:
        rec.stop()


def test_logging_never_blocks_the_data_plane(tmp_path: Path) -> None:
    long_dir = tmp_path / ("x" * 120)
    rec = AccessLogReceiver(AccessLogSettings(socket_dir=long_dir, haproxy_user="root", haproxy_group="root"), tmp_path)
    base = RenderOptions(stats_socket_path="s", server_state_file="f")
    assert rec.render_options(LbPaths(tmp_path, LB), base) == base  # socket path too long: unlogged, not failed


def test_one_socket_directory_per_agent(tmp_path: Path) -> None:
    from lbaas.agent.accesslog import from_settings
    from lbaas.config import Settings

    a = from_settings(Settings(state_dir=tmp_path, log_socket_dir=tmp_path / "log", host="host-a"), None)
    b = from_settings(Settings(state_dir=tmp_path, log_socket_dir=tmp_path / "log", host="../b"), None)
    assert a.socket_path(LB).parent == tmp_path / "log" / "host-a"
    assert b.socket_path(LB).parent == tmp_path / "log" / "___b"


def test_file_removed_underneath_is_reopened(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "access.log", max_bytes=4096, backups=1)
    f.write(b"one\n")
    (tmp_path / "access.log").unlink()
    f.reopen_if_moved()
    f.write(b"two\n")
    f.close()
    assert tail(tmp_path / "access.log", 5) == ["two"]


def test_lines_for_a_removed_directory_are_dropped_and_the_receiver_lives_on(tmp_path: Path) -> None:
    """A stopping HAProxy's last lines may arrive after its LB's directory is gone: they are dropped, the
    LB is detached, and the one receiver thread keeps serving every other LB."""
    rec = _receiver(tmp_path)
    other = "op-lb-2"
    LbPaths(tmp_path, other).directory.mkdir(parents=True)
    rec.start()
    try:
        for lb in (LB, other):
            rec.attach(lb)
        out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        import shutil

        shutil.rmtree(LbPaths(tmp_path, LB).directory)  # torn down before its first line was stored
        out.sendto(b"<133>Dec  6 13:33:34 haproxy[42]: Proxy l1 stopped\n", str(rec.socket_path(LB)))
        wait_for(lambda: LB not in rec.attached())
        assert not LbPaths(tmp_path, LB).directory.exists(), "the directory is not made again"
        out.sendto(b"<134>Dec  6 13:33:35 haproxy[43]: still logging\n", str(rec.socket_path(other)))
        wait_for(lambda: tail(access_log_path(tmp_path, other), 5) == ["Dec  6 13:33:35 haproxy[43]: still logging"])
        out.close()
    finally:
        rec.stop()
