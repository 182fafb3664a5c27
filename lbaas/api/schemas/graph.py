"""The single-call, fully populated load balancer create: listeners, pools and everything under them.

Pools are named; a listener's ``default_pool`` and a policy's ``redirect_pool`` either name a pool of
the top-level ``pools`` list or define one inline.
"""

from __future__ import annotations

from pydantic import model_validator

from lbaas.api.schemas.common import Name, Port, Uuid
from lbaas.api.schemas.health_monitor import GraphHealthMonitor
from lbaas.api.schemas.l7 import GraphL7Rule, _PolicyFields
from lbaas.api.schemas.listener import _ListenerFields
from lbaas.api.schemas.member import MemberCreate
from lbaas.api.schemas.pool import _PoolFields
from lbaas.domain.enums import LbAlgorithm, ListenerProtocol, PoolProtocol


class GraphPool(_PoolFields):
    protocol: PoolProtocol | None = None
    lb_algorithm: LbAlgorithm | None = None
    listener_id: Uuid | None = None
    members: list[MemberCreate] | None = None
    healthmonitor: GraphHealthMonitor | None = None

    @model_validator(mode="after")
    def _complete_or_reference(self) -> GraphPool:
        # A pool is either a reference ({"name": …}) or a full definition with protocol and algorithm.
        if (self.protocol is None) != (self.lb_algorithm is None):
            raise ValueError("a pool needs both protocol and lb_algorithm")
        return self


class GraphL7Policy(_PolicyFields):
    redirect_pool: GraphPool | None = None
    rules: list[GraphL7Rule] | None = None


class GraphListener(_ListenerFields):
    protocol: ListenerProtocol
    protocol_port: Port
    default_pool: GraphPool | None = None
    default_pool_id: Uuid | None = None
    l7policies: list[GraphL7Policy] | None = None
    name: Name | None = None
