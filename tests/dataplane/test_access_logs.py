"""Access logs end to end: a request through a real VIP shows up in the LB's access log, read through the
API and ``lbaas logs``, within 2 s, in Octavia's tenant flow format; a TCP listener logs too; another
project cannot read it; the file is 0600."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lbaas.services.accesslogs import access_log_path
from tests.dataplane.harness import ROOT, Service, close_service, dataplane_available, open_service

pytestmark = pytest.mark.netns
HOST_PREFIX = "opal-"
NET = "10.252.91"
VIP = f"{NET}.20"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``lbaas serve`` with its log sockets in a directory of this module's own (HAProxy's user must
    reach it, so not under pytest's 0700 temp dirs)."""
    reason = dataplane_available()
    if reason:
        pytest.skip(reason)
    sockroot = Path(tempfile.mkdtemp(prefix="lbaas-oplog-", dir="/run"))
    os.chmod(sockroot, 0o755)
    state_dir = Path(tmp_path_factory.mktemp("lbaas", numbered=True))
    old = os.environ.get("LBAAS_LOG_SOCKET_DIR")
    os.environ["LBAAS_LOG_SOCKET_DIR"] = str(sockroot / "log")
    try:
        svc = open_service(state_dir, HOST_PREFIX)
    finally:
        if old is None:
            os.environ.pop("LBAAS_LOG_SOCKET_DIR", None)
        else:
            os.environ["LBAAS_LOG_SOCKET_DIR"] = old
    try:
        yield svc
    finally:
        close_service(svc)
        shutil.rmtree(sockroot, ignore_errors=True)


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    service.host("web1", net["id"], f"{NET}.11")
    lb = service.create_lb({
        "name": "oplogs", "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}},
            {"name": "tcp", "protocol": "TCP", "protocol_port": 81, "default_pool": {"name": "tcp"}},
        ],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
            {"name": "tcp", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
        ],
    })  # fmt: skip
    listeners = {li["name"]: li["id"] for li in service.client.call("GET", "/v2/lbaas/listeners")["listeners"]}
    return {"lb": lb, "listeners": listeners}


def api_lines(service: Service, lb_id: str) -> list[str]:
    return list(service.client.call("GET", f"/v2/octavia/loadbalancers/{lb_id}/logs?tail=50")["lines"])


def test_request_line_appears_within_2s(service: Service, topo: dict[str, Any]) -> None:
    lb = topo["lb"]
    path = f"/oplog-{time.monotonic_ns()}"
    answers = service.fetch("client", f"http://{VIP}{path}", 1)
    assert answers[0]["status"] == 200, answers
    sent = time.monotonic()
    took = service.wait_for(lambda: any(path in ln for ln in api_lines(service, lb["id"])), timeout=2.0,
                            interval=0.05, what="the request's access log line")  # fmt: skip
    assert time.monotonic() - sent <= 2.5 and took <= 2.0
    line = next(ln for ln in api_lines(service, lb["id"]) if path in ln)
    # Octavia's tenant flow format: project lb listener client_ip client_port time "request" status …
    fields = line.split("]: ", 1)[1].split()
    assert fields[0] == lb["project_id"] and fields[1] == lb["id"] and fields[2] == topo["listeners"]["http"]
    assert fields[3] == f"{NET}.10" and fields[4].isdigit()
    assert f'"GET {path} HTTP/1.1" 200' in line
    # the same line through the command a user runs
    out = subprocess.run(
        [sys.executable, "-m", "lbaas.cli", "logs", "oplogs", "--tail", "20", "--endpoint", service.endpoint],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert line in out.stdout.splitlines()
    f = access_log_path(service.state_dir, lb["id"])
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_tcp_listener_logs_and_visibility(service: Service, topo: dict[str, Any]) -> None:
    lb = topo["lb"]
    answers = service.fetch("client", f"http://{VIP}:81/optcp", 1)
    assert answers[0]["status"] == 200, answers
    tcp_id = topo["listeners"]["tcp"]
    service.wait_for(lambda: any(f" {tcp_id} {NET}.10 " in ln for ln in api_lines(service, lb["id"])),
                     timeout=2.0, interval=0.05, what="the TCP connection's log line")  # fmt: skip
    line = next(ln for ln in api_lines(service, lb["id"]) if f" {tcp_id} " in ln)
    assert " - - " in line  # no request line nor HTTP status for a TCP flow
    # Another project's caller gets Octavia's 403: tests/contract/test_access_log_api.py (token mode).
