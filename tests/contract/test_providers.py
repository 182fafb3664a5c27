"""Providers: the list (default provider under its Octavia names, then every enabled one) and the
flavor / availability zone capabilities each provider advertises."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from lbaas.providers.base import AZ_CAPABILITIES, FLAVOR_CAPABILITIES
from tests.contract.personas import persona_headers

MEMBER = persona_headers("member", "p1")
pytestmark = pytest.mark.usefixtures("personas")  # persona_headers() needs it


def _fault(r: Any, code: int, text: str) -> None:
    assert r.status_code == code, r.text
    assert r.json() == {"faultcode": "Client", "faultstring": text, "debuginfo": None}


def test_list(client: TestClient) -> None:
    r = client.get("/v2/lbaas/providers")
    assert r.status_code == 200
    providers = r.json()["providers"]
    assert [p["name"] for p in providers] == ["amphora", "octavia", "noop"]
    assert all(set(p) == {"name", "description"} and p["description"] for p in providers)
    assert "noop" in providers[0]["description"]  # amphora is the default provider, here the noop one
    # Anyone may list providers.
    assert client.get("/v2.0/lbaas/providers", headers=MEMBER).json()["providers"] == providers
    assert client.get("/v2/lbaas/providers?fields=name").json()["providers"] == [
        {"name": "amphora"}, {"name": "octavia"}, {"name": "noop"},
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["amphora", "octavia", "noop"])
def test_capabilities(client: TestClient, name: str) -> None:
    r = client.get(f"/v2/lbaas/providers/{name}/flavor_capabilities")
    assert r.status_code == 200
    assert r.json() == {"flavor_capabilities": FLAVOR_CAPABILITIES}
    names = [c["name"] for c in r.json()["flavor_capabilities"]]
    assert names == ["loadbalancer_topology"]
    r = client.get(f"/v2/lbaas/providers/{name}/availability_zone_capabilities")
    assert r.status_code == 200
    assert r.json() == {"availability_zone_capabilities": AZ_CAPABILITIES}


def test_capability_filters(client: TestClient) -> None:
    url = "/v2/lbaas/providers/amphora/flavor_capabilities"
    assert [c["name"] for c in client.get(f"{url}?name=loadbalancer_topology").json()["flavor_capabilities"]] == [
        "loadbalancer_topology"
    ]
    assert client.get(f"{url}?name=compute_flavor").json() == {"flavor_capabilities": []}
    desc = FLAVOR_CAPABILITIES[0]["description"]
    assert len(client.get(url, params={"description": desc}).json()["flavor_capabilities"]) == 1
    assert client.get(url, params={"description": "nope"}).json()["flavor_capabilities"] == []
    assert client.get(f"{url}?fields=name").json()["flavor_capabilities"] == [{"name": "loadbalancer_topology"}]
    az = "/v2/lbaas/providers/amphora/availability_zone_capabilities"
    assert client.get(f"{az}?name=compute_zone").json()["availability_zone_capabilities"][0]["name"] == "compute_zone"
    assert client.get(f"{az}?name=volume_zone").json()["availability_zone_capabilities"] == []


@pytest.mark.parametrize("kind", ["flavor_capabilities", "availability_zone_capabilities"])
def test_unknown_provider(client: TestClient, kind: str) -> None:
    _fault(client.get(f"/v2/lbaas/providers/bogus/{kind}"), 400, "Provider 'bogus' is not enabled.")


@pytest.mark.parametrize("kind", ["flavor_capabilities", "availability_zone_capabilities"])
def test_capabilities_are_admin_only(client: TestClient, kind: str) -> None:
    _fault(
        client.get(f"/v2/lbaas/providers/amphora/{kind}", headers=MEMBER),
        403,
        "Policy does not allow this request to be performed.",
    )
    r = client.get(f"/v2/lbaas/providers/amphora/{kind}", headers=persona_headers("admin", "p1"))
    assert r.status_code == 200


def test_descriptions_fit_tempest_conf(client: TestClient) -> None:
    """octavia-tempest-plugin reads the expected providers and capabilities from tempest.conf DictOpts
    (``name:description,…``), which cannot quote a comma: a description holding one cannot be checked."""
    providers = client.get("/v2/lbaas/providers").json()["providers"]
    texts = [p["description"] for p in providers] + [c["description"] for c in FLAVOR_CAPABILITIES + AZ_CAPABILITIES]
    assert providers and all("," not in t for t in texts), [t for t in texts if "," in t]
