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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lbaas.agent import echo
from lbaas.agent.haproxy.process import MasterWorkerHaproxy
from lbaas.agent.hosts import ensure_host, kill_namespace_processes
from lbaas.agent.keepalived.pair import PairParts, pair_parts
from lbaas.agent.keepalived.track import HaproxyTracker
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import Naming, NetworkPlug, PortPlug
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.observe import Observer
from lbaas.agent.paths import LbPaths
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.domain.spec import (
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    SessionPersistenceSpec,
    VipSpec,
    VrrpPeerSpec,
    VrrpSpec,
)

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs keepalived")]  # fmt: skip

TOKEN = secrets.token_hex(2)
LINKS = "lbk"
HOSTS = f"lbk-h{TOKEN}-"


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


def new_id() -> str:
    """Ids whose first 4 hex digits are the token, so every interface derived from one carries it."""
    return str(uuid.UUID(TOKEN + uuid.uuid4().hex[4:]))


def mac() -> str:
    return "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))


def naming(ns_prefix: str) -> Naming:
    return Naming(ns_prefix=ns_prefix, vip_prefix="lbkv", tap_prefix="lbkt", bridge_prefix="lbkb",
                  tagger_prefix="lbkg")  # fmt: skip


@dataclass
class Reports:
    instances: list[tuple[str, str, int, str, bool]] = field(default_factory=list)

    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        assert ok, message

    def operating(self, lb_id: str, statuses: object) -> None:
        pass

    def stats(self, lb_id: str, deltas: object) -> None:
        pass

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        self.instances.append((lb_id, amphora_id, epoch, vrrp_state, healthy))


@dataclass
class Source:
    spec: LoadBalancerSpec | None

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.spec if self.spec is not None and self.spec.id == lb_id else None

    def assigned(self) -> dict[str, int]:
        return {self.spec.id: self.spec.generation} if self.spec is not None else {}


@dataclass
class Instance:
    """One agent's side: its reconciler, its HAProxy and keepalived, its observer."""

    name: str
    spec: LoadBalancerSpec
    state_dir: Path
    plumber: Pyroute2Plumber
    haproxy: MasterWorkerHaproxy
    pair: PairParts
    source: Source
    reports: Reports
    rec: Reconciler
    observer: Observer
    dead: list[str] = field(default_factory=list)  # the tracker's on_dead calls

    @property
    def paths(self) -> LbPaths:
        return self.rec.paths(self.spec.id)

    @property
    def ns(self) -> str:
        return self.rec.ns_name(self.spec.id)

    @property
    def vrrp(self) -> VrrpSpec:
        assert self.spec.vrrp is not None
        return self.spec.vrrp

    def holds_vip(self) -> bool:
        if not nsexec.netns_exists(self.ns):
            return False
        out = subprocess.run(["ip", "-n", self.ns, "-o", "addr", "show"], capture_output=True, text=True).stdout
        return f" {self.spec.vip.address}/" in out

    def state(self) -> tuple[str, bool]:
        self.observer.observe(self.spec.id)
        last = self.reports.instances[-1]
        assert last[:3] == (self.spec.id, self.vrrp.amphora_id, self.spec.binding_epoch)
        return last[3], last[4]

    def runtime(self, command: str) -> str:
        return self.haproxy.runtime(self.paths, command)

    def connections(self) -> int:
        """Sessions its listener's frontend took (``show stat`` stot): the load flows through this instance."""
        rows = [line.split(",") for line in self.runtime("show stat").splitlines() if line and line[0] != "#"]
        return sum(int(r[7]) for r in rows if len(r) > 7 and r[1] == "FRONTEND")


def wait_until(what: str, pred: Callable[[], bool], timeout: float = 10.0,
               diag: Callable[[], str] | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout} s: {what}" + (f"\n{diag()}" if diag is not None else ""))


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


