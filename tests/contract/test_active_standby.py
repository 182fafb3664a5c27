"""ACTIVE_STANDBY control plane (issue 11), through the API and the internal agent API, with the real
controller pass (``Controller.tick``) and agents simulated by their heartbeats and reports:

topology from the flavor or ``default_topology``; two instances with their vrrp ports and a virtual
router id unique per VIP network (409 when exhausted); the embedded build's refusal; per-agent specs
and assignment (only the two agents of the pair); completion when both instances applied; measured
instance state (DEGRADED with one healthy instance, fenced by epoch); object statuses from the
MASTER only; failover of one instance off a dead agent (a new record on a third agent, the survivor
untouched); amphora failover one at a time; the amphorae API; delete removes ports and group.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from lbaas.agent.remote import SECRET_HEADER
from lbaas.bus.inprocess import InProcessBus
from lbaas.config import Settings
from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.domain.agents import Timing
from lbaas.providers.haproxy_ns import HaproxyProvider
from lbaas.providers.noop import NoopProvider
from lbaas.scheduler.controller import Controller
from lbaas.services import amphorae
from lbaas.services.env import ServiceEnv
from tests.contract.helpers import assert_fault, make_subnet, settle
from tests.contract.personas import persona_headers

# Agents die in these tests when a test sets their heartbeat in the past, never by the clock: a loaded
# machine that takes seconds between a heartbeat and the controller's pass must not kill them.
LOAD_PROOF = Timing(down_time=600.0, suspect_time=300.0)

SECRET = "s3cret-for-tests"
H = {SECRET_HEADER: SECRET}
LB = "/v2/lbaas/loadbalancers"
AMP = "/v2/octavia/amphorae"
ADMIN = persona_headers("admin", "p1")
pytestmark = pytest.mark.usefixtures("personas")
AMP_FIELDS = {"role", "compute_id", "vrrp_ip", "ha_ip", "vrrp_port_id", "ha_port_id", "vrrp_id", "vrrp_priority",
              "vrrp_interface", "status"}  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path, auth_strategy: str) -> Settings:
    return Settings(state_dir=tmp_path, provider="noop", internal_secret=SECRET, auth_strategy=auth_strategy,
                    default_topology="ACTIVE_STANDBY")  # fmt: skip


@pytest.fixture
def provider(database: Database, settings: Settings) -> Iterator[NoopProvider]:
    """The noop provider wired as the builds wire it: it records the instances when an LB turns ACTIVE."""
    prov = NoopProvider(database, hold=True, names=frozenset({"noop", "amphora", "octavia"}),
                        on_active=lambda s, lb: amphorae.ensure_amphora(s, lb, settings.host))  # fmt: skip
    yield prov
    prov.close()


@pytest.fixture
def app_env(settings: Settings, provider: NoopProvider) -> ServiceEnv:
    """noop (the default) plus the haproxy provider as the scale-out API wires it (agents run it)."""
    return ServiceEnv(settings=settings, providers={"noop": provider, "haproxy": HaproxyProvider(active_standby=True)},
                      default_provider="noop")  # fmt: skip


@pytest.fixture
def controller(database: Database) -> Iterator[Controller]:
    yield Controller(database, InProcessBus(), providers=["haproxy"], timing=LOAD_PROOF, max_dead_share=0.5)


def beat(client: TestClient, host: str) -> None:
    assert client.put(f"/internal/agents/{host}", json={}, headers=H).status_code == 200


def count(db: Database, model: Any) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def amps(db: Database, lb_id: str) -> dict[str, m.Amphora]:
    """role → the live instance record."""
    with db.read() as s:
        rows = s.scalars(select(m.Amphora).where(m.Amphora.loadbalancer_id == lb_id)).all()
        return {a.role: a for a in rows}


def lb_row(db: Database, lb_id: str) -> m.LoadBalancer:
    with db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        return lb


def host_of(db: Database, amp: m.Amphora) -> str:
    with db.read() as s:
        return str(s.scalar(select(m.Agent.host).where(m.Agent.id == amp.agent_id)))


def create(client: TestClient, subnet: str, **extra: Any) -> str:
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, "provider": "haproxy", **extra}})
    assert r.status_code == 201, r.text
    return str(r.json()["loadbalancer"]["id"])


def spec(client: TestClient, host: str, lb_id: str) -> dict[str, Any] | None:
    r = client.get(f"/internal/agents/{host}/loadbalancers/{lb_id}", headers=H)
    assert r.status_code == 200, r.text
    return r.json()["loadbalancer"]  # type: ignore[no-any-return]


def assigned(client: TestClient, host: str) -> dict[str, int]:
    return dict(client.get(f"/internal/agents/{host}/assigned", headers=H).json()["loadbalancers"])


def applied(client: TestClient, host: str, lb_id: str, gen: int, ok: bool = True) -> bool:
    body = {"generation": gen, "ok": ok, "message": None if ok else "refused by the test"}
    r = client.post(f"/internal/agents/{host}/loadbalancers/{lb_id}/applied", json=body, headers=H)
    assert r.status_code == 200, r.text
    return bool(r.json()["accepted"])


def report(client: TestClient, host: str, lb_id: str, amp_id: str, epoch: int, state: str, healthy: bool) -> bool:
    r = client.post(f"/internal/agents/{host}/loadbalancers/{lb_id}/instances/{amp_id}",
                    json={"epoch": epoch, "vrrp_state": state, "healthy": healthy}, headers=H)  # fmt: skip
    assert r.status_code == 200, r.text
    return bool(r.json()["accepted"])


def placed_pair(client: TestClient, database: Database, controller: Controller, hosts: str = "abc",
                **extra: Any) -> str:  # fmt: skip
    for h in hosts:
        beat(client, h)
    lb_id = create(client, make_subnet(database), **extra)
    controller.tick()
    return lb_id


def instances(db: Database, lb_id: str) -> tuple[dict[str, m.Amphora], dict[str, str]]:
    """role → the live instance record, and role → the host of its agent."""
    pair = amps(db, lb_id)
    return pair, {role: host_of(db, a) for role, a in pair.items()}


def apply_all(client: TestClient, db: Database, lb_id: str, hosts: Iterable[str]) -> int:
    """Each of ``hosts`` reports the LB's current generation applied; returns that generation."""
    gen = lb_row(db, lb_id).generation
    for h in hosts:
        applied(client, h, lb_id, gen)
    return gen


