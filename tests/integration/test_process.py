"""HAProxy master-worker in an LB namespace: check/swap, serve, reload under load, survive the agent,
adoption, runtime API, stop."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import lbaas
from lbaas.agent import echo
from lbaas.agent.haproxy.process import ConfigRejected, HaproxyError, MasterWorkerHaproxy
from lbaas.agent.hosts import ensure_host
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.paths import LbPaths
from tests.integration.conftest import TOKEN, Env, http_get, pid_gone, tcp_exchange, wait_until

pytestmark = pytest.mark.netns

VIP, M1, M2, CLIENT = "10.231.10.10", "10.231.10.21", "10.231.10.22", "10.231.10.50"


def render(paths: LbPaths, members: tuple[str, ...] = (M1, M2), extra: str = "") -> str:
    """A hand-written config shaped like the renderer's (user/group, admin stats socket)."""
    servers = "\n".join(f"    server m{i} {ip}:80" for i, ip in enumerate(members, 1))
    return f"""global
    user nobody
    group nogroup
    maxconn 2000
    stats socket {paths.stats_sock} mode 600 level admin
defaults
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_http
    mode http
    bind {VIP}:80
    default_backend be_http
backend be_http
    mode http
    balance roundrobin
    option forwardfor
{servers}
frontend fe_tcp
    mode tcp
    bind {VIP}:8080
    default_backend be_tcp
backend be_tcp
    mode tcp
    balance roundrobin
{servers}
{extra}
"""


@dataclass
class Lab:
    env: Env
    ns: str
    client: str
    paths: LbPaths
    hp: MasterWorkerHaproxy


@pytest.fixture
def lab(env: Env) -> Lab:
    p = Pyroute2Plumber(env.naming, neigh_gc_thresh=None)
    net = env.network()
    p.ensure_bridge(net, {})
    for name, ip in (("m1", M1), ("m2", M2)):
        hns = ensure_host(f"{TOKEN}{name}", env.port(net, ip), p, prefix=env.host_prefix)
        env.echo_pids.append(echo.serve_in_namespace(hns, name))
    client = ensure_host(f"{TOKEN}c", env.port(net, CLIENT), p, prefix=env.host_prefix)
    lb_id = env.new_id()
    ns = env.naming.ns_name(lb_id)
    p.ensure_namespace(ns)
    p.ensure_port(ns, env.port(net, VIP))
    return Lab(env, ns, client, env.paths(lb_id), env.haproxy)


def start(lab: Lab) -> int:
    lab.hp.check(render(lab.paths), lab.paths)
    lab.hp.swap(lab.paths)
    return lab.hp.ensure_running(lab.paths, lab.ns)


def tree_pids(master: int) -> list[int]:
    """The master and its children."""
    out = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            if int(data[data.rindex(")") + 2 :].split()[1]) == master:
                out.append(int(entry))
    return out


def test_check_rejects_and_keeps_the_failed_file(env: Env) -> None:
    hp, paths = env.haproxy, env.paths(env.new_id())
    with pytest.raises(ConfigRejected) as exc:
        hp.check("global\n    bogus_keyword 1\n", paths)
    assert "bogus_keyword" in exc.value.output
    assert paths.cfg_failed.exists() and not paths.cfg_new.exists() and not paths.cfg.exists()
    hp.check(render(paths), paths)
    assert stat.S_IMODE(paths.cfg_new.stat().st_mode) == 0o600
    hp.swap(paths)
    assert paths.cfg.exists() and not paths.cfg_new.exists()
    with pytest.raises(HaproxyError):
        hp.swap(paths)  # nothing checked to swap


