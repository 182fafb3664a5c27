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
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.db.base import Base
from lbaas.domain.spec import ListenerSpec, LoadBalancerSpec, MemberSpec, PoolSpec, VipSpec, VrrpSpec
from lbaas.tools.consistency import AgentView, check_consistency, check_lb_on, check_pair, judge_pair, lb_binding_only
from tests.integration.pair import MARKS, Instance, Names, build_instance, clean_up, mac, vrrp_pair, wait_until

pytestmark = MARKS

NAMES = Names(links="lbf", lb_ns="lbf-")
TOKEN = NAMES.token
new_id = NAMES.new_id
NET = "10.231.247"
VIP = f"{NET}.10"
WAIT = 15.0


def agent_view(inst: Instance) -> AgentView:
    """What the consistency check sees of an instance's agent: its state directory and its names."""
    return AgentView(inst.state_dir, naming=inst.plumber.naming)


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


@pytest.fixture
def pair() -> Iterator[tuple[Instance, Instance]]:
    root = Path(tempfile.mkdtemp(prefix=f"lbf{TOKEN}", dir="/tmp"))
    made: list[Instance] = []
    try:
        spec = the_spec()
        va, vb = vrrp_pair(NAMES, f"{NET}.11", f"{NET}.12", virtual_router_id=47)
        made.append(build_instance(NAMES, "a", spec, va, root))
        made.append(build_instance(NAMES, "b", spec, vb, root))
        store(create_engine(f"sqlite:///{root}/lbaas.sqlite"), spec, {"a": va, "b": vb})
        yield made[0], made[1]
    finally:
        clean_up(NAMES, made, root)


def test_a_converged_pair_is_consistent_and_a_broken_one_is_reported(pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    lb_id = a.spec.id
    for inst in (a, b):
        outcome = inst.rec.reconcile(lb_id)
        assert outcome.ok, outcome.message
    wait_until("a holds the VIP", a.holds_vip, WAIT)
    agents = {"a": agent_view(a), "b": agent_view(b)}
    wait_until("both tracks say 0", lambda: not check_pair(lb_id, VIP, agents), WAIT)
    engine = create_engine(f"sqlite:///{a.state_dir.parent}/lbaas.sqlite")
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
    wait_until("b's keepalived is gone", lambda: b.pair.unit.process.running_in(paths_b, b.ns) is None, WAIT)
    problems = check_pair(lb_id, VIP, agents)
    assert len(problems) == 1 and "instance on b: keepalived" in problems[0] and "not running" in problems[0], problems
    # ... and the VIP on b too (what a split brain leaves): two holders
    iface = found[1].conf.interface
    assert iface is not None
    subprocess.run(["ip", "-n", b.ns, "addr", "add", f"{VIP}/24", "dev", iface], check=True)
    problems = check_pair(lb_id, VIP, agents)
    assert any("held by 2 instances ['a', 'b']" in p for p in problems), problems
