"""Concurrency proof (issue 4): 20 clients create and delete load balancers and members against two
API processes for 60 s; afterwards the database, the rendered configs and the running HAProxy
processes agree exactly, nothing is left in PENDING_* and no namespace is orphaned.

Real processes throughout: PostgreSQL (a database of its own), RabbitMQ (an exchange prefix of its
own), two ``lbaas api`` processes on two ports (clients alternate between them; the agent uses the
first), one ``lbaas controller`` and ONE real ``lbaas agent`` (real namespaces, real HAProxy) with its
own state directory. The final comparison is ``lbaas.tools.consistency.check_consistency``.

409 (pending / immutable) and 403 (quota) are legitimate answers and are retried; any 5xx or a
transport error is a failure. Everything is removed at the end, even on failure: LBs through the API,
then by force by the ids in our state directory and the ids our clients ever created (processes in
those namespaces by pid, the namespaces), our bridge, processes by pid, the database, the exchanges.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pika
import pytest
from sqlalchemy import create_engine, text

from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.netns.base import bridge_name, ns_name
from lbaas.bus.amqp import exchanges
from lbaas.db.migrate import upgrade
from lbaas.tools.consistency import check_consistency, haproxy_masters, pending_rows
from lbaas.tools.harness import dataplane_available, port_open
from tests.conftest import PG_ADMIN_URL, _pg_available

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.timeout(400)]

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
REPO = Path(__file__).resolve().parents[2]
PORTS = range(19300, 19400)
CLIENTS = 20
DURATION = float(os.environ.get("LBC_DURATION", "60"))
QUIESCE_TIMEOUT = 120.0
MAX_LBS_PER_CLIENT = 2
MAX_MEMBERS_PER_POOL = 4
LB_QUOTA = 35  # below CLIENTS * MAX_LBS_PER_CLIENT: quota refusals are part of the mix
HOST = "lbc-agent"
# The agent's periodic resync repairs anything, eventually; kept longer than the whole run by default so
# that a change whose nudge was lost, or a race that only the resync repairs, shows as a failure.
RESYNC = float(os.environ.get("LBC_RESYNC", "600"))


def _broker_up() -> bool:
    return port_open(5672)


def _free_ports(n: int) -> list[int]:
    out = []
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        out.append(port)
        if len(out) == n:
            return out
    raise RuntimeError("no free ports in 19300-19399")


class Cluster:
    def __init__(self, tmp: Path, db_url: str, prefix: str, ports: list[int]) -> None:
        self.tmp, self.db_url, self.prefix = tmp, db_url, prefix
        self.endpoints = [f"http://127.0.0.1:{p}" for p in ports]
        self.state_dir = tmp / "agent"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.engine = create_engine(db_url)
        self.http = httpx.Client(base_url=self.endpoints[0], timeout=30)
        self.secret = "lbc-" + uuid.uuid4().hex
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "LBAAS_DATABASE_URL": db_url,
            "LBAAS_AMQP_URL": AMQP,
            "LBAAS_AMQP_PREFIX": prefix,
            "LBAAS_INTERNAL_SECRET": self.secret,
            # A loaded 2-core machine: no failover because a heartbeat came late.
            "LBAAS_AGENT_DOWN_TIME": "30",
            "LBAAS_HEARTBEAT_INTERVAL": "1",
        }
        self.network_ids: list[str] = []
        self.created: set[str] = set()  # every LB id our clients were given

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child)
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "lbaas.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )

    def stop_all(self) -> None:
        order = sorted(
            self.procs, key=lambda n: ("agent", "controller").index(n) if n in ("agent", "controller") else 2
        )
        for name in order:  # the agent first: it would only log failed calls to stopped APIs
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            if name == "agent":
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            del self.procs[name]

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def state_ids(self) -> set[str]:
        root = self.state_dir / "lb"
        return {p.name for p in root.iterdir()} if root.is_dir() else set()


# ------------------------------------------------------------------------------------------ clients


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self.failures: list[str] = []
        self.created: set[str] = set()

    def add(self, op: str, status: str, detail: str = "") -> None:
        with self.lock:
            self.counts[(op, status)] += 1
            if status.startswith("5") or status == "error":
                self.failures.append(f"{op} → {status}: {detail[:300]}")

    def table(self) -> str:
        ops = sorted({op for op, _ in self.counts})
        lines = []
        for op in ops:
            by = {st: n for (o, st), n in self.counts.items() if o == op}
            lines.append(f"  {op:16} " + "  ".join(f"{st}:{n}" for st, n in sorted(by.items())))
        return "\n".join(lines)


LEGIT = {200, 201, 202, 204, 403, 404, 409}


class Worker(threading.Thread):
    """One client: keeps up to MAX_LBS_PER_CLIENT LBs and churns them and their members."""

    def __init__(self, n: int, endpoints: list[str], subnet_id: str, totals: Totals, until: float) -> None:
        super().__init__(name=f"lbc-client-{n}", daemon=True)
        self.n = n
        self.rng = random.Random(n * 7919 + int(time.time()))
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: otherwise a request
        # sent just as the server closes the idle connection is reset (a client-side race, not an API fault).
        limits = httpx.Limits(keepalive_expiry=1.0)
        self.clients = [httpx.Client(base_url=e, timeout=60, limits=limits) for e in endpoints]
        self.calls = 0
        self.subnet_id = subnet_id
        self.totals = totals
        self.until = until
        self.lbs: dict[str, str | None] = {}  # lb id → pool id (None until known)
        self.members: dict[str, list[str]] = {}  # pool id → member ids
        self.addr = 0

    def call(self, op: str, method: str, path: str, body: Any = None) -> httpx.Response | None:
        client = self.clients[self.calls % len(self.clients)]  # alternate between the API processes
        self.calls += 1
        try:
            r = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.totals.add(op, "error", f"{method} {path}: {exc!r}")
            return None
        self.totals.add(op, str(r.status_code), f"{method} {path}: {r.text}")
        if r.status_code not in LEGIT and r.status_code < 500:
            self.totals.failures.append(f"{op} → unexpected {r.status_code}: {r.text[:300]}")
        return r

    def member_address(self) -> str:
        self.addr += 1
        return f"10.241.{100 + self.n}.{self.addr % 250 + 1}"

    def create_lb(self) -> None:
        port = self.rng.choice((80, 8080, 443))
        members = [{"address": self.member_address(), "protocol_port": 80} for _ in range(self.rng.randint(0, 2))]
        if self.rng.random() < 0.7:  # fully populated, one POST
            body = {
                "loadbalancer": {
                    "vip_subnet_id": self.subnet_id,
                    "name": f"lbc-{self.n}",
                    "listeners": [
                        {
                            "protocol": "HTTP",
                            "protocol_port": port,
                            "default_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members},
                        }
                    ],
                }
            }
            r = self.call("create_lb_full", "POST", "/v2/lbaas/loadbalancers", body)
            if r is not None and r.status_code == 201:
                lb = r.json()["loadbalancer"]
                self.totals.created.add(lb["id"])
                pool_id = lb["pools"][0]["id"] if lb.get("pools") else None
                self.lbs[lb["id"]] = pool_id
                if pool_id:
                    self.members[pool_id] = [mb["id"] for mb in self._pool_members(pool_id)]
            return
        r = self.call(
            "create_lb", "POST", "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": self.subnet_id, "name": f"lbc-{self.n}"}},
        )  # fmt: skip
        if r is None or r.status_code != 201:
            return
        lb_id = r.json()["loadbalancer"]["id"]
        self.totals.created.add(lb_id)
        self.lbs[lb_id] = None
        # Stepwise: listener, then pool on it (each waits out the LB's PENDING_* with 409s).
        listener_id = self.retry(
            "create_listener", "POST", "/v2/lbaas/listeners",
            {"listener": {"loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": port}}, "listener",
        )  # fmt: skip
        if listener_id is None:
            return
        pool_id = self.retry(
            "create_pool", "POST", "/v2/lbaas/pools",
            {"pool": {"listener_id": listener_id, "protocol": "TCP", "lb_algorithm": "LEAST_CONNECTIONS"}}, "pool",
        )  # fmt: skip
        if pool_id is not None:
            self.lbs[lb_id] = pool_id
            self.members[pool_id] = []

    def _pool_members(self, pool_id: str) -> list[dict[str, Any]]:
        r = self.call("list_members", "GET", f"/v2/lbaas/pools/{pool_id}/members")
        return list(r.json()["members"]) if r is not None and r.status_code == 200 else []

    def retry(self, op: str, method: str, path: str, body: Any, key: str) -> str | None:
        while time.monotonic() < self.until:
            r = self.call(op, method, path, body)
            if r is None or r.status_code >= 500:
                return None
            if r.status_code == 201:
                return str(r.json()[key]["id"])
            if r.status_code != 409:
                return None
            time.sleep(0.1 + self.rng.random() * 0.2)
        return None

    def persist(self, op: str, method: str, path: str, body: Any = None, tries: int = 6) -> httpx.Response | None:
        """Like a real client waiting for ACTIVE: retry a 409 (pending) a few times after a pause."""
        r = None
        for _ in range(tries):
            r = self.call(op, method, path, body)
            if r is None or r.status_code != 409 or time.monotonic() > self.until:
                return r
            time.sleep(0.3 + self.rng.random() * 0.4)
        return r

    def add_member(self) -> None:
        pools = [p for p in self.lbs.values() if p is not None and len(self.members.get(p, [])) < MAX_MEMBERS_PER_POOL]
        if not pools:
            return
        pool_id = self.rng.choice(pools)
        body = {"member": {"address": self.member_address(), "protocol_port": self.rng.choice((80, 8080))}}
        r = self.persist("add_member", "POST", f"/v2/lbaas/pools/{pool_id}/members", body)
        if r is not None and r.status_code == 201:
            self.members.setdefault(pool_id, []).append(r.json()["member"]["id"])

    def delete_member(self) -> None:
        pools = [p for p in self.lbs.values() if p is not None and self.members.get(p)]
        if not pools:
            return
        pool_id = self.rng.choice(pools)
        member_id = self.rng.choice(self.members[pool_id])
        r = self.persist("delete_member", "DELETE", f"/v2/lbaas/pools/{pool_id}/members/{member_id}")
        if r is not None and r.status_code in (204, 404):
            self.members[pool_id].remove(member_id)

    def delete_lb(self, lb_id: str | None = None) -> None:
        if not self.lbs:
            return
        lb_id = lb_id or self.rng.choice(list(self.lbs))
        r = self.persist("delete_lb", "DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")
        if r is not None and r.status_code in (204, 404):
            pool_id = self.lbs.pop(lb_id)
            self.members.pop(pool_id or "", None)

    def run(self) -> None:
        try:
            while time.monotonic() < self.until:
                roll = self.rng.random()
                if len(self.lbs) < MAX_LBS_PER_CLIENT and roll < 0.35:
                    self.create_lb()
                elif roll < 0.65:
                    self.add_member()
                elif roll < 0.85:
                    self.delete_member()
                else:
                    self.delete_lb()
                time.sleep(self.rng.random() * 0.15)
        except Exception as exc:  # a bug in the client must fail the test, not vanish
            self.totals.failures.append(f"client {self.n} crashed: {exc!r}")
        finally:
            for c in self.clients:
                c.close()


# ------------------------------------------------------------------------------------------ fixture


def _pg_admin_exec(sql: str) -> None:
    eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(sql))
    eng.dispose()


def _force_cleanup(c: Cluster, ids: set[str]) -> None:
    for lb_id in ids | c.state_ids():
        ns = ns_name(lb_id)
        kill_namespace_processes(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    for pids in haproxy_masters([c.state_dir]).values():  # any left outside a namespace
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for net_id in c.network_ids:
        subprocess.run(["ip", "link", "del", bridge_name(net_id)], capture_output=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if (why := dataplane_available()) is not None:
        pytest.skip(why)
    if not _pg_available() or not _broker_up():
        pytest.skip("needs PostgreSQL on :5432 and RabbitMQ on :5672")
    db_name = f"lbaas_cons_{uuid.uuid4().hex[:10]}"
    _pg_admin_exec(f'CREATE DATABASE "{db_name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    prefix = f"lbc{uuid.uuid4().hex[:10]}"
    tmp = Path(f"/tmp/lbc-{uuid.uuid4().hex[:8]}")  # short: HAProxy's socket paths must fit 107 bytes
    tmp.mkdir()
    c = Cluster(tmp, url, prefix, _free_ports(2))
    t0 = time.monotonic()
    try:
        upgrade(url)
        print(f"\nmigrations took {time.monotonic() - t0:.1f}s")
        # Everything starts at once (Python start-up is slow on a loaded machine): the agent retries its
        # heartbeat until an API answers, the controller needs only the database.
        for i, endpoint in enumerate(c.endpoints, start=1):
            c.start(f"api-{i}", "api", "--bind", endpoint.removeprefix("http://"), "--auth-strategy", "noauth", "--log-level", "warning")
        c.start("controller", "controller")
        c.start(
            "agent", "agent", "--host", HOST, "--endpoint", c.endpoints[0],
            "--state-dir", str(c.state_dir), "--resync-interval", str(RESYNC),
        )  # fmt: skip
        for e in c.endpoints:
            _wait(lambda e=e: httpx.get(e + "/", timeout=2).status_code == 200, 60, f"the API at {e}")
        _wait(lambda: any(a["alive"] for a in c.http.get("/v2/octavia/agents").json()["agents"]), 60, "the agent")
        print(f"cluster up after {time.monotonic() - t0:.1f}s")
        yield c
    finally:
        try:
            _delete_everything(c, timeout=60)
        except Exception as exc:  # the forced cleanup below still runs
            print(f"API cleanup failed: {exc}")
        c.stop_all()
        _force_cleanup(c, c.created)
        c.http.close()
        c.engine.dispose()
        _pg_admin_exec(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        try:
            conn = pika.BlockingConnection(pika.URLParameters(AMQP))
            ch = conn.channel()
            for ex in exchanges(prefix):
                ch.exchange_delete(ex)
            conn.close()
        except Exception as exc:
            print(f"exchange cleanup failed: {exc}")
        if os.environ.get("LBC_KEEP_LOGS"):
            for log in tmp.glob("*.log"):
                shutil.copy(log, Path(os.environ["LBC_KEEP_LOGS"]) / log.name)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait(cond: Any, timeout: float, what: str, interval: float = 0.2) -> float:
    t0 = time.monotonic()
    last: Any = None
    while time.monotonic() - t0 < timeout:
        try:
            last = cond()
            if last:
                return time.monotonic() - t0
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _delete_everything(c: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while lbs := c.http.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(lbs)} load balancers left after {timeout}s")
        for lb in lbs:
            if lb["provisioning_status"] != "PENDING_DELETE":
                c.http.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
        time.sleep(0.5)


# ------------------------------------------------------------------------------------------ the test


def test_concurrent_clients_leave_db_configs_and_haproxy_in_agreement(cluster: Cluster) -> None:
    c = cluster
    # One network per two clients: its bridge empties and fills again as they delete and create, so an
    # LB's teardown (which releases an unused bridge) races another LB's plug on that bridge, and two
    # clients allocate VIPs from one subnet at once.
    subnets = []
    for i in range(CLIENTS // 2):
        net = c.http.post("/v2.0/networks", json={"network": {"name": f"lbc-{i}"}}).json()["network"]
        c.network_ids.append(net["id"])
        r = c.http.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": net["id"], "cidr": f"10.241.{i}.0/24", "ip_version": 4, "gateway_ip": None}},
        )
        assert r.status_code == 201, r.text
        subnets.append(r.json()["subnet"]["id"])
    r = c.http.put("/v2/lbaas/quotas/lbaas-default", json={"quota": {"loadbalancer": LB_QUOTA}})
    assert r.status_code in (200, 202), r.text

    totals = Totals()
    totals.created = c.created  # the fixture cleans up by these ids even if the test fails half-way
    workers = [Worker(i, c.endpoints, subnets[i // 2], totals, 0.0) for i in range(CLIENTS)]
    until = time.monotonic() + DURATION
    for w in workers:
        w.until = until
    peak = [0]

    def sample_quota() -> None:  # the quota holds under concurrent creates through both API processes
        while time.monotonic() < until + 5:
            with c.engine.connect() as conn:
                peak[0] = max(peak[0], conn.execute(text("select count(*) from load_balancer")).scalar() or 0)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample_quota, daemon=True)
    sampler.start()
    t_run = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=DURATION + 90)
    sampler.join(timeout=30)
    print(f"\nclients ran {time.monotonic() - t_run:.1f}s; at most {peak[0]} LBs at once (quota {LB_QUOTA})")
    assert not any(w.is_alive() for w in workers), "a client is still running"
    print(f"\n{len(totals.created)} LBs created by {CLIENTS} clients in {DURATION:.0f}s; calls by outcome:")
    print(totals.table())
    assert not totals.failures, "\n".join(totals.failures[:20])
    assert peak[0] <= LB_QUOTA, f"{peak[0]} load balancers existed at once; the quota is {LB_QUOTA}"

    t0 = time.monotonic()
    agents = {HOST: c.state_dir}
    last: list[str] = []

    def quiet() -> bool:
        nonlocal last
        last = pending_rows(c.engine) or check_consistency(c.engine, agents, known_ids=totals.created)
        return not last

    try:
        _wait(quiet, QUIESCE_TIMEOUT, "quiescence", interval=1.0)
    except AssertionError:
        pass
    took = time.monotonic() - t0
    with c.engine.connect() as conn:
        n_lbs = conn.execute(text("select count(*) from load_balancer")).scalar()
        n_members = conn.execute(text("select count(*) from member")).scalar()
    print(f"quiescent and consistent after {took:.1f}s: {n_lbs} LBs, {n_members} members remain")
    assert not last, f"not consistent after {took:.0f}s:\n" + "\n".join(last[:30])
    for name, proc in c.procs.items():
        assert proc.poll() is None, f"{name} died:\n{c.log(name)[-3000:]}"
    for api in ("api-1", "api-2"):  # the agent's internal calls count too: no 5xx anywhere
        assert "unhandled error" not in c.log(api), c.log(api)[-5000:]

    # Deleting what remains leaves nothing at all: no namespace, no state, no HAProxy.
    t_del = time.monotonic()
    _delete_everything(c, timeout=90)
    _wait(
        lambda: not check_consistency(c.engine, agents, known_ids=totals.created) and not c.state_ids(),
        30,
        "every LB gone from the agent",
    )
    assert not haproxy_masters([c.state_dir])
    print(f"deleting the remaining LBs took {time.monotonic() - t_del:.1f}s")
