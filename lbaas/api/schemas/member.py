"""Member wire shapes, including the batch update body."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from lbaas.api.schemas.common import Body, IpAddrAsWritten, Name, Port, ProjectId, RowModel, Tags, UpdateBody, Uuid

Weight = Annotated[int, Field(ge=0, le=256)]


class MemberCreate(Body):
    name: Name | None = None
    address: IpAddrAsWritten
    protocol_port: Port
    weight: Weight = 1
    backup: bool = False
    admin_state_up: bool = True
    subnet_id: Uuid | None = None
    monitor_address: IpAddrAsWritten | None = None
    monitor_port: Port | None = None
    request_sriov: bool = False
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None
    tags: Tags | None = None


class MemberUpdate(UpdateBody):
    NOT_NULL = ("weight", "backup", "admin_state_up")

    name: Name | None = None
    weight: Weight | None = None
    backup: bool | None = None
    admin_state_up: bool | None = None
    monitor_address: IpAddrAsWritten | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


class MemberRootCreate(Body):
    member: MemberCreate


class MemberRootUpdate(Body):
    member: MemberUpdate


class MembersRootBatch(Body):
    members: list[MemberCreate]


class MemberResponse(RowModel):
    id: str
    name: str | None
    operating_status: str
    provisioning_status: str
    admin_state_up: bool
    address: str
    protocol_port: int
    weight: int
    backup: bool
    subnet_id: str | None
    project_id: str
    created_at: dt.datetime
    updated_at: dt.datetime | None
    monitor_address: str | None
    monitor_port: int | None
    tags: list[str]
    vnic_type: str = "normal"


def view(row: Any) -> dict[str, Any]:
    return MemberResponse.model_validate(row).model_dump(mode="json")
