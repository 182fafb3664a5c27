"""The ``haproxy`` provider: each load balancer is an HAProxy in its own network namespace on an agent.

The provider itself holds no state and does no I/O: ``validate`` refuses what the data plane cannot
run yet (501, with a clear message), and ``nudge`` hands LB ids to whatever delivers them to agents
(the in-process agent in the embedded build, the bus in scale-out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lbaas.domain import errors
from lbaas.domain.spec import LoadBalancerSpec
from lbaas.providers.base import AZ_CAPABILITIES, FLAVOR_CAPABILITIES


def _unsupported(what: str) -> errors.NotImplementedFeature:
    return errors.NotImplementedFeature(f"Provider 'haproxy' does not support a requested option: {what}")


class HaproxyProvider:
    name = "haproxy"
    description = "HAProxy in a network namespace per load balancer (one-arm) on lbaas agents."

    def __init__(self, deliver: Callable[[Iterable[str]], None] | None = None, *, active_standby: bool = False) -> None:
        self._deliver = deliver
        # ACTIVE_STANDBY needs two agents: the scale-out wiring has them, the embedded build has one
        self._active_standby = active_standby

    def connect(self, deliver: Callable[[Iterable[str]], None]) -> None:
        self._deliver = deliver

    def validate(self, lb: LoadBalancerSpec) -> None:
        if lb.topology == "ACTIVE_STANDBY" and not self._active_standby:
            raise _unsupported(
                "loadbalancer_topology ACTIVE_STANDBY needs the scale-out deployment (lbaas api, controller and "
                "at least two agents); the embedded `lbaas serve` has one agent."
            )
        if lb.topology not in ("SINGLE", "ACTIVE_STANDBY"):
            raise _unsupported(f"loadbalancer_topology {lb.topology}.")
        for li in lb.listeners:
            if li.protocol in ("UDP", "SCTP"):
                raise _unsupported(f"{li.protocol} listeners (not implemented yet).")
        for pool in lb.pools:
            if pool.lb_algorithm == "SOURCE_IP_PORT":
                raise _unsupported("lb_algorithm SOURCE_IP_PORT.")
            if pool.protocol in ("UDP", "SCTP"):
                raise _unsupported(f"{pool.protocol} pools (not implemented yet).")
            hm = pool.healthmonitor
            if hm is not None and hm.type in ("UDP-CONNECT", "SCTP"):
                raise _unsupported(f"{hm.type} health monitors.")

    def nudge(self, lb_ids: Iterable[str]) -> None:
        if self._deliver is not None:
            self._deliver(lb_ids)

    def flavor_capabilities(self) -> list[dict[str, str]]:
        return FLAVOR_CAPABILITIES

    def availability_zone_capabilities(self) -> list[dict[str, str]]:
        return AZ_CAPABILITIES
