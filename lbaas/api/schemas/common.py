"""Shared wire types: safe strings, ids, tags, the response base that reads rows directly."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from lbaas.domain import addresses
from lbaas.domain.text import HAPROXY_TOKEN, has_control_chars


def _safe(v: str) -> str:
    if has_control_chars(v):
        raise ValueError("control characters (CR, LF, …) are not allowed")
    return v


def _uuid(v: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise ValueError("must be a UUID") from None


def _ip(v: str) -> str:
    try:
        return addresses.canonical(v)
    except addresses.AddressError as exc:
        raise ValueError(str(exc)) from None


def _ip_as_written(v: str) -> str:
    """Checked like _ip, but kept as the caller wrote it (Octavia echoes member and VIP addresses)."""
    _ip(v)
    return v


def _cidr(v: str) -> str:
    try:
        return addresses.parse_network(v).compressed
    except addresses.AddressError as exc:
        raise ValueError(str(exc)) from None


def _token(v: str) -> str:
    if not HAPROXY_TOKEN.match(v):
        raise ValueError("must be a token of letters, digits and !&*+-.^_`|~ (1 to 255 characters)")
    return v


SafeStr = Annotated[str, AfterValidator(_safe)]
Name = Annotated[str, StringConstraints(max_length=255), AfterValidator(_safe)]
Ref = Annotated[str, StringConstraints(max_length=255), AfterValidator(_safe)]
Uuid = Annotated[str, AfterValidator(_uuid)]
ProjectId = Annotated[str, StringConstraints(max_length=36), AfterValidator(_safe)]
IpAddr = Annotated[str, AfterValidator(_ip)]
# Member and VIP addresses: validated and compared in canonical form, echoed as written.
IpAddrAsWritten = Annotated[str, StringConstraints(max_length=64), AfterValidator(_ip_as_written)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]
Tag = Annotated[str, StringConstraints(max_length=255), AfterValidator(_safe)]
Tags = list[Tag]
Timeout = Annotated[int, Field(ge=0, le=2073600000)]
# HAProxy's timers hold at most 2^31-1 ms: 2,147,483 s is the longest delay/timeout it can express.
HAPROXY_MAX_S = 2147483
# A name that HAProxy reads bare (header and cookie names, L7 rule keys): RFC 9110 token characters
# minus those HAProxy's config parser gives a meaning to (' quote, # comment, $ variable, % format).
Token = Annotated[str, AfterValidator(_token)]


class Body(BaseModel):
    """Request bodies: unknown attributes are refused, as Octavia's wsme types do."""

    model_config = ConfigDict(extra="forbid")


class UpdateBody(Body):
    """PUT bodies: an omitted field is left alone and null clears a field, except those in NOT_NULL (400)."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _refuse_nulls(self) -> Self:
        nulls = [f for f in self.NOT_NULL if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self


class IdRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str


class RowModel(BaseModel):
    """Responses: read straight from ORM rows (column names are field names)."""

    model_config = ConfigDict(from_attributes=True)

    @field_validator("tags", mode="before", check_fields=False)
    @classmethod
    def _tags(cls, v: Any) -> list[str]:
        return list(v or [])
