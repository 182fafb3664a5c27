"""Pools: defaults, session persistence and TLS rules, listener attachment, update, delete rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import CONTROL_STRINGS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault

MISSING = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"


def test_create_defaults(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.post(POOLS, "pool", {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
    expected = {
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "name": None,
        "description": None,
        "admin_state_up": True,
        "session_persistence": None,
        "tls_enabled": False,
        "tls_container_ref": None,
        "ca_tls_container_ref": None,
        "crl_container_ref": None,
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
        "healthmonitor_id": None,
        "members": [],
        "listeners": [],
        "loadbalancers": [{"id": lb["id"]}],
        "tags": [],
        "project_id": lb["project_id"],
        "updated_at": None,
    }
    assert {k: pool[k] for k in expected} == expected
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "ACTIVE"
    assert cloud.get(f"{LB}/{lb['id']}", "loadbalancer")["pools"] == [{"id": pool["id"]}]


def test_create_with_listener_sets_default_pool(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    pool = cloud.post(POOLS, "pool", {"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})
    assert pool["listeners"] == [{"id": li["id"]}] and pool["loadbalancers"] == [{"id": lb["id"]}]
    assert cloud.status_of(f"{LISTENERS}/{li['id']}", "listener") == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.get(f"{LISTENERS}/{li['id']}", "listener")["default_pool_id"] == pool["id"]
    # A listener has one default pool: a second one is a conflict.
    body = {"pool": {"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}
    cloud.rejected("POST", POOLS, body, status=409, lb_id=lb["id"])


def test_tls_defaults_only_when_enabled(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.pool("HTTPS", loadbalancer_id=lb["id"], tls_enabled=True)
    assert pool["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert pool["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]


@pytest.mark.parametrize(
    "sp",
    [
        {"type": "SOURCE_IP"},
        {"type": "HTTP_COOKIE"},
        {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"},
    ],
)
def test_session_persistence_accepted(cloud: Cloud, sp: dict[str, Any]) -> None:
    lb = cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb["id"], session_persistence=sp)
    assert pool["session_persistence"]["type"] == sp["type"]
    assert pool["session_persistence"].get("cookie_name") == sp.get("cookie_name")


def test_udp_session_persistence_timeout(cloud: Cloud) -> None:
    lb = cloud.lb()
    sp = {"type": "SOURCE_IP", "persistence_timeout": 60, "persistence_granularity": "255.255.255.0"}
    pool = cloud.pool("UDP", loadbalancer_id=lb["id"], session_persistence=sp)
    assert pool["session_persistence"]["persistence_timeout"] == 60


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"protocol": None}, "protocol"),
    ({"protocol": "FTP"}, "protocol"),
    ({"lb_algorithm": None}, "lb_algorithm"),
    ({"lb_algorithm": "RANDOM"}, "lb_algorithm"),
    ({"loadbalancer_id": None}, "loadbalancer_id or listener_id"),
    ({"loadbalancer_id": "nope"}, "loadbalancer_id"),
    ({"name": "x" * 256}, "name"),
    ({"description": "x" * 256}, "description"),
    ({"session_persistence": {"type": "STICKY"}}, None),
    ({"session_persistence": {"type": "APP_COOKIE"}}, "cookie_name"),
    ({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "c"}}, "cookie_name"),
    ({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "c"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a b"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a,b"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a;b"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "a\\b"}}, "cookie_name"),
    ({"session_persistence": {"type": "APP_COOKIE", "cookie_name": "x" * 256}}, "cookie_name"),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_timeout": 5}}, "UDP"),
    ({"session_persistence": {"type": "SOURCE_IP", "persistence_granularity": "255.0.0.0"}}, "UDP"),
    ({"protocol": "UDP", "session_persistence": {"type": "HTTP_COOKIE"}}, "UDP"),
    ({"protocol": "SCTP", "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"}}, None),
    ({"session_persistence": {"type": "SOURCE_IP", "extra": 1}}, "extra"),
    ({"crl_container_ref": "http://barbican/crl"}, "CA"),
    ({"tls_versions": ["TLSv7"]}, None),
    ({"tls_ciphers": "AES\nBAD"}, None),
    ({"alpn_protocols": ["gopher"]}, None),
    ({"listener_id": "nope"}, "listener_id"),
    ({"healthmonitor_id": MISSING}, "healthmonitor_id"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(cloud: Cloud, patch: dict[str, Any], contains: str | None) -> None:
    lb = cloud.lb()
    body = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **patch}
    body = {k: v for k, v in body.items() if v is not None}
    cloud.rejected("POST", POOLS, {"pool": body}, contains=contains, lb_id=lb["id"])


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize("field", ["name", "description", "cookie_name", "tls_container_ref", "tags"])
def test_control_characters_rejected(cloud: Cloud, field: str, text: str) -> None:
    lb = cloud.lb()
    body: dict[str, Any] = {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    if field == "cookie_name":
        body["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": text}
    elif field == "tags":
        body["tags"] = [text]
    else:
        body[field] = text
    cloud.rejected("POST", POOLS, {"pool": body}, lb_id=lb["id"])


def test_listener_protocol_mismatch_rejected(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    body = {"pool": {"listener_id": li["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}
    cloud.rejected("POST", POOLS, body, contains="invalid", lb_id=lb["id"])


def test_listener_and_lb_must_match(cloud: Cloud) -> None:
    lb1, lb2 = cloud.lb(), cloud.lb()
    li = cloud.listener(lb1["id"])
    body = {"pool": {"listener_id": li["id"], "loadbalancer_id": lb2["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}
    cloud.rejected("POST", POOLS, body, lb_id=lb2["id"])


def test_unknown_parent_is_404(cloud: Cloud) -> None:
    cloud.lb()
    cloud.rejected("POST", POOLS, {"pool": {"loadbalancer_id": MISSING, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, status=404)
    cloud.rejected("POST", POOLS, {"pool": {"listener_id": MISSING, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, status=404)


def test_update(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb["id"], session_persistence={"type": "SOURCE_IP"})
    out = cloud.put(f"{POOLS}/{pool['id']}", "pool",
                    {"name": "p", "lb_algorithm": "LEAST_CONNECTIONS", "session_persistence": None, "admin_state_up": False})  # fmt: skip
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["name"], out["lb_algorithm"], out["session_persistence"], out["admin_state_up"]) == (
        "p", "LEAST_CONNECTIONS", None, False)  # fmt: skip
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "ACTIVE"


@pytest.mark.parametrize(
    "body",
    [{"protocol": "TCP"}, {"lb_algorithm": None}, {"lb_algorithm": "FASTEST"}, {"loadbalancer_id": MISSING},
     {"session_persistence": {"type": "APP_COOKIE"}}, {"name": "a\rb"}, {"crl_container_ref": "x"},
     {"session_persistence": {"type": "HTTP_COOKIE", "persistence_timeout": 3}}, {"admin_state_up": None},
     {"tls_enabled": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, body: dict[str, Any]) -> None:
    lb = cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb["id"])
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}", {"pool": body}, lb_id=lb["id"])


def test_delete_clears_listener_default_pool(cloud: Cloud, stack: tuple[dict[str, Any], ...]) -> None:
    lb, li, pool = stack
    mb = cloud.member(pool["id"])
    hm = cloud.hm(pool["id"])
    cloud.delete(f"{POOLS}/{pool['id']}")
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(f"{POOLS}/{pool['id']}")
    cloud.gone(f"{cloud.client.base_url}/v2/lbaas/healthmonitors/{hm['id']}")
    assert_fault(cloud.client.get(f"{POOLS}/{pool['id']}/members/{mb['id']}"), 404)
    li = cloud.get(f"{LISTENERS}/{li['id']}", "listener")
    assert li["default_pool_id"] is None and li["provisioning_status"] == "ACTIVE"
    assert cloud.get(f"{LB}/{lb['id']}", "loadbalancer")["pools"] == []


def test_redirect_pool_cannot_be_deleted(cloud: Cloud, stack: tuple[dict[str, Any], ...]) -> None:
    lb, li, _ = stack
    target = cloud.pool(loadbalancer_id=lb["id"])
    policy = cloud.policy(li["id"], "REDIRECT_TO_POOL", redirect_pool_id=target["id"])
    cloud.rejected("DELETE", f"{POOLS}/{target['id']}", status=409, contains=policy["id"], lb_id=lb["id"])
    # Once the policy no longer redirects to it, the pool can go.
    cloud.put(f"{POLICIES}/{policy['id']}", "l7policy", {"action": "REJECT"})
    cloud.settle()
    cloud.delete(f"{POOLS}/{target['id']}")
    cloud.settle()
    cloud.gone(f"{POOLS}/{target['id']}")


def test_redirect_pool_shows_listener(cloud: Cloud, stack: tuple[dict[str, Any], ...]) -> None:
    lb, li, _ = stack
    target = cloud.pool(loadbalancer_id=lb["id"])
    cloud.policy(li["id"], "REDIRECT_TO_POOL", redirect_pool_id=target["id"])
    assert cloud.get(f"{POOLS}/{target['id']}", "pool")["listeners"] == [{"id": li["id"]}]
