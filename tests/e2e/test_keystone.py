"""``--auth-strategy keystone`` against a REAL Keystone (PyPI keystone, SQLite, fernet, gunicorn on loopback).

The test starts Keystone itself (tests/e2e/keystone.py; its venv from scripts/keystone-venv.sh), makes
projects A and B with a user each, a service user for lbaas's keystonemiddleware, and registers lbaas as
the ``load-balancer`` and ``network`` services in the catalog. Then the stock ``openstack`` CLI with
password auth (OS_AUTH_URL …, endpoints from the catalog) runs a load balancer's lifecycle as A; B's
token is refused A's objects; a revoked token and a garbage token get 401 with WWW-Authenticate.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.clients.server import Server, free_port, running_server
from tests.clients.test_openstack_cli import OpenStack
from tests.e2e.keystone import Keystone, password_token, running_keystone

pytestmark = [pytest.mark.e2e, pytest.mark.clients, pytest.mark.timeout(600)]

SERVICE_PASSWORD = "lbaas-service-secret"


@dataclass
class Stack:
    keystone: Keystone
    lbaas: Server
    home: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("keystone")
    try:
        ks_cm = running_keystone(work)
        ks = ks_cm.__enter__()
    except RuntimeError as e:  # no keystone here (e.g. PyPI unreachable): say why
        pytest.skip(f"a real Keystone could not be started: {str(e)[:500]}")
    try:
        service = ks.project("service")
        ks.user("lbaas", SERVICE_PASSWORD, service, "admin", "service")
        a, b = ks.project("proj-a"), ks.project("proj-b")
        ks.user("alice", "alice-pw", a, "member", "load-balancer_member")
        ks.user("bob", "bob-pw", b, "member", "load-balancer_member")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        ks.service("load-balancer", "octavia", url)
        ks.service("network", "neutron", url)
        env = {
            "LBAAS_KEYSTONE_AUTH_URL": ks.url,
            "LBAAS_KEYSTONE_WWW_AUTHENTICATE_URI": ks.url,
            "LBAAS_KEYSTONE_USERNAME": "lbaas",
            "LBAAS_KEYSTONE_PASSWORD": SERVICE_PASSWORD,
            "LBAAS_KEYSTONE_PROJECT_NAME": "service",
        }
        state = tmp_path_factory.mktemp("lbaas-keystone")
        with running_server(state, "--auth-strategy", "keystone", env_extra=env, port=port) as srv:
            yield Stack(keystone=ks, lbaas=srv, home=tmp_path_factory.mktemp("cli-home"))
    finally:
        ks_cm.__exit__(None, None, None)


def cli(stack: Stack, user: str, password: str, project: str) -> OpenStack:
    binary = str(Path(sys.executable).parent / "openstack")
    if not Path(binary).exists():
        binary = shutil.which("openstack") or pytest.skip("the openstack CLI is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(stack.home), OS_AUTH_URL=stack.keystone.url, OS_USERNAME=user, OS_PASSWORD=password,
               OS_PROJECT_NAME=project, OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne", OS_INTERFACE="public",
               PYTHONWARNINGS="ignore")  # fmt: skip
    return OpenStack(binary, env)


def test_no_or_bad_token_is_401(stack: Stack) -> None:
    for headers in ({}, {"X-Auth-Token": "not-a-token"}):
        r = httpx.get(stack.lbaas.url + "/v2/lbaas/loadbalancers", headers=headers, timeout=60)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == f'Keystone uri="{stack.keystone.url}"'
        assert r.json()["error"]["code"] == 401


def test_lifecycle_with_password_auth_and_isolation(stack: Stack) -> None:
    alice = cli(stack, "alice", "alice-pw", "proj-a")
    bob = cli(stack, "bob", "bob-pw", "proj-b")
    a_id = stack.keystone.project("proj-a")
    net = alice.json("network", "create", "ks-net")
    assert net["project_id"] == a_id
    alice.json("subnet", "create", "--network", "ks-net", "--subnet-range", "10.9.0.0/24", "ks-sub")
    lb = alice.json("loadbalancer", "create", "--name", "ks-lb", "--vip-subnet-id", "ks-sub", "--wait")
    assert (lb["project_id"], lb["provisioning_status"]) == (a_id, "ACTIVE")
    alice.json("loadbalancer", "listener", "create", "--name", "ks-l", "--protocol", "HTTP", "--protocol-port", "80",
               "--wait", "ks-lb")  # fmt: skip
    alice.json("loadbalancer", "pool", "create", "--name", "ks-p", "--listener", "ks-l", "--protocol", "HTTP",
               "--lb-algorithm", "ROUND_ROBIN", "--wait")  # fmt: skip
    alice.json("loadbalancer", "member", "create", "--address", "10.9.0.10", "--protocol-port", "80", "--wait", "ks-p")
    assert [r["name"] for r in alice.json("loadbalancer", "list")] == ["ks-lb"]

    assert bob.json("loadbalancer", "list") == []
    bob.fails("loadbalancer", "show", lb["id"])
    bob.fails("loadbalancer", "delete", lb["id"])
    # B's token, sent with forged identity headers, still acts for B only.
    b_token = password_token(stack.keystone.url, "bob", "bob-pw", "proj-b")
    forged = {"X-Auth-Token": b_token, "X-Project-Id": a_id, "X-Roles": "admin"}
    r = httpx.get(f"{stack.lbaas.url}/v2/lbaas/loadbalancers/{lb['id']}", headers=forged, timeout=60)
    assert r.status_code in (403, 404), r.text

    alice("loadbalancer", "delete", "--cascade", "--wait", "ks-lb")
    assert alice.json("loadbalancer", "list") == []


def test_revoked_token_is_401(stack: Stack) -> None:
    token = password_token(stack.keystone.url, "alice", "alice-pw", "proj-a")
    stack.keystone.revoke(token)
    r = httpx.get(stack.lbaas.url + "/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token}, timeout=60)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Keystone uri=")
