"""ACTIVE_STANDBY on a real data plane: two instances of ONE load balancer, each run by its own
``Reconciler`` (as two agents on two hosts would), on one bridge with a client and two echo members.

Each reconciler gets the spec its agent would get from the control plane: the same listeners, pool and
VIP, and its own ``vrrp`` part (address, vrrp port and MAC, the other instance as peer, priorities 200
and 100). What it shows, waiting on the thing itself each time (the VIP on an interface, a socket, a
stick-table entry):

* exactly one instance holds the VIP (the higher priority), the other is BACKUP, and the VIP answers;
* the measured instance states reported (MASTER/BACKUP, healthy);
* SIGKILL of the MASTER's HAProxy master: the tracker writes the track file at once, keepalived goes
  FAULT and the VIP moves to the BACKUP under a client load loop, which prints its longest gap; the
  reconciler then restarts HAProxy and vouches again (the instance is a healthy BACKUP: nopreempt);
* a SOURCE_IP stick-table entry made through the MASTER shows in the BACKUP's table (HAProxy ``peers``);
* the MASTER instance torn down entirely: the VIP moves back, under load too.

Names: LB namespaces ``qlbaas-ka<tok>-*``/``qlbaas-kb<tok>-*``, hosts ``lbk-h<tok>-*``, every root link
``lbk?<tok>*`` (bridge ``lbkb``, taps ``lbkt``); addresses 10.231.243.0/24 on that bridge only. Cleanup
(on failure too): processes by pid (HAProxy, keepalived, echo, load loop), then every process living in
one of our namespaces, then namespaces, then links; it then asserts nothing of ours is left.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import NetworkPlug, PortPlug
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.domain.spec import ListenerSpec, LoadBalancerSpec, MemberSpec, PoolSpec, SessionPersistenceSpec, VipSpec
from tests.integration.pair import MARKS, Instance, Names, build_instance, clean_up, mac, vrrp_pair, wait_until

pytestmark = MARKS

NAMES = Names(links="lbk", lb_ns="qlbaas-k", hosts_ns="lbk-h")
TOKEN = NAMES.token
new_id = NAMES.new_id


@dataclass(frozen=True)
class Net:
    """The addresses on our bridge: 10.231.243.<n>/24 or fd00:231:243::<n>/64."""

    version: int

    def ip(self, n: int) -> str:
        return f"10.231.243.{n}" if self.version == 4 else f"fd00:231:243::{n}"

    @property
    def prefixlen(self) -> int:
        return 24 if self.version == 4 else 64

    def url(self, n: int) -> str:
        return f"http://{self.ip(n)}/" if self.version == 4 else f"http://[{self.ip(n)}]/"

    def table_key(self, n: int) -> str:
        """How HAProxy's ``type ipv6`` stick table shows a client address."""
        return f"::ffff:{self.ip(n)}" if self.version == 4 else self.ip(n)


VIP = 10
ROOT = str(Path(__file__).resolve().parents[2])


def diagnose(*instances: Instance) -> str:
    """What each instance reported and what its keepalived said (for a failed wait)."""
    out = []
    for inst in instances:
        log = inst.paths.directory / "keepalived.log"
        track = inst.paths.track
        out.append(f"--- {inst.name}: reports {inst.reports.instances[-3:]}, VIP here {inst.holds_vip()}, "
                   f"track {track.read_text().strip() if track.exists() else None!r}\n"
                   f"{log.read_text()[-2500:] if log.exists() else '(no keepalived log)'}")  # fmt: skip
    return "\n".join(out)


def the_spec(net: Net, members: tuple[str, ...]) -> LoadBalancerSpec:
    network = new_id()
    return LoadBalancerSpec(
        id=new_id(), project_id="project-k", generation=1, binding_epoch=1, topology="ACTIVE_STANDBY",
        vip=VipSpec(address=net.ip(VIP), prefixlen=net.prefixlen, ip_version=net.version, port_id=new_id(),
                    mac_address=mac(), subnet_id=new_id(), network_id=network),
        listeners=(ListenerSpec(id="listener-80", protocol="HTTP", protocol_port=80, default_pool_id="pool-a"),),
        pools=(PoolSpec(id="pool-a", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                        session_persistence=SessionPersistenceSpec(type="SOURCE_IP"),
                        members=tuple(MemberSpec(id=f"member-{i}", address=a, protocol_port=80)
                                      for i, a in enumerate(members))),),
    )  # fmt: skip


