"""A small client of our own API (Octavia v2 + the Neutron subset), with the waits a script needs."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx


def fault_message(r: httpx.Response) -> str:
    """The message of an Octavia or Neutron fault body, else the body."""
    try:
        body = r.json()
    except ValueError:
        return r.text[:500]
    if isinstance(body, dict):
        if "faultstring" in body:
            return str(body["faultstring"])
        if isinstance(body.get("NeutronError"), dict):
            return str(body["NeutronError"].get("message", r.text))
    return r.text[:500]


class ApiError(RuntimeError):
    pass


class Client:
    def __init__(self, endpoint: str = "http://127.0.0.1:9876", *, project: str | None = None) -> None:
        headers = {"X-Project-Id": project} if project else {}
        token = os.environ.get("LBAAS_TOKEN") or os.environ.get("OS_TOKEN")
        if token:  # token or keystone mode: the token decides the project
            headers = {"X-Auth-Token": token}
        self.http = httpx.Client(base_url=endpoint.rstrip("/"), headers=headers, timeout=30)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, ok: tuple[int, ...] = ()) -> Any:
        r = self.http.request(method, path, json=body)
        if r.status_code >= 400 and r.status_code not in ok:
            raise ApiError(f"{method} {path} → {r.status_code}: {fault_message(r)}")
        return r.json() if r.content else None

    # Neutron subset -----------------------------------------------------------------------------

    def find_network(self, name_or_id: str) -> dict[str, Any]:
        for key in ("id", "name"):
            nets = self.call("GET", f"/v2.0/networks?{key}={name_or_id}")["networks"]
            if nets:
                return dict(nets[0])
        raise ApiError(f"network {name_or_id} not found")

    def subnet(self, subnet_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v2.0/subnets/{subnet_id}")["subnet"])

    # Octavia ------------------------------------------------------------------------------------

    def lb(self, lb_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return dict(r.json()["loadbalancer"])

    def wait_active(self, lb_id: str, timeout: float = 60) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            lb = self.lb(lb_id)
            if lb is None:
                raise ApiError(f"load balancer {lb_id} disappeared")
            if lb["provisioning_status"] == "ACTIVE":
                return lb
            if lb["provisioning_status"] == "ERROR":
                raise ApiError(f"load balancer {lb_id} went to ERROR")
            time.sleep(0.05)
        raise ApiError(f"load balancer {lb_id} not ACTIVE after {timeout}s")

    def wait_gone(self, lb_id: str, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.lb(lb_id) is None:
                return
            time.sleep(0.05)
        raise ApiError(f"load balancer {lb_id} still there after {timeout}s")

    def status_tree(self, lb_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}/status")["statuses"]["loadbalancer"])
