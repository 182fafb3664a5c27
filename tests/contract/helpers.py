"""Helpers for contract tests: build a network and subnet, an ACTIVE load balancer, wait on the noop provider.

``Cloud`` bundles the test client, the held noop provider and the database, and knows how to build
each Octavia resource to ACTIVE in one call, so tests read as the scenario they check.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from lbaas.db import lifecycle
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider

API = "/v2/lbaas"
LB = f"{API}/loadbalancers"
LISTENERS = f"{API}/listeners"
POOLS = f"{API}/pools"
HMS = f"{API}/healthmonitors"
POLICIES = f"{API}/l7policies"
FAULT_KEYS = {"faultcode", "faultstring", "debuginfo"}
# Strings that must never reach a config file: line breaks, NUL (PostgreSQL cannot even store it), DEL.
CONTROL_STRINGS = ["bad\nname", "bad\rname", "nul\x00name", "del\x7fname"]


def make_subnet(
    db: Database, *, cidr: str = "10.0.0.0/24", project_id: str = "lbaas-default", network_id: str | None = None
) -> str:
    """A subnet (on a new network, or on ``network_id``) straight in the DB (the Neutron API has its own tests)."""
    net = ipaddress.ip_network(cidr)
    with db.write() as s:
        if network_id is None:
            n = m.Network(id=m.new_id(), project_id=project_id, name="net")
            s.add(n)
            s.flush()
            network_id = n.id
        hosts = list(net.hosts()) if net.num_addresses <= 65536 else [net[1], net[2], net[1000]]
        sn = m.Subnet(
            id=m.new_id(),
            project_id=project_id,
            network_id=network_id,
            ip_version=net.version,
            cidr=str(net),
            gateway_ip=str(hosts[0]),
            allocation_pools=[{"start": str(hosts[1]), "end": str(hosts[-1])}],
        )
        s.add(sn)
        s.flush()
        return sn.id


def settle(provider: NoopProvider) -> None:
    """Let the noop provider complete everything pending, then hold again."""
    provider.release()
    provider.wait_idle()
    provider.hold()


def active_lb(client: TestClient, provider: NoopProvider, subnet_id: str, **extra: Any) -> dict[str, Any]:
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet_id, **extra}})
    assert r.status_code == 201, r.text
    settle(provider)
    return dict(r.json()["loadbalancer"])


def assert_fault(r: httpx.Response, status: int, contains: str | None = None) -> str:
    """An Octavia fault body with the expected code (and text); returns the fault string."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    body = r.json()
    assert set(body) == FAULT_KEYS, body
    assert body["debuginfo"] is None
    if contains is not None:
        assert contains in body["faultstring"], body["faultstring"]
    return str(body["faultstring"])


def db_snapshot(db: Database) -> dict[str, list[str]]:
    """Every row of every table, as sortable text: equal snapshots mean nothing was written."""
    with db.read() as s:
        return {
            table.name: sorted(repr(tuple(row)) for row in s.execute(select(table)))
            for table in m.Base.metadata.sorted_tables
            if table.name != "api_token"  # the test client's tokens, made on first use
        }


@dataclass
class Cloud:
    client: TestClient
    provider: NoopProvider
    db: Database
    subnet_id: str

    # ------------------------------------------------------------------ plumbing

    def settle(self) -> None:
        settle(self.provider)

    def post(self, path: str, key: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        r = self.client.post(path, json={key: body}, headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json()[key])

    def put(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.client.put(path, json={key: body})
        assert r.status_code == 200, r.text
        return dict(r.json()[key])

    def get(self, path: str, key: str) -> dict[str, Any]:
        r = self.client.get(path)
        assert r.status_code == 200, r.text
        return dict(r.json()[key])

    def delete(self, path: str) -> None:
        r = self.client.delete(path)
        assert r.status_code == 204, r.text

    def gone(self, path: str) -> None:
        assert_fault(self.client.get(path), 404)

    def lb_status(self, lb_id: str) -> str:
        return str(self.get(f"{LB}/{lb_id}", "loadbalancer")["provisioning_status"])

    def status_of(self, path: str, key: str) -> str:
        return str(self.get(path, key)["provisioning_status"])

    def fail(self, lb_id: str) -> None:
        """The provider reports that it could not apply the LB's current generation."""
        with self.db.write() as s:
            lb = s.get(m.LoadBalancer, lb_id)
            assert lb is not None
            assert lifecycle.complete(s, lb_id, lb.generation, ok=False, message="boom")

    def rejected(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        status: int = 400,
        contains: str | None = None,
        lb_id: str | None = None,
    ) -> str:
        """The request fails with an Octavia fault and changes nothing (and the LB stays ACTIVE)."""
        before = db_snapshot(self.db)
        r = self.client.request(method, path, json=body)
        fault = assert_fault(r, status, contains)
        assert db_snapshot(self.db) == before, "a rejected request changed the database"
        if lb_id is not None:
            assert self.lb_status(lb_id) == "ACTIVE"
        return fault

    # ------------------------------------------------------------------ builders (each returns the ACTIVE object)

    def lb(self, **extra: Any) -> dict[str, Any]:
        lb = self.post(LB, "loadbalancer", {"vip_subnet_id": self.subnet_id, **extra})
        self.settle()
        return self.get(f"{LB}/{lb['id']}", "loadbalancer")

    def listener(self, lb_id: str, protocol: str = "HTTP", port: int = 80, **extra: Any) -> dict[str, Any]:
        body = {"loadbalancer_id": lb_id, "protocol": protocol, "protocol_port": port, **extra}
        li = self.post(LISTENERS, "listener", body)
        self.settle()
        return self.get(f"{LISTENERS}/{li['id']}", "listener")

    def pool(self, protocol: str = "HTTP", algorithm: str = "ROUND_ROBIN", **extra: Any) -> dict[str, Any]:
        pool = self.post(POOLS, "pool", {"protocol": protocol, "lb_algorithm": algorithm, **extra})
        self.settle()
        return self.get(f"{POOLS}/{pool['id']}", "pool")

    def member(self, pool_id: str, address: str = "10.0.0.10", port: int = 80, **extra: Any) -> dict[str, Any]:
        path = f"{POOLS}/{pool_id}/members"
        mb = self.post(path, "member", {"address": address, "protocol_port": port, **extra})
        self.settle()
        return self.get(f"{path}/{mb['id']}", "member")

    def hm(self, pool_id: str, type: str = "HTTP", **extra: Any) -> dict[str, Any]:
        body = {"pool_id": pool_id, "type": type, "delay": 5, "timeout": 3, "max_retries": 2, **extra}
        hm = self.post(HMS, "healthmonitor", body)
        self.settle()
        return self.get(f"{HMS}/{hm['id']}", "healthmonitor")

    def policy(self, listener_id: str, action: str = "REJECT", **extra: Any) -> dict[str, Any]:
        pol = self.post(POLICIES, "l7policy", {"listener_id": listener_id, "action": action, **extra})
        self.settle()
        return self.get(f"{POLICIES}/{pol['id']}", "l7policy")

    def rule(self, policy_id: str, **extra: Any) -> dict[str, Any]:
        body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **extra}
        path = f"{POLICIES}/{policy_id}/rules"
        rule = self.post(path, "rule", body)
        self.settle()
        return self.get(f"{path}/{rule['id']}", "rule")

    def http_stack(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """An ACTIVE LB with an HTTP:80 listener and its default HTTP pool."""
        lb = self.lb()
        li = self.listener(lb["id"])
        pool = self.pool(listener_id=li["id"])
        return lb, self.get(f"{LISTENERS}/{li['id']}", "listener"), pool