def test_serves_both_members_which_see_the_vip(lab: Lab) -> None:
    t0 = time.perf_counter()
    lab.hp.check(render(lab.paths), lab.paths)
    lab.hp.swap(lab.paths)
    t1 = time.perf_counter()
    master = lab.hp.ensure_running(lab.paths, lab.ns)
    t2 = time.perf_counter()
    answer = http_get(lab.client, VIP)
    t3 = time.perf_counter()
    print(f"\ncheck+swap {(t1 - t0) * 1000:.1f} ms; start until ready {(t2 - t1) * 1000:.1f} ms; "
          f"first answer {(t3 - t2) * 1000:.1f} ms later")
    assert lab.hp.is_running(lab.paths) == master
    answers = [answer] + [http_get(lab.client, VIP) for _ in range(5)]
    assert {a["host"] for a in answers} == {"m1", "m2"}
    assert {a["peer"] for a in answers} == {VIP}  # one-arm: members see the VIP
    headers = answers[0]["headers"]
    assert isinstance(headers, dict)
    assert {k.lower(): v for k, v in headers.items()} == {"x-forwarded-for": CLIENT}
    # TCP mode just passes bytes: the member sees the VIP as well
    raw = tcp_exchange(lab.client, VIP, 8080, b"GET /tcp HTTP/1.0\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and f'"peer": "{VIP}"'.encode() in raw and b'"/tcp"' in raw
    # workers run unprivileged
    workers = [p for p in tree_pids(master) if p != master]
    assert workers
    for w in workers:
        with open(f"/proc/{w}/status") as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        assert uid_line.split()[1] != "0"
    # and it runs in the LB namespace
    assert nsexec.pid_netns_identity(master) == nsexec.netns_identity(lab.ns)


def test_reload_keeps_serving(lab: Lab) -> None:
    """200 requests, each on a new connection, across 5 reloads: 0 failures.

    Reload j is started when the client reaches request 40j+5, and the client does not pass request
    40j+39 before it is confirmed, so every reload overlaps live traffic however slow the machine is."""
    start(lab)
    results: list[str] = []
    reload_started = [threading.Event() for _ in range(5)]
    reload_done = [threading.Event() for _ in range(5)]
    in_flight_during = [0] * 5

    def client() -> None:
        for k in range(200):
            j, pos = divmod(k, 40)
            if pos == 5:
                reload_started[j].set()
            if pos == 39:
                reload_done[j].wait(30)
            busy = reload_started[j].is_set() and not reload_done[j].is_set()
            try:
                results.append(str(http_get(lab.client, VIP, timeout=3)["host"]))
            except Exception as e:
                results.append(f"FAIL {e!r}")
            if busy:
                in_flight_during[j] += 1
        for ev in reload_started:
            ev.set()  # never leave the main thread waiting

    t = threading.Thread(target=client)
    t.start()
    workers, reload_ms = [], []
    try:
        for j in range(5):
            assert reload_started[j].wait(30)
            lab.hp.check(render(lab.paths, (M1, M2) if j % 2 else (M2, M1)), lab.paths)
            lab.hp.swap(lab.paths)
            t0 = time.perf_counter()
            workers.append(lab.hp.reload(lab.paths))
            reload_ms.append((time.perf_counter() - t0) * 1000)
            reload_done[j].set()
    finally:
        for ev in reload_done:
            ev.set()
        t.join(120)
    failures = [r for r in results if r.startswith("FAIL")]
    print(f"\nreload confirmed in {sorted(reload_ms)[2]:.0f} ms (median of 5); "
          f"requests during each reload: {in_flight_during}")
    assert len(results) == 200 and failures == [], failures[:5]
    assert all(n > 0 for n in in_flight_during), in_flight_during
    assert len(set(workers)) == 5
    info = lab.hp.show_proc(lab.paths)
    assert info.reloads == 5 and info.failed == 0


def test_failed_reload_is_reported_and_old_worker_keeps_serving(lab: Lab) -> None:
    start(lab)
    lab.paths.cfg.write_text(render(lab.paths, extra="backend broken\n    server x 10.231.10.99:80 bogus\n"))
    with pytest.raises(HaproxyError, match="reload"):
        lab.hp.reload(lab.paths)
    assert http_get(lab.client, VIP)["peer"] == VIP


def test_survives_the_agent_and_is_adopted(lab: Lab) -> None:
    lab.hp.check(render(lab.paths), lab.paths)
    lab.hp.swap(lab.paths)
    root = str(Path(lbaas.__file__).resolve().parent.parent)
    code = (
        "import sys, time\n"
        "from lbaas.agent.haproxy.process import MasterWorkerHaproxy\n"
        "from lbaas.agent.paths import LbPaths\n"
        f"paths = LbPaths({str(lab.paths.state_dir)!r}, {lab.paths.lb_id!r})\n"
        f"pid = MasterWorkerHaproxy().ensure_running(paths, {lab.ns!r})\n"
        "print(pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": root})
    try:
        assert agent.stdout is not None
        master = int(agent.stdout.readline())
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(10)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        if agent.stdout:
            agent.stdout.close()
    assert http_get(lab.client, VIP)["peer"] == VIP  # still serving without its parent
    t0 = time.perf_counter()
    assert lab.hp.is_running(lab.paths) == master
    assert lab.hp.ensure_running(lab.paths, lab.ns) == master  # adopted, not restarted
    print(f"\nadoption check {(time.perf_counter() - t0) * 1000:.2f} ms")
    assert lab.hp.reload(lab.paths) > 0  # and fully manageable