# --------------------------------------------------------------------------- topology and instances


def test_pair_records_ports_and_group(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database)
    ports = count(database, m.Port)
    lb_id = create(client, subnet)
    lb = lb_row(database, lb_id)
    assert lb.topology == "ACTIVE_STANDBY" and lb.agent_id is None
    pair = amps(database, lb_id)
    assert set(pair) == {"MASTER", "BACKUP"}
    master, backup = pair["MASTER"], pair["BACKUP"]
    assert (master.vrrp_priority, backup.vrrp_priority) == (100, 90)
    assert master.vrrp_id == backup.vrrp_id and 1 <= int(master.vrrp_id or 0) <= 255
    assert master.agent_id is None and master.status == "BOOTING" and master.ha_ip == lb.vip_address
    assert count(database, m.Port) == ports + 3
    with database.read() as s:
        vp = [s.get(m.Port, a.vrrp_port_id) for a in (master, backup)]
        assert all(p is not None and p.fixed_ips[0].subnet_id == subnet for p in vp)
        assert len({p.mac_address for p in vp if p}) == 2 and master.vrrp_ip != backup.vrrp_ip != lb.vip_address
        assert master.vrrp_interface == "lbv-" + str(master.vrrp_port_id).replace("-", "")[:11]
    # a second pair on the same network gets another virtual router id
    other = amps(database, create(client, subnet))["MASTER"]
    assert other.vrrp_id != master.vrrp_id
    # delete (the agents' part done by hand): ports and group go with it
    with database.write() as s:
        assert lifecycle.complete(s, lb_id, lb_row(database, lb_id).generation, ok=True)
    assert client.delete(f"{LB}/{lb_id}").status_code == 204
    with database.write() as s:
        assert lifecycle.complete(s, lb_id, lb_row(database, lb_id).generation, ok=True)
    assert count(database, m.Port) == ports + 3  # only the second LB's
    with database.read() as s:
        assert s.get(m.VrrpGroup, lb_id) is None


