"""L7 policies through a real HAProxy: every action, every common rule type, invert, position order.

One HTTP listener whose default pool is ``main`` (web1); ``alt`` (web2) is reachable only by policy.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfl7-"
NET = "10.252.2"
VIP = f"{NET}.20"
MAIN, ALT = f"{HOST_PREFIX}web1", f"{HOST_PREFIX}web2"


def rule(type_: str, value: str, compare: str = "EQUAL_TO", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "compare_type": compare, "value": value, **extra}


# (name, policy), listed in position order (1..n).
POLICIES: list[tuple[str, dict[str, Any]]] = [
    ("reject_path", {"action": "REJECT", "rules": [rule("PATH", "/reject", "STARTS_WITH")]}),
    ("to_url_host", {"action": "REDIRECT_TO_URL", "redirect_url": "http://elsewhere.example/landing",
                     "redirect_http_code": 301, "rules": [rule("HOST_NAME", "redirect.example")]}),
    ("prefix_path", {"action": "REDIRECT_PREFIX", "redirect_prefix": "https://new.example",
                     "rules": [rule("PATH", "/old/", "STARTS_WITH")]}),
    ("pool_header", {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "alt"},
                     "rules": [rule("HEADER", "alt", key="X-Route")]}),
    ("pool_cookie", {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "alt"},
                     "rules": [rule("COOKIE", "alt", "STARTS_WITH", key="flavor")]}),
    # /inv goes to alt unless the client says X-Keep: main (the second rule is inverted; rules are ANDed).
    ("pool_inverted", {"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "alt"},
                       "rules": [rule("PATH", "/inv", "STARTS_WITH"), rule("HEADER", "main", key="X-Keep", invert=True)]}),
    # Comes after pool_header: a request matching both goes to alt, although HAProxy runs http-request
    # rules (deny) before use_backend.
    ("reject_late", {"action": "REJECT", "rules": [rule("PATH", "/both", "STARTS_WITH")]}),
]  # fmt: skip


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    for name, last in (("web1", 11), ("web2", 12)):
        service.host(name, net["id"], f"{NET}.{last}")
    policies = [{"name": name, "position": i, **body} for i, (name, body) in enumerate(POLICIES, start=1)]
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "main"},
                       "l7policies": policies}],
        "pools": [
            {"name": "main", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
            {"name": "alt", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.12", "protocol_port": 80}]},
        ],
    })  # fmt: skip
    ids = {p["name"]: p["id"] for p in service.client.call("GET", "/v2/lbaas/l7policies")["l7policies"]}
    return {"lb": lb["id"], "policies": ids}


def get(service: Service, path: str = "/", **headers: str) -> dict[str, Any]:
    (answer,) = service.fetch("client", f"http://{VIP}{path}", headers=headers, follow_redirects=False)
    return answer


def location(answer: dict[str, Any]) -> str:
    return str({k.lower(): v for k, v in answer["response_headers"].items()}.get("location"))


def test_no_policy_matches_default_pool(service: Service, topo: dict[str, Any]) -> None:
    a = get(service, "/plain")
    assert (a["status"], a["host"], a["path"]) == (200, MAIN, "/plain")


def test_reject_on_path_answers_403(service: Service, topo: dict[str, Any]) -> None:
    assert get(service, "/reject/me")["status"] == 403
    assert get(service, "/rejected-not")["status"] == 403  # STARTS_WITH
    assert get(service, "/x/reject")["host"] == MAIN


def test_redirect_to_url_on_host_name(service: Service, topo: dict[str, Any]) -> None:
    a = get(service, "/some/path?q=1", Host="redirect.example")
    assert a["status"] == 301
    assert location(a) == "http://elsewhere.example/landing"
    b = get(service, "/some/path", Host="other.example")
    assert (b["status"], b["host"]) == (200, MAIN)


def test_redirect_prefix_keeps_path_and_query(service: Service, topo: dict[str, Any]) -> None:
    a = get(service, "/old/page.html?x=1")
    assert a["status"] == 302  # the default code
    assert location(a) == "https://new.example/old/page.html?x=1"


def test_redirect_to_pool_on_header(service: Service, topo: dict[str, Any]) -> None:
    a = get(service, "/h", **{"X-Route": "alt"})
    assert (a["status"], a["host"], a["path"]) == (200, ALT, "/h")
    assert get(service, "/h", **{"X-Route": "alternative"})["host"] == MAIN  # EQUAL_TO, not a prefix


def test_redirect_to_pool_on_cookie(service: Service, topo: dict[str, Any]) -> None:
    assert get(service, "/c", Cookie="a=1; flavor=alt-2")["host"] == ALT
    assert get(service, "/c", Cookie="flavor=main; other=alt")["host"] == MAIN


def test_inverted_rule(service: Service, topo: dict[str, Any]) -> None:
    assert get(service, "/inv")["host"] == ALT
    assert get(service, "/inv", **{"X-Keep": "main"})["host"] == MAIN
    assert get(service, "/inv", **{"X-Keep": "other"})["host"] == ALT


def test_first_matching_policy_wins_in_position_order(service: Service, topo: dict[str, Any]) -> None:
    # reject_path (1) before pool_header (4): REJECT wins.
    assert get(service, "/reject", **{"X-Route": "alt"})["status"] == 403
    # pool_header (4) before reject_late (7): the pool wins, although deny is an http-request rule.
    a = get(service, "/both", **{"X-Route": "alt"})
    assert (a["status"], a.get("host")) == (200, ALT)
    assert get(service, "/both")["status"] == 403


def test_moving_a_policy_changes_the_winner(service: Service, topo: dict[str, Any]) -> None:
    pid = topo["policies"]["reject_late"]
    service.change(topo["lb"], "PUT", f"/v2/lbaas/l7policies/{pid}", {"l7policy": {"position": 1}})
    try:
        assert get(service, "/both", **{"X-Route": "alt"})["status"] == 403
        assert get(service, "/reject")["status"] == 403  # the others still apply
        assert get(service, "/h", **{"X-Route": "alt"})["host"] == ALT
    finally:
        service.change(topo["lb"], "PUT", f"/v2/lbaas/l7policies/{pid}", {"l7policy": {"position": len(POLICIES)}})
    assert get(service, "/both", **{"X-Route": "alt"})["host"] == ALT