@dataclass
class World:
    a: Instance
    b: Instance
    client: str
    hosts: Pyroute2Plumber
    network: NetworkPlug
    net: Net


@pytest.fixture
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    net = Net(getattr(request, "param", 4))
    root = Path(tempfile.mkdtemp(prefix=f"lbk{TOKEN}", dir="/tmp"))
    made: list[Instance] = []
    echo_pids: list[int] = []
    try:
        hosts = Pyroute2Plumber(NAMES.naming(NAMES.hosts), neigh_gc_thresh=None)
        spec = the_spec(net, (net.ip(21), net.ip(22)))
        network = PortPlug.from_vip(spec.vip).network
        hosts.ensure_bridge(network, {})

        def host(name: str, last: int) -> str:
            port = PortPlug(port_id=new_id(), mac_address=mac(), addresses=[(net.ip(last), net.prefixlen)],
                            network=network)
            return ensure_host(name, port, hosts, prefix=NAMES.hosts)

        client = host("client", 50)
        for i, last in enumerate((21, 22)):
            echo_pids.append(echo.serve_in_namespace(host(f"web{i}", last), f"web{i}", 80,
                                                     bind="0.0.0.0" if net.version == 4 else "::"))
        va, vb = vrrp_pair(NAMES, net.ip(11), net.ip(12), virtual_router_id=77)
        made.append(build_instance(NAMES, "a", spec, va, root))
        made.append(build_instance(NAMES, "b", spec, vb, root))
        yield World(made[0], made[1], client, hosts, network, net)
    finally:
        clean_up(NAMES, made, root, echo_pids)