def instances_of(net: Net) -> tuple[VrrpSpec, VrrpSpec]:
    amp_a, amp_b = new_id(), new_id()
    a = VrrpSpec(amphora_id=amp_a, role="MASTER", priority=200, virtual_router_id=77, address=net.ip(11),
                 port_id=new_id(), mac_address=mac(), peers=(VrrpPeerSpec(amphora_id=amp_b, address=net.ip(12)),))
    b = VrrpSpec(amphora_id=amp_b, role="BACKUP", priority=100, virtual_router_id=77, address=net.ip(12),
                 port_id=new_id(), mac_address=mac(), peers=(VrrpPeerSpec(amphora_id=amp_a, address=net.ip(11)),))
    return a, b  # fmt: skip


@dataclass
class World:
    a: Instance
    b: Instance
    client: str
    hosts: Pyroute2Plumber
    network: NetworkPlug
    net: Net


def build_instance(name: str, spec: LoadBalancerSpec, vrrp: VrrpSpec, root: Path) -> Instance:
    mine = spec.model_copy(update={"vrrp": vrrp})
    state_dir = root / name
    state_dir.mkdir()
    plumber = Pyroute2Plumber(naming(f"qlbaas-k{name}{TOKEN}-"), neigh_gc_thresh=None)
    haproxy = MasterWorkerHaproxy()
    pair = pair_parts(plumber, haproxy)
    source, reports = Source(mine), Reports()
    rec = Reconciler(config=AgentConfig(state_dir=state_dir), source=source, reporter=reports, plumber=plumber,
                     haproxy=haproxy, units=[pair.unit])  # fmt: skip
    inst = Instance(name, mine, state_dir, plumber, haproxy, pair, source, reports, rec,
                    Observer(rec, reports, instances=pair.probe, instance_refresh=0.0))  # fmt: skip
    assert isinstance(pair.tracker, HaproxyTracker)
    pair.tracker.on_dead = inst.dead.append
    return inst


def our_links() -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(LINKS) and n[4:8] == TOKEN)


def our_namespaces() -> list[str]:
    try:
        names = os.listdir(nsexec.NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith((f"qlbaas-ka{TOKEN}-", f"qlbaas-kb{TOKEN}-", HOSTS)))


