"""The rendered keepalived.conf on a real keepalived, in a namespace of ours: the VIP follows the track
file the agent writes (0: HAProxy healthy → MASTER, the VIP is on the interface; 1 → FAULT, it is gone),
within a few 100 ms adverts. One instance, its peer absent: it becomes MASTER once the master-down timer
(3 adverts + skew) runs out, which is the BACKUP's takeover path of an ACTIVE_STANDBY pair.

Names: namespace ``rckv<hex>``; its veth pair has both ends inside it; addresses in 10.231.250.0/24
inside that namespace only. The keepalived process is ours by pid (and every process in the namespace
is killed before it is removed).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.keepalived.render import KeepalivedSpec, render_keepalived

pytestmark = pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs keepalived")

VIP = "10.231.250.10"


@pytest.fixture
def vrrp_ns() -> Iterator[str]:
    ns = f"rckv{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        for argv in (
            ["link", "add", "vipk0", "type", "veth", "peer", "name", "vipk1"],
            ["addr", "add", "10.231.250.11/24", "dev", "vipk0"],
            ["link", "set", "vipk1", "up"],
            ["link", "set", "vipk0", "up"],
        ):
            subprocess.run(["ip", "-n", ns, *argv], check=True)
        yield ns
    finally:
        kill_namespace_processes(ns)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def has_vip(ns: str) -> bool:
    out = subprocess.run(["ip", "-n", ns, "-o", "addr", "show", "dev", "vipk0"], capture_output=True, text=True)
    return f" {VIP}/" in out.stdout


def wait_for(what: str, predicate: object, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if callable(predicate) and predicate():
            return time.monotonic() - start
        time.sleep(0.01)
    raise AssertionError(f"{what}: not within {timeout} s")


def write(path: Path, value: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    tmp.replace(path)


def test_the_vip_follows_the_track_file(vrrp_ns: str, tmp_path: Path) -> None:
    track = tmp_path / "track"
    cfg = tmp_path / "keepalived.conf"
    cfg.write_text(render_keepalived(KeepalivedSpec(
        name="rckv", interface="vipk0", vips=((VIP, 24),), virtual_router_id=42, priority=100,
        unicast_src_ip="10.231.250.11", unicast_peers=("10.231.250.12",), track_file=str(track))))  # fmt: skip
    log = tmp_path / "keepalived.log"
    logf = log.open("w")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", vrrp_ns, "keepalived", "--dont-fork", "--vrrp", "--log-console",
         "-f", str(cfg), "-p", str(tmp_path / "keepalived.pid"), "-r", str(tmp_path / "vrrp.pid")],
        stdout=logf, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for("keepalived initialised the track file", track.exists)
        assert track.read_text().strip() == "1"  # FAULT until the agent vouches for HAProxy
        wait_for("FAULT at start", lambda: "(rckv) entering fault state" in log.read_text().lower())
        assert not has_vip(vrrp_ns)
        write(track, "0\n")
        took = wait_for("MASTER: the VIP is up", lambda: has_vip(vrrp_ns))
        assert took < 2.0, took  # 3 × 100 ms adverts + skew, on a busy host
        write(track, "1\n")
        wait_for("FAULT: the VIP is gone", lambda: not has_vip(vrrp_ns))
        write(track, "0\n")
        wait_for("MASTER again", lambda: has_vip(vrrp_ns))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
    out = log.read_text()
    assert "(rckv) Entering MASTER STATE" in out and "Unknown keyword" not in out and "WARNING" not in out, out


def test_the_daemon_checks_starts_adopts_reloads_and_stops(vrrp_ns: str, tmp_path: Path) -> None:
    """``KeepalivedDaemon`` as the keepalived unit drives it, on a real keepalived in our namespace."""
    from lbaas.agent.keepalived.process import KeepalivedDaemon, KeepalivedRejected
    from lbaas.agent.paths import LbPaths

    paths = LbPaths(tmp_path, "lb-rckv")
    paths.ensure()
    daemon = KeepalivedDaemon()

    def spec(*vips: str) -> KeepalivedSpec:
        return KeepalivedSpec(name="rckv", interface="vipk0", vips=tuple((v, 24) for v in vips),
                              virtual_router_id=43, priority=100, unicast_src_ip="10.231.250.11",
                              unicast_peers=("10.231.250.12",), track_file=str(paths.track))  # fmt: skip

    with pytest.raises(KeepalivedRejected, match="nopreempt_typo"):
        daemon.check(render_keepalived(spec(VIP)).replace("nopreempt", "nopreempt_typo"), paths, vrrp_ns)
    daemon.check(render_keepalived(spec(VIP)), paths, vrrp_ns)
    daemon.swap(paths)
    pid = daemon.ensure_running(paths, vrrp_ns)
    try:
        assert daemon.running_in(paths, vrrp_ns) == pid
        assert daemon.ensure_running(paths, vrrp_ns) == pid  # adopted, not started twice
        wait_for("track file initialised", paths.track.exists)
        write(paths.track, "0\n")
        wait_for("MASTER: the VIP is up", lambda: has_vip(vrrp_ns))
        daemon.check(render_keepalived(spec(VIP, "10.231.250.20")), paths, vrrp_ns)
        daemon.swap(paths)
        daemon.reload(paths)  # SIGHUP: the new VIP joins, same process
        wait_for("the second VIP", lambda: " 10.231.250.20/" in subprocess.run(
            ["ip", "-n", vrrp_ns, "-o", "addr", "show", "dev", "vipk0"], capture_output=True, text=True).stdout)
        assert daemon.is_running(paths) == pid
    finally:
        daemon.stop(paths)
    assert daemon.is_running(paths) is None
    assert subprocess.run(["ip", "netns", "pids", vrrp_ns], capture_output=True, text=True).stdout.strip() == ""
