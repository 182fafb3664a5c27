"""Listener wire shapes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from lbaas.api.schemas.common import (
    Body,
    Cidr,
    IdRef,
    Name,
    Port,
    ProjectId,
    Ref,
    RowModel,
    SafeStr,
    Tags,
    Timeout,
    Token,
    UpdateBody,
    Uuid,
)
from lbaas.domain.enums import ClientAuthentication, ListenerProtocol

TlsVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
Alpn = Literal["h2", "http/1.1", "http/1.0"]
Ciphers = Annotated[str, StringConstraints(max_length=2048, pattern=r"^[A-Za-z0-9\-+!:@=_.]+$")]
HeaderValue = Annotated[SafeStr, StringConstraints(max_length=255)]
Int32 = Annotated[int, Field(ge=0, le=2147483647)]  # Octavia's columns are 32-bit
ConnectionLimit = Annotated[int, Field(ge=-1, le=2147483647)]


class _ListenerFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool = True
    connection_limit: ConnectionLimit = -1
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = None
    client_ca_tls_container_ref: Ref | None = None
    client_authentication: ClientAuthentication = ClientAuthentication.NONE
    client_crl_container_ref: Ref | None = None
    insert_headers: dict[Token, HeaderValue] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    allowed_cidrs: list[Cidr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: Int32 | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    tags: Tags | None = None

    @field_validator("tls_versions")
    @classmethod
    def _versions(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("at least one TLS version is required")
        return v


class ListenerCreate(_ListenerFields):
    loadbalancer_id: Uuid
    protocol: ListenerProtocol
    protocol_port: Port
    default_pool_id: Uuid | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class ListenerUpdate(UpdateBody):
    NOT_NULL = ("admin_state_up", "connection_limit", "client_authentication", "hsts_include_subdomains", "hsts_preload")

    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    connection_limit: ConnectionLimit | None = None
    default_pool_id: Uuid | None = None
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = None
    client_ca_tls_container_ref: Ref | None = None
    client_authentication: ClientAuthentication | None = None
    client_crl_container_ref: Ref | None = None
    insert_headers: dict[Token, HeaderValue] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    allowed_cidrs: list[Cidr] | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: list[TlsVersion] | None = None
    alpn_protocols: list[Alpn] | None = None
    hsts_max_age: Int32 | None = None
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None
    tags: Tags | None = None


class ListenerRootCreate(Body):
    listener: ListenerCreate


class ListenerRootUpdate(Body):
    listener: ListenerUpdate


class ListenerResponse(RowModel):
    id: str
    name: str | None
    description: str | None
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    protocol: str
    protocol_port: int
    connection_limit: int
    default_tls_container_ref: str | None
    sni_container_refs: list[str]
    project_id: str
    default_pool_id: str | None
    l7policies: list[IdRef]
    insert_headers: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime | None
    loadbalancers: list[IdRef]
    timeout_client_data: int
    timeout_member_connect: int
    timeout_member_data: int
    timeout_tcp_inspect: int
    tags: list[str]
    client_ca_tls_container_ref: str | None
    client_authentication: str
    client_crl_container_ref: str | None
    allowed_cidrs: list[str] | None
    tls_ciphers: str | None
    tls_versions: list[str] | None
    alpn_protocols: list[str] | None
    hsts_max_age: int | None
    hsts_include_subdomains: bool
    hsts_preload: bool

    @field_validator("sni_container_refs", "insert_headers", mode="before")
    @classmethod
    def _empty(cls, v: Any, info: Any) -> Any:
        if v is None:
            return {} if info.field_name == "insert_headers" else []
        return v

    @field_validator("allowed_cidrs", mode="before")
    @classmethod
    def _cidrs(cls, v: Any) -> Any:
        return v or None


def view(row: Any) -> dict[str, Any]:
    data = ListenerResponse.model_validate(
        {**_attrs(row), "loadbalancers": [{"id": row.loadbalancer_id}]}
    ).model_dump(mode="json")
    return data


def _attrs(row: Any) -> dict[str, Any]:
    names = set(ListenerResponse.model_fields) - {"loadbalancers"}
    return {n: getattr(row, n) for n in names}
