"""Floating IPs: always none, in Neutron's shapes (Ansible's loadbalancer module lists them by port_id)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.contract.neutron import fault, network, port


def test_list_is_empty_with_any_filter(client: TestClient) -> None:
    p = port(client, network(client)["id"])
    for prefix in ("/v2.0", "/v2"):
        assert client.get(f"{prefix}/floatingips").json() == {"floatingips": []}
        r = client.get(f"{prefix}/floatingips", params={"port_id": p["id"], "fields": "id"})
        assert r.status_code == 200 and r.json() == {"floatingips": []}
    assert client.get("/v2.0/floatingips.json").json() == {"floatingips": []}


def test_show_is_neutrons_not_found(client: TestClient) -> None:
    msg = fault(client.get("/v2.0/floatingips/5a4b0a56-3f32-4d5b-bf3f-1f0b0f2b7c11"), 404, "FloatingIPNotFound")
    assert msg == "Floating IP 5a4b0a56-3f32-4d5b-bf3f-1f0b0f2b7c11 could not be found"


def test_bad_paging_is_a_neutron_fault(client: TestClient) -> None:
    fault(client.get("/v2.0/floatingips", params={"limit": "x"}), 400)
