"""The secret store on the wire: Barbican's v1 API subset (secrets, containers, consumers) under /v1.

Shapes and status codes are Barbican's, so python-barbicanclient (``openstack secret …``) works
unchanged with the key-manager endpoint set to lbaas's own. Refs are full URLs built from the
request's base URL. Errors use Barbican's body (``{"code", "title", "description"}``, see
lbaas.api.errors).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.types import ASGIApp, Receive, Scope, Send

from lbaas.api.deps import Ctx, Db, Env
from lbaas.db import models as m
from lbaas.domain import errors
from lbaas.domain.text import has_control_chars
from lbaas.services import secrets as store_mod

router = APIRouter(prefix="/v1")

API_VERSION = {"id": "v1", "status": "CURRENT", "min_version": "1.0", "max_version": "1.1"}
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}]


def version_document(base_url: str) -> dict[str, Any]:
    """What barbicanclient's discovery reads at the endpoint root (``OpenStack-API-Version: key-manager …``)."""
    links = [{"rel": "self", "href": f"{base_url}v1/"}]
    return {"versions": {"values": [{**API_VERSION, "links": links, "media-types": MEDIA_TYPES}]}}


class SecretPathMiddleware:
    """barbicanclient with an endpoint override (``OS_AUTH_TYPE=none``, ``OS_ENDPOINT``) sends its calls
    unversioned and with a trailing slash (``POST /secrets/``): they are served as ``/v1/secrets``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            new = path
            if path.startswith(("/secrets", "/containers")):
                new = "/v1" + path
            if new.startswith(("/v1/secrets", "/v1/containers")) and len(new) > 1 and new.endswith("/"):
                new = new.rstrip("/")
            if new != path:
                scope = {**scope, "path": new, "raw_path": new.encode()}
        await self.app(scope, receive, send)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _ts(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def secret_ref(request: Request, secret_id: str) -> str:
    return f"{_base(request)}/v1/secrets/{secret_id}"


def container_ref(request: Request, container_id: str) -> str:
    return f"{_base(request)}/v1/containers/{container_id}"


def lb_url(request: Request, lb_id: str) -> str:
    return f"{_base(request)}/v2/lbaas/loadbalancers/{lb_id}"


def secret_consumers(lbs: list[str]) -> list[dict[str, Any]]:
    """The load balancers using a secret, in Barbican 1.1's secret-consumer shape."""
    return [{"service": store_mod.CONSUMER, "resource_type": "loadbalancer", "resource_id": lb} for lb in lbs]


def container_consumers(request: Request, row: m.SecretContainer, lbs: list[str]) -> list[dict[str, Any]]:
    """The consumers clients registered, then the load balancers using the container (Barbican's shape)."""
    ours = [{"name": store_mod.CONSUMER, "URL": lb_url(request, lb)} for lb in lbs]
    return list(row.consumers) + [c for c in ours if c not in row.consumers]


def secret_body(request: Request, row: m.Secret, lbs: list[str] | None = None) -> dict[str, Any]:
    return {
        "secret_ref": secret_ref(request, row.id),
        "name": row.name,
        "secret_type": row.secret_type,
        "status": row.status,
        "algorithm": row.algorithm,
        "bit_length": row.bit_length,
        "mode": row.mode,
        "expiration": _ts(row.expiration),
        "created": _ts(row.created_at),
        "updated": _ts(row.updated_at or row.created_at),
        "creator_id": row.creator_id,
        "content_types": {"default": row.payload_content_type} if row.payload_content_type else None,
        "consumers": secret_consumers(lbs or []),
    }


def container_body(request: Request, row: m.SecretContainer, lbs: list[str] | None = None) -> dict[str, Any]:
    return {
        "container_ref": container_ref(request, row.id),
        "name": row.name,
        "type": row.type,
        "status": row.status,
        "created": _ts(row.created_at),
        "updated": _ts(row.updated_at or row.created_at),
        "creator_id": row.creator_id,
        "secret_refs": [{"name": r["name"], "secret_ref": secret_ref(request, r["secret_id"])} for r in row.secret_refs],
        "consumers": container_consumers(request, row, lbs or []),
    }


