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


# ------------------------------------------------------------------- dashboard: Keystone credentials login


def test_dashboard_login_with_keystone_credentials_gives_a_token_the_api_accepts(stack: Stack) -> None:
    assert httpx.get(stack.lbaas.url + "/dashboard/login", timeout=60).status_code == 200  # the page shows the form
    r = httpx.post(stack.lbaas.url + "/dashboard/login", timeout=60,
                   json={"username": "alice", "password": "alice-pw", "project": "proj-a"})  # fmt: skip
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token and r.json()["expires_at"]
    lbs = httpx.get(stack.lbaas.url + "/v2/lbaas/loadbalancers", headers={"X-Auth-Token": token}, timeout=60)
    assert lbs.status_code == 200, lbs.text
    # acting for alice's project: a network made with this token belongs to proj-a
    net = httpx.post(stack.lbaas.url + "/v2.0/networks", headers={"X-Auth-Token": token}, timeout=60,
                     json={"network": {"name": "dash-login-net"}})  # fmt: skip
    assert net.status_code == 201, net.text
    assert net.json()["network"]["project_id"] == stack.keystone.project("proj-a")


@pytest.mark.parametrize("creds", [
    {"username": "alice", "password": "WRONG-pw-7f3a", "project": "proj-a"},
    {"username": "nobody", "password": "WRONG-pw-7f3a", "project": "proj-a"},
    {"username": "alice", "password": "alice-pw", "project": "proj-b"},  # not a member of proj-b
    {"username": "alice", "password": "alice-pw", "project": "proj-a", "domain": "NoSuchDomain"},
])  # fmt: skip
def test_dashboard_login_with_wrong_credentials_is_401(stack: Stack, creds: dict[str, str]) -> None:
    r = httpx.post(stack.lbaas.url + "/dashboard/login", json=creds, timeout=60)
    assert r.status_code == 401, r.text
    assert "credentials" in r.json()["faultstring"]
    assert "WRONG-pw-7f3a" not in r.text and "WRONG-pw-7f3a" not in stack.lbaas.log.read_text(errors="replace")


def test_dashboard_login_refuses_malformed_and_oversized_bodies(stack: Stack) -> None:
    url = stack.lbaas.url + "/dashboard/login"
    r = httpx.post(url, json={"username": "alice", "password": "SECRET-9d2c"}, timeout=60)  # no project
    assert r.status_code == 400 and "project" in r.text and "SECRET-9d2c" not in r.text, r.text
    assert httpx.post(url, content=b"{not json", timeout=60).status_code == 400
    big = {"username": "alice", "password": "x" * 20_000, "project": "proj-a"}
    assert httpx.post(url, json=big, timeout=60).status_code == 413
    assert "SECRET-9d2c" not in stack.lbaas.log.read_text(errors="replace")


def test_dashboard_form_logs_in_with_keystone_credentials(stack: Stack) -> None:
    """The page in headless Chromium (Debian's, as tests/dataplane/test_dashboard.py): wrong password →
    the message and no token; right credentials → the token is used and the API answers the page."""
    from tests.dataplane.test_dashboard import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip

    sync_api = _browser_or_skip()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            page.goto(stack.lbaas.url + "/dashboard/")
            page.locator("#auth-error").wait_for(state="visible")  # no token yet: the API asks for one
            page.locator("#keystone-login").wait_for(state="visible")  # keystone mode: the credentials form
            assert page.input_value("#ks-domain") == "Default"
            page.fill("#ks-user", "alice")
            page.fill("#ks-password", "not-alices-password")
            page.fill("#ks-project", "proj-a")
            page.click("#login button[type=submit]")
            page.locator("#auth-state", has_text="credentials").wait_for()
            assert page.evaluate("sessionStorage.getItem('lbaas.dashboard.token')") is None
            page.fill("#ks-password", "alice-pw")
            page.click("#login button[type=submit]")
            page.locator("#logout").wait_for(state="visible")  # signed in
            assert page.evaluate("sessionStorage.getItem('lbaas.dashboard.token')")
            page.locator("#auth-error").wait_for(state="hidden")  # the API accepts the Keystone token
            assert page.input_value("#ks-password") == ""
        finally:
            browser.close()


# ------------------------------------------------------------------- X-Service-Token (a service acting for a user)


def test_service_token_with_a_user_token(stack: Stack) -> None:
    """keystonemiddleware's service-token handling, as Octavia's [keystone_authtoken] configures it
    (service_token_roles = service, service_token_roles_required = true)."""
    url = stack.lbaas.url + "/v2.0/networks"
    user = password_token(stack.keystone.url, "alice", "alice-pw", "proj-a")
    service = password_token(stack.keystone.url, "lbaas", SERVICE_PASSWORD, "service")  # has the service role
    r = httpx.post(url, headers={"X-Auth-Token": user, "X-Service-Token": service}, timeout=60,
                   json={"network": {"name": "svc-token-net"}})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["network"]["project_id"] == stack.keystone.project("proj-a")  # the user's, not the service's
    # a valid token without a service role, and a garbage one, are refused as service tokens
    for bad in (password_token(stack.keystone.url, "bob", "bob-pw", "proj-b"), "not-a-token"):
        r = httpx.get(url, headers={"X-Auth-Token": user, "X-Service-Token": bad}, timeout=60)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Keystone uri=")
    # a service token alone is not a user's identity
    r = httpx.get(url, headers={"X-Service-Token": service}, timeout=60)
    assert r.status_code == 401, r.text
