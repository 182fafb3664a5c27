"""``lbaas.tools.consistency`` on a real ACTIVE_STANDBY pair: two instances of one LB, each run by its own
``Reconciler`` (as two agents would), on one bridge, and the LB's rows in a SQLite database of the test's
own (the amphora rows as the control plane keeps them for a pair: one per instance, each bound to its agent).

A converged pair is consistent, per instance (``check_lb_on``: plumbing of its vrrp port, keepalived
running from a conf that names the VIP and the track file, track 0, HAProxy's cfg, loaded digest, master
and runtime servers) and together (``check_pair``: exactly one VIP holder, peers naming each other);
``check_consistency`` (its default DB half reads the amphora rows) finds nothing wrong, and with
``lb_binding_only`` says the pair was not checked against the DB; a wrong vrrp_ip in the DB is reported.
Then the BACKUP's keepalived is killed: reported; the VIP added on the BACKUP too: two holders, reported.

Names: namespaces ``lbf-a<tok>-*``/``lbf-b<tok>-*``, links ``lbf?<tok>*`` (bridge ``lbfb``, veths ``lbft``,
instance interfaces ``lbfv``), state under /tmp/lbf<tok>*; addresses 10.231.247.0/24 on that bridge only.
Cleanup (on failure too): keepalived and HAProxy by pid, every process in our namespaces, the namespaces,
the links; then it asserts nothing of ours is left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from lbaas.agent.haproxy.process import MasterWorkerHaproxy
from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.keepalived.pair import PairParts, pair_parts
from lbaas.agent.keepalived.track import HaproxyTracker
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import Naming
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.db import models as m
from lbaas.db.base import Base
from lbaas.domain.spec import (
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    VipSpec,
    VrrpPeerSpec,
    VrrpSpec,
)
from lbaas.tools.consistency import AgentView, check_consistency, check_lb_on, check_pair, judge_pair, lb_binding_only

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs keepalived")]  # fmt: skip

TOKEN = secrets.token_hex(2)
NET = "10.231.247"
VIP = f"{NET}.10"


def new_id() -> str:
    """Ids whose first 4 hex digits are the token, so every interface derived from one carries it."""
    return str(uuid.UUID(TOKEN + uuid.uuid4().hex[4:]))


def mac() -> str:
    return "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))


def naming(name: str) -> Naming:
    return Naming(ns_prefix=f"lbf-{name}{TOKEN}-", vip_prefix="lbfv", tap_prefix="lbft", bridge_prefix="lbfb",
                  tagger_prefix="lbfg")  # fmt: skip


@dataclass
class Reports:
    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        assert ok, message

    def operating(self, lb_id: str, statuses: object) -> None:
        pass

    def stats(self, lb_id: str, deltas: object) -> None:
        pass

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        pass


@dataclass
class Source:
    spec: LoadBalancerSpec

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.spec if self.spec.id == lb_id else None

    def assigned(self) -> dict[str, int]:
        return {self.spec.id: self.spec.generation}


@dataclass
class Instance:
    name: str
    spec: LoadBalancerSpec
    view: AgentView
    haproxy: MasterWorkerHaproxy
    pair: PairParts
    rec: Reconciler

    @property
    def ns(self) -> str:
        return self.rec.ns_name(self.spec.id)

    def holds_vip(self) -> bool:
        out = subprocess.run(["ip", "-n", self.ns, "-o", "addr", "show"], capture_output=True, text=True).stdout
        return f" {VIP}/" in out


def the_spec() -> LoadBalancerSpec:
    return LoadBalancerSpec(
        id=new_id(), project_id="project-f", generation=1, binding_epoch=1, topology="ACTIVE_STANDBY",
        vip=VipSpec(address=VIP, prefixlen=24, ip_version=4, port_id=new_id(), mac_address=mac(),
                    subnet_id=new_id(), network_id=new_id()),
        listeners=(ListenerSpec(id="listener-80", protocol="HTTP", protocol_port=80, default_pool_id="pool-a"),),
        pools=(PoolSpec(id="pool-a", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                        members=(MemberSpec(id="member-0", address=f"{NET}.21", protocol_port=80),)),),
    )  # fmt: skip


def store(engine: Engine, spec: LoadBalancerSpec, instances: dict[str, VrrpSpec]) -> None:
    """The rows of ``spec`` as the control plane keeps them: the LB (ACTIVE_STANDBY), its listener, pool and
    member, one agent per host and one amphora row per instance bound to it (role, vrrp address and port)."""
    Base.metadata.create_all(engine)
    active = {"project_id": "project-f", "provisioning_status": "ACTIVE", "operating_status": "ONLINE"}
    with Session(engine) as s:
        s.add(m.LoadBalancer(id=spec.id, topology="ACTIVE_STANDBY", vip_address=VIP, vip_port_id=spec.vip.port_id,
                             vip_network_id=spec.vip.network_id, vip_subnet_id=spec.vip.subnet_id, **active))
        s.flush()
        s.add(m.Pool(id="pool-a", loadbalancer_id=spec.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN", **active))
        s.flush()
        s.add(m.Member(id="member-0", pool_id="pool-a", address=f"{NET}.21", protocol_port=80, **active))
        s.add(m.Listener(id="listener-80", loadbalancer_id=spec.id, protocol="HTTP", protocol_port=80,
                         default_pool_id="pool-a", **active))
        for host, v in instances.items():
            s.add(m.Agent(id=f"agent-{host}", host=host))
            s.flush()
            s.add(m.Amphora(id=v.amphora_id, loadbalancer_id=spec.id, agent_id=f"agent-{host}", role=v.role,
                            status="ALLOCATED", vrrp_ip=v.address, vrrp_port_id=v.port_id,
                            vrrp_id=v.virtual_router_id, vrrp_priority=v.priority))
        s.commit()  # fmt: skip


def build(name: str, spec: LoadBalancerSpec, vrrp: VrrpSpec, root: Path) -> Instance:
    mine = spec.model_copy(update={"vrrp": vrrp})
    state_dir = root / name
    state_dir.mkdir()
    plumber = Pyroute2Plumber(naming(name), neigh_gc_thresh=None)
    haproxy = MasterWorkerHaproxy()
    pair = pair_parts(plumber, haproxy)
    rec = Reconciler(config=AgentConfig(state_dir=state_dir), source=Source(mine), reporter=Reports(),
                     plumber=plumber, haproxy=haproxy, units=[pair.unit])  # fmt: skip
    return Instance(name, mine, AgentView(state_dir, naming=plumber.naming), haproxy, pair, rec)


def ours_ns() -> list[str]:
    try:
        names = os.listdir(nsexec.NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith((f"lbf-a{TOKEN}-", f"lbf-b{TOKEN}-")))


def ours_links() -> list[str]:
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith("lbf") and n[4:8] == TOKEN)


def wait_until(what: str, pred: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def pair() -> Iterator[tuple[Instance, Instance]]:
    root = Path(tempfile.mkdtemp(prefix=f"lbf{TOKEN}", dir="/tmp"))
    made: list[Instance] = []
    try:
        spec = the_spec()
        amp_a, amp_b = new_id(), new_id()
        va = VrrpSpec(amphora_id=amp_a, role="MASTER", priority=200, virtual_router_id=47, address=f"{NET}.11",
                      port_id=new_id(), mac_address=mac(), peers=(VrrpPeerSpec(amphora_id=amp_b, address=f"{NET}.12"),))
        vb = VrrpSpec(amphora_id=amp_b, role="BACKUP", priority=100, virtual_router_id=47, address=f"{NET}.12",
                      port_id=new_id(), mac_address=mac(), peers=(VrrpPeerSpec(amphora_id=amp_a, address=f"{NET}.11"),))  # fmt: skip
        made.append(build("a", spec, va, root))
        made.append(build("b", spec, vb, root))
        store(create_engine(f"sqlite:///{root}/lbaas.sqlite"), spec, {"a": va, "b": vb})
        yield made[0], made[1]
    finally:
        problems = []
        for inst in made:
            paths = inst.rec.paths(inst.spec.id)
            inst.pair.unit.process.stop(paths)
            inst.haproxy.stop(paths)
            assert isinstance(inst.pair.tracker, HaproxyTracker)
            inst.pair.tracker.close()
        for ns in ours_ns():
            kill_namespace_processes(ns)
            r = subprocess.run(["ip", "netns", "delete", ns], capture_output=True, text=True)
            if r.returncode:
                problems.append(f"ip netns delete {ns}: {r.stderr.strip()}")
        for link in sorted(ours_links(), key=lambda n: n.startswith("lbfb")):  # veths first, then the bridge
            if os.path.exists(f"/sys/class/net/{link}"):
                subprocess.run(["ip", "link", "delete", "dev", link], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        left = ours_ns() + ours_links()
        assert not problems and not left, (problems, left)


def test_a_converged_pair_is_consistent_and_a_broken_one_is_reported(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    lb_id = a.spec.id
    for inst in (a, b):
        outcome = inst.rec.reconcile(lb_id)
        assert outcome.ok, outcome.message
    wait_until("a holds the VIP", a.holds_vip)
    agents = {"a": a.view, "b": b.view}
    wait_until("both tracks say 0", lambda: not check_pair(lb_id, VIP, agents))
    engine = create_engine(f"sqlite:///{a.view.state_dir.parent}/lbaas.sqlite")
    found = []
    with Session(engine) as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        for host, view in agents.items():
            problems, facts = check_lb_on(lb, view, host)
            assert problems == [], problems
            assert facts is not None
            found.append(facts)
    assert judge_pair(lb_id, VIP, found) == []
    assert check_consistency(engine, agents) == []
    unwired = check_consistency(engine, agents, instances=lb_binding_only)  # no DB half for pairs
    assert f"LB {lb_id} is ACTIVE_STANDBY: its instances are not checked against the DB (no instances hook)" in unwired
    # the DB says another vrrp address for b's instance: said
    with Session(engine) as s:
        amp = s.scalars(select(m.Amphora).where(m.Amphora.agent_id == "agent-b")).one()
        amp.vrrp_ip = f"{NET}.99"
        s.commit()
    problems = check_consistency(engine, agents)
    assert len(problems) == 1 and "is not the DB's vrrp_ip 10.231.247.99" in problems[0], problems
    assert [f.holds(VIP) for f in found] == [True, False]
    assert not b.holds_vip()

    # the BACKUP's keepalived killed (both processes): said, and the VIP stays with a alone
    paths_b = b.rec.paths(lb_id)
    for pid_file in (paths_b.keepalived_pid, paths_b.vrrp_pid):
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    wait_until("b's keepalived is gone", lambda: b.pair.unit.process.running_in(paths_b, b.ns) is None)
    problems = check_pair(lb_id, VIP, agents)
    assert len(problems) == 1 and "instance on b: keepalived" in problems[0] and "not running" in problems[0], problems
    # ... and the VIP on b too (what a split brain leaves): two holders
    iface = found[1].conf.interface
    assert iface is not None
    subprocess.run(["ip", "-n", b.ns, "addr", "add", f"{VIP}/24", "dev", iface], check=True)
    problems = check_pair(lb_id, VIP, agents)
    assert any("held by 2 instances ['a', 'b']" in p for p in problems), problems
