"""Identity lookups the stock CLI makes, refused the way Keystone refuses a caller without the right.

python-octaviaclient resolves a ``<project>`` argument (``loadbalancer quota show/set/reset``,
``--project`` options) through the identity API at the same endpoint: ``GET /projects/<name>``, then
``GET /projects?name=<name>``, then ``GET /projects``. This service has no identity API and keeps no
project records: a project is just the ID a request names. Answering those lookups with Keystone's
403 is true, and it is what openstackclient expects from a cloud where the user may not read
projects: it then uses the name it was given as the project ID. A 404 would make it give up with
"No project with a name or ID of … exists".
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter()

MESSAGE = "lbaas has no identity service: a project is named by its ID."


def _forbidden() -> JSONResponse:
    return JSONResponse({"error": {"code": 403, "title": "Forbidden", "message": MESSAGE}}, status_code=403)


@router.get("/projects", include_in_schema=False)
def list_projects() -> JSONResponse:
    return _forbidden()


@router.get("/projects/{project_id}", include_in_schema=False)
def get_project(project_id: str) -> JSONResponse:
    return _forbidden()
