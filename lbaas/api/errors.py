"""Errors on the wire: Octavia's fault body, or Neutron's for the network API.

Octavia: ``{"faultcode": "Client", "faultstring": "...", "debuginfo": null}``.
Neutron: ``{"NeutronError": {"type": "...", "message": "...", "detail": ""}}``.
"""

from __future__ import annotations

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


def fault(request: Request, code: int, message: str, *, faultcode: str = "Client", ntype: str = "") -> JSONResponse:
    body: dict[str, Any]
    message = message.encode("utf-8", "replace").decode("utf-8")  # an echoed lone surrogate cannot be sent
    if request.url.path.startswith("/v1/") or request.url.path == "/v1":
        title = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                 409: "Conflict", 501: "Not Implemented"}.get(code, "Error")  # fmt: skip
        return JSONResponse({"code": code, "title": title, "description": message}, status_code=code)
    if is_neutron_path(request.url.path):
        body = {"NeutronError": {"type": ntype or _neutron_type(code), "message": message, "detail": ""}}
    else:
        body = {"faultcode": faultcode, "faultstring": message, "debuginfo": None}
    return JSONResponse(body, status_code=code)


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
    value = err.get("input")
    msg = str(err.get("msg", "invalid"))
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
        errs = exc.errors()
        detail = "; ".join(_describe(dict(e)) for e in errs[:3]) if errs else "invalid request"
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
