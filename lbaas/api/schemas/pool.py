"""Pool wire shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from lbaas.api.schemas.common import Body, IdRef, Name, ProjectId, Ref, RowModel, SafeStr, Tags, Token, UpdateBody, Uuid
from lbaas.api.schemas.listener import Alpn, Ciphers, TlsVersion
from lbaas.domain.enums import LbAlgorithm, PoolProtocol, SessionPersistenceType

CookieName = Token  # Octavia: ^[^\s,;\\]+$; HAProxy reads it bare, so its token grammar holds


class SessionPersistence(Body):
    type: SessionPersistenceType
    cookie_name: CookieName | None = None
    persistence_timeout: Annotated[int, Field(ge=0, le=2147483647)] | None = None
    persistence_granularity: Annotated[SafeStr, StringConstraints(max_length=64)] | None = None


class _PoolFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool = True
    session_persistence: SessionPersistence | None = None
    tls_enabled: bool = False
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    tags: Tags | None = None


class PoolCreate(_PoolFields):
    loadbalancer_id: Uuid | None = None
    listener_id: Uuid | None = None
    protocol: PoolProtocol
    lb_algorithm: LbAlgorithm
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class PoolUpdate(UpdateBody):
    NOT_NULL = ("admin_state_up", "lb_algorithm", "tls_enabled")

    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    lb_algorithm: LbAlgorithm | None = None
    session_persistence: SessionPersistence | None = None
    tls_enabled: bool | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    tags: Tags | None = None


class PoolRootCreate(Body):
    pool: PoolCreate


class PoolRootUpdate(Body):
    pool: PoolUpdate


class PoolResponse(RowModel):
    id: str
    name: str | None
    description: str | None
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    protocol: str
    lb_algorithm: str
    session_persistence: dict[str, Any] | None
    project_id: str
    loadbalancers: list[IdRef]
    listeners: list[IdRef]
    created_at: dt.datetime
    updated_at: dt.datetime | None
    healthmonitor_id: str | None
    members: list[IdRef]
    tags: list[str]
    tls_container_ref: str | None
    ca_tls_container_ref: str | None
    crl_container_ref: str | None
    tls_enabled: bool
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None


def view(row: Any) -> dict[str, Any]:
    hm = row.healthmonitor
    listener_ids = {li.id for li in row.listeners}
    listener_ids.update(p.listener_id for p in row.l7policies)
    data = {n: getattr(row, n) for n in PoolResponse.model_fields if hasattr(row, n) and n != "listeners"}
    data.update(
        loadbalancers=[{"id": row.loadbalancer_id}],
        listeners=[{"id": i} for i in sorted(listener_ids)],
        healthmonitor_id=hm.id if hm is not None and hm.provisioning_status != "DELETED" else None,
    )
    return PoolResponse.model_validate(data).model_dump(mode="json")
