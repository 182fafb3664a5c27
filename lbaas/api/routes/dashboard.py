"""The web dashboard at ``/dashboard``: static HTML, CSS and JavaScript shipped in the package
(``lbaas/api/dashboard/``), no front-end build step.

The page holds no data of its own: the browser calls the public API with the caller's token
(``X-Auth-Token``), so it shows exactly what that caller may read through the API and nothing more.
The files are served with a Content-Security-Policy that allows scripts, styles and API calls from
this origin only, and the scripts build the page with DOM text nodes, never markup from API strings.

In keystone mode the page also takes Keystone credentials: ``POST /dashboard/login`` (JSON: username,
password, project, domain) asks Keystone for a project-scoped token with the password method and hands
the token back to the page, which then uses it like a typed token. The password is never logged or
stored; only the token goes back. Without keystone mode the endpoint does not exist (404).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lbaas.config import Settings

router = APIRouter(include_in_schema=False)

STATIC = Path(str(resources.files("lbaas.api") / "dashboard"))
FILES = {  # the only files served: name → media type
    "index.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "topology.js": "text/javascript; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/dashboard")
def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/")
def dashboard_index() -> FileResponse:
    return _file("index.html")


class Credentials(BaseModel):
    """What the login form sends in keystone mode."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=4096, repr=False)
    project: str = Field(min_length=1, max_length=64)
    domain: str = Field(default="Default", min_length=1, max_length=255)


LOGIN_MAX_BODY = 8192  # bytes; credentials are small
KEYSTONE_TIMEOUT = 10.0  # seconds for the whole Keystone call
REFUSED = "Keystone refused these credentials (user name, password, project or domain is wrong)."


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.env.settings
    return settings


def _keystone_only(request: Request) -> Settings:
    settings = _settings(request)
    if settings.auth_strategy != "keystone" or not settings.keystone_auth_url:
        raise HTTPException(status_code=404, detail="Not Found")
    return settings


@router.get("/dashboard/login")
def dashboard_login_methods(request: Request) -> JSONResponse:
    """200 in keystone mode (the page then shows the credentials form), 404 otherwise."""
    _keystone_only(request)
    return JSONResponse({"methods": ["token", "password"]}, headers={"Cache-Control": "no-store"})


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > LOGIN_MAX_BODY):
        raise HTTPException(status_code=413, detail=f"The login body is limited to {LOGIN_MAX_BODY} bytes.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > LOGIN_MAX_BODY:
            raise HTTPException(status_code=413, detail=f"The login body is limited to {LOGIN_MAX_BODY} bytes.")
    return body


def _auth_body(c: Credentials) -> dict[str, object]:
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": c.username, "password": c.password, "domain": {"name": c.domain}}}},
        "scope": {"project": {"name": c.project, "domain": {"name": c.domain}}},
    }}  # fmt: skip


@router.post("/dashboard/login")
async def dashboard_login(request: Request) -> JSONResponse:
    """Keystone credentials → a project-scoped Keystone token for the page (keystone mode only)."""
    settings = _keystone_only(request)
    raw = await _read_body(request)
    try:
        creds = Credentials.model_validate_json(raw)
    except ValidationError as e:  # say which fields, never echo the values (the password is one)
        fields = sorted({".".join(str(p) for p in err["loc"]) or "body" for err in e.errors()})
        raise HTTPException(status_code=400, detail=f"Invalid login request: check {', '.join(fields)}.") from None
    url = (settings.keystone_auth_url or "").rstrip("/") + "/auth/tokens"
    try:
        async with httpx.AsyncClient(timeout=KEYSTONE_TIMEOUT, follow_redirects=False) as client:
            r = await client.post(url, json=_auth_body(creds), headers={"Accept": "application/json"})
    except httpx.HTTPError:
        raise HTTPException(status_code=503, detail="Keystone cannot be reached; try again later.") from None
    token = r.headers.get("x-subject-token")
    if r.status_code == 201 and token:
        expires_at = None
        try:
            expires_at = r.json().get("token", {}).get("expires_at")
        except ValueError:
            pass
        return JSONResponse({"token": token, "expires_at": expires_at}, headers={"Cache-Control": "no-store"})
    if r.status_code in (400, 401, 403, 404):
        raise HTTPException(status_code=401, detail=REFUSED)
    raise HTTPException(status_code=502, detail=f"Keystone answered {r.status_code}; try again later.")


@router.get("/dashboard/{name}")
def dashboard_file(name: str) -> FileResponse:
    return _file(name)


def _file(name: str) -> FileResponse:
    media = FILES.get(name)
    if media is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(STATIC / name, media_type=media, headers=HEADERS)