def _page(request: Request, kind: str, items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    out: dict[str, Any] = {kind: items, "total": total}
    url = f"{_base(request)}/v1/{kind}"
    if offset + limit < total:
        out["next"] = f"{url}?limit={limit}&offset={offset + limit}"
    if offset > 0:
        out["previous"] = f"{url}?limit={limit}&offset={max(offset - limit, 0)}"
    return out


def _plain(v: str) -> str:
    """Stored text: no control characters, and encodable (a lone surrogate is not a character)."""
    if has_control_chars(v):
        raise ValueError("control characters are not allowed")
    try:
        v.encode()
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return v


Text = Annotated[str, StringConstraints(max_length=255), AfterValidator(_plain)]
LongText = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_plain)]


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Text | None = None
    secret_type: Text | None = None
    algorithm: Text | None = None
    bit_length: int | None = Field(default=None, ge=0, le=2**31 - 1)
    mode: Text | None = None
    expiration: Text | None = None
    payload: str | None = None
    payload_content_type: Text | None = None
    payload_content_encoding: Text | None = None


class SecretRefIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Text = ""
    secret_ref: LongText


class ContainerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Text | None = None
    type: Text | None = None
    secret_refs: list[SecretRefIn] = Field(default_factory=list, max_length=64)


class ConsumerIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Text
    URL: LongText


Limit = Query(default=10, ge=0, le=1000)
Offset = Query(default=0, ge=0, le=2**31 - 1)


# --- secrets --------------------------------------------------------------------------------------


