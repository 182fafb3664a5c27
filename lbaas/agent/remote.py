"""The scale-out agent's view of the API: ``ApiSource`` and ``ApiReporter`` over the internal endpoints.

They satisfy ``DesiredStateSource`` and ``StatusReporter``, so the reconciler cannot tell them from
the database-backed pair of the embedded build. The agent holds no database credentials, only the
API endpoint and the shared secret.

Failure semantics are the point of this module. Only a clear answer from the API changes what runs:
``{"loadbalancer": null}`` means tear down. Any error (connection refused, timeout, 401, 5xx, an
unexpected 404) raises, and the callers keep what runs and retry later (fail-static): the work
queue backs off, the resync skips a round, the heartbeat is simply missed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from lbaas.domain.spec import LoadBalancerSpec

SECRET_HEADER = "X-Lbaas-Agent-Secret"


def make_client(
    endpoint: str, secret: str, *, timeout: float = 3.0, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    return httpx.Client(
        base_url=endpoint.rstrip("/"), headers={SECRET_HEADER: secret}, timeout=timeout, transport=transport
    )


class _Remote:
    def __init__(self, client: httpx.Client, *, host: str) -> None:
        self._client = client
        self.host = host
        self._base = f"/internal/agents/{quote(host, safe='')}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        r = self._client.request(method, self._base + path, json=body)
        r.raise_for_status()
        return r.json()


class ApiSource(_Remote):
    def __init__(
        self,
        client: httpx.Client,
        *,
        host: str,
        availability_zone: str | None = None,
        heartbeat_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(client, host=host)
        self.availability_zone = availability_zone
        self._beats = _Remote(heartbeat_client, host=host) if heartbeat_client is not None else self

    def heartbeat(self) -> None:
        """Creates the agent row on first contact; refreshes last_heartbeat (and the zone) after.
        Sent on ``heartbeat_client`` when given (its own connection and timeout)."""
        self._beats._call("PUT", "", {"availability_zone": self.availability_zone})

    def assigned(self) -> Mapping[str, int]:
        body = self._call("GET", "/assigned")
        return {str(k): int(v) for k, v in body["loadbalancers"].items()}

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        body = self._call("GET", f"/loadbalancers/{quote(lb_id, safe='')}")
        data = body["loadbalancer"]  # KeyError on a body that is not ours: raise, do not tear down
        return None if data is None else LoadBalancerSpec.model_validate(data)


class ApiReporter(_Remote):
    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        self._call(
            "POST",
            f"/loadbalancers/{quote(lb_id, safe='')}/applied",
            {"generation": generation, "ok": ok, "message": message},
        )

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        if statuses:
            self._call("POST", f"/loadbalancers/{quote(lb_id, safe='')}/operating", {"statuses": dict(statuses)})

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        if deltas:
            body = {"deltas": {k: dict(v) for k, v in deltas.items()}}
            self._call("POST", f"/loadbalancers/{quote(lb_id, safe='')}/stats", body)

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        self._call(
            "POST",
            f"/loadbalancers/{quote(lb_id, safe='')}/instances/{quote(amphora_id, safe='')}",
            {"epoch": epoch, "vrrp_state": vrrp_state, "healthy": healthy},
        )
