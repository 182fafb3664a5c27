"""Scale-out end to end with real processes: PostgreSQL, RabbitMQ, two API processes on one port
(SO_REUSEPORT), one controller, three agents with the in-memory data plane (``--fake-dataplane``).

Proven here: scheduling spreads LBs; kill -9 of an agent moves its LBs to live agents (ACTIVE there,
amphora shows the new host) and the restarted agent removes what it no longer owns and takes nothing
back (fencing); a 30 s broker cut loses nothing (changes made meanwhile apply, by resync); a
controller restart loses nothing; two of three agents dying at once trips the circuit breaker
instead of piling everything onto the survivor.

The tests of this module share one cluster and run in file order; each leaves every agent running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from sqlalchemy import create_engine, text

from lbaas.bus.amqp import exchanges
from lbaas.db.migrate import upgrade
from lbaas.tools import simcluster
from lbaas.tools.harness import port_open
from tests.conftest import _drop_pg_db, _make_pg_db, _pg_available

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
SECRET = "e2e-" + uuid.uuid4().hex
HOSTS = ("agent-1", "agent-2", "agent-3")
REPO = Path(__file__).resolve().parents[2]


def _broker_up() -> bool:
    return port_open(5672)


def _free_port() -> int:
    return simcluster.free_port_in(19830, 19850)


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    return simcluster.wait_for(cond, timeout, what, interval=0.2)


class Cluster:
    def __init__(self, tmp: Path, db_url: str, prefix: str, port: int) -> None:
        self.tmp, self.db_url, self.prefix, self.port = tmp, db_url, prefix, port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.engine = create_engine(db_url)
        self.http = httpx.Client(base_url=self.endpoint, timeout=10)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "LBAAS_DATABASE_URL": db_url,
            "LBAAS_AMQP_URL": AMQP,
            "LBAAS_AMQP_PREFIX": prefix,
            "LBAAS_INTERNAL_SECRET": SECRET,
            "LBAAS_AGENT_DOWN_TIME": "3",
            "LBAAS_HEARTBEAT_INTERVAL": "1",
            "LBAAS_FAILOVER_MAX_DEAD_SHARE": "0.5",
        }

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "lbaas.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )

    def start_api(self, name: str) -> None:
        self.start(name, "api", "--bind", f"127.0.0.1:{self.port}", "--auth-strategy", "noauth", "--log-level", "warning")

    def start_controller(self) -> None:
        self.start("controller", "controller")

    def start_agent(self, host: str) -> None:
        self.start(
            host,
            "agent",
            "--host", host,
            "--endpoint", self.endpoint,
            "--state-dir", str(self.tmp / host),
            "--resync-interval", "5",
            "--fake-dataplane",
        )  # fmt: skip

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM if name.startswith("api") else signal.SIGKILL)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    # ------------------------------------------------------------ state

    def bindings(self) -> dict[str, str | None]:
        """lb id → bound agent host."""
        with self.engine.connect() as c:
            rows = c.execute(
                text("select lb.id, a.host from load_balancer lb left join agent a on a.id = lb.agent_id")
            ).all()
        return {lb_id: host for lb_id, host in rows}

    def lb(self, lb_id: str) -> dict[str, Any]:
        r = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        assert r.status_code == 200, r.text
        return dict(r.json()["loadbalancer"])

    def amphora_host(self, lb_id: str) -> str | None:
        amps = self.http.get("/v2/octavia/amphorae", params={"loadbalancer_id": lb_id}).json()["amphorae"]
        if not amps:
            return None
        agent = self.http.get(f"/v2/octavia/agents/{amps[0]['compute_id']}")  # compute_id: the agent's id
        assert agent.status_code == 200, agent.text
        return str(agent.json()["agent"]["host"])

    def settled(self, lb_ids: list[str]) -> bool:
        """Every LB ACTIVE, and its amphora on the agent it is bound to."""
        where = self.bindings()
        return all(
            self.lb(i)["provisioning_status"] == "ACTIVE" and where[i] is not None and self.amphora_host(i) == where[i]
            for i in lb_ids
        )

    def state_ids(self, host: str) -> set[str]:
        root = self.tmp / host / "lb"
        return {p.name for p in root.iterdir()} if root.is_dir() else set()

    def create_lb(self, subnet_id: str, name: str) -> str:
        r = self.http.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet_id, "name": name}})
        assert r.status_code == 201, r.text
        return str(r.json()["loadbalancer"]["id"])

    def breaker(self) -> dict[str, Any]:
        return dict(self.http.get("/v2/octavia/failover_breaker").json()["failover_breaker"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _pg_available() or not _broker_up():
        pytest.skip("needs PostgreSQL on :5432 and RabbitMQ on :5672")
    name, url = _make_pg_db()
    prefix = f"lbaas-test-{uuid.uuid4()}"
    c = Cluster(tmp_path_factory.mktemp("scaleout"), url, prefix, _free_port())
    try:
        upgrade(url)
        c.start_api("api-1")
        c.start_api("api-2")
        wait_for(lambda: c.http.get("/").status_code == 200, 30, "the API")
        c.start_controller()
        for h in HOSTS:
            c.start_agent(h)
        wait_for(
            lambda: sum(a["alive"] for a in c.http.get("/v2/octavia/agents").json()["agents"]) == 3, 30, "3 live agents"
        )
        yield c
    finally:
        c.stop_all()
        c.http.close()
        c.engine.dispose()
        _drop_pg_db(name)
        conn = pika.BlockingConnection(pika.URLParameters(AMQP))
        ch = conn.channel()
        for ex in exchanges(prefix):
            ch.exchange_delete(ex)
        conn.close()


@pytest.fixture(scope="module")
def subnet(cluster: Cluster) -> str:
    net = cluster.http.post("/v2.0/networks", json={"network": {"name": "e2e"}}).json()["network"]
    r = cluster.http.post(
        "/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.77.0.0/24", "ip_version": 4}}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["subnet"]["id"])


@pytest.fixture(scope="module")
def lbs(cluster: Cluster, subnet: str) -> list[str]:
    return [cluster.create_lb(subnet, f"lb-{i}") for i in range(6)]


def test_two_api_processes_share_one_address(cluster: Cluster) -> None:
    assert cluster.procs["api-1"].poll() is None and cluster.procs["api-2"].poll() is None
    assert all(cluster.http.get("/").status_code == 200 for _ in range(20))
    assert cluster.http.get("/internal/agents/x/assigned").status_code == 401  # no secret, no state


def test_scheduling_spreads_lbs_and_amphorae_show_the_host(cluster: Cluster, lbs: list[str]) -> None:
    wait_for(lambda: cluster.settled(lbs), 30, "6 LBs ACTIVE on their agents")
    per_host = [list(cluster.bindings().values()).count(h) for h in HOSTS]
    assert per_host == [2, 2, 2]
    for h in HOSTS:  # each agent built exactly what is bound to it
        assert cluster.state_ids(h) == {i for i, host in cluster.bindings().items() if host == h}
    out = subprocess.run(
        [sys.executable, "-m", "lbaas.cli", "agent", "list", "--endpoint", cluster.endpoint],
        capture_output=True, text=True, check=True, env=cluster.env, cwd=REPO,
    ).stdout  # fmt: skip
    for h in HOSTS:
        assert f"{h}\t-\tALIVE\tTrue\t2\t" in out
    assert "failover breaker: 0 of 3 agents down" in out


def test_agent_kill_fails_over_and_restart_is_fenced(cluster: Cluster, lbs: list[str]) -> None:
    victim = "agent-1"
    before = cluster.bindings()
    mine = sorted(i for i, h in before.items() if h == victim)
    assert len(mine) == 2 and cluster.state_ids(victim) == set(mine)
    t0 = time.monotonic()
    cluster.kill(victim)
    wait_for(lambda: all(cluster.bindings()[i] not in (victim, None) for i in mine), 10, "re-binding")
    wait_for(lambda: cluster.settled(lbs), 10, "ACTIVE on the new agents")
    assert time.monotonic() - t0 < 12
    after = cluster.bindings()
    assert {after[i] for i in mine} <= {"agent-2", "agent-3"}
    assert {i: h for i, h in after.items() if i not in mine} == {i: h for i, h in before.items() if i not in mine}
    assert "failed over from dead agent agent-1" in cluster.log("controller")

    cluster.start_agent(victim)  # same host, same state directory: it must remove what it lost
    wait_for(lambda: cluster.state_ids(victim) == set(), 15, "the restarted agent to tear down moved LBs")
    wait_for(lambda: any(a["host"] == victim and a["alive"] for a in cluster.http.get("/v2/octavia/agents").json()["agents"]), 10, "agent-1 alive")  # fmt: skip
    time.sleep(2)
    assert cluster.bindings() == after  # nothing stolen back
    assert cluster.settled(lbs)


def _nft(*args: str) -> None:
    subprocess.run(["nft", *args], check=True)


def test_broker_outage_loses_nothing(cluster: Cluster, lbs: list[str], subnet: str) -> None:
    table = f"lbaas_test_{uuid.uuid4().hex[:8]}"
    _nft("add", "table", "inet", table)
    try:
        _nft("add", "chain", "inet", table, "out", "{ type filter hook output priority 0 ; }")
        _nft("add", "rule", "inet", table, "out", "oif", "lo", "tcp", "dport", "5672", "drop")
        cut = time.monotonic()
        new = cluster.create_lb(subnet, "during-outage")
        r = cluster.http.put(f"/v2/lbaas/loadbalancers/{lbs[0]}", json={"loadbalancer": {"description": "changed"}})
        assert r.status_code == 200, r.text
        # Heartbeats use the API, so a broker outage is no reason to fail anything over; the
        # agents' periodic resync applies the changes whose nudges were lost.
        wait_for(lambda: cluster.settled([*lbs, new]), 20, "changes applied by resync during the outage")
        assert not cluster.breaker()["tripped"]
        time.sleep(max(0.0, 30 - (time.monotonic() - cut)))
    finally:
        _nft("delete", "table", "inet", table)
    assert wait_for(lambda: all(cluster.log(h).count("consuming nudges") >= 2 for h in ("agent-2", "agent-3")), 30, "consumers reconnected")  # fmt: skip
    r = cluster.http.put(f"/v2/lbaas/loadbalancers/{new}", json={"loadbalancer": {"description": "after"}})
    assert r.status_code == 200
    wait_for(lambda: cluster.settled([*lbs, new]), 10, "changes after the outage")
    lbs.append(new)


def test_controller_restart_loses_nothing(cluster: Cluster, lbs: list[str], subnet: str) -> None:
    before = cluster.bindings()
    cluster.kill("controller")
    new = cluster.create_lb(subnet, "while-no-controller")
    time.sleep(1.5)
    assert cluster.bindings()[new] is None and cluster.lb(new)["provisioning_status"] == "PENDING_CREATE"
    cluster.start_controller()
    wait_for(lambda: cluster.settled([*lbs, new]), 30, "the new LB placed after the restart")
    assert {i: h for i, h in cluster.bindings().items() if i != new} == before  # nothing reshuffled
    lbs.append(new)


def test_circuit_breaker_stops_failover_when_most_agents_die(cluster: Cluster, lbs: list[str]) -> None:
    before = cluster.bindings()
    cluster.kill("agent-2")
    cluster.kill("agent-3")
    b = wait_for(lambda: (lambda x: x if x["tripped"] else None)(cluster.breaker()), 10, "the breaker to open")
    assert b["down"] == 2 and b["fleet"] == 3
    time.sleep(5)  # well past agent_down_time
    assert cluster.bindings() == before  # nothing piled onto agent-1
    assert "failover circuit breaker OPEN" in cluster.log("controller")
    cluster.start_agent("agent-2")
    cluster.start_agent("agent-3")
    wait_for(lambda: not cluster.breaker()["tripped"], 20, "the breaker to close")
    wait_for(lambda: cluster.settled(lbs), 20, "every LB ACTIVE again")
    assert cluster.bindings() == before