@router.post("/secrets", status_code=201)
def create_secret(body: SecretCreate, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    data = body.model_dump()
    data["expiration"] = store_mod.expiration(body.expiration)
    with db.write() as s:
        row = env.secrets().create_secret(s, ctx, data)
        return {"secret_ref": secret_ref(request, row.id)}


@router.get("/secrets")
def list_secrets(
    request: Request, db: Db, env: Env, ctx: Ctx, limit: int = Limit, offset: int = Offset,
    name: Text | None = Query(default=None), secret_type: Text | None = Query(default=None),
) -> dict[str, Any]:  # fmt: skip
    with db.read() as s:
        store = env.secrets()
        rows, total = store.list_secrets(s, ctx, limit=limit, offset=offset, name=name, secret_type=secret_type)
        lbs = store.lb_consumers(s, rows)
        return _page(request, "secrets", [secret_body(request, r, lbs.get(r.id)) for r in rows], total, limit, offset)


@router.get("/secrets/{secret_id}", response_model=None)
def get_secret(secret_id: str, request: Request, db: Db, env: Env, ctx: Ctx) -> Any:
    accept = request.headers.get("accept", "application/json").split(",")[0].split(";")[0].strip().lower()
    with db.read() as s:
        if accept not in ("", "*/*", "application/json", "application/*"):
            data, ctype = env.secrets().payload(s, ctx, secret_id)  # Barbican's old "GET with Accept" read
            return Response(content=data, media_type=ctype)
        row = env.secrets().get_secret(s, ctx, secret_id)
        return secret_body(request, row, env.secrets().lb_consumers(s, [row]).get(row.id))


@router.get("/secrets/{secret_id}/consumers")
def list_secret_consumers(secret_id: str, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        row = env.secrets().get_secret(s, ctx, secret_id)
        consumers = secret_consumers(env.secrets().lb_consumers(s, [row]).get(row.id, []))
        return {"consumers": consumers, "total": len(consumers)}


@router.get("/secrets/{secret_id}/payload", response_model=None)
def get_payload(secret_id: str, db: Db, env: Env, ctx: Ctx) -> Response:
    with db.read() as s:
        data, ctype = env.secrets().payload(s, ctx, secret_id)
    return Response(content=data, media_type=ctype)


@router.put("/secrets/{secret_id}", status_code=204)
async def put_payload(secret_id: str, request: Request, db: Db, env: Env, ctx: Ctx) -> Response:
    body = await request.body()
    if len(body) > 4 * store_mod.MAX_PAYLOAD:
        raise errors.InvalidOption("The payload is too large.")
    ctype = request.headers.get("content-type")
    encoding = request.headers.get("content-encoding")
    with db.write() as s:
        env.secrets().put_payload(s, ctx, secret_id, body, ctype, encoding)
    return Response(status_code=204)


@router.delete("/secrets/{secret_id}", status_code=204)
def delete_secret(secret_id: str, db: Db, env: Env, ctx: Ctx) -> Response:
    with db.write() as s:
        env.secrets().delete_secret(s, ctx, secret_id)
    return Response(status_code=204)


@router.get("/secrets/{secret_id}/metadata")
def secret_metadata(secret_id: str, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        env.secrets().get_secret(s, ctx, secret_id)
    return {"metadata": {}}


@router.get("/secrets/{secret_id}/acl")
def secret_acl(secret_id: str, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        env.secrets().get_secret(s, ctx, secret_id)
    return {"read": {"project-access": True}}


# --- containers -----------------------------------------------------------------------------------


@router.post("/containers", status_code=201)
def create_container(body: ContainerCreate, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        row = env.secrets().create_container(s, ctx, body.model_dump())
        return {"container_ref": container_ref(request, row.id)}


@router.get("/containers")
def list_containers(
    request: Request, db: Db, env: Env, ctx: Ctx, limit: int = Limit, offset: int = Offset,
    name: Text | None = Query(default=None), type: Text | None = Query(default=None),
) -> dict[str, Any]:  # fmt: skip
    with db.read() as s:
        store = env.secrets()
        rows, total = store.list_containers(s, ctx, limit=limit, offset=offset, name=name, ctype=type)
        lbs = store.lb_consumers(s, rows)
        return _page(request, "containers", [container_body(request, r, lbs.get(r.id)) for r in rows], total, limit,
                     offset)  # fmt: skip


@router.get("/containers/{container_id}")
def get_container(container_id: str, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        row = env.secrets().get_container(s, ctx, container_id)
        return container_body(request, row, env.secrets().lb_consumers(s, [row]).get(row.id))


@router.delete("/containers/{container_id}", status_code=204)
def delete_container(container_id: str, db: Db, env: Env, ctx: Ctx) -> Response:
    with db.write() as s:
        env.secrets().delete_container(s, ctx, container_id)
    return Response(status_code=204)


@router.post("/containers/{container_id}/consumers", status_code=200)
def add_consumer(container_id: str, body: ConsumerIn, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        row = env.secrets().add_consumer(s, ctx, container_id, body.name, body.URL)
        return container_body(request, row, env.secrets().lb_consumers(s, [row]).get(row.id))


@router.delete("/containers/{container_id}/consumers", status_code=200)
def remove_consumer(container_id: str, body: ConsumerIn, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.write() as s:
        row = env.secrets().remove_consumer(s, ctx, container_id, body.name, body.URL)
        return container_body(request, row, env.secrets().lb_consumers(s, [row]).get(row.id))


@router.get("/containers/{container_id}/consumers")
def list_consumers(container_id: str, request: Request, db: Db, env: Env, ctx: Ctx) -> dict[str, Any]:
    with db.read() as s:
        row = env.secrets().get_container(s, ctx, container_id)
        consumers = container_consumers(request, row, env.secrets().lb_consumers(s, [row]).get(row.id, []))
        return {"consumers": consumers, "total": len(consumers)}


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
def v1_root(request: Request) -> dict[str, Any]:
    return {"version": {**API_VERSION, "links": [{"rel": "self", "href": f"{_base(request)}/v1/"}],
                        "media-types": MEDIA_TYPES}}  # fmt: skip

