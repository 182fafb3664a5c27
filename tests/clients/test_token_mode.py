"""Token mode with the stock clients: ``lbaas serve --auth-strategy token`` and keystoneauth's admin_token.

The first admin token is made with ``lbaas token create`` before the server runs; the others while it
runs (valid at once). Every CLI call uses ``OS_AUTH_TYPE=admin_token OS_TOKEN=… OS_ENDPOINT=…``: a
project member runs a load balancer's whole lifecycle; another project's token cannot see it; a revoked
and an expired token get 401.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.server import REPO, Server, running_server
from tests.clients.test_openstack_cli import OpenStack

pytestmark = [pytest.mark.clients, pytest.mark.timeout(600)]


def lbaas_token(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_"))}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "lbaas.cli", "token", *args, "--state-dir", str(state)],
                          env=env, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip


def new_token(state: Path, project: str, *roles: str, expires_in: str | None = None) -> str:
    args = ["create", "--project", project, *[x for r in roles for x in ("--role", r)], "--name", f"{project}-cli"]
    out = lbaas_token(state, *args, *(["--expires-in", expires_in] if expires_in else []))
    token = out.stdout.strip()
    assert token.startswith("lbaas-") and "\n" not in token  # the token alone on stdout
    return token


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lbaas-token")


@pytest.fixture(scope="module")
def admin_token(state: Path) -> str:
    return new_token(state, "ops", "admin")  # before any server runs


@pytest.fixture(scope="module")
def server(state: Path, admin_token: str) -> Iterator[Server]:
    with running_server(state, "--auth-strategy", "token") as srv:
        yield srv


def cli(server: Server, token: str, home: Path) -> OpenStack:
    binary = str(Path(sys.executable).parent / "openstack")
    if not Path(binary).exists():
        binary = shutil.which("openstack") or pytest.skip("the openstack CLI is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(home), OS_AUTH_TYPE="admin_token", OS_TOKEN=token, OS_ENDPOINT=server.url,
               PYTHONWARNINGS="ignore")  # fmt: skip
    return OpenStack(binary, env)


def test_no_token_is_401(server: Server) -> None:
    r = httpx.get(server.url + "/v2/lbaas/loadbalancers", timeout=30)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Keystone uri=")
    assert r.json()["error"]["code"] == 401


def test_lifecycle_and_isolation(server: Server, state: Path, admin_token: str, tmp_path: Path) -> None:
    alice = cli(server, new_token(state, "proj-a", "member", "load-balancer_member"), tmp_path)
    bob = cli(server, new_token(state, "proj-b", "member"), tmp_path)
    admin = cli(server, admin_token, tmp_path)

    net = alice.json("network", "create", "a-net")
    assert net["project_id"] == "proj-a"
    alice.json("subnet", "create", "--network", "a-net", "--subnet-range", "10.7.0.0/24", "a-sub")
    lb = alice.json("loadbalancer", "create", "--name", "a-lb", "--vip-subnet-id", "a-sub", "--wait")
    assert (lb["project_id"], lb["provisioning_status"]) == ("proj-a", "ACTIVE")
    alice.json("loadbalancer", "listener", "create", "--name", "a-l", "--protocol", "HTTP", "--protocol-port", "80",
               "--wait", "a-lb")  # fmt: skip
    alice.json("loadbalancer", "pool", "create", "--name", "a-p", "--listener", "a-l", "--protocol", "HTTP",
               "--lb-algorithm", "ROUND_ROBIN", "--wait")  # fmt: skip
    alice.json("loadbalancer", "member", "create", "--address", "10.7.0.10", "--protocol-port", "80", "--wait", "a-p")
    alice.json("loadbalancer", "healthmonitor", "create", "--delay", "5", "--timeout", "3", "--max-retries", "2",
               "--type", "HTTP", "--wait", "a-p")  # fmt: skip
    assert [r["name"] for r in alice.json("loadbalancer", "list")] == ["a-lb"]

    # Project B sees nothing of A's and cannot touch it, whatever it names.
    assert bob.json("loadbalancer", "list") == []
    bob.fails("loadbalancer", "show", lb["id"])
    bob.fails("loadbalancer", "delete", lb["id"])
    # The admin sees every project.
    assert lb["id"] in {r["id"] for r in admin.json("loadbalancer", "list")}

    alice("loadbalancer", "delete", "--cascade", "--wait", "a-lb")
    assert alice.json("loadbalancer", "list") == []


def test_revoked_token_is_401(server: Server, state: Path, tmp_path: Path) -> None:
    token = new_token(state, "proj-r", "member")  # made while the server runs: valid at once
    user = cli(server, token, tmp_path)
    assert user.json("loadbalancer", "list") == []
    token_id = token.removeprefix("lbaas-").split(".", 1)[0]
    listed = lbaas_token(state, "list").stdout
    assert token_id in listed and token.split(".", 1)[1] not in listed  # the secret is never shown again
    lbaas_token(state, "revoke", token_id)
    assert "revoked" in [line.split("\t")[-1] for line in lbaas_token(state, "list").stdout.splitlines() if token_id in line]
    assert "401" in user.fails("loadbalancer", "list")
    assert httpx.get(server.url + "/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token}).status_code == 401


def test_expired_token_is_401(server: Server, state: Path, tmp_path: Path) -> None:
    token = new_token(state, "proj-e", "member", expires_in="10s")
    token_id = token.removeprefix("lbaas-").split(".", 1)[0]
    row = next(line.split("\t") for line in lbaas_token(state, "list").stdout.splitlines() if line.startswith(token_id))
    expires = dt.datetime.fromisoformat(row[5].removesuffix("Z")).replace(tzinfo=dt.UTC)
    user = cli(server, token, tmp_path)
    r = httpx.get(server.url + "/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token}, timeout=30)
    if dt.datetime.now(dt.UTC) < expires - dt.timedelta(seconds=1):
        assert r.status_code == 200  # still valid
    while dt.datetime.now(dt.UTC) <= expires:  # wait for the expiry itself
        time.sleep(0.2)
    assert "401" in user.fails("loadbalancer", "list")
    assert lbaas_token(state, "list").stdout.count("\texpired") == 1
