"""L7 policies: action inference, redirect rules and codes, positions (append, insert, move, renumber)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import CONTROL_STRINGS, LISTENERS, POLICIES, Cloud, assert_fault

MISSING = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"
Stack = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
URL = "https://example.com/moved"


def positions(cloud: Cloud, listener_id: str) -> list[str]:
    """Policy ids in position order, checking the positions are 1..n."""
    r = cloud.client.get(f"{POLICIES}?listener_id={listener_id}&sort=position:asc")
    policies = r.json()["l7policies"]
    assert [p["position"] for p in policies] == list(range(1, len(policies) + 1)), policies
    return [p["id"] for p in policies]


def test_create_defaults(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    pol = cloud.post(POLICIES, "l7policy", {"listener_id": li["id"], "action": "REJECT"})
    expected = {
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "name": None,
        "description": None,
        "admin_state_up": True,
        "action": "REJECT",
        "listener_id": li["id"],
        "position": 1,
        "redirect_pool_id": None,
        "redirect_url": None,
        "redirect_prefix": None,
        "redirect_http_code": None,
        "rules": [],
        "tags": [],
        "project_id": lb["project_id"],
        "updated_at": None,
    }
    assert {k: pol[k] for k in expected} == expected
    assert cloud.status_of(f"{LISTENERS}/{li['id']}", "listener") == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.get(f"{LISTENERS}/{li['id']}", "listener")["l7policies"] == [{"id": pol["id"]}]


@pytest.mark.parametrize(
    "field, value, action",
    [("redirect_url", URL, "REDIRECT_TO_URL"), ("redirect_prefix", "https://example.com", "REDIRECT_PREFIX"),
     ("redirect_pool_id", None, "REDIRECT_TO_POOL")],
)  # fmt: skip
def test_action_inferred_from_redirect_field(cloud: Cloud, stack: Stack, field: str, value: Any, action: str) -> None:
    lb, li, _ = stack
    if field == "redirect_pool_id":
        value = cloud.pool(loadbalancer_id=lb["id"])["id"]
    pol = cloud.post(POLICIES, "l7policy", {"listener_id": li["id"], field: value})
    assert pol["action"] == action and pol[field] == value
    assert pol["redirect_http_code"] == (None if action == "REDIRECT_TO_POOL" else 302)


def test_redirect_http_code_stored(cloud: Cloud, stack: Stack) -> None:
    _, li, _ = stack
    for code in (301, 302, 303, 307, 308):
        assert cloud.policy(li["id"], "REDIRECT_TO_URL", redirect_url=URL, redirect_http_code=code)["redirect_http_code"] == code


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"action": None}, "action"),
    ({"action": "DROP"}, "action"),
    ({"action": "REDIRECT_TO_URL"}, "redirect_url"),
    ({"action": "REDIRECT_PREFIX"}, "redirect_prefix"),
    ({"action": "REDIRECT_TO_POOL"}, "redirect_pool_id"),
    ({"action": None, "redirect_url": URL, "redirect_prefix": URL}, None),
    ({"action": None, "redirect_url": URL, "redirect_pool_id": "POOL"}, None),
    ({"action": "REDIRECT_TO_URL", "redirect_url": URL, "redirect_http_code": 304}, "redirect_http_code"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://example.com"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "https://exa mple.com"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "example.com"}, "redirect_url"),
    ({"action": "REDIRECT_PREFIX", "redirect_prefix": "/relative"}, "redirect_prefix"),
    ({"action": "REJECT", "redirect_url": URL}, "redirect_url"),
    ({"position": 0}, "position"),
    ({"position": 2147483648}, "position"),
    ({"name": "x" * 256}, "name"),
    ({"description": "x" * 256}, "description"),
    ({"listener_id": "nope"}, "listener_id"),
    ({"listener_id": None}, "listener_id"),
    ({"redirect_pool_id": MISSING, "action": None}, None),
    ({"rules": [{"type": "PATH", "compare_type": "BEGINS", "value": "/"}]}, "compare_type"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(cloud: Cloud, stack: Stack, patch: dict[str, Any], contains: str | None) -> None:
    lb, li, _ = stack
    if patch.get("redirect_pool_id") == "POOL":
        patch = {**patch, "redirect_pool_id": cloud.pool(loadbalancer_id=lb["id"])["id"]}
    body = {k: v for k, v in {"listener_id": li["id"], "action": "REJECT", **patch}.items() if v is not None}
    status = 404 if patch.get("redirect_pool_id") == MISSING else 400
    cloud.rejected("POST", POLICIES, {"l7policy": body}, status=status, contains=contains, lb_id=lb["id"])


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize("field", ["name", "description", "redirect_url", "redirect_prefix", "tags"])
def test_control_characters_rejected(cloud: Cloud, stack: Stack, field: str, text: str) -> None:
    lb, li, _ = stack
    body: dict[str, Any] = {"listener_id": li["id"]}
    if field in ("redirect_url", "redirect_prefix"):
        body[field] = f"https://example.com/{text}"
    else:
        body.update(action="REJECT", **{field: [text] if field == "tags" else text})
    cloud.rejected("POST", POLICIES, {"l7policy": body}, lb_id=lb["id"])
    pol = cloud.policy(li["id"], "REDIRECT_TO_URL", redirect_url=URL)
    update = {k: v for k, v in body.items() if k != "listener_id"}
    cloud.rejected("PUT", f"{POLICIES}/{pol['id']}", {"l7policy": update}, lb_id=lb["id"])


@pytest.mark.parametrize("protocol", ["TCP", "HTTPS", "UDP"])
def test_only_http_listeners_take_policies(cloud: Cloud, protocol: str) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"], protocol, 8443)
    cloud.rejected("POST", POLICIES, {"l7policy": {"listener_id": li["id"], "action": "REJECT"}}, status=501, lb_id=lb["id"])


def test_redirect_pool_must_be_on_the_same_lb(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    other_lb = cloud.lb()
    foreign = cloud.pool(loadbalancer_id=other_lb["id"])
    body = {"l7policy": {"listener_id": li["id"], "redirect_pool_id": foreign["id"]}}
    cloud.rejected("POST", POLICIES, body, lb_id=lb["id"])


def test_redirect_pool_protocol_must_fit_the_listener(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    tcp_pool = cloud.pool("TCP", loadbalancer_id=lb["id"])
    body = {"l7policy": {"listener_id": li["id"], "redirect_pool_id": tcp_pool["id"]}}
    cloud.rejected("POST", POLICIES, body, contains="invalid", lb_id=lb["id"])


def test_positions_append_and_insert(cloud: Cloud, stack: Stack) -> None:
    _, li, _ = stack
    a = cloud.policy(li["id"])
    b = cloud.policy(li["id"])
    assert positions(cloud, li["id"]) == [a["id"], b["id"]]
    c = cloud.policy(li["id"], position=1)
    assert c["position"] == 1
    assert positions(cloud, li["id"]) == [c["id"], a["id"], b["id"]]
    d = cloud.policy(li["id"], position=2)
    assert positions(cloud, li["id"]) == [c["id"], d["id"], a["id"], b["id"]]
    e = cloud.policy(li["id"], position=99)  # past the end appends
    assert e["position"] == 5
    assert positions(cloud, li["id"]) == [c["id"], d["id"], a["id"], b["id"], e["id"]]
    # The listener lists its policies in position order.
    assert [p["id"] for p in cloud.get(f"{LISTENERS}/{li['id']}", "listener")["l7policies"]] == positions(cloud, li["id"])


def test_positions_move(cloud: Cloud, stack: Stack) -> None:
    _, li, _ = stack
    a, b, c = (cloud.policy(li["id"]) for _ in range(3))
    out = cloud.put(f"{POLICIES}/{c['id']}", "l7policy", {"position": 1})
    assert out["position"] == 1
    cloud.settle()
    assert positions(cloud, li["id"]) == [c["id"], a["id"], b["id"]]
    cloud.put(f"{POLICIES}/{c['id']}", "l7policy", {"position": 3})
    cloud.settle()
    assert positions(cloud, li["id"]) == [a["id"], b["id"], c["id"]]
    cloud.put(f"{POLICIES}/{a['id']}", "l7policy", {"position": 50})
    cloud.settle()
    assert positions(cloud, li["id"]) == [b["id"], c["id"], a["id"]]


def test_positions_renumbered_after_delete(cloud: Cloud, stack: Stack) -> None:
    _, li, _ = stack
    a, b, c = (cloud.policy(li["id"]) for _ in range(3))
    cloud.delete(f"{POLICIES}/{a['id']}")
    cloud.settle()
    cloud.gone(f"{POLICIES}/{a['id']}")
    assert positions(cloud, li["id"]) == [b["id"], c["id"]]
    d = cloud.policy(li["id"])
    assert d["position"] == 3
    assert positions(cloud, li["id"]) == [b["id"], c["id"], d["id"]]


def test_update_changes_action_and_clears_redirects(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    pool = cloud.pool(loadbalancer_id=lb["id"])
    pol = cloud.policy(li["id"], "REDIRECT_TO_URL", redirect_url=URL, redirect_http_code=301)
    out = cloud.put(f"{POLICIES}/{pol['id']}", "l7policy", {"redirect_pool_id": pool["id"]})
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["action"], out["redirect_pool_id"], out["redirect_url"], out["redirect_http_code"]) == (
        "REDIRECT_TO_POOL", pool["id"], None, None)  # fmt: skip
    cloud.settle()
    out = cloud.put(f"{POLICIES}/{pol['id']}", "l7policy", {"action": "REJECT", "name": "n", "admin_state_up": False})
    assert (out["action"], out["redirect_pool_id"], out["name"], out["admin_state_up"]) == ("REJECT", None, "n", False)
    cloud.settle()
    assert cloud.status_of(f"{POLICIES}/{pol['id']}", "l7policy") == "ACTIVE"


@pytest.mark.parametrize(
    "body",
    [{"listener_id": MISSING}, {"action": "REDIRECT_TO_URL"}, {"redirect_url": URL, "redirect_prefix": URL},
     {"position": 0}, {"redirect_http_code": 200}, {"name": "a\nb"}, {"redirect_url": "nope"}, {"action": None},
     {"admin_state_up": None}, {"position": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, stack: Stack, body: dict[str, Any]) -> None:
    lb, li, _ = stack
    pol = cloud.policy(li["id"])
    cloud.rejected("PUT", f"{POLICIES}/{pol['id']}", {"l7policy": body}, lb_id=lb["id"])


def test_delete(cloud: Cloud, stack: Stack) -> None:
    lb, li, _ = stack
    pol = cloud.policy(li["id"])
    rule = cloud.rule(pol["id"])
    cloud.delete(f"{POLICIES}/{pol['id']}")
    assert cloud.status_of(f"{POLICIES}/{pol['id']}", "l7policy") == "PENDING_DELETE"
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    cloud.gone(f"{POLICIES}/{pol['id']}")
    assert_fault(cloud.client.get(f"{POLICIES}/{pol['id']}/rules/{rule['id']}"), 404)
    assert cloud.get(f"{LISTENERS}/{li['id']}", "listener")["l7policies"] == []


def test_deleting_the_listener_removes_its_policies(cloud: Cloud, stack: Stack) -> None:
    _, li, _ = stack
    pol = cloud.policy(li["id"])
    cloud.rule(pol["id"])
    cloud.delete(f"{LISTENERS}/{li['id']}")
    cloud.settle()
    cloud.gone(f"{POLICIES}/{pol['id']}")
    assert cloud.client.get(POLICIES).json()["l7policies"] == []
