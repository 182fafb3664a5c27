"""``--auth-strategy keystone``: every token is validated by keystonemiddleware's ``auth_token``.

The middleware is WSGI (webob). It runs here unchanged, through a small WSGI shim: for each request an
environ holding only the client's ``X-Auth-Token`` goes through ``AuthProtocol`` (in a worker thread, as it
may call Keystone); the inner WSGI app records the identity headers auth_token set (``X-Identity-Status``,
``X-Project-Id``, ``X-User-Id``, ``X-Roles``). When auth_token answers itself (401 with
``WWW-Authenticate``, 503 when Keystone cannot be reached) that answer goes back to the client as it is.

Configured like Octavia's ``[keystone_authtoken]`` from the ``keystone_*`` settings (service user with
password auth). A client's ``X-Service-Token`` (a service acting for the user, as Nova or Heat send it)
goes through auth_token with the user's token: ``service_token_roles`` / ``service_token_roles_required``
decide whether it counts; an invalid service token, or one without a service role while roles are
required, gets auth_token's 401; a valid one also lets auth_token accept an expired user token, if
Keystone still returns it (``allow_expired``, as in every OpenStack service). The project, user and roles
stay the user token's. Validated tokens are cached in process memory (no memcached) for
``keystone_token_cache_time`` seconds.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

import anyio.to_thread
from starlette.types import Scope

from lbaas.api.auth import SERVICE_TOKEN_KEY, Refusal, unauthorized
from lbaas.config import Settings
from lbaas.services.tokens import Identity

_VALIDATED = "lbaas.keystone.validated"


def authtoken_conf(settings: Settings) -> dict[str, str]:
    """The [keystone_authtoken] options, as a paste-style local configuration."""
    conf = {
        "auth_type": "password",
        "auth_url": settings.keystone_auth_url or "",
        "username": settings.keystone_username or "",
        "password": settings.keystone_password or "",
        "project_name": settings.keystone_project_name,
        "user_domain_name": settings.keystone_user_domain_name,
        "project_domain_name": settings.keystone_project_domain_name,
        "www_authenticate_uri": settings.keystone_www_authenticate_uri or settings.keystone_auth_url or "",
        "token_cache_time": str(settings.keystone_token_cache_time),
        "delay_auth_decision": "false",
        "service_token_roles": settings.keystone_service_token_roles,
        "service_token_roles_required": "true" if settings.keystone_service_token_roles_required else "false",
        "log_name": "lbaas.keystone",
    }
    if settings.keystone_region_name:
        conf["region_name"] = settings.keystone_region_name
    return conf


def _inner_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ[_VALIDATED] = True
    start_response("204 No Content", [])
    return [b""]


class KeystoneAuthenticator:
    strategy = "keystone"

    def __init__(self, settings: Settings) -> None:
        from keystonemiddleware import auth_token  # type: ignore[import-untyped]  # the real library, keystone mode only

        self._mw = auth_token.AuthProtocol(_inner_app, authtoken_conf(settings))
        self._uri = settings.keystone_www_authenticate_uri or settings.keystone_auth_url or ""
        self._lock = threading.Lock()  # only around first use: the middleware discovers Keystone lazily
        self._warm = False

    def validate(self, token: str, service_token: str | None = None) -> Identity | Refusal:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
            "SERVER_NAME": "lbaas", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "HTTP_X_AUTH_TOKEN": token,
        }  # fmt: skip
        if service_token:  # auth_token validates it too: invalid, or without a service role, is a 401
            environ["HTTP_X_SERVICE_TOKEN"] = service_token
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        if self._warm:
            body = b"".join(self._mw(environ, start_response))
        else:
            with self._lock:
                body = b"".join(self._mw(environ, start_response))
                self._warm = True
        if environ.get(_VALIDATED) and environ.get("HTTP_X_IDENTITY_STATUS") == "Confirmed":
            project = environ.get("HTTP_X_PROJECT_ID")
            if not project:  # unscoped or domain-scoped token: no project to act for
                return unauthorized(self._uri)
            roles = frozenset(r.strip().lower() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip())
            return Identity(project_id=project, user_id=environ.get("HTTP_X_USER_ID") or None, roles=roles)
        status = int(str(answer.get("status", "401")).split()[0])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.get("headers", [])]
        headers = [(k, v) for k, v in headers if k != b"content-length"]
        return Refusal(status, headers, body)

    async def authenticate(self, token: str | None, scope: Scope) -> Identity:
        if not token:
            raise unauthorized(self._uri)
        result = await anyio.to_thread.run_sync(self.validate, token, scope.get(SERVICE_TOKEN_KEY))
        if isinstance(result, Refusal):
            raise result
        return result
