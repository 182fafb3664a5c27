"""Auth strategies against the real app: token mode (tokens from the database) and noauth (Octavia's).

Token mode: no/invalid/expired/revoked token → 401 with WWW-Authenticate and keystonemiddleware's body;
identity headers sent by the client are ignored; the project, user and roles are the token's.
noauth: every caller is an administrator; a new object's project is the body's, else X-Project-Id, else
the default; lists show every project unless ``?project_id=`` filters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from lbaas.services import tokens
from tests.conftest import IdentityClient
from tests.contract.helpers import make_subnet, settle

LB = "/v2/lbaas/loadbalancers"
UNAUTH_BODY = {"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}


def _assert_401(r: Any) -> None:
    assert r.status_code == 401, r.text
    assert r.json() == UNAUTH_BODY
    assert r.headers["www-authenticate"].startswith('Keystone uri="')
    assert r.headers["x-openstack-request-id"].startswith("req-")


def _create_lb(client: IdentityClient, provider: NoopProvider, subnet: str, headers: dict[str, str], **extra: Any) -> Any:
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, **extra}}, headers=headers)
    assert r.status_code == 201, r.text
    settle(provider)
    return r.json()["loadbalancer"]


# --------------------------------------------------------------------------- token mode


@pytest.mark.parametrize("token", [None, "", "garbage", "lbaas-" + "0" * 32 + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
def test_missing_or_unknown_token_is_401(client: IdentityClient, token: str | None) -> None:
    headers = {"X-Auth-Token": token} if token is not None else {"X-Auth-Token": ""}
    _assert_401(client.get(LB, headers=headers))
    _assert_401(client.get("/v2.0/networks", headers=headers))
    _assert_401(client.post(LB, json={"loadbalancer": {}}, headers=headers))


def test_wrong_secret_of_a_real_token_is_401(client: IdentityClient) -> None:
    good = client.token_for("p1", ["member"])
    assert client.get(LB, headers={"X-Auth-Token": good}).status_code == 200
    prefix, _, secret = good.partition(".")
    wrong = prefix + "." + ("A" if secret[0] != "A" else "B") + secret[1:]
    _assert_401(client.get(LB, headers={"X-Auth-Token": wrong}))


def test_versions_document_needs_no_token(client: IdentityClient) -> None:
    r = client.get("/", headers={"X-Auth-Token": ""})
    assert r.status_code == 200 and r.json()["versions"]


def test_revoked_token_is_refused_at_once(client: IdentityClient, database: Database) -> None:
    with database.write() as s:
        row, token = tokens.create(s, project_id="p1", roles=["member"])
        ident = row.id
    assert client.get(LB, headers={"X-Auth-Token": token}).status_code == 200  # valid as soon as made
    with database.write() as s:
        tokens.revoke(s, ident)
    _assert_401(client.get(LB, headers={"X-Auth-Token": token}))


def test_expired_token_is_401(client: IdentityClient, database: Database) -> None:
    with database.write() as s:
        row, token = tokens.create(s, project_id="p1", roles=["member"], expires_in=dt.timedelta(days=1))
        ident = row.id
    assert client.get(LB, headers={"X-Auth-Token": token}).status_code == 200
    with database.write() as s:  # a day passes
        s.get(m.ApiToken, ident).expires_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    _assert_401(client.get(LB, headers={"X-Auth-Token": token}))


def test_only_the_digest_is_stored(client: IdentityClient, database: Database) -> None:
    token = client.token_for("p9", ["member"])
    with database.read() as s:
        rows = [r for r in tokens.list_all(s) if r.project_id == "p9"]
    assert len(rows) == 1 and token.split(".", 1)[1] not in rows[0].secret_hash
    assert len(rows[0].secret_hash) == 64


def test_identity_headers_are_ignored(client: IdentityClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database, project_id="p1")
    member = client.as_("p1", "member")
    forged = {**member, "X-Roles": "admin", "X-Project-Id": "p2", "X-Tenant-Id": "p2", "X-Identity-Status": "Confirmed",
              "X-User-Id": "root", "X-Is-Admin-Project": "True"}  # fmt: skip
    # Not an admin: the admin-only endpoints refuse, and another project's quota is out of reach.
    assert client.get("/v2/octavia/amphorae", headers=forged).status_code == 403
    assert client.get("/v2/lbaas/quotas/p2", headers=forged).status_code == 403
    # The new LB belongs to the token's project, not the header's.
    lb = _create_lb(client, provider, subnet, forged)
    assert lb["project_id"] == "p1"
    # A body naming another project is refused for a non-admin (Octavia's 403).
    r = client.post(LB, json={"loadbalancer": {"vip_subnet_id": subnet, "project_id": "p2"}}, headers=forged)
    assert r.status_code == 403, r.text


def test_projects_are_isolated(client: IdentityClient, database: Database, provider: NoopProvider) -> None:
    a, b = client.as_("proj-a", "member"), client.as_("proj-b", "member")
    lb_a = _create_lb(client, provider, make_subnet(database, project_id="proj-a"), a)
    lb_b = _create_lb(client, provider, make_subnet(database, project_id="proj-b", cidr="10.1.0.0/24"), b)
    assert [x["id"] for x in client.get(LB, headers=a).json()["loadbalancers"]] == [lb_a["id"]]
    assert [x["id"] for x in client.get(LB, headers=b).json()["loadbalancers"]] == [lb_b["id"]]
    assert client.get(f"{LB}/{lb_b['id']}", headers=a).status_code in (403, 404)
    assert client.delete(f"{LB}/{lb_b['id']}", headers=a).status_code in (403, 404)
    assert client.get(f"{LB}/{lb_b['id']}", headers=b).status_code == 200
    # An admin token sees both, and filters by project.
    admin = client.as_("ops", "admin")
    assert {x["id"] for x in client.get(LB, headers=admin).json()["loadbalancers"]} == {lb_a["id"], lb_b["id"]}
    only_b = client.get(f"{LB}?project_id=proj-b", headers=admin).json()["loadbalancers"]
    assert [x["id"] for x in only_b] == [lb_b["id"]]


def test_admin_token_creates_for_another_project(client: IdentityClient, database: Database, provider: NoopProvider) -> None:
    subnet = make_subnet(database, project_id="p1")
    lb = _create_lb(client, provider, subnet, client.as_("ops", "admin"), project_id="p1")
    assert lb["project_id"] == "p1"
    assert client.get(f"{LB}/{lb['id']}", headers=client.as_("p1")).status_code == 200


# --------------------------------------------------------------------------- noauth


class TestNoauth:
    @pytest.fixture
    def auth_strategy(self) -> str:
        return "noauth"

    def test_every_caller_is_admin(self, client: IdentityClient) -> None:
        for headers in ({}, {"X-Roles": "member", "X-Project-Id": "p1"}, {"X-Auth-Token": "anything"}):
            assert client.get("/v2/octavia/amphorae", headers=headers).status_code == 200
            r = client.put("/v2/lbaas/quotas/p7", json={"quota": {"pool": 3}}, headers=headers)
            assert r.status_code == 202, r.text

    def test_project_of_a_new_object(self, client: IdentityClient, database: Database, provider: NoopProvider) -> None:
        subnet = make_subnet(database, project_id="whoever")
        assert _create_lb(client, provider, subnet, {}, project_id="body-p")["project_id"] == "body-p"
        both = {"X-Project-Id": "hdr-p"}
        assert _create_lb(client, provider, subnet, both, project_id="body-p")["project_id"] == "body-p"
        assert _create_lb(client, provider, subnet, both)["project_id"] == "hdr-p"
        assert _create_lb(client, provider, subnet, {"X-Tenant-Id": "ten-p"})["project_id"] == "ten-p"
        assert _create_lb(client, provider, subnet, {})["project_id"] == "lbaas-default"

    def test_lists_show_every_project_unless_filtered(
        self, client: IdentityClient, database: Database, provider: NoopProvider
    ) -> None:
        subnet = make_subnet(database, project_id="x")
        one = _create_lb(client, provider, subnet, {}, project_id="p1")
        two = _create_lb(client, provider, subnet, {}, project_id="p2")
        for headers in ({}, {"X-Project-Id": "p3"}):
            got = {x["id"] for x in client.get(LB, headers=headers).json()["loadbalancers"]}
            assert got == {one["id"], two["id"]}
        assert [x["id"] for x in client.get(f"{LB}?project_id=p2").json()["loadbalancers"]] == [two["id"]]
        # Found again by id whatever project it was made for (openstacksdk's functional suite does this).
        assert client.get(f"{LB}/{one['id']}", headers={"X-Project-Id": "p3"}).status_code == 200
