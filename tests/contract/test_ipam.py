"""IPAM: pools in order, exhaustion, reuse after delete, VIPs through IPAM, and no address twice under
concurrent requests through the real app served by uvicorn (SQLite and PostgreSQL)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from lbaas.api.app import create_app
from lbaas.db.session import Database
from lbaas.services.env import ServiceEnv
from tests.contract.neutron import fault, network, port, subnet

# Servers started by tests listen on loopback, on the first free port of this range.
PORT_RANGE = range(19880, 19900)
THREADS = 40


def test_pools_in_order_and_exhaustion(client: TestClient) -> None:
    net = network(client)
    pools = [{"start": "10.0.0.20", "end": "10.0.0.21"}, {"start": "10.0.0.5", "end": "10.0.0.6"}]
    sn = subnet(client, net["id"], "10.0.0.0/24", allocation_pools=pools)
    assert sn["allocation_pools"] == sorted(pools, key=lambda p: ipaddress.ip_address(p["start"]))
    port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.6"}])  # a chosen address inside a pool
    got = [port(client, net["id"])["fixed_ips"][0]["ip_address"] for _ in range(3)]
    assert got == ["10.0.0.5", "10.0.0.20", "10.0.0.21"]
    r = client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}})
    assert fault(r, 409, "IpAddressGenerationFailure") == f"No more IP addresses available on network {net['id']}."
    # Chosen addresses outside the pools still work when the pools are full.
    assert port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.100"}])["fixed_ips"][0]["ip_address"] == "10.0.0.100"


def test_second_ipv4_subnet_when_first_is_full(client: TestClient) -> None:
    net = network(client)
    subnet(client, net["id"], "10.0.0.0/30")  # one usable address: .2 (.1 is the gateway)
    second = subnet(client, net["id"], "10.0.1.0/24")
    assert port(client, net["id"])["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    assert port(client, net["id"])["fixed_ips"] == [{"subnet_id": second["id"], "ip_address": "10.0.1.2"}]


def test_freed_addresses_are_reused(client: TestClient) -> None:
    net = network(client)
    subnet(client, net["id"], "10.0.0.0/29")  # pool .2–.6
    ports = [port(client, net["id"]) for _ in range(5)]
    fault(client.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}), 409, "IpAddressGenerationFailure")
    assert client.delete(f"/v2.0/ports/{ports[2]['id']}").status_code == 204
    assert port(client, net["id"])["fixed_ips"][0]["ip_address"] == ports[2]["fixed_ips"][0]["ip_address"]


def test_vip_allocation_honours_ipam(client: TestClient) -> None:
    net = network(client)
    sn = subnet(client, net["id"], "10.0.0.0/29")
    lb = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"]}})
    assert lb.status_code == 201, lb.text
    assert lb.json()["loadbalancer"]["vip_address"] == "10.0.0.2"
    for _ in range(4):
        port(client, net["id"])
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"]}})
    assert r.status_code == 409 and "No more IP addresses" in r.json()["faultstring"]
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"], "vip_address": "10.0.0.3"}})
    assert r.status_code == 409
    # A refused VIP leaves no port behind.
    assert len(client.get(f"/v2.0/ports?network_id={net['id']}").json()["ports"]) == 5


# --------------------------------------------------------------------------- concurrency


def _loopback_socket() -> socket.socket:
    for candidate in PORT_RANGE:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", candidate))
        except OSError:
            sock.close()
            continue
        return sock
    pytest.skip(f"no free loopback port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")


@pytest.fixture
def auth_strategy() -> str:
    """The served app is driven by plain HTTP clients: noauth (every caller is admin)."""
    return "noauth"

@contextmanager
def served(database: Database, env: ServiceEnv) -> Iterator[str]:
    """The real app under uvicorn in a background thread; yields its base URL."""
    sock = _loopback_socket()
    server = uvicorn.Server(uvicorn.Config(create_app(db=database, env=env), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _race(base: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at once, one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(bodies))
    results: list[httpx.Response | None] = [None] * len(bodies)

    def one(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            results[i] = http.post("/v2.0/ports", json={"port": bodies[i]})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_concurrent_ports_never_share_an_address(
    client: TestClient, database: Database, app_env: ServiceEnv
) -> None:
    net = network(client)
    sn = subnet(client, net["id"], "10.0.0.0/27")  # pool .2–.30: 29 addresses for 40 requests
    pool_size = 29
    with served(database, app_env) as base:
        results = _race(base, [{"network_id": net["id"], "name": f"p{i}"} for i in range(THREADS)])
        codes = sorted(r.status_code for r in results)
        assert codes == [201] * pool_size + [409] * (THREADS - pool_size), codes
        for r in results:
            if r.status_code == 409:
                assert r.json()["NeutronError"]["type"] == "IpAddressGenerationFailure"
        addresses = [r.json()["port"]["fixed_ips"][0]["ip_address"] for r in results if r.status_code == 201]
        assert len(set(addresses)) == pool_size
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network(sn["cidr"]) for a in addresses)
        macs = [r.json()["port"]["mac_address"] for r in results if r.status_code == 201]
        assert len(set(macs)) == pool_size

        # Ten requests for one chosen address on a fresh subnet: exactly one wins.
        other = network(client)
        subnet(client, other["id"], "10.1.0.0/24")
        same = {"network_id": other["id"], "fixed_ips": [{"ip_address": "10.1.0.50"}]}
        codes = sorted(r.status_code for r in _race(base, [same] * 10))
        assert codes == [201] + [409] * 9, codes

    listed = client.get(f"/v2.0/ports?network_id={net['id']}").json()["ports"]
    assert sorted(p["fixed_ips"][0]["ip_address"] for p in listed) == sorted(addresses)