def test_virtual_router_ids_exhausted_is_409(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database)
    with database.write() as s:
        net = s.scalar(select(m.Subnet.network_id).where(m.Subnet.id == subnet))
        lb_ids = []
        for vrid in range(1, 256):  # 255 groups already on this network (rows only: the id space is the point)
            lb = m.LoadBalancer(id=m.new_id(), project_id="x", provisioning_status="ACTIVE", operating_status="ONLINE")
            s.add(lb)
            lb_ids.append(lb.id)
            s.flush()
            s.add(m.VrrpGroup(load_balancer_id=lb.id, vrrp_group_name="g", vip_network_id=str(net), vrrp_id=vrid))
    ports, lbs = count(database, m.Port), count(database, m.LoadBalancer)
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, "provider": "haproxy"}})
    assert_fault(r, 409, "No free VRRP virtual router id")
    assert (count(database, m.Port), count(database, m.LoadBalancer)) == (ports, lbs)


def test_subnet_too_small_for_a_pair_is_409(client: TestClient, database: Database) -> None:
    subnet = make_subnet(database, cidr="10.9.0.0/29")  # gateway + 5 addresses
    create(client, subnet)  # VIP + 2
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, "provider": "haproxy"}})
    assert_fault(r, 409)


def test_single_flavor_overrides_the_default(client: TestClient, database: Database) -> None:
    fp = client.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": "single", "provider_name": "amphora", "flavor_data": json.dumps({"loadbalancer_topology": "SINGLE"})}})
    fl = client.post("/v2/lbaas/flavors", json={"flavor": {"name": "s", "flavor_profile_id": fp.json()["flavorprofile"]["id"]}})
    lb_id = create(client, make_subnet(database), flavor_id=fl.json()["flavor"]["id"])
    assert lb_row(database, lb_id).topology == "SINGLE" and amps(database, lb_id) == {}
    bad = client.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": {
        "name": "bad", "provider_name": "amphora", "flavor_data": json.dumps({"loadbalancer_topology": "TRIPLE"})}})
    assert_fault(bad, 400, "loadbalancer_topology")  # fmt: skip


def test_embedded_haproxy_refuses_active_standby(client: TestClient, database: Database, app_env: ServiceEnv) -> None:
    """``lbaas serve`` has one agent: its haproxy provider refuses the create (501), nothing is left behind."""
    app_env.providers["haproxy"] = HaproxyProvider(active_standby=False)
    subnet = make_subnet(database)
    ports, lbs = count(database, m.Port), count(database, m.LoadBalancer)
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, "provider": "haproxy"}})
    assert "scale-out" in assert_fault(r, 501, "ACTIVE_STANDBY")
    assert (count(database, m.Port), count(database, m.LoadBalancer), count(database, m.Amphora)) == (ports, lbs, 0)


def test_noop_provider_shows_both_instances(client: TestClient, database: Database, provider: NoopProvider) -> None:
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": make_subnet(database)}})
    lb_id = r.json()["loadbalancer"]["id"]
    settle(provider)
    listed = client.get(f"{AMP}?loadbalancer_id={lb_id}", headers=ADMIN).json()["amphorae"]
    assert sorted(a["role"] for a in listed) == ["BACKUP", "MASTER"]
    assert {a["status"] for a in listed} == {"ALLOCATED"}


# --------------------------------------------------------------------------- placement, specs, reports