@pytest.fixture
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    net = Net(getattr(request, "param", 4))
    root = Path(tempfile.mkdtemp(prefix=f"lbk{TOKEN}", dir="/tmp"))
    made: list[Instance] = []
    echo_pids: list[int] = []
    try:
        hosts = Pyroute2Plumber(naming(HOSTS), neigh_gc_thresh=None)
        spec = the_spec(net, (net.ip(21), net.ip(22)))
        network = PortPlug.from_vip(spec.vip).network
        hosts.ensure_bridge(network, {})

        def host(name: str, last: int) -> str:
            port = PortPlug(port_id=new_id(), mac_address=mac(), addresses=[(net.ip(last), net.prefixlen)],
                            network=network)
            return ensure_host(name, port, hosts, prefix=HOSTS)

        client = host("client", 50)
        for i, last in enumerate((21, 22)):
            echo_pids.append(echo.serve_in_namespace(host(f"web{i}", last), f"web{i}", 80,
                                                     bind="0.0.0.0" if net.version == 4 else "::"))
        va, vb = instances_of(net)
        made.append(build_instance("a", spec, va, root))
        made.append(build_instance("b", spec, vb, root))
        yield World(made[0], made[1], client, hosts, network, net)
    finally:
        problems = []
        for inst in made:
            inst.pair.unit.process.stop(inst.paths)
            inst.haproxy.stop(inst.paths)
            assert isinstance(inst.pair.tracker, HaproxyTracker)
            inst.pair.tracker.close()
        for pid in echo_pids:
            echo.stop(pid)
        for ns in our_namespaces():
            kill_namespace_processes(ns)
            r = subprocess.run(["ip", "netns", "delete", ns], capture_output=True, text=True)
            if r.returncode:
                problems.append(f"ip netns delete {ns}: {r.stderr.strip()}")
        for link in sorted(our_links(), key=lambda n: n.startswith("lbkb")):  # veths first, then the bridge
            if os.path.exists(f"/sys/class/net/{link}"):
                subprocess.run(["ip", "link", "delete", "dev", link], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        left = our_namespaces() + our_links()
        assert not problems and not left, (problems, left)


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


def load(ns: str, url: str) -> Iterator[LoadLoop]:
    loop = LoadLoop(ns, url)
    try:
        yield loop
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


def test_a_pair_moves_its_vip_on_haproxy_death_and_on_teardown(world: World) -> None:
    a, b = world.a, world.b
    converge(a)
    converge(b)
    # the MASTER (priority 200) holds the VIP, the BACKUP does not
    wait_until("instance a holds the VIP", a.holds_vip, diag=lambda: diagnose(a, b))
    wait_until("instance b is BACKUP", lambda: b.state() == ("BACKUP", True), diag=lambda: diagnose(a, b))
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
    gen = load(world.client, world.net.url(VIP))
    loop = next(gen)
    try:
        wait_until("the load flows through a", lambda: a.connections() >= 20)
        before = b.connections()
        # SIGKILL of the MASTER's HAProxy master: the VIP moves to b
        pid = a.haproxy.running_in(a.paths, a.ns)
        assert pid is not None
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until("instance b holds the VIP", b.holds_vip, diag=lambda: diagnose(a, b))
        moved = time.monotonic() - t0
        wait_until("instance a gave it up", lambda: not a.holds_vip())
        wait_until("the tracker saw a's HAProxy die", lambda: a.dead == [a.spec.id])
        assert a.paths.track.read_text().strip() == "1"
        wait_until("the load flows through b", lambda: b.connections() >= before + 20)
        report = loop.stop()
    finally:
        gen.close()
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
    gen = load(world.client, world.net.url(VIP))
    loop = next(gen)
    try:
        wait_until("the load flows through b", lambda: b.connections() >= 20)
        before = a.connections()
        t0 = time.monotonic()
        b.source.spec = None
        teardown = threading.Thread(target=converge, args=(b,))  # what b's agent does, while we watch a
        teardown.start()
        wait_until("instance a holds the VIP again", a.holds_vip, diag=lambda: diagnose(a, b))
        moved = time.monotonic() - t0
        teardown.join(timeout=60)
        assert not teardown.is_alive()
        wait_until("the load flows through a", lambda: a.connections() >= before + 20)
        report = loop.stop()
    finally:
        gen.close()
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
    converge(a)
    converge(b)
    wait_until("instance a holds the VIP", a.holds_vip, diag=lambda: diagnose(a, b))
    wait_until("instance b is BACKUP", lambda: b.state() == ("BACKUP", True), diag=lambda: diagnose(a, b))
    http_get(world.client, vip)
    key = f"key={world.net.table_key(50)} "
    wait_until("b's table has the client", lambda: key in b.runtime("show table pool-a:listener-80"))
    gen = load(world.client, world.net.url(VIP))
    loop = next(gen)
    try:
        wait_until("the load flows through a", lambda: a.connections() >= 20)
        before = b.connections()
        pid = a.haproxy.running_in(a.paths, a.ns)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until("instance b holds the VIP", b.holds_vip, diag=lambda: diagnose(a, b))
        flags = subprocess.run(["ip", "-n", b.ns, "-6", "-o", "addr", "show"], capture_output=True, text=True).stdout
        assert "tentative" not in flags.split(f" {vip}/")[1].splitlines()[0], flags
        wait_until("the load flows through b", lambda: b.connections() >= before + 20)
        report = loop.stop()
    finally:
        gen.close()
    print(f"\nIPv6, HAProxy of the MASTER killed: longest gap {report['longest_gap']} s "
          f"({report['requests']} requests, {report['failed']} failed, per host {report['per_host']})")  # fmt: skip
    assert len(report["per_host"]) == 1, report  # stuck to one member across the move


def test_a_dead_keepalived_is_restarted_and_the_vip_keeps_one_owner(world: World) -> None:
    """keepalived of the MASTER killed (both its processes, SIGKILL: no goodbye advert, the VIP left on
    the interface): the BACKUP takes over; the observer sees keepalived gone, the reconciler starts it
    again, and in the end exactly one instance holds the VIP."""
    a, b = world.a, world.b
    converge(a)
    converge(b)
    wait_until("instance a holds the VIP", a.holds_vip, diag=lambda: diagnose(a, b))
    wait_until("instance b is BACKUP", lambda: b.state() == ("BACKUP", True), diag=lambda: diagnose(a, b))
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
