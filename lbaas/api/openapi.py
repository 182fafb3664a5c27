"""The OpenAPI document lists the answers lbaas really gives: Octavia's fault body (or Neutron's, on the
network API) for 400/401/403/404/406/409/413/501, and never FastAPI's 422 (validation errors are 400)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lbaas.api.errors import is_neutron_path

FAULT = {
    "type": "object",
    "properties": {
        "faultcode": {"type": "string"},
        "faultstring": {"type": "string"},
        "debuginfo": {"type": ["string", "null"]},
    },
    "required": ["faultcode", "faultstring", "debuginfo"],
}
NEUTRON_FAULT = {
    "type": "object",
    "properties": {
        "NeutronError": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}, "detail": {"type": "string"}},
            "required": ["type", "message", "detail"],
        }
    },
    "required": ["NeutronError"],
}
BARBICAN_FAULT = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "title": {"type": "string"}, "description": {"type": "string"}},
    "required": ["code", "title", "description"],
}
DESCRIPTIONS = {
    400: "Bad request: invalid input (body, path or query; invalid Unicode or UTF-8 included)",
    401: "Unauthorized: no valid token",
    403: "Forbidden by policy",
    404: "Not found",
    406: "Not acceptable: only application/json is produced",
    409: "Conflict: the object or its load balancer is in a state that refuses the change, or a duplicate",
    413: "Request body too large",
    501: "Not implemented by this provider",
}
BODY_METHODS = ("post", "put", "patch")


def fault_codes(method: str, path: str) -> list[int]:
    codes = [400, 401, 403, 406]
    if "{" in path or method in ("post", "put", "delete"):
        codes.append(404)
    if method in ("post", "put", "delete"):
        codes.append(409)
    if method in BODY_METHODS:
        codes += [413, 501]
    return sorted(codes)


def document(app: FastAPI) -> dict[str, Any]:
    schema = FastAPI.openapi(app)
    if schema.get("x-lbaas-faults"):
        return schema
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps["Fault"] = FAULT
    comps["NeutronFault"] = NEUTRON_FAULT
    comps["BarbicanFault"] = BARBICAN_FAULT
    for path, ops in schema.get("paths", {}).items():
        kind = "BarbicanFault" if path.startswith("/v1/") else "NeutronFault" if is_neutron_path(path) else "Fault"
        ref = {"$ref": "#/components/schemas/" + kind}
        for method, op in ops.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            responses.pop("422", None)
            for empty in ("202", "204"):  # Octavia's 202s (delete quota, failover, batch) and 204s have no body
                if empty in responses:
                    responses[empty].pop("content", None)
            for code in fault_codes(method, path):
                responses.setdefault(
                    str(code), {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}}
                )
    text = repr(schema.get("paths"))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            comps.pop(unused, None)
    schema["x-lbaas-faults"] = True
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