def test_pair_is_placed_on_two_agents_and_each_reads_its_own_spec(
    client: TestClient, database: Database, controller: Controller
) -> None:
    lb_id = placed_pair(client, database, controller)
    pair, hosts = instances(database, lb_id)
    assert hosts["MASTER"] != hosts["BACKUP"]
    third = ({"a", "b", "c"} - set(hosts.values())).pop()
    assert all(a.binding_epoch == 1 and a.compute_id == a.agent_id for a in pair.values())  # compute_id: the agent
    gen = lb_row(database, lb_id).generation
    for role, host in hosts.items():
        assert assigned(client, host) == {lb_id: gen}
        sp = spec(client, host, lb_id)
        assert sp is not None and sp["topology"] == "ACTIVE_STANDBY"
        me, peer = pair[role], pair["BACKUP" if role == "MASTER" else "MASTER"]
        assert sp["binding_epoch"] == me.binding_epoch
        assert sp["vrrp"]["amphora_id"] == me.id and sp["vrrp"]["role"] == role
        assert sp["vrrp"]["priority"] == me.vrrp_priority and sp["vrrp"]["virtual_router_id"] == me.vrrp_id
        assert sp["vrrp"]["address"] == me.vrrp_ip and sp["vrrp"]["port_id"] == me.vrrp_port_id
        assert sp["vrrp"]["peers"] == [{"amphora_id": peer.id, "address": peer.vrrp_ip}]
    assert assigned(client, third) == {} and spec(client, third, lb_id) is None
    # the LB is ACTIVE only once both instances applied its generation
    assert applied(client, hosts["MASTER"], lb_id, gen)
    assert lb_row(database, lb_id).provisioning_status == "PENDING_CREATE"
    assert not applied(client, third, lb_id, gen)  # not its LB: changes nothing
    assert applied(client, hosts["BACKUP"], lb_id, gen)
    assert lb_row(database, lb_id).provisioning_status == "ACTIVE"
    assert {a.status for a in amps(database, lb_id).values()} == {"ALLOCATED"}
    assert controller.tick().instance_moves == []  # converged
    # a change refused by one instance fails at once; the other's success does not undo that, the
    # refusing instance's own later success (its agent retried) does
    r = client.post("/v2/lbaas/listeners", json={"listener": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                                                              "protocol_port": 80}})  # fmt: skip
    assert r.status_code == 201, r.text
    gen = lb_row(database, lb_id).generation
    assert applied(client, hosts["BACKUP"], lb_id, gen, ok=False)
    assert amps(database, lb_id)["BACKUP"].status == "ERROR"
    assert applied(client, hosts["MASTER"], lb_id, gen)
    with database.read() as s:
        li = s.get(m.Listener, r.json()["listener"]["id"])
        assert li is not None and li.provisioning_status == "ERROR"
    assert lb_row(database, lb_id).provisioning_status == "ACTIVE" and lb_row(database, lb_id).status_message
    assert applied(client, hosts["BACKUP"], lb_id, gen)
    assert amps(database, lb_id)["BACKUP"].status == "ALLOCATED"
    lb = lb_row(database, lb_id)
    assert (lb.provisioning_status, lb.status_message) == ("ACTIVE", None)


def test_pair_waits_for_two_agents(client: TestClient, database: Database, controller: Controller) -> None:
    lb_id = placed_pair(client, database, controller, hosts="a")
    assert all(a.agent_id is None for a in amps(database, lb_id).values())  # both or neither
    beat(client, "b")
    controller.tick()
    assert {host_of(database, a) for a in amps(database, lb_id).values()} == {"a", "b"}


def test_instance_reports_statuses_and_fencing(client: TestClient, database: Database, controller: Controller) -> None:
    lb_id = placed_pair(client, database, controller)
    pair, hosts = instances(database, lb_id)
    hm, hb = hosts["MASTER"], hosts["BACKUP"]
    apply_all(client, database, lb_id, (hm, hb))
    m_id, b_id = pair["MASTER"].id, pair["BACKUP"].id
    assert report(client, hm, lb_id, m_id, 1, "MASTER", True)
    assert report(client, hb, lb_id, b_id, 1, "BACKUP", True)
    assert not report(client, hm, lb_id, m_id, 0, "FAULT", False)  # a stale epoch changes nothing
    assert not report(client, hb, lb_id, m_id, 1, "FAULT", False)  # not that host's instance
    ops = f"/internal/agents/{{}}/loadbalancers/{lb_id}/operating"
    client.post(ops.format(hm), json={"statuses": {lb_id: "ONLINE"}}, headers=H)
    client.post(ops.format(hb), json={"statuses": {lb_id: "OFFLINE"}}, headers=H)  # the BACKUP's: not counted
    assert lb_row(database, lb_id).operating_status == "ONLINE"
    assert report(client, hb, lb_id, b_id, 1, "FAULT", False)
    assert lb_row(database, lb_id).operating_status == "DEGRADED"  # exactly one healthy
    with database.read() as s:
        b = s.get(m.Amphora, b_id)
        assert b is not None and (b.vrrp_state, b.healthy) == ("FAULT", False) and b.measured_at is not None
    assert report(client, hb, lb_id, b_id, 1, "BACKUP", True)
    assert lb_row(database, lb_id).operating_status == "ONLINE"
    # the MASTER dies, the BACKUP takes over: its statuses count now
    report(client, hm, lb_id, m_id, 1, "FAULT", False)
    report(client, hb, lb_id, b_id, 1, "MASTER", True)
    client.post(ops.format(hb), json={"statuses": {lb_id: "ONLINE"}}, headers=H)
    assert lb_row(database, lb_id).operating_status == "DEGRADED"
    shown = client.get(f"{AMP}?loadbalancer_id={lb_id}", headers=ADMIN).json()["amphorae"]
    assert len(shown) == 2 and all(AMP_FIELDS <= set(a) for a in shown)
    by_role = {a["role"]: a for a in shown}
    assert by_role["MASTER"]["compute_id"] == pair["MASTER"].agent_id != by_role["BACKUP"]["compute_id"]
    for role, host in (("MASTER", hm), ("BACKUP", hb)):  # compute_id is the agent's id; the agent API names its host
        agent = client.get(f"/v2/octavia/agents/{by_role[role]['compute_id']}", headers=ADMIN).json()["agent"]
        assert agent["host"] == host
    assert by_role["MASTER"]["vrrp_priority"] == 100 and by_role["BACKUP"]["vrrp_priority"] == 90
    assert by_role["MASTER"]["vrrp_id"] == by_role["BACKUP"]["vrrp_id"] == pair["MASTER"].vrrp_id
    assert by_role["MASTER"]["vrrp_port_id"] == pair["MASTER"].vrrp_port_id
    assert by_role["BACKUP"]["ha_port_id"] == lb_row(database, lb_id).vip_port_id


