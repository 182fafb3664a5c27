"""Many clients against a real server: the LB lock gives only 201/409, never 500, and loses or doubles nothing.

A uvicorn server runs in a background thread on 127.0.0.1 (a free port in 19900–19949) with a noop
provider that is *not* held, so each accepted change completes on its own and the LB returns to ACTIVE.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from lbaas.api.app import create_app
from lbaas.config import Settings
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services.env import ServiceEnv
from lbaas.tools.procs import free_port
from tests.contract.helpers import LB, LISTENERS, POOLS, make_subnet

CLIENTS = 50
DEADLINE = 120.0  # seconds for the whole crowd


@dataclass
class Server:
    url: str
    db: Database
    provider: NoopProvider

    def wait_active(self, lb_id: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status = httpx.get(f"{self.url}{LB}/{lb_id}").json()["loadbalancer"]["provisioning_status"]
            if status == "ACTIVE":
                return
            time.sleep(0.02)
        raise AssertionError(f"LB {lb_id} did not return to ACTIVE")


@pytest.fixture
def auth_strategy() -> str:
    """These tests drive their own uvicorn with plain HTTP clients: noauth (every caller is admin)."""
    return "noauth"

@pytest.fixture
def server(database: Database, settings: Settings) -> Iterator[Server]:
    provider = NoopProvider(database, names=frozenset({"noop", "amphora", "octavia"}))  # not held
    database.on_commit = provider.nudge
    env = ServiceEnv(settings=settings, providers={"noop": provider}, default_provider="noop")
    port = free_port(range(19900, 19950))
    config = uvicorn.Config(create_app(db=database, env=env), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, limit_concurrency=200)  # fmt: skip
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="uvicorn-test", daemon=True)
    thread.start()
    end = time.monotonic() + 10
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Server(url=f"http://127.0.0.1:{port}", db=database, provider=provider)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        provider.close()


def _post(http: httpx.Client, path: str, key: str, body: dict[str, Any]) -> str:
    r = http.post(path, json={key: body})
    assert r.status_code == 201, r.text
    return str(r.json()[key]["id"])


@pytest.fixture
def target(server: Server) -> tuple[str, str]:
    """(lb_id, pool_id): an ACTIVE LB with an HTTP listener and its default pool."""
    subnet = make_subnet(server.db)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        lb = _post(http, LB, "loadbalancer", {"vip_subnet_id": subnet})
        server.wait_active(lb)
        li = _post(http, LISTENERS, "listener", {"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80})
        server.wait_active(lb)
        pool = _post(http, POOLS, "pool", {"listener_id": li, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
        server.wait_active(lb)
    return lb, pool


def _crowd(server: Server, pool_id: str, addresses: list[str]) -> tuple[Counter[int], list[str]]:
    """Each client keeps POSTing its member until it gets a 201 or a duplicate 409; returns codes and created ids."""
    codes: Counter[int] = Counter()
    created: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(addresses))
    end = time.monotonic() + DEADLINE

    def client(address: str) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            start.wait()
            while time.monotonic() < end:
                r = http.post(f"{POOLS}/{pool_id}/members", json={"member": {"address": address, "protocol_port": 80}})
                with lock:
                    codes[r.status_code] += 1
                    if r.status_code == 201:
                        created.append(r.json()["member"]["id"])
                if r.status_code == 201 or (r.status_code == 409 and "already using" in r.text):
                    return
                assert r.status_code == 409, r.text
                time.sleep(random.uniform(0.01, 0.05))  # clients back off and retry, as real ones do

    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        for f in [pool.submit(client, a) for a in addresses]:
            f.result()
    return codes, created


def _db_members(db: Database, pool_id: str) -> list[m.Member]:
    with db.read() as s:
        return list(s.scalars(select(m.Member).where(m.Member.pool_id == pool_id)))


def test_fifty_clients_create_members(server: Server, target: tuple[str, str]) -> None:
    lb, pool = target
    addresses = [f"10.1.{i // 200}.{i % 200 + 1}" for i in range(CLIENTS)]
    codes, created = _crowd(server, pool, addresses)
    assert set(codes) <= {201, 409}, codes
    assert codes[201] == CLIENTS, codes  # everyone got in eventually
    server.wait_active(lb)
    rows = _db_members(server.db, pool)
    assert sorted(r.id for r in rows) == sorted(created)
    assert len({(r.address, r.protocol_port) for r in rows}) == CLIENTS
    assert {r.provisioning_status for r in rows} == {"ACTIVE"}
    listed = httpx.get(f"{server.url}{POOLS}/{pool}/members").json()["members"]
    assert sorted(x["id"] for x in listed) == sorted(created)


def test_racing_for_one_address_creates_one_member(server: Server, target: tuple[str, str]) -> None:
    lb, pool = target
    codes, created = _crowd(server, pool, ["10.2.0.1"] * 20)
    assert set(codes) <= {201, 409}, codes
    assert codes[201] == 1 and len(created) == 1, codes
    server.wait_active(lb)
    assert [r.id for r in _db_members(server.db, pool)] == created


def test_lb_updates_and_member_creates_interleave(server: Server, target: tuple[str, str]) -> None:
    """Writers on the LB itself and on its members share one lock: still only 200/201/409."""
    lb, pool = target
    codes: Counter[int] = Counter()
    stop = threading.Event()

    def renamer() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            i = 0
            while not stop.is_set():
                r = http.put(f"{LB}/{lb}", json={"loadbalancer": {"name": f"n{i}"}})
                codes[r.status_code] += 1
                i += 1
                time.sleep(random.uniform(0.01, 0.05))

    threads = [threading.Thread(target=renamer) for _ in range(5)]
    for t in threads:
        t.start()
    try:
        member_codes, created = _crowd(server, pool, [f"10.3.0.{i + 1}" for i in range(20)])
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert set(codes) <= {200, 409}, codes
    assert set(member_codes) <= {201, 409}, member_codes
    server.wait_active(lb)
    assert sorted(r.id for r in _db_members(server.db, pool)) == sorted(created)
    with server.db.read() as s:
        row = s.get(m.LoadBalancer, lb)
        assert row is not None and row.observed_generation == row.generation


def test_quota_holds_when_clients_create_at_once(server: Server) -> None:
    """The quota check counts, then the create inserts: concurrent creates must not both pass the count."""
    subnet = make_subnet(server.db)
    quota = 3
    r = httpx.put(f"{server.url}/v2/lbaas/quotas/lbaas-default", json={"quota": {"loadbalancer": quota}})
    assert r.status_code in (200, 202), r.text
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(20)

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            start.wait()
            r = http.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet}})
            with lock:
                codes[r.status_code] += 1

    with ThreadPoolExecutor(max_workers=20) as pool:
        for f in [pool.submit(client) for _ in range(20)]:
            f.result()
    with server.db.read() as s:
        count = len(list(s.scalars(select(m.LoadBalancer.id))))
    assert codes == Counter({201: quota, 403: 20 - quota}), codes
    assert count == quota
