"""Who is calling: the auth strategies (noauth, token, keystone) as one pure-ASGI middleware.

* ``noauth`` (Octavia's ``auth_strategy = noauth``): no middleware; ``deps.get_context`` makes every caller
  an administrator, acting for ``X-Project-Id`` (or ``X-Tenant-Id``) or the default project.
* ``token`` and ``keystone``: every request outside the public paths must carry ``X-Auth-Token``. The
  identity headers a client sent (``X-Roles``, ``X-Project-Id``, ``X-Tenant-Id``, ``X-User-Id``,
  ``X-Identity-Status``, …) are removed before anything reads them; only the validated token counts. A
  missing or refused token gets 401 with ``WWW-Authenticate: Keystone uri="…"`` and the body
  keystonemiddleware gives in front of Octavia.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Protocol

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from lbaas.config import Settings
from lbaas.db.session import Database
from lbaas.services import tokens
from lbaas.services.tokens import Identity

STRATEGIES = ("noauth", "token", "keystone")
SCOPE_KEY = "lbaas.identity"
SERVICE_TOKEN_KEY = "lbaas.service_token"  # the client's X-Service-Token, for keystone mode (stripped from headers)
# Paths anyone may read: the versions document (as Octavia). /internal/ has its own shared secret.
PUBLIC_PATHS = frozenset({"/", "/healthcheck", "/metrics", "/dashboard"})
PUBLIC_PREFIXES = ("/internal/", "/dashboard/")  # the dashboard's static files; the page sends the token
# Identity headers only the auth layer may set (keystonemiddleware's list, by prefix).
_IDENTITY_PREFIXES = (
    b"x-roles", b"x-role", b"x-project", b"x-tenant", b"x-user", b"x-domain", b"x-identity-status",
    b"x-service-", b"x-is-admin-project", b"x-default-project", b"x-trust", b"x-system-scope",
    b"x-openstack-system-scope", b"x-app-cred", b"x-authorization",
)  # fmt: skip
UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."


class Refusal(Exception):
    """A request the auth layer answers itself (401 with WWW-Authenticate, or the keystone middleware's own)."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        super().__init__(status)
        self.status, self.headers, self.body = status, headers, body


def unauthorized(uri: str) -> Refusal:
    body = json.dumps({"error": {"code": 401, "title": "Unauthorized", "message": UNAUTHORIZED_MESSAGE}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"www-authenticate", f'Keystone uri="{uri}"'.encode("latin-1", "replace")),
    ]
    return Refusal(401, headers, body)


class Authenticator(Protocol):
    strategy: str

    async def authenticate(self, token: str | None, scope: Scope) -> Identity:
        """The caller's identity, or raise Refusal."""
        ...


class TokenAuthenticator:
    """Standalone tokens from the database (lbaas token create/list/revoke)."""

    strategy = "token"

    def __init__(self, db: Database, www_authenticate_uri: str | None) -> None:
        self.db = db
        self.uri = www_authenticate_uri

    def _lookup(self, token: str) -> Identity | None:
        with self.db.read() as s:
            return tokens.validate(s, token)

    async def authenticate(self, token: str | None, scope: Scope) -> Identity:
        ident = await anyio.to_thread.run_sync(self._lookup, token) if token else None
        if ident is None:
            raise unauthorized(self.uri or base_url(scope))
        return ident


def base_url(scope: Scope) -> str:
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        h, p = scope["server"]
        host = f"{h}:{p}"
    return f"{scope.get('scheme', 'http')}://{host or 'localhost'}"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def strip_identity_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if not k.lower().startswith(_IDENTITY_PREFIXES)]


class AuthMiddleware:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers = list(scope.get("headers") or [])
        headers = strip_identity_headers(raw_headers)
        scope = {**scope, "headers": headers}
        service = next((v for k, v in raw_headers if k.lower() == b"x-service-token"), None)
        if service and service.strip():
            scope[SERVICE_TOKEN_KEY] = service.decode("latin-1").strip()
        if is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in headers if k.lower() == b"x-auth-token"), None)
        token = raw.decode("latin-1").strip() if raw else None
        try:
            ident = await self.authenticator.authenticate(token or None, scope)
        except Refusal as r:
            hdrs = [*r.headers, (b"content-length", str(len(r.body)).encode())]
            await send({"type": "http.response.start", "status": r.status, "headers": hdrs})
            await send({"type": "http.response.body", "body": r.body})
            return
        scope[SCOPE_KEY] = ident
        await self.app(scope, receive, send)


def build_authenticator(settings: Settings, db: Database) -> Authenticator | None:
    """The authenticator for ``settings.auth_strategy``; None for noauth."""
    strategy = settings.auth_strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown auth strategy {strategy!r} (use one of: {', '.join(STRATEGIES)})")
    if strategy == "token":
        return TokenAuthenticator(db, settings.www_authenticate_uri)
    if strategy == "keystone":
        from lbaas.api.keystone import KeystoneAuthenticator

        return KeystoneAuthenticator(settings)
    return None


def bind_is_local(bind: str) -> bool:
    """True for a loopback address (127.0.0.0/8, ::1, localhost) or a unix socket (``unix:/path``)."""
    if bind.startswith("unix:"):
        return True
    host = (bind.rpartition(":")[0] if ":" in bind else bind).strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_startup(settings: Settings) -> None:
    """Refuse settings that must not serve: an unknown strategy, noauth on a reachable address, half a TLS pair."""
    if settings.auth_strategy not in STRATEGIES:
        raise SystemExit(f"unknown auth strategy {settings.auth_strategy!r} (use one of: {', '.join(STRATEGIES)})")
    if settings.auth_strategy == "noauth" and not settings.insecure_noauth and not bind_is_local(settings.bind):
        raise SystemExit(
            f"refusing to serve with --auth-strategy noauth on {settings.bind}: noauth makes every caller an "
            "administrator, so it is allowed only on a loopback address (127.0.0.1, ::1) or a unix socket. "
            "Use --auth-strategy token (lbaas token create …) or keystone, or pass --insecure-noauth to "
            "accept that anyone who reaches this address is an administrator."
        )
    from lbaas.api.listen import check_unix_bind

    check_unix_bind(settings.bind, settings.unix_socket_mode)
    if settings.auth_strategy == "keystone" and not settings.keystone_auth_url:
        raise SystemExit("--auth-strategy keystone needs LBAAS_KEYSTONE_AUTH_URL and the service user's credentials")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    for path in (settings.tls_cert, settings.tls_key):
        if path is not None and not path.is_file():
            raise SystemExit(f"TLS file {path} does not exist")


def uvicorn_tls(settings: Settings) -> dict[str, str]:
    """uvicorn's ssl options for --tls-cert/--tls-key (empty without TLS)."""
    if settings.tls_cert and settings.tls_key:
        return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    return {}