class LoadLoop:
    """``lbaas.tools.loadloop`` in the client namespace, a new connection per request."""

    def __init__(self, ns: str, url: str) -> None:
        argv = nsexec.ip_netns_exec(ns, [sys.executable, "-m", "lbaas.tools.loadloop", url, "--mode", "new",
                                         "--seconds", "60", "--workers", "2", "--timeout", "0.25",
                                         "--interval", "0.005"])  # fmt: skip
        env = {**os.environ, "PYTHONPATH": ROOT}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     start_new_session=True)  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "ready": the first answer came
        assert line.strip() == "ready", (line, self.proc.stderr.read() if self.proc.stderr else "")

    def stop(self) -> dict[str, object]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        return dict(json.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def load_moving(world: World, src: Instance, dst: Instance) -> Iterator[dict[str, object]]:
    """The client's load loop on the VIP while the body moves it from ``src`` to ``dst``: on entry the load
    flows through ``src``; after the body, it flows through ``dst`` and the yielded dict is the loop's
    report (requests, failed, longest gap, per host). The loop is killed however the body ends."""
    report: dict[str, object] = {}
    loop = LoadLoop(world.client, world.net.url(VIP))
    try:
        wait_until(f"the load flows through {src.name}", lambda: src.connections() >= 20)
        before = dst.connections()
        yield report
        wait_until(f"the load flows through {dst.name}", lambda: dst.connections() >= before + 20)
        report.update(loop.stop())
    finally:
        loop.kill()


def http_get(ns: str, host: str) -> dict[str, object]:
    def call() -> dict[str, object]:
        conn = http.client.HTTPConnection(host, 80, timeout=3)
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200, resp.status
            return dict(json.loads(resp.read()))
        finally:
            conn.close()

    return nsexec.run_in_netns(ns, call, timeout=10)


def converge(inst: Instance) -> None:
    outcome = inst.rec.reconcile(inst.spec.id)
    assert outcome.ok, outcome.message


def start(a: Instance, b: Instance) -> None:
    """Both instances converged: a (priority 200) holds the VIP, b is a healthy BACKUP."""
    converge(a)
    converge(b)
    wait_until("instance a holds the VIP", a.holds_vip, diag=lambda: diagnose(a, b))
    wait_until("instance b is BACKUP", lambda: b.state() == ("BACKUP", True), diag=lambda: diagnose(a, b))


def kill_haproxy(inst: Instance) -> None:
    """SIGKILL of the instance's HAProxy master."""
    pid = inst.haproxy.running_in(inst.paths, inst.ns)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def test_a_pair_moves_its_vip_on_haproxy_death_and_on_teardown(world: World) -> None:
    a, b = world.a, world.b
    # the MASTER (priority 200) holds the VIP, the BACKUP does not
    start(a, b)
    assert not b.holds_vip()
    assert a.state() == ("MASTER", True)
    listening = subprocess.run(["ip", "netns", "exec", b.ns, "ss", "-Hltn"], capture_output=True, text=True).stdout
    assert f"{world.net.ip(VIP)}:80 " in listening, listening  # the BACKUP's HAProxy is bound to the VIP already
    assert (a.paths.track.read_text().strip(), b.paths.track.read_text().strip()) == ("0", "0")
    # a SOURCE_IP stick entry made through the MASTER shows in the BACKUP's table (HAProxy peers)
    answer = http_get(world.client, world.net.ip(VIP))
    client = world.net.table_key(50)
    wait_until("a's table has the client", lambda: f"key={client} " in a.runtime("show table pool-a:listener-80"))
    wait_until("b's table has it too", lambda: f"key={client} " in b.runtime("show table pool-a:listener-80"))
    server_id = a.runtime("show table pool-a:listener-80").split(f"key={client} ")[1].split("server_id=")[1].split()[0]
    assert f"server_id={server_id}" in b.runtime("show table pool-a:listener-80").split(f"key={client} ")[1]
    # a reload of the MASTER (a listener change): the master keeps its pid, so nothing is reported dead
    # and the VIP stays. Its new worker relearns the stick table from the other instance (the remote peer,
    # after HAProxy's resync timeout): HAProxy 2.6 did not teach it from the old worker (the local peer)
    # here, in master-worker or classic -sf mode alike, so a reload of both at once loses the table.
    master = a.haproxy.running_in(a.paths, a.ns)
    a.spec = a.source.spec = a.spec.model_copy(update={"generation": 2, "listeners": tuple(
        li.model_copy(update={"timeout_client_data": 40000}) for li in a.spec.listeners)})  # fmt: skip
    converge(a)
    assert "timeout client 40000" in a.paths.cfg.read_text()
    assert a.haproxy.running_in(a.paths, a.ns) == master and a.dead == [] and a.holds_vip()
    assert a.paths.track.read_text().strip() == "0"
    wait_until("the new worker has the table", lambda: f"key={client} " in a.runtime("show table pool-a:listener-80"),
               timeout=20, diag=lambda: a.runtime("show peers") + b.runtime("show peers"))
    # the VIP answers, from one of the members
    with load_moving(world, a, b) as report:
        # SIGKILL of the MASTER's HAProxy master: the VIP moves to b
        t0 = time.monotonic()
        kill_haproxy(a)
        wait_until("instance b holds the VIP", b.holds_vip, diag=lambda: diagnose(a, b))
        moved = time.monotonic() - t0
        wait_until("instance a gave it up", lambda: not a.holds_vip())
        wait_until("the tracker saw a's HAProxy die", lambda: a.dead == [a.spec.id])
        assert a.paths.track.read_text().strip() == "1"
    print(f"\nHAProxy of the MASTER killed: VIP on b after {moved:.3f} s, longest gap {report['longest_gap']} s "
          f"({report['requests']} requests, {report['failed']} failed, per host {report['per_host']})")  # fmt: skip
    assert list(report["per_host"]) == [answer["host"]], report  # stuck to one member across the move
    assert a.state() == ("FAULT", False)
    assert b.state() == ("MASTER", True)
    # what the agent does on the tracker's call: reconcile; HAProxy runs again and is vouched for
    converge(a)
    assert a.paths.track.read_text().strip() == "0"
    wait_until("instance a is a healthy BACKUP again", lambda: a.state() == ("BACKUP", True))
    assert b.holds_vip() and not a.holds_vip()  # nopreempt: the VIP stays where it is

    # the MASTER (now b) torn down entirely: the VIP moves back to a
    with load_moving(world, b, a) as report:
        t0 = time.monotonic()
        b.source.spec = None
        teardown = threading.Thread(target=converge, args=(b,))  # what b's agent does, while we watch a
        teardown.start()
        wait_until("instance a holds the VIP again", a.holds_vip, diag=lambda: diagnose(a, b))
        moved = time.monotonic() - t0
        teardown.join(timeout=60)
        assert not teardown.is_alive()
    print(f"MASTER instance torn down: VIP on a after {moved:.3f} s, longest gap {report['longest_gap']} s "
          f"({report['requests']} requests, {report['failed']} failed)")  # fmt: skip
    assert a.state() == ("MASTER", True)
    assert not nsexec.netns_exists(b.ns) and not b.paths.directory.exists()


@pytest.mark.parametrize("world", [6], indirect=True, ids=["ipv6"])
def test_an_ipv6_pair_moves_its_vip_usable_at_once(world: World) -> None:
    """IPv6: the VIP keepalived adds on takeover is not held back by DAD (the namespace has accept_dad=0),
    so it answers as soon as it is there; the stick entry syncs over the IPv6 peer addresses."""
    a, b = world.a, world.b
    vip = world.net.ip(VIP)
    start(a, b)
    http_get(world.client, vip)
    key = f"key={world.net.table_key(50)} "
    wait_until("b's table has the client", lambda: key in b.runtime("show table pool-a:listener-80"))
    with load_moving(world, a, b) as report:
        kill_haproxy(a)
        wait_until("instance b holds the VIP", b.holds_vip, diag=lambda: diagnose(a, b))
        flags = subprocess.run(["ip", "-n", b.ns, "-6", "-o", "addr", "show"], capture_output=True, text=True).stdout
        assert "tentative" not in flags.split(f" {vip}/")[1].splitlines()[0], flags
    print(f"\nIPv6, HAProxy of the MASTER killed: longest gap {report['longest_gap']} s "
          f"({report['requests']} requests, {report['failed']} failed, per host {report['per_host']})")  # fmt: skip
    assert len(report["per_host"]) == 1, report  # stuck to one member across the move


def test_a_dead_keepalived_is_restarted_and_the_vip_keeps_one_owner(world: World) -> None:
    """keepalived of the MASTER killed (both its processes, SIGKILL: no goodbye advert, the VIP left on
    the interface): the BACKUP takes over; the observer sees keepalived gone, the reconciler starts it
    again, and in the end exactly one instance holds the VIP."""
    a, b = world.a, world.b
    start(a, b)
    for pid_file in (a.paths.keepalived_pid, a.paths.vrrp_pid):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    wait_until("keepalived of a is gone", lambda: a.pair.unit.process.running_in(a.paths, a.ns) is None)
    wait_until("instance b took the VIP", b.holds_vip, diag=lambda: diagnose(a, b))
    assert a.observer.observe(a.spec.id) is False  # what makes the agent reconcile it
    converge(a)
    assert a.pair.unit.process.running_in(a.paths, a.ns) is not None
    wait_until("exactly one holder", lambda: a.holds_vip() != b.holds_vip() and a.state()[0] in ("MASTER", "BACKUP"),
               diag=lambda: diagnose(a, b))
    holder, other = (a, b) if a.holds_vip() else (b, a)
    assert holder.state() == ("MASTER", True) and other.state() == ("BACKUP", True)
    print(f"\nkeepalived of the MASTER killed and restarted: the VIP is on {holder.name}")
