"""Load balancer wire shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from lbaas.api.schemas.common import Body, IdRef, IpAddr, Name, ProjectId, RowModel, Tags, UpdateBody, Uuid
from lbaas.api.schemas.graph import GraphListener, GraphPool


class AdditionalVip(Body):
    subnet_id: Uuid
    ip_address: IpAddr | None = None
    port_id: Uuid | None = None


class LoadBalancerCreate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool = True
    vip_address: IpAddr | None = None
    vip_port_id: Uuid | None = None
    vip_subnet_id: Uuid | None = None
    vip_network_id: Uuid | None = None
    vip_qos_policy_id: Uuid | None = None
    additional_vips: list[AdditionalVip] | None = None
    vip_sg_ids: list[Uuid] | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    provider: Name | None = Field(default=None, max_length=64)
    flavor_id: Uuid | None = None
    availability_zone: Name | None = None
    tags: Tags | None = None
    listeners: list[GraphListener] | None = None
    pools: list[GraphPool] | None = None


class LoadBalancerUpdate(UpdateBody):
    NOT_NULL = ("admin_state_up",)

    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    vip_qos_policy_id: Uuid | None = None
    vip_sg_ids: list[Uuid] | None = None
    tags: Tags | None = None


class LoadBalancerRootCreate(Body):
    loadbalancer: LoadBalancerCreate


class LoadBalancerRootUpdate(Body):
    loadbalancer: LoadBalancerUpdate


class LoadBalancerResponse(RowModel):
    id: str
    name: str | None
    description: str | None
    admin_state_up: bool
    provisioning_status: str
    operating_status: str
    project_id: str
    created_at: dt.datetime
    updated_at: dt.datetime | None
    vip_address: str | None
    vip_port_id: str | None
    vip_subnet_id: str | None
    vip_network_id: str | None
    vip_qos_policy_id: str | None
    additional_vips: list[Any] = []
    vip_sg_ids: list[str] | None = None
    vip_vnic_type: str = "normal"
    listeners: list[IdRef]
    pools: list[IdRef]
    provider: str
    flavor_id: str | None
    availability_zone: str | None
    tags: list[str]


def view(row: Any) -> dict[str, Any]:
    return LoadBalancerResponse.model_validate(row).model_dump(mode="json")
