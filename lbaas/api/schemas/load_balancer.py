"""Load balancer wire shapes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from lbaas.api.schemas.common import Body, IdRef, IpAddrAsWritten, Name, ProjectId, RowModel, Tags, UpdateBody, Uuid
from lbaas.api.schemas.graph import GraphListener, GraphPool
from lbaas.db.rows import LbChildren


class AdditionalVip(Body):
    subnet_id: Uuid
    ip_address: IpAddrAsWritten | None = None
    port_id: Uuid | None = None


class LoadBalancerCreate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool = True
    vip_address: IpAddrAsWritten | None = None
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


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def row_view(r: Mapping[str, Any], children: LbChildren) -> dict[str, Any]:
    """``view`` of a plain row (``lbaas.db.rows``, column name → value): the same dict, built directly
    (a list page of ten is ~20x cheaper than validating each row through LoadBalancerResponse).
    tests/unit/test_api_row_views.py checks they agree."""
    return {
        "id": r["id"],
        "name": r["name"],
        "description": r["description"],
        "admin_state_up": bool(r["admin_state_up"]),
        "provisioning_status": r["provisioning_status"],
        "operating_status": r["operating_status"],
        "project_id": r["project_id"],
        "created_at": _iso(r["created_at"]),
        "updated_at": _iso(r["updated_at"]),
        "vip_address": r["vip_address"],
        "vip_port_id": r["vip_port_id"],
        "vip_subnet_id": r["vip_subnet_id"],
        "vip_network_id": r["vip_network_id"],
        "vip_qos_policy_id": r["vip_qos_policy_id"],
        "additional_vips": [],
        "vip_sg_ids": None,
        "vip_vnic_type": "normal",
        "listeners": [{"id": i} for i in children.listeners],
        "pools": [{"id": i} for i in children.pools],
        "provider": r["provider"],
        "flavor_id": r["flavor_id"],
        "availability_zone": r["availability_zone"],
        "tags": list(children.tags),
    }