def test_dead_agent_moves_only_its_instance(client: TestClient, database: Database, controller: Controller) -> None:
    lb_id = placed_pair(client, database, controller)
    before, hosts = instances(database, lb_id)
    hm, hb = hosts["MASTER"], hosts["BACKUP"]
    third = ({"a", "b", "c"} - {hm, hb}).pop()
    gen = apply_all(client, database, lb_id, (hm, hb))
    report(client, hb, lb_id, before["BACKUP"].id, 1, "BACKUP", True)
    with database.write() as s:  # the MASTER's agent goes silent
        s.execute(update(m.Agent).where(m.Agent.host == hm).values(last_heartbeat=dt.datetime(2020, 1, 1)))
    p = controller.tick()  # the BACKUP still hears the MASTER (a partition from the API only): no rebuild
    assert p.instance_moves == [] and p.witnessed == [lb_id]
    report(client, hb, lb_id, before["BACKUP"].id, 1, "MASTER", True)  # it took the VIP: the MASTER is gone
    p = controller.tick()
    assert [mv.failover for mv in p.instance_moves] == [True]
    after = amps(database, lb_id)
    new_master, survivor = after["MASTER"], after["BACKUP"]
    assert new_master.id != before["MASTER"].id and new_master.binding_epoch == 2  # a new record, a new epoch
    assert host_of(database, new_master) == third and new_master.vrrp_port_id == before["MASTER"].vrrp_port_id
    assert (survivor.id, survivor.binding_epoch, survivor.agent_id) == (
        before["BACKUP"].id, 1, before["BACKUP"].agent_id)  # fmt: skip
    lb = lb_row(database, lb_id)
    assert lb.generation == gen + 1 and lb.provisioning_status == "PENDING_UPDATE"
    assert assigned(client, hm) == {} and spec(client, hm, lb_id) is None  # the dead host removes its copy
    assert not applied(client, hm, lb_id, lb.generation)  # and its reports count no more
    assert not report(client, hm, lb_id, before["MASTER"].id, 1, "MASTER", True)
    assert spec(client, hb, lb_id)["vrrp"]["peers"][0]["amphora_id"] == new_master.id  # type: ignore[index]
    applied(client, third, lb_id, lb.generation)
    assert lb_row(database, lb_id).provisioning_status == "PENDING_UPDATE"  # the survivor re-reads its peer
    applied(client, hb, lb_id, lb.generation)
    assert lb_row(database, lb_id).provisioning_status == "ACTIVE"


def test_breaker_holds_pairs(client: TestClient, database: Database, controller: Controller) -> None:
    lb_id = placed_pair(client, database, controller)
    with database.write() as s:  # two of three agents silent: the breaker opens
        s.execute(update(m.Agent).where(m.Agent.host.in_(["a", "b"])).values(last_heartbeat=dt.datetime(2020, 1, 1)))
    p = controller.tick()
    assert lb_id in p.held and p.instance_moves == []


