"""Helpers for the Neutron contract tests: create resources over the API, read NeutronError faults."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

Client = TestClient | httpx.Client


def fault(r: httpx.Response, status: int, ntype: str | None = None) -> str:
    """Assert a Neutron fault with this status (and type); return its message."""
    assert r.status_code == status, r.text
    err = r.json()["NeutronError"]
    assert set(err) == {"type", "message", "detail"}
    if ntype is not None:
        assert err["type"] == ntype, err
    return str(err["message"])


def network(client: Client, project: str | None = None, **attrs: Any) -> dict[str, Any]:
    headers = {"X-Project-Id": project} if project else {}
    r = client.post("/v2.0/networks", json={"network": {"name": "net", **attrs}}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["network"])


def subnet(
    client: Client, network_id: str, cidr: str = "10.0.0.0/24", project: str | None = None, **attrs: Any
) -> dict[str, Any]:
    headers = {"X-Project-Id": project} if project else {}
    body = {"subnet": {"network_id": network_id, "cidr": cidr, **attrs}}
    r = client.post("/v2.0/subnets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["subnet"])


def port(client: Client, network_id: str, project: str | None = None, **attrs: Any) -> dict[str, Any]:
    headers = {"X-Project-Id": project} if project else {}
    r = client.post("/v2.0/ports", json={"port": {"network_id": network_id, **attrs}}, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["port"])
