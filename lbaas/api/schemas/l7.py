"""L7 policy and rule wire shapes (the rule envelope is ``rule``/``rules``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from lbaas.api.schemas.common import Body, IdRef, Name, ProjectId, RowModel, SafeStr, Tags, Token, UpdateBody, Uuid
from lbaas.domain.enums import L7Action, L7CompareType, L7RuleType

Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f]+$")]
Position = Annotated[int, Field(ge=1, le=2147483647)]
RedirectCode = Literal[301, 302, 303, 307, 308]
RuleText = Annotated[SafeStr, StringConstraints(max_length=255)]
# HEADER and COOKIE keys (and SSL_DN_FIELD names) are read bare by HAProxy: its token grammar holds.
RuleKey = Token


class GraphL7Rule(Body):
    type: L7RuleType
    compare_type: L7CompareType
    key: RuleKey | None = None
    value: RuleText
    invert: bool = False
    admin_state_up: bool = True
    tags: Tags | None = None


class L7RuleCreate(GraphL7Rule):
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class L7RuleUpdate(UpdateBody):
    NOT_NULL = ("type", "compare_type", "value", "invert", "admin_state_up")

    type: L7RuleType | None = None
    compare_type: L7CompareType | None = None
    key: RuleKey | None = None
    value: RuleText | None = None
    invert: bool | None = None
    admin_state_up: bool | None = None
    tags: Tags | None = None


class L7RuleRootCreate(Body):
    rule: L7RuleCreate


class L7RuleRootUpdate(Body):
    rule: L7RuleUpdate


class _PolicyFields(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool = True
    action: L7Action | None = None
    position: Position | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    tags: Tags | None = None


class L7PolicyCreate(_PolicyFields):
    listener_id: Uuid
    redirect_pool_id: Uuid | None = None
    rules: list[GraphL7Rule] | None = None
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class L7PolicyUpdate(UpdateBody):
    NOT_NULL = ("admin_state_up", "action", "position")

    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    action: L7Action | None = None
    position: Position | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: Url | None = None
    redirect_prefix: Url | None = None
    redirect_http_code: RedirectCode | None = None
    tags: Tags | None = None


class L7PolicyRootCreate(Body):
    l7policy: L7PolicyCreate


class L7PolicyRootUpdate(Body):
    l7policy: L7PolicyUpdate


class L7PolicyResponse(RowModel):
    id: str
    name: str | None
    description: str | None
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    project_id: str
    action: str
    listener_id: str
    redirect_pool_id: str | None
    redirect_url: str | None
    redirect_prefix: str | None
    redirect_http_code: int | None
    position: int
    rules: list[IdRef]
    created_at: dt.datetime
    updated_at: dt.datetime | None
    tags: list[str]


class L7RuleResponse(RowModel):
    id: str
    type: str
    compare_type: str
    key: str | None
    value: str
    invert: bool
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    project_id: str
    created_at: dt.datetime
    updated_at: dt.datetime | None
    tags: list[str]


def policy_view(row: Any) -> dict[str, Any]:
    return L7PolicyResponse.model_validate(row).model_dump(mode="json")


def rule_view(row: Any) -> dict[str, Any]:
    return L7RuleResponse.model_validate(row).model_dump(mode="json")