def test_amphora_and_lb_failover_rebuild_one_instance_at_a_time(
    client: TestClient, database: Database, controller: Controller
) -> None:
    lb_id = placed_pair(client, database, controller)
    before, hosts = instances(database, lb_id)
    apply_all(client, database, lb_id, (hosts["MASTER"], hosts["BACKUP"]))
    r = client.put(f"{AMP}/{before['BACKUP'].id}/failover", headers=ADMIN)
    assert r.status_code == 202, r.text
    controller.tick()
    after = amps(database, lb_id)
    assert after["MASTER"].id == before["MASTER"].id and after["BACKUP"].id != before["BACKUP"].id
    assert host_of(database, after["BACKUP"]) not in (hosts["MASTER"], hosts["BACKUP"])
    apply_all(client, database, lb_id, {host_of(database, a) for a in after.values()})
    assert lb_row(database, lb_id).provisioning_status == "ACTIVE"
    # LB failover: both, one at a time
    assert client.put(f"{LB}/{lb_id}/failover", headers=ADMIN).status_code == 202
    first = controller.tick().instance_moves
    assert len(first) == 1
    assert controller.tick().instance_moves == []  # the second waits for the first to run
    cur, cur_hosts = instances(database, lb_id)
    apply_all(client, database, lb_id, cur_hosts.values())
    assert lb_row(database, lb_id).provisioning_status == "PENDING_UPDATE"  # one still marked
    assert len(controller.tick().instance_moves) == 1
    cur, cur_hosts = instances(database, lb_id)
    apply_all(client, database, lb_id, cur_hosts.values())
    assert lb_row(database, lb_id).provisioning_status == "ACTIVE"
    assert not {a.id for a in cur.values()} & {a.id for a in after.values()}


# --------------------------------------------------------------------------- the agent's two source/reporter pairs


def _round_trip(lb_id: str, database: Database, controller: Controller, pairs: dict[str, tuple[Any, Any]]) -> None:
    """Both agents of the pair read their own spec and report through ``pairs`` (host → source, reporter);
    the third reads nothing."""
    controller.tick()
    amps_ = amps(database, lb_id)
    hosts = {role: host_of(database, a) for role, a in amps_.items()}
    third = (set(pairs) - set(hosts.values())).pop()
    gen = lb_row(database, lb_id).generation
    for role, host in hosts.items():
        source, reporter = pairs[host]
        assert source.assigned() == {lb_id: gen}
        sp = source.get(lb_id)
        assert sp is not None and sp.vrrp is not None and sp.vrrp.amphora_id == amps_[role].id
        assert sp.binding_epoch == amps_[role].binding_epoch
        reporter.applied(lb_id, gen, ok=True)
        reporter.instance(lb_id, sp.vrrp.amphora_id, epoch=sp.binding_epoch, vrrp_state=role, healthy=True)
        reporter.instance(lb_id, sp.vrrp.amphora_id, epoch=sp.binding_epoch, vrrp_state=role, healthy=True)  # again
        reporter.operating(lb_id, {lb_id: "ONLINE"})
    assert pairs[third][0].assigned() == {} and pairs[third][0].get(lb_id) is None
    lb = lb_row(database, lb_id)
    assert (lb.provisioning_status, lb.operating_status) == ("ACTIVE", "ONLINE")
    after = amps(database, lb_id)
    assert {r: (a.vrrp_state, a.healthy) for r, a in after.items()} == {"MASTER": ("MASTER", True),
                                                                       "BACKUP": ("BACKUP", True)}  # fmt: skip
    _, reporter = pairs[hosts["BACKUP"]]
    reporter.instance(lb_id, after["BACKUP"].id, epoch=after["BACKUP"].binding_epoch, vrrp_state="FAULT", healthy=False)
    assert lb_row(database, lb_id).operating_status == "DEGRADED"
    reporter.instance(lb_id, after["BACKUP"].id, epoch=0, vrrp_state="BACKUP", healthy=True)  # stale epoch
    assert lb_row(database, lb_id).operating_status == "DEGRADED"


