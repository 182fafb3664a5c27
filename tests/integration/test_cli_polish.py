"""The ``lbaas`` command against a real ``lbaas serve --provider noop``: user mistakes are one line and a
non-zero exit (no traceback), listing commands speak JSON, ``host create`` refuses a name in use,
``host stop`` refuses an unknown host, completion is offered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.netns.fake import FakePlumber
from lbaas.tools.client import ApiError, Client
from lbaas.tools.hosts import Hosts
from tests.clients.server import REPO, Server, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("lbaas-cli")) as s:
        yield s


def lbaas(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBAAS_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "lbaas.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)  # fmt: skip


def one_line_error(r: subprocess.CompletedProcess[str], contains: str) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbaas: error: ") and contains in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_user_errors_are_one_line(server: Server, tmp_path: Path) -> None:
    one_line_error(
        lbaas(
            "host", "create", "web1", "--network", "nosuchnet", "--endpoint", server.url, "--state-dir", str(tmp_path)
        ),
        "network nosuchnet not found",
    )
    one_line_error(lbaas("logs", "nosuchlb", "--endpoint", server.url), "no load balancer 'nosuchlb'")
    one_line_error(lbaas("agent", "disable", "nosuchagent", "--endpoint", server.url), "404")
    one_line_error(lbaas("host", "list", "--endpoint", "http://127.0.0.1:1"), "cannot reach http://127.0.0.1:1")
    one_line_error(lbaas("host", "stop", "nosuch", "--endpoint", server.url, "--state-dir", str(tmp_path)),
                   "host nosuch not found")  # fmt: skip
    one_line_error(lbaas("--config", str(tmp_path / "none.toml"), "serve"), "does not exist")
    bad = lbaas("host", "list", "--format", "yaml", "--endpoint", server.url)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr  # click's usage error


def test_json_listings(server: Server, tmp_path: Path) -> None:
    r = lbaas("host", "list", "--format", "json", "--endpoint", server.url, "--state-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = lbaas("agent", "list", "--format", "json", "--endpoint", server.url)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data["agents"], list) and "tripped" in data["failover_breaker"]


def test_host_create_refuses_a_name_in_use(server: Server, tmp_path: Path) -> None:
    client = Client(server.url)
    try:
        net = client.call("POST", "/v2.0/networks", {"network": {"name": "opclinet"}})["network"]
        client.call("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.231.77.0/24"}})
        hosts = Hosts(client, FakePlumber(), state_dir=tmp_path)  # in-memory plumbing: no namespaces
        hosts.create("opweb", "opclinet")
        with pytest.raises(ApiError, match="host opweb already exists"):
            hosts.create("opweb", "opclinet")
        assert [h.name for h in hosts.all()] == ["opweb"]  # no second port
        hosts.client.call("DELETE", f"/v2.0/ports/{hosts.get('opweb').port['id']}")
    finally:
        client.close()


def test_version_and_completion() -> None:
    r = lbaas("--version")
    assert r.returncode == 0 and r.stdout.startswith("lbaas ")
    assert "--install-completion" in lbaas("--help").stdout
