"""An agent's log gets no httpx line per successful heartbeat (several a second), and keeps every other."""

from __future__ import annotations

import logging

import pytest

from lbaas.distributed import _quiet_heartbeats

BASE = "http://127.0.0.1:9876/internal/agents"


def _record(method: str, url: str, status: int) -> logging.LogRecord:
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
                             (method, url, "HTTP/1.1", status, "OK"), None)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "url", "status", "kept"),
    [
        ("PUT", f"{BASE}/h1", 200, False),  # a heartbeat that worked
        ("PUT", f"{BASE}/h1", 500, True),  # one that did not: worth a line
        ("POST", f"{BASE}/h1/loadbalancers/x/applied", 200, True),  # what bench failover reads
        ("GET", f"{BASE}/h1/assigned", 200, True),
        ("GET", f"{BASE}/h1/loadbalancers/x", 200, True),
    ],
)
def test_only_successful_heartbeats_are_dropped(method: str, url: str, status: int, kept: bool) -> None:
    assert _quiet_heartbeats(_record(method, url, status)) is kept


def test_other_records_pass() -> None:
    assert _quiet_heartbeats(logging.LogRecord("httpx", logging.INFO, __file__, 1, "plain", None, None))