def test_api_source_and_reporter_for_a_pair(client: TestClient, database: Database, controller: Controller) -> None:
    from lbaas.agent.remote import ApiReporter, ApiSource

    client.headers[SECRET_HEADER] = SECRET
    pairs = {h: (ApiSource(client, host=h), ApiReporter(client, host=h)) for h in "abc"}  # type: ignore[arg-type]
    for source, _ in pairs.values():
        source.heartbeat()
    _round_trip(create(client, make_subnet(database)), database, controller, pairs)


def test_db_source_and_reporter_for_a_pair(client: TestClient, database: Database, controller: Controller) -> None:
    """The embedded pair (DbSource, DbReporter) serves a pair too (bound by a controller), and never
    claims an ACTIVE_STANDBY LB for itself."""
    from lbaas.agent.reporter import DbReporter
    from lbaas.agent.source import DbSource

    pairs = {h: (DbSource(database, host=h, providers=["haproxy"]), DbReporter(database, host=h)) for h in "abc"}
    lb_id = create(client, make_subnet(database))
    assert pairs["a"][0].assigned() == {} and pairs["a"][0].get(lb_id) is None  # not claimed
    assert all(a.agent_id is None for a in amps(database, lb_id).values())
    _round_trip(lb_id, database, controller, pairs)


def test_lb_status_follows_its_listeners_when_the_pair_heals(
    client: TestClient, database: Database, controller: Controller
) -> None:
    """A pair back to two healthy instances does not hide a listener the MASTER measured DEGRADED."""
    lb_id = placed_pair(client, database, controller, "ab", listeners=[{"protocol": "HTTP", "protocol_port": 80}])
    pair, hosts = instances(database, lb_id)
    hm, hb = hosts["MASTER"], hosts["BACKUP"]
    apply_all(client, database, lb_id, (hm, hb))
    with database.read() as s:
        listener_id = s.scalar(select(m.Listener.id).where(m.Listener.loadbalancer_id == lb_id))
    report(client, hm, lb_id, pair["MASTER"].id, 1, "MASTER", True)
    report(client, hb, lb_id, pair["BACKUP"].id, 1, "BACKUP", False)
    client.post(f"/internal/agents/{hm}/loadbalancers/{lb_id}/operating",
                json={"statuses": {lb_id: "DEGRADED", str(listener_id): "DEGRADED"}}, headers=H)  # fmt: skip
    assert lb_row(database, lb_id).operating_status == "DEGRADED"
    report(client, hb, lb_id, pair["BACKUP"].id, 1, "BACKUP", True)
    assert lb_row(database, lb_id).operating_status == "DEGRADED"  # the listener's, not the pair's


def test_new_authority_brings_its_own_statuses(client: TestClient, database: Database, controller: Controller) -> None:
    """Agents report changed statuses only, so the BACKUP's view is kept (not applied) and applied as a
    whole when it becomes the instance that counts (the VIP moved to it)."""
    lb_id = placed_pair(client, database, controller, "ab", listeners=[{"protocol": "HTTP", "protocol_port": 80}])
    pair, hosts = instances(database, lb_id)
    hm, hb = hosts["MASTER"], hosts["BACKUP"]
    with database.read() as s:
        listener_id = str(s.scalar(select(m.Listener.id).where(m.Listener.loadbalancer_id == lb_id)))
    report(client, hm, lb_id, pair["MASTER"].id, 1, "MASTER", True)
    report(client, hb, lb_id, pair["BACKUP"].id, 1, "BACKUP", True)
    ops = f"/internal/agents/{{}}/loadbalancers/{lb_id}/operating"
    client.post(ops.format(hm), json={"statuses": {lb_id: "ONLINE", listener_id: "ONLINE"}}, headers=H)
    client.post(ops.format(hb), json={"statuses": {lb_id: "DEGRADED", listener_id: "DEGRADED"}}, headers=H)

    def listener_status() -> str:
        with database.read() as s:
            li = s.get(m.Listener, listener_id)
            assert li is not None
            return li.operating_status

    assert listener_status() == "ONLINE"  # the BACKUP's view is not applied
    report(client, hm, lb_id, pair["MASTER"].id, 1, "FAULT", False)
    report(client, hb, lb_id, pair["BACKUP"].id, 1, "MASTER", True)  # the VIP moved: its view counts now
    assert listener_status() == "DEGRADED"
    assert lb_row(database, lb_id).operating_status == "DEGRADED"
