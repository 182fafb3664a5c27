"""The provider interface: coarse, on whole load balancers, because agents converge whole LBs anyway.

The API never waits for a provider. A committed change nudges the provider with the LB id; the
provider (or its agents) applies the desired state and reports through ``db.lifecycle.complete``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from lbaas.domain.spec import LoadBalancerSpec


class Provider(Protocol):
    name: str
    description: str

    def validate(self, lb: LoadBalancerSpec) -> None:
        """Raise NotImplementedFeature (501) for anything this provider cannot run."""

    def nudge(self, lb_ids: Iterable[str]) -> None:
        """Reconcile these LBs soon (their desired state is already committed)."""

    def flavor_capabilities(self) -> list[dict[str, str]]: ...

    def availability_zone_capabilities(self) -> list[dict[str, str]]: ...


FLAVOR_CAPABILITIES = [
    {"name": "loadbalancer_topology", "description": "The load balancer topology. One of: SINGLE - One agent instance per load balancer. ACTIVE_STANDBY - Two instances per load balancer on two agents with the VIP held by VRRP."},  # noqa: E501
]
AZ_CAPABILITIES = [
    {"name": "compute_zone", "description": "The availability zone of the agents that run the load balancer."},
    {
        "name": "management_network",
        "description": "The management network ID for the amphora (accepted for Octavia compatibility; "
        "lbaas agents have no management network so it changes nothing).",
    },
]