def test_stop_leaves_no_process(lab: Lab) -> None:
    master = start(lab)
    pids = tree_pids(master)
    assert len(pids) >= 2
    t0 = time.perf_counter()
    lab.hp.stop(lab.paths)
    print(f"\nstop {(time.perf_counter() - t0) * 1000:.1f} ms")
    assert all(pid_gone(p) for p in pids)
    assert lab.hp.is_running(lab.paths) is None and not lab.paths.pid.exists()
    assert nsexec.pids_in_netns(lab.ns) == []
    lab.hp.stop(lab.paths)  # idempotent


def test_stop_falls_back_to_sigkill(lab: Lab) -> None:
    master = start(lab)
    pids = tree_pids(master)
    for p in pids:
        os.kill(p, signal.SIGSTOP)  # a master that ignores SIGTERM
    hp = MasterWorkerHaproxy(stop_timeout=0.3)
    hp.stop(lab.paths)
    assert wait_until(lambda: all(pid_gone(p) for p in pids), 5)


def test_adopted_process_in_a_recreated_namespace_is_replaced(lab: Lab) -> None:
    old = start(lab)
    p = Pyroute2Plumber(lab.env.naming, neigh_gc_thresh=None)
    # the namespace is deleted under a running HAProxy (it keeps the old, now anonymous, namespace)
    subprocess.run(["ip", "netns", "delete", lab.ns], check=True)
    p.ensure_namespace(lab.ns)
    new = lab.hp.ensure_running(lab.paths, lab.ns)
    assert new != old and pid_gone(old)
    assert nsexec.pid_netns_identity(new) == nsexec.netns_identity(lab.ns)


def test_runtime_api(lab: Lab) -> None:
    start(lab)
    stat_csv = lab.hp.runtime(lab.paths, "show stat")
    assert "be_http,m1," in stat_csv and "be_http,m2," in stat_csv
    lab.hp.runtime(lab.paths, "set server be_http/m1 state maint")
    assert {http_get(lab.client, VIP)["host"] for _ in range(4)} == {"m2"}
    state = lab.hp.runtime(lab.paths, "show servers state be_http")
    assert "m1" in state and "m2" in state
    lab.hp.runtime(lab.paths, "set server be_http/m1 state ready")
    assert {http_get(lab.client, VIP)["host"] for _ in range(4)} == {"m1", "m2"}


def test_start_failure_is_reported(lab: Lab) -> None:
    """A config that passes ``haproxy -c`` but cannot start (socket in a missing directory)."""
    cfg = render(lab.paths).replace(str(lab.paths.stats_sock), str(lab.paths.directory / "nodir" / "s.sock"))
    lab.hp.check(cfg, lab.paths)
    lab.hp.swap(lab.paths)
    with pytest.raises(HaproxyError, match="exited"):
        lab.hp.ensure_running(lab.paths, lab.ns)
    assert lab.hp.is_running(lab.paths) is None
    assert nsexec.pids_in_netns(lab.ns) == []


def test_unchecked_first_start_of_a_bad_config_fails_fast_and_leaves_nothing(lab: Lab) -> None:
    """What the reconciler's first start relies on: HAProxy parses the file at start and exits non-zero,
    so a refused config is never half-running (the reconciler then runs ``haproxy -c`` to say why)."""
    lab.hp.stage(render(lab.paths, extra="    bogus_keyword 1"), lab.paths)
    assert stat.S_IMODE(lab.paths.cfg_new.stat().st_mode) == 0o600
    lab.hp.swap(lab.paths)
    t0 = time.monotonic()
    with pytest.raises(HaproxyError, match="exited"):
        lab.hp.ensure_running(lab.paths, lab.ns)
    assert time.monotonic() - t0 < 5
    assert lab.hp.is_running(lab.paths) is None
    assert nsexec.pids_in_netns(lab.ns) == []
    with pytest.raises(ConfigRejected, match="bogus_keyword"):
        lab.hp.check(lab.paths.cfg.read_text(), lab.paths)
