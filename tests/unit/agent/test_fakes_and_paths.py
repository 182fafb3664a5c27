"""The in-memory fakes behave like the real boundaries; LbPaths; parsing of the master CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbaas.agent.haproxy.process import (
    ConfigRejected,
    FakeHaproxyProcess,
    HaproxyError,
    HaproxyProcess,
    MasterWorkerHaproxy,
    parse_show_proc,
)
from lbaas.agent.netns.base import NetworkPlug, Plumber, PlumbingError, PortPlug
from lbaas.agent.netns.fake import FakePlumber
from lbaas.agent.paths import LbPaths

NET = NetworkPlug("fedcba98-7654-3210-fedc-ba9876543210", "vlan", "physnet1", 231)
PORT = PortPlug("1234abcd-5678-90ef-1234-567890abcdef", "fa:16:3e:00:00:01", [("10.231.0.10", 24)], NET)


def test_fakes_satisfy_the_protocols() -> None:
    assert isinstance(FakePlumber(), Plumber)
    assert isinstance(FakeHaproxyProcess(), HaproxyProcess)
    assert isinstance(MasterWorkerHaproxy(), HaproxyProcess)


def test_fake_plumber_preconditions_and_idempotence() -> None:
    p = FakePlumber(physical_interfaces={"eth1"})
    with pytest.raises(PlumbingError):
        p.ensure_port("qlbaas-a", PORT)  # no namespace
    p.ensure_namespace("qlbaas-a")
    with pytest.raises(PlumbingError):
        p.ensure_port("qlbaas-a", PORT)  # no bridge
    with pytest.raises(PlumbingError):
        p.ensure_bridge(NET, {"physnet1": "eth9"})  # no such physical interface
    br = p.ensure_bridge(NET, {"physnet1": "eth1"})
    assert p.bridges[br].uplink == "eth1.231"
    assert p.ensure_port("qlbaas-a", PORT) == "lbv-1234abcd567"
    changes = list(p.calls)
    p.ensure_namespace("qlbaas-a")
    p.ensure_bridge(NET, {"physnet1": "eth1"})
    p.ensure_port("qlbaas-a", PORT)
    assert p.calls == changes  # converged: nothing changed
    assert p.remove_bridge_if_unused(NET) is False
    p.remove_namespace("qlbaas-a")  # takes its ports with it
    assert p.ports == {} and p.list_namespaces("qlbaas-") == []
    assert p.remove_bridge_if_unused(NET) is True
    assert p.remove_bridge_if_unused(NET) is True


def test_fake_haproxy_lifecycle(tmp_path: Path) -> None:
    hp = FakeHaproxyProcess(reject=lambda cfg: "bad" if "bogus" in cfg else None,
                            responses={"show stat": "# pxname,svname\n"})
    paths = LbPaths(tmp_path, "lb1")
    with pytest.raises(HaproxyError):
        hp.ensure_running(paths, "qlbaas-lb1")  # nothing swapped in yet
    with pytest.raises(ConfigRejected):
        hp.check("bogus", paths)
    hp.check("global\n", paths)
    hp.swap(paths)
    pid = hp.ensure_running(paths, "qlbaas-lb1")
    assert hp.ensure_running(paths, "qlbaas-lb1") == pid  # adopted
    w1 = hp.lbs[paths].worker
    assert hp.reload(paths) != w1
    assert hp.runtime(paths, "show stat") == "# pxname,svname\n"
    hp.crash(paths)
    assert hp.is_running(paths) is None
    assert hp.ensure_running(paths, "qlbaas-lb1") != pid
    hp.stop(paths)
    hp.stop(paths)
    assert hp.is_running(paths) is None
    assert [c[0] for c in hp.calls] == ["check", "check", "swap", "start", "reload", "start", "stop"]


def test_lb_paths(tmp_path: Path) -> None:
    p = LbPaths(str(tmp_path), "lb-1")  # type: ignore[arg-type]  # a str is accepted and normalised
    assert p.directory == tmp_path / "lb" / "lb-1"
    assert {x.name for x in (p.cfg, p.cfg_new, p.cfg_failed, p.pid, p.stats_sock, p.master_sock,
                             p.server_state, p.log)} == {
        "haproxy.cfg", "haproxy.cfg.new", "haproxy.cfg.failed", "haproxy.pid", "stats.sock", "master.sock",
        "server_state", "haproxy.log"}
    assert p.ensure().is_dir() and (p.directory.stat().st_mode & 0o777) == 0o700
    assert LbPaths(tmp_path, "lb-1") == p and hash(LbPaths(tmp_path, "lb-1")) == hash(p)
    for bad in ("", "a/b", ".."):
        with pytest.raises(ValueError):
            LbPaths(tmp_path, bad)
    with pytest.raises(ValueError):
        LbPaths(tmp_path / ("x" * 80), "y" * 36).ensure()  # socket path would exceed sun_path


def test_parse_show_proc() -> None:
    text = """#<PID>          <type>          <reloads>       <uptime>        <version>
11988           master          2 [failed: 1]   0d00h10m16s     2.6.12-1+deb12u4
# workers
22405           worker          0               0d00h00m01s     2.6.12-1+deb12u4
22300           worker          1               0d00h00m09s     2.6.12-1+deb12u4
# programs

"""
    info = parse_show_proc(text)
    assert (info.master_pid, info.reloads, info.failed) == (11988, 2, 1)
    assert info.workers == ((22405, 0), (22300, 1))
    with pytest.raises(HaproxyError):
        parse_show_proc("Unknown command\n")
