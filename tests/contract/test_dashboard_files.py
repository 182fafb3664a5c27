"""The dashboard's static files: served from the package, a fixed set of names, a strict CSP."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from lbaas.api.routes.dashboard import FILES, STATIC


def test_dashboard_redirects_to_its_index(client: TestClient) -> None:
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/dashboard/"


def test_index_is_html_with_a_strict_csp(client: TestClient) -> None:
    r = client.get("/dashboard/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # Every script and stylesheet the page loads is one of the served files.
    for ref in re.findall(r'(?:src|href)="/dashboard/([^"]+)"', r.text):
        assert ref in FILES


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_file_is_served_with_its_type(client: TestClient, name: str) -> None:
    r = client.get(f"/dashboard/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == FILES[name]
    assert r.content == (STATIC / name).read_bytes()


@pytest.mark.parametrize(
    "path", ["/dashboard/nope.js", "/dashboard/..%2Fapp.py", "/dashboard/%2e%2e/routes/dashboard.py", "/dashboard/a/b"]
)
def test_nothing_else_is_served(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "faultstring" in r.json()


def test_scripts_never_write_markup() -> None:
    """API strings reach the page as text nodes only: no innerHTML, outerHTML, insertAdjacentHTML, eval."""
    for name in FILES:
        if name.endswith(".js"):
            src = (STATIC / name).read_text()
            assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function", src)


def test_the_served_set_is_the_shipped_set() -> None:
    """A file added to lbaas/api/dashboard/ is served (and shipped: package-data takes the whole folder)."""
    assert {p.name for p in STATIC.iterdir() if p.is_file()} == set(FILES)
