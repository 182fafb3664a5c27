"""Errors on the wire: Octavia's fault body, or Neutron's for the network API.

Octavia: ``{"faultcode": "Client", "faultstring": "...", "debuginfo": null}``.
Neutron: ``{"NeutronError": {"type": "...", "message": "...", "detail": ""}}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lbaas.domain import errors

log = logging.getLogger(__name__)

NEUTRON_SEGMENTS = ("networks", "subnets", "ports", "extensions", "floatingips")


def is_neutron_path(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    return len(parts) >= 2 and parts[0] in ("v2.0", "v2") and parts[1].split(".")[0] in NEUTRON_SEGMENTS


QUOTE_MAX = 200  # characters of an offending value quoted back in a fault message
MESSAGE_MAX = 2048


def clip(value: Any, limit: int = QUOTE_MAX) -> str:
    """``value`` as text fit to quote in a fault: at most ``limit`` characters, lone surrogates and
    other unencodable code points escaped. Never raises."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except Exception:  # a hostile __repr__ cannot happen with JSON input, but this must not fail
        text = "<value>"
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


BARBICAN_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                   405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
                   413: "Request Entity Too Large", 431: "Request Header Fields Too Large",
                   501: "Not Implemented"}  # fmt: skip


def fault_body(path: str, code: int, message: str, *, faultcode: str = "Client", ntype: str = "") -> dict[str, Any]:
    message = clip(message, MESSAGE_MAX)
    if path == "/v1" or path.startswith("/v1/"):  # the Barbican-compatible secret store
        return {"code": code, "title": BARBICAN_TITLES.get(code, "Error"), "description": message}
    if is_neutron_path(path):
        return {"NeutronError": {"type": ntype or _neutron_type(code), "message": message, "detail": ""}}
    return {"faultcode": faultcode, "faultstring": message, "debuginfo": None}


def fault_bytes(path: str, code: int, message: str) -> bytes:
    """A fault body rendered without the framework (for the ASGI middlewares)."""
    return json.dumps(fault_body(path, code, message), ensure_ascii=True).encode()


def fault(request: Request, code: int, message: str, *, faultcode: str = "Client", ntype: str = "") -> JSONResponse:
    try:
        return JSONResponse(fault_body(request.url.path, code, message, faultcode=faultcode, ntype=ntype), status_code=code)
    except Exception:  # the fault handler must never fail: a fixed body
        log.exception("could not render a fault (%s)", code)
        return JSONResponse({"faultcode": faultcode, "faultstring": "Error", "debuginfo": None}, status_code=code)


def _neutron_type(code: int) -> str:
    return {400: "HTTPBadRequest", 404: "HTTPNotFound", 409: "Conflict", 403: "HTTPForbidden"}.get(
        code, "NeutronError"
    )


def _describe(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    names = [p for p in err.get("loc", ()) if isinstance(p, str) and p != "body"]
    field = names[-1] if names else "body"  # list indexes name no field: "allowed_cidrs", not "0"
    if err.get("type") == "extra_forbidden":
        return f"Unknown attribute for argument {'.'.join(loc[:-1]) or 'body'}: {field}"
    value = clip(err.get("input"))
    msg = clip(err.get("msg", "invalid"), 500)
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"Invalid input for field/attribute {field}. Value: '{value}'. {msg}"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.LbaasError)
    async def _lbaas_error(request: Request, exc: errors.LbaasError) -> JSONResponse:
        if exc.code >= 500 and exc.code != 501:
            log.error("request %s failed: %s", request.url.path, exc.operator_message)
        else:  # the caller's mistake (4xx) or a feature this service does not have (501): not our error
            log.info("request %s %s refused (%d): %s", request.method, request.url.path, exc.code, exc.user_message)
        ntype = exc.neutron_type if isinstance(exc, errors.NeutronError) else ""
        return fault(request, exc.code, exc.user_message, faultcode=exc.faultcode, ntype=ntype)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        try:
            errs = exc.errors()
            detail = "; ".join(_describe(dict(e)) for e in errs[:3]) if errs else "invalid request"
        except Exception:  # describing the error must not become an error
            log.exception("could not describe a validation error")
            errs, detail = [], "Invalid input for request."
        if is_neutron_path(request.url.path):
            return fault(request, 400, detail)
        return fault(request, 400, f"Invalid input for request: {detail}" if not errs else detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = str(exc.detail) if exc.detail else "Error"
        if exc.status_code == 404 and msg == "Not Found":
            msg = "The resource could not be found."
        if exc.status_code == 405:
            msg = "The method is not allowed for this resource."
        resp = fault(request, exc.status_code, msg)
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return fault(request, 500, "An unknown exception occurred.", faultcode="Server")
