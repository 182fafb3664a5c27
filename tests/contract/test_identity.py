"""Identity lookups: refused with Keystone's 403, so the stock CLI takes a project name as its ID."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/projects/cli-project", "/projects?name=cli-project", "/projects"])
def test_project_lookups_are_forbidden_keystone_style(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 403
    error = r.json()["error"]
    assert (error["code"], error["title"]) == (403, "Forbidden")
    assert "no identity service" in error["message"]
    assert r.headers["x-openstack-request-id"].startswith("req-")
