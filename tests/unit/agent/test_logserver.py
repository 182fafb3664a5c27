"""The agent's log server (scale-out access logs), over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lbaas.agent.logserver import SECRET_HEADER, LogServer
from lbaas.services.accesslogs import access_log_path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LogServer]:
    s = LogServer("127.0.0.1:0", tmp_path, "s3cret")
    s.start()
    yield s
    s.stop()


def test_lines_only_with_the_secret(server: LogServer, tmp_path: Path) -> None:
    f = access_log_path(tmp_path, "lb-1")
    f.parent.mkdir(parents=True)
    f.write_text("a\nb\nc\n")
    base = f"http://127.0.0.1:{server.port}"
    ok = {SECRET_HEADER: "s3cret"}
    assert httpx.get(f"{base}/logs/lb-1?tail=2", headers=ok).json() == {"lines": ["b", "c"]}
    assert httpx.get(f"{base}/logs/lb-1?tail=2").status_code == 401
    assert httpx.get(f"{base}/logs/lb-1", headers={SECRET_HEADER: "wrong"}).status_code == 401
    assert httpx.get(f"{base}/logs/lb-2", headers=ok).status_code == 404
    assert httpx.get(f"{base}/logs/..", headers=ok).status_code == 404
    assert httpx.get(f"{base}/other", headers=ok).status_code == 404
    for bad in ("x", "-1", "10001"):
        assert httpx.get(f"{base}/logs/lb-1?tail={bad}", headers=ok).status_code == 400
