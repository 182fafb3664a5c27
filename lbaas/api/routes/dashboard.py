"""The web dashboard at ``/dashboard``: static HTML, CSS and JavaScript shipped in the package
(``lbaas/api/dashboard/``), no front-end build step.

The page holds no data of its own: the browser calls the public API with the caller's token
(``X-Auth-Token``), so it shows exactly what that caller may read through the API and nothing more.
The files are served with a Content-Security-Policy that allows scripts, styles and API calls from
this origin only, and the scripts build the page with DOM text nodes, never markup from API strings.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse

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


@router.get("/dashboard/{name}")
def dashboard_file(name: str) -> FileResponse:
    return _file(name)


def _file(name: str) -> FileResponse:
    media = FILES.get(name)
    if media is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return FileResponse(STATIC / name, media_type=media, headers=HEADERS)
