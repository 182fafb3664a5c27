"""L7 rules: the ``rule``/``rules`` envelope, per-type validation, the 50-rule limit, update, delete."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.db import models as m
from tests.contract.helpers import CONTROL_STRINGS, POLICIES, Cloud, assert_fault

Stack = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@pytest.fixture
def policy(cloud: Cloud, stack: Stack) -> dict[str, Any]:
    return cloud.policy(stack[1]["id"])


def rules_path(policy: dict[str, Any]) -> str:
    return f"{POLICIES}/{policy['id']}/rules"


def test_envelope_and_defaults(cloud: Cloud, stack: Stack, policy: dict[str, Any]) -> None:
    lb, li, _ = stack
    r = cloud.client.post(rules_path(policy), json={"rule": {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "www.example.com"}})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"rule"}
    rule = r.json()["rule"]
    expected = {
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "type": "HOST_NAME",
        "compare_type": "EQUAL_TO",
        "key": None,
        "value": "www.example.com",
        "invert": False,
        "admin_state_up": True,
        "tags": [],
        "project_id": lb["project_id"],
        "updated_at": None,
    }
    assert {k: rule[k] for k in expected} == expected
    assert cloud.status_of(f"{POLICIES}/{policy['id']}", "l7policy") == "PENDING_UPDATE"
    assert cloud.status_of(f"/v2/lbaas/listeners/{li['id']}", "listener") == "PENDING_UPDATE"
    cloud.settle()
    listing = cloud.client.get(rules_path(policy)).json()
    assert set(listing) == {"rules", "rules_links"}
    assert [x["id"] for x in listing["rules"]] == [rule["id"]]
    assert set(cloud.client.get(f"{rules_path(policy)}/{rule['id']}").json()) == {"rule"}
    assert cloud.get(f"{POLICIES}/{policy['id']}", "l7policy")["rules"] == [{"id": rule["id"]}]
    # The l7policy envelope is refused for rules.
    r = cloud.client.post(rules_path(policy), json={"l7rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/"}})
    assert_fault(r, 400)


VALID = [
    {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
    {"type": "PATH", "compare_type": "REGEX", "value": "^/api/v[0-9]+"},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "HEADER", "compare_type": "CONTAINS", "key": "X-Env", "value": "prod"},
    {"type": "COOKIE", "compare_type": "EQUAL_TO", "key": "session", "value": "abc123"},
    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "true"},
    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
    {"type": "SSL_DN_FIELD", "compare_type": "STARTS_WITH", "key": "CN", "value": "client"},
    {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/x", "invert": True},
]


@pytest.mark.parametrize("body", VALID)
def test_valid_rules(cloud: Cloud, policy: dict[str, Any], body: dict[str, Any]) -> None:
    rule = cloud.rule(policy["id"], **body)
    assert {k: rule[k] for k in body} == body


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"type": None}, "type"),
    ({"type": "QUERY"}, "type"),
    ({"compare_type": None}, "compare_type"),
    ({"compare_type": "LIKE"}, "compare_type"),
    ({"value": None}, "value"),
    ({"value": "x" * 256}, "value"),
    ({"key": "x" * 256, "type": "HEADER"}, "key"),
    ({"type": "FILE_TYPE", "compare_type": "STARTS_WITH", "value": "jpg"}, "FILE_TYPE"),
    ({"type": "FILE_TYPE", "compare_type": "CONTAINS", "value": "jpg"}, "FILE_TYPE"),
    ({"type": "HEADER", "value": "v"}, "key"),
    ({"type": "COOKIE", "value": "v"}, "key"),
    ({"type": "SSL_DN_FIELD", "value": "v"}, "key"),
    ({"type": "HEADER", "key": "bad header", "value": "v"}, "header"),
    ({"type": "HEADER", "key": "X-Ok", "value": "two words"}, "header value"),
    ({"type": "COOKIE", "key": "c", "value": "a;b"}, "cookie value"),
    ({"type": "COOKIE", "key": "c", "value": "a b"}, "cookie value"),
    ({"type": "COOKIE", "key": "bad;cookie", "value": "v"}, "cookie"),
    ({"type": "SSL_DN_FIELD", "key": "1CN", "value": "v"}, "DN"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "false"}, "true"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "CONTAINS", "value": "true"}, "EQUAL_TO"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "key": "k", "value": "true"}, "key"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"}, "integer"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "ok"}, "integer"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "STARTS_WITH", "value": "1"}, "EQUAL_TO"),
    ({"compare_type": "REGEX", "value": "(unclosed"}, "regex"),
    ({"type": "HOST_NAME", "value": "www example.com"}, "white space"),
    ({"type": "PATH", "value": "/a b"}, "white space"),
    ({"invert": "maybe"}, "invert"),
    ({"l7policy_id": "x"}, "l7policy_id"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(
    cloud: Cloud, stack: Stack, policy: dict[str, Any], patch: dict[str, Any], contains: str | None
) -> None:
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **patch}
    body = {k: v for k, v in body.items() if v is not None}
    cloud.rejected("POST", rules_path(policy), {"rule": body}, contains=contains, lb_id=stack[0]["id"])


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize("field", ["key", "value", "tags"])
def test_control_characters_rejected(cloud: Cloud, stack: Stack, policy: dict[str, Any], field: str, text: str) -> None:
    body: dict[str, Any] = {"type": "HEADER", "compare_type": "REGEX", "key": "X-A", "value": "v"}
    body[field] = [text] if field == "tags" else text
    cloud.rejected("POST", rules_path(policy), {"rule": body}, lb_id=stack[0]["id"])
    rule = cloud.rule(policy["id"], type="HEADER", compare_type="REGEX", key="X-B", value="v")
    cloud.rejected("PUT", f"{rules_path(policy)}/{rule['id']}", {"rule": {field: body[field]}}, lb_id=stack[0]["id"])


def test_fifty_rules_per_policy(cloud: Cloud, stack: Stack, policy: dict[str, Any]) -> None:
    lb = stack[0]
    with cloud.db.write() as s:  # 49 rules straight in the DB (the API path is covered above)
        for i in range(49):
            s.add(m.L7Rule(id=m.new_id(), project_id=lb["project_id"], l7policy_id=policy["id"], type="PATH",
                           compare_type="EQUAL_TO", value=f"/{i}", provisioning_status="ACTIVE", operating_status="ONLINE"))  # fmt: skip
    cloud.rule(policy["id"])  # the 50th
    body = {"rule": {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/51"}}
    cloud.rejected("POST", rules_path(policy), body, status=409, contains="Too many rules", lb_id=lb["id"])
    assert len(cloud.client.get(rules_path(policy)).json()["rules"]) == 50


def test_fifty_rules_limit_in_policy_create(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    rules = [{"type": "PATH", "compare_type": "EQUAL_TO", "value": f"/{i}"} for i in range(51)]
    body = {"l7policy": {"listener_id": li["id"], "action": "REJECT", "rules": rules}}
    cloud.rejected("POST", POLICIES, body, status=409, lb_id=lb["id"])


def test_update(cloud: Cloud, stack: Stack, policy: dict[str, Any]) -> None:
    rule = cloud.rule(policy["id"])
    out = cloud.put(f"{rules_path(policy)}/{rule['id']}", "rule",
                    {"type": "HEADER", "key": "X-A", "value": "b", "compare_type": "EQUAL_TO", "invert": True})  # fmt: skip
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["type"], out["key"], out["value"], out["invert"]) == ("HEADER", "X-A", "b", True)
    assert cloud.lb_status(stack[0]["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{rules_path(policy)}/{rule['id']}", "rule") == "ACTIVE"
    assert cloud.status_of(f"{POLICIES}/{policy['id']}", "l7policy") == "ACTIVE"


@pytest.mark.parametrize(
    "body",
    [{"type": "HEADER"}, {"compare_type": "LIKE"}, {"value": "a b"}, {"type": "FILE_TYPE"},
     {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO"}, {"value": None}, {"type": None},
     {"compare_type": None}, {"invert": None}, {"admin_state_up": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, stack: Stack, policy: dict[str, Any], body: dict[str, Any]) -> None:
    rule = cloud.rule(policy["id"])
    cloud.rejected("PUT", f"{rules_path(policy)}/{rule['id']}", {"rule": body}, lb_id=stack[0]["id"])


def test_rule_only_under_its_policy(cloud: Cloud, stack: Stack, policy: dict[str, Any]) -> None:
    other = cloud.policy(stack[1]["id"])
    rule = cloud.rule(policy["id"])
    assert_fault(cloud.client.get(f"{rules_path(other)}/{rule['id']}"), 404)
    assert_fault(cloud.client.delete(f"{rules_path(other)}/{rule['id']}"), 404)


def test_delete(cloud: Cloud, stack: Stack, policy: dict[str, Any]) -> None:
    rule = cloud.rule(policy["id"])
    path = f"{rules_path(policy)}/{rule['id']}"
    cloud.delete(path)
    assert cloud.status_of(path, "rule") == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(path)
    assert cloud.get(f"{POLICIES}/{policy['id']}", "l7policy")["rules"] == []
