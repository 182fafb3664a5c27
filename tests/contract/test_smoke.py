"""A first slice through the API: graph create, noop completion, the status tree, cascade delete."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from tests.contract.helpers import make_subnet, settle


def test_graph_create_to_active_and_cascade(client: TestClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database)
    body = {
        "loadbalancer": {
            "name": "lb1",
            "vip_subnet_id": subnet,
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p1"}}],
            "pools": [
                {
                    "name": "p1",
                    "protocol": "HTTP",
                    "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": "10.0.0.10", "protocol_port": 80}],
                    "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 2},
                }
            ],
        }
    }
    r = client.post("/v2/lbaas/loadbalancers", json=body)
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert lb["vip_address"] == "10.0.0.2"
    assert lb["listeners"][0]["default_pool_id"] == lb["pools"][0]["id"]
    assert r.headers["x-openstack-request-id"].startswith("req-")

    # Pending: children cannot change.
    r = client.post(f"/v2/lbaas/pools/{lb['pools'][0]['id']}/members", json={"member": {"address": "10.0.0.11", "protocol_port": 80}})
    assert r.status_code == 409
    assert r.json()["faultstring"] == f"Load Balancer {lb['id']} is immutable and cannot be updated."

    settle(provider)
    tree = client.get(f"/v2/lbaas/loadbalancers/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE"
    pool = tree["listeners"][0]["pools"][0]
    assert pool["health_monitor"]["type"] == "HTTP"
    assert pool["members"][0]["address"] == "10.0.0.10"

    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 400
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=True").status_code == 204
    assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"] == "PENDING_DELETE"
    settle(provider)
    assert client.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 404
    assert client.get(f"/v2/lbaas/pools/{lb['pools'][0]['id']}").status_code == 404


def test_versions_document(client: TestClient) -> None:
    versions = client.get("/").json()["versions"]
    assert versions[0]["id"] == "v2.0"
    assert [v["status"] for v in versions].count("CURRENT") == 1
    assert versions[-1]["status"] == "CURRENT"
