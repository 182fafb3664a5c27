"""Health monitor wire shapes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from lbaas.api.schemas.common import HAPROXY_MAX_S, Body, IdRef, Name, ProjectId, RowModel, Tags, UpdateBody, Uuid
from lbaas.domain.enums import HealthMonitorType, HttpMethod

UrlPath = Annotated[str, StringConstraints(max_length=2048, pattern=r"^/[^\s\x00-\x1f\x7f]*$")]
_CODES = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")


def _expected_codes(v: str) -> str:
    """``200``, ``200,202`` or ``200-204``: HTTP status codes 200–599 (what HAProxy's ``http-check expect
    status``/``rstatus`` can match), a range ascending."""
    if not _CODES.match(v):
        raise ValueError("must be a code, a comma-separated list of codes or a range like 200-204")
    codes = [int(c) for c in re.split(r"[\s,-]+", v) if c]
    if any(not 200 <= c <= 599 for c in codes):
        raise ValueError("status codes must be between 200 and 599")
    if "-" in v and codes[0] > codes[1]:
        raise ValueError("a range must be ascending")
    return v


ExpectedCodes = Annotated[str, StringConstraints(max_length=64), AfterValidator(_expected_codes)]
# Seconds; HAProxy's timers end at 2^31-1 ms.
Seconds = Annotated[int, Field(ge=0, le=HAPROXY_MAX_S)]
_HOST = re.compile(r"^(?=.{1,253}\.?$)(?:(?!-|[^.]+_)[A-Za-z0-9-_]{1,63}(?<!-)(?:\.|$))+$")


def _domain(v: str) -> str:
    if not _HOST.match(v):
        raise ValueError("must be a valid host name")
    return v


DomainName = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_domain)]
Retries = Annotated[int, Field(ge=1, le=10)]


def _http_version(v: float) -> float:
    if v not in (1.0, 1.1):
        raise ValueError("must be 1.0 or 1.1")
    return v


HttpVersion = Annotated[float, AfterValidator(_http_version)]


class _HmFields(Body):
    name: Name | None = None
    admin_state_up: bool = True
    delay: Seconds
    timeout: Seconds
    max_retries: Retries
    max_retries_down: Retries = 3
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    tags: Tags | None = None


class HealthMonitorCreate(_HmFields):
    pool_id: Uuid
    type: HealthMonitorType
    project_id: ProjectId | None = None
    tenant_id: ProjectId | None = None


class GraphHealthMonitor(_HmFields):
    type: HealthMonitorType


class HealthMonitorUpdate(UpdateBody):
    NOT_NULL = ("admin_state_up", "delay", "timeout", "max_retries", "max_retries_down")

    name: Name | None = None
    admin_state_up: bool | None = None
    delay: Seconds | None = None
    timeout: Seconds | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None
    tags: Tags | None = None


class HealthMonitorRootCreate(Body):
    healthmonitor: HealthMonitorCreate


class HealthMonitorRootUpdate(Body):
    healthmonitor: HealthMonitorUpdate


class HealthMonitorResponse(RowModel):
    id: str
    name: str | None
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    type: str
    delay: int
    timeout: int
    max_retries: int
    max_retries_down: int
    http_method: str | None
    url_path: str | None
    expected_codes: str | None
    http_version: float | None
    domain_name: str | None
    project_id: str
    pools: list[IdRef]
    created_at: dt.datetime
    updated_at: dt.datetime | None
    tags: list[str]


def view(row: Any) -> dict[str, Any]:
    data = {n: getattr(row, n) for n in HealthMonitorResponse.model_fields if n != "pools"}
    data["pools"] = [{"id": row.pool_id}]
    return HealthMonitorResponse.model_validate(data).model_dump(mode="json")
