"""The ASGI app: Octavia v2 under /v2 and /v2.0, the Neutron subset, the versions document at /, /projects refusals."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lbaas import __version__
from lbaas.api import errors
from lbaas.api.auth import AuthMiddleware, build_authenticator
from lbaas.api.metrics import MetricsMiddleware, ServiceMetrics, watch_database
from lbaas.api.routes import dashboard, health, identity, internal, registry, secrets
from lbaas.db.session import Database
from lbaas.services import policy
from lbaas.services.env import ServiceEnv

# (version, date) for every microversion this API really implements; the last one is CURRENT.
VERSIONS = [
    ("v2.0", "2016-12-11T00:00:00Z"), ("v2.1", "2018-04-20T00:00:00Z"), ("v2.2", "2018-07-31T00:00:00Z"),
    ("v2.3", "2018-12-18T00:00:00Z"), ("v2.4", "2018-12-19T00:00:00Z"), ("v2.5", "2019-01-21T00:00:00Z"),
    ("v2.6", "2019-01-25T00:00:00Z"), ("v2.7", "2018-01-25T00:00:00Z"), ("v2.8", "2019-02-12T00:00:00Z"),
    ("v2.9", "2019-03-04T00:00:00Z"), ("v2.10", "2019-03-05T00:00:00Z"), ("v2.11", "2019-06-24T00:00:00Z"),
    ("v2.12", "2019-09-11T00:00:00Z"), ("v2.13", "2019-09-13T00:00:00Z"), ("v2.14", "2019-10-18T00:00:00Z"),
    ("v2.15", "2020-03-10T00:00:00Z"), ("v2.16", "2020-03-15T00:00:00Z"), ("v2.17", "2020-04-29T00:00:00Z"),
    ("v2.18", "2020-04-29T00:00:01Z"), ("v2.19", "2020-05-12T00:00:00Z"), ("v2.20", "2020-08-22T00:00:00Z"),
    ("v2.21", "2020-09-03T00:00:00Z"), ("v2.22", "2020-09-15T00:00:00Z"), ("v2.23", "2020-09-24T00:00:00Z"),
    ("v2.24", "2020-09-28T00:00:00Z"), ("v2.25", "2021-10-02T00:00:00Z"),
]  # fmt: skip


class RequestIdMiddleware:
    """Every response carries x-openstack-request-id (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = f"req-{uuid.uuid4()}".encode()

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-openstack-request-id", rid)]
            await send(message)

        await self.app(scope, receive, _send)


UNVERSIONED_PLAIN = frozenset({"/healthcheck", "/metrics"})


class JsonOnlyMiddleware:
    """Octavia speaks JSON only: a ``.json`` suffix on the path is accepted (and dropped), and an Accept
    header that rules JSON out gets 406."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in UNVERSIONED_PLAIN:  # not Octavia's JSON API: they choose their own media type
            await self.app(scope, receive, send)
            return
        if path.endswith(".json") and path.startswith(("/v2/", "/v2.0/")):
            raw: bytes = scope.get("raw_path") or path.encode()
            scope = {**scope, "path": path[: -len(".json")], "raw_path": raw.removesuffix(b".json")}
        accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
        if accept and not path.startswith("/v1/") and not _accepts_json(accept):
            body = b'{"faultcode": "Client", "faultstring": "Only application/json is supported.", "debuginfo": null}'
            await send({"type": "http.response.start", "status": 406,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _accepts_json(accept: str) -> bool:
    for item in accept.split(","):
        media, *params = (p.strip().lower() for p in item.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            wanted = float(q) > 0
        except ValueError:
            wanted = True
        if wanted and media in ("*/*", "application/*", "application/json"):
            return True
    return False


def versions_document(base_url: str) -> dict[str, Any]:
    out = []
    for i, (vid, updated) in enumerate(VERSIONS):
        status = "CURRENT" if i == len(VERSIONS) - 1 else "SUPPORTED"
        out.append({"id": vid, "status": status, "updated": updated, "links": [{"href": f"{base_url}v2", "rel": "self"}]})
    return {"versions": out}


def _no_telemetry() -> dict[str, Any]:
    """FastAPI's native OpenTelemetry hooks (spans, metrics, per-operation contexts on every request) cost
    a large share of a small request; we export no telemetry, so they are off. Older FastAPIs lack the
    argument."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}


def create_app(*, db: Database, env: ServiceEnv, metrics: ServiceMetrics | None = None) -> FastAPI:
    app = FastAPI(title="lbaas", version=__version__, description="Octavia v2-compatible load balancing", **_no_telemetry())
    app.state.db = db
    app.state.env = env
    policy.install(
        policy.Policy(env.settings.policy_file, enforce_new_defaults=env.settings.policy_enforce_new_defaults)
    )
    if metrics is None:
        metrics = ServiceMetrics()
    watch_database(metrics, db, env.settings)
    app.state.metrics = metrics
    app.state.healthcheck = health.HealthCheck(db, env.settings.healthcheck_refresh_interval)
    errors.install(app)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> dict[str, Any]:
        if request.headers.get("openstack-api-version", "").lower().startswith("key-manager"):
            return secrets.version_document(str(request.base_url))  # barbicanclient's discovery
        return versions_document(str(request.base_url))

    for r in registry.routers():
        app.include_router(r, prefix="/v2")
        app.include_router(r, prefix="/v2.0", include_in_schema=False)
    app.include_router(identity.router)  # unversioned, where the CLI's identity client looks
    app.include_router(internal.router)
    app.include_router(health.router)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # inside JsonOnly: sees the route it matched
    app.include_router(secrets.router)  # the Barbican-compatible secret store
    app.include_router(dashboard.router)  # /dashboard: static files; the page calls the API as the caller
    app.add_middleware(JsonOnlyMiddleware)
    authenticator = build_authenticator(env.settings, db)
    if authenticator is not None:
        app.add_middleware(AuthMiddleware, authenticator=authenticator)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(secrets.SecretPathMiddleware)
    return app
