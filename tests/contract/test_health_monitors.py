"""Health monitors: defaults per type, pool/type compatibility, HTTP-only fields, one per pool, update, delete."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import CONTROL_STRINGS, HMS, POOLS, Cloud

MISSING = "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"
Stack = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
BASE = {"delay": 5, "timeout": 3, "max_retries": 2}


def test_http_defaults(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    hm = cloud.post(HMS, "healthmonitor", {"pool_id": pool["id"], "type": "HTTP", **BASE})
    expected = {
        "provisioning_status": "PENDING_CREATE",
        "operating_status": "OFFLINE",
        "name": None,
        "admin_state_up": True,
        "max_retries_down": 3,
        "http_method": "GET",
        "url_path": "/",
        "expected_codes": "200",
        "http_version": None,
        "domain_name": None,
        "pools": [{"id": pool["id"]}],
        "tags": [],
        "project_id": lb["project_id"],
        "updated_at": None,
        **BASE,
    }
    assert {k: hm[k] for k in expected} == expected
    assert cloud.status_of(f"{POOLS}/{pool['id']}", "pool") == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["healthmonitor_id"] == hm["id"]


@pytest.mark.parametrize("hm_type", ["TCP", "PING", "TLS-HELLO"])
def test_non_http_types_have_no_http_fields(cloud: Cloud, stack: Stack, hm_type: str) -> None:
    _, _, pool = stack
    hm = cloud.hm(pool["id"], hm_type)
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)


def test_http_fields_stored(cloud: Cloud, stack: Stack) -> None:
    _, _, pool = stack
    hm = cloud.hm(pool["id"], "HTTPS", http_method="HEAD", url_path="/health?x=1", expected_codes="200-204",
                  http_version=1.1, domain_name="www.example.com", max_retries_down=10, name="hm")  # fmt: skip
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == ("HEAD", "/health?x=1", "200-204")
    assert (hm["http_version"], hm["domain_name"], hm["max_retries_down"]) == (1.1, "www.example.com", 10)


# Which monitor types each pool protocol accepts (reference §1.4).
HM_TYPES = ["HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP"]
POOL_HM = {
    "HTTP": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "PROXY": {"HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO"},
    "UDP": {"HTTP", "TCP", "UDP-CONNECT", "SCTP"},
    "SCTP": {"HTTP", "TCP", "UDP-CONNECT", "SCTP"},
}


@pytest.mark.parametrize("pool_protocol", sorted(POOL_HM))
def test_type_compatibility(cloud: Cloud, pool_protocol: str) -> None:
    lb = cloud.lb()
    for hm_type in HM_TYPES:
        pool = cloud.pool(pool_protocol, loadbalancer_id=lb["id"])
        body = {"pool_id": pool["id"], "type": hm_type, **BASE, "delay": 5}
        if hm_type in POOL_HM[pool_protocol]:
            cloud.post(HMS, "healthmonitor", body)
            cloud.settle()
        else:
            cloud.rejected("POST", HMS, {"healthmonitor": body}, contains=pool_protocol, lb_id=lb["id"])


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"type": None}, "type"),
    ({"type": "ICMP"}, "type"),
    ({"delay": None}, "delay"),
    ({"delay": -1}, "delay"),
    ({"timeout": None}, "timeout"),
    ({"timeout": -1}, "timeout"),
    ({"max_retries": None}, "max_retries"),
    ({"max_retries": 0}, "max_retries"),
    ({"max_retries": 11}, "max_retries"),
    ({"max_retries_down": 0}, "max_retries_down"),
    ({"max_retries_down": 11}, "max_retries_down"),
    ({"http_method": "FETCH"}, "http_method"),
    ({"url_path": "health"}, "url_path"),
    ({"url_path": "/a b"}, "url_path"),
    ({"expected_codes": "2xx"}, "expected_codes"),
    ({"expected_codes": "200-"}, "expected_codes"),
    ({"expected_codes": "200;201"}, "expected_codes"),
    ({"http_version": 2.0}, "http_version"),
    ({"domain_name": "www.example.com"}, "http_version"),
    ({"domain_name": "www.example.com", "http_version": 1.0}, "http_version"),
    ({"domain_name": "bad domain", "http_version": 1.1}, "domain_name"),
    ({"domain_name": "", "http_version": 1.1}, "domain_name"),
    ({"type": "TCP", "http_method": "GET"}, "http_method"),
    ({"type": "TCP", "url_path": "/"}, "url_path"),
    ({"type": "PING", "expected_codes": "200"}, "expected_codes"),
    ({"type": "TLS-HELLO", "http_version": 1.1}, "http_version"),
    ({"name": "x" * 256}, "name"),
    ({"pool_id": "nope"}, "pool_id"),
    ({"pool_id": None}, "pool_id"),
    ({"pool_id": MISSING}, None),
    ({"operating_status": "ONLINE"}, "operating_status"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(cloud: Cloud, stack: Stack, patch: dict[str, Any], contains: str | None) -> None:
    lb, _, pool = stack
    body = {k: v for k, v in {"pool_id": pool["id"], "type": "HTTP", **BASE, **patch}.items() if v is not None}
    status = 404 if patch.get("pool_id") == MISSING else 400
    cloud.rejected("POST", HMS, {"healthmonitor": body}, status=status, contains=contains, lb_id=lb["id"])


def test_timeout_longer_than_delay_is_accepted(cloud: Cloud, stack: Stack) -> None:
    """Documented as "< delay" but not enforced by Octavia (and its cookbook uses delay 5, timeout 10)."""
    _, _, pool = stack
    hm = cloud.hm(pool["id"], "TCP", delay=5, timeout=10)
    assert (hm["delay"], hm["timeout"]) == (5, 10)


def test_udp_connect_minimum_delay(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.pool("UDP", loadbalancer_id=lb["id"])
    body = {"pool_id": pool["id"], "type": "UDP-CONNECT", **BASE, "delay": 2}
    cloud.rejected("POST", HMS, {"healthmonitor": body}, contains="UDP-CONNECT", lb_id=lb["id"])
    assert cloud.hm(pool["id"], "UDP-CONNECT", delay=3)["delay"] == 3


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize("field", ["name", "url_path", "domain_name", "tags"])
def test_control_characters_rejected(cloud: Cloud, stack: Stack, field: str, text: str) -> None:
    lb, _, pool = stack
    body: dict[str, Any] = {"pool_id": pool["id"], "type": "HTTP", "http_version": 1.1, **BASE}
    body[field] = {"url_path": "/" + text, "domain_name": text.replace("name", ".example"), "tags": [text]}.get(field, text)
    cloud.rejected("POST", HMS, {"healthmonitor": body}, lb_id=lb["id"])


def test_one_monitor_per_pool(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    cloud.hm(pool["id"])
    body = {"healthmonitor": {"pool_id": pool["id"], "type": "TCP", **BASE}}
    cloud.rejected("POST", HMS, body, status=409, lb_id=lb["id"])


def test_update(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    hm = cloud.hm(pool["id"])
    out = cloud.put(f"{HMS}/{hm['id']}", "healthmonitor",
                    {"delay": 9, "timeout": 8, "max_retries": 7, "max_retries_down": 6, "url_path": "/ok",
                     "expected_codes": "200,202", "http_method": "POST", "name": "n"})  # fmt: skip
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert (out["delay"], out["timeout"], out["max_retries"], out["max_retries_down"]) == (9, 8, 7, 6)
    assert (out["url_path"], out["expected_codes"], out["http_method"]) == ("/ok", "200,202", "POST")
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    assert cloud.status_of(f"{HMS}/{hm['id']}", "healthmonitor") == "ACTIVE"


@pytest.mark.parametrize(
    "body",
    [{"type": "TCP"}, {"pool_id": MISSING}, {"delay": -1}, {"max_retries": 0}, {"url_path": "x"},
     {"domain_name": "example.com"}, {"name": "a\rb"}, {"expected_codes": "abc"}, {"http_version": 3},
     {"delay": None}, {"timeout": None}, {"max_retries": None}, {"max_retries_down": None}, {"admin_state_up": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, stack: Stack, body: dict[str, Any]) -> None:
    lb, _, pool = stack
    hm = cloud.hm(pool["id"])
    cloud.rejected("PUT", f"{HMS}/{hm['id']}", {"healthmonitor": body}, lb_id=lb["id"])


def test_http_fields_refused_on_tcp_update(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    hm = cloud.hm(pool["id"], "TCP")
    cloud.rejected("PUT", f"{HMS}/{hm['id']}", {"healthmonitor": {"url_path": "/x"}}, lb_id=lb["id"])


def test_delete(cloud: Cloud, stack: Stack) -> None:
    lb, _, pool = stack
    hm = cloud.hm(pool["id"])
    cloud.delete(f"{HMS}/{hm['id']}")
    assert cloud.status_of(f"{HMS}/{hm['id']}", "healthmonitor") == "PENDING_DELETE"
    cloud.settle()
    cloud.gone(f"{HMS}/{hm['id']}")
    assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["healthmonitor_id"] is None
    cloud.hm(pool["id"])  # the pool can have a new one
