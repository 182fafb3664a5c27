"""Listeners: defaults, every validation rule of the reference, protocol/pool compatibility, update, delete."""

from __future__ import annotations

from typing import Any

import pytest

from lbaas.services.env import ServiceEnv
from tests.contract.helpers import CONTROL_STRINGS, LISTENERS, POOLS, Cloud, assert_fault
from tests.contract.tlsrefs import seed_pair

CERT_ID = "00000000-0000-4000-8000-00000000c001"
CA_ID = "00000000-0000-4000-8000-00000000ca01"
CERT = f"http://barbican/v1/containers/{CERT_ID}"
CA = f"http://barbican/v1/containers/{CA_ID}"


@pytest.fixture(autouse=True)
def _tls_refs(cloud: Cloud, app_env: ServiceEnv) -> None:
    """CERT and CA are real certificate containers of the default project (what the tests act as)."""
    seed_pair(cloud.db, app_env.secrets(), app_env.settings.default_project, CERT_ID, CA_ID)


def test_create_defaults(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.post(LISTENERS, "listener", {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80})
    assert li["provisioning_status"] == "PENDING_CREATE" and li["operating_status"] == "OFFLINE"
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    expected = {
        "name": None,
        "description": None,
        "admin_state_up": True,
        "connection_limit": -1,
        "default_pool_id": None,
        "default_tls_container_ref": None,
        "sni_container_refs": [],
        "client_ca_tls_container_ref": None,
        "client_authentication": "NONE",
        "client_crl_container_ref": None,
        "insert_headers": {},
        "timeout_client_data": 50000,
        "timeout_member_connect": 5000,
        "timeout_member_data": 50000,
        "timeout_tcp_inspect": 0,
        "allowed_cidrs": None,
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
        "hsts_max_age": None,
        "hsts_include_subdomains": False,
        "hsts_preload": False,
        "l7policies": [],
        "tags": [],
        "loadbalancers": [{"id": lb["id"]}],
        "project_id": lb["project_id"],
        "updated_at": None,
    }
    assert {k: li[k] for k in expected} == expected
    cloud.settle()
    assert cloud.status_of(f"{LISTENERS}/{li['id']}", "listener") == "ACTIVE"
    assert cloud.lb_status(lb["id"]) == "ACTIVE"
    assert cloud.get(f"{LISTENERS}/{li['id']}", "listener")["loadbalancers"] == [{"id": lb["id"]}]


def test_terminated_https_tls_defaults(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=CERT, sni_container_refs=[CA])
    assert li["tls_versions"] == ["TLSv1.2", "TLSv1.3"]
    assert li["alpn_protocols"] == ["h2", "http/1.1", "http/1.0"]
    assert li["tls_ciphers"]
    assert li["sni_container_refs"] == [CA]


def test_empty_allowed_cidrs_read_back_as_null(cloud: Cloud) -> None:
    lb = cloud.lb()
    assert cloud.listener(lb["id"], allowed_cidrs=[])["allowed_cidrs"] is None


def test_same_port_allowed_across_l4_families(cloud: Cloud) -> None:
    lb = cloud.lb()
    cloud.listener(lb["id"], "TCP", 53)
    cloud.listener(lb["id"], "UDP", 53)
    cloud.listener(lb["id"], "SCTP", 53)
    for proto in ("HTTP", "HTTPS", "TCP"):
        body = {"listener": {"loadbalancer_id": lb["id"], "protocol": proto, "protocol_port": 53}}
        cloud.rejected("POST", LISTENERS, body, status=409, contains="protocol_port 53", lb_id=lb["id"])


def _bad(lb_id: str, **kw: Any) -> dict[str, Any]:
    return {"listener": {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **kw}}


CREATE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"protocol": None}, "protocol"),
    ({"protocol": "FTP"}, "protocol"),
    ({"protocol_port": 0}, "protocol_port"),
    ({"protocol_port": 65536}, "protocol_port"),
    ({"protocol_port": None}, "protocol_port"),
    ({"connection_limit": -2}, "connection_limit"),
    ({"timeout_client_data": -1}, "timeout_client_data"),
    ({"timeout_member_connect": 2073600001}, "timeout_member_connect"),
    ({"timeout_member_data": "soon"}, "timeout_member_data"),
    ({"timeout_tcp_inspect": -5}, "timeout_tcp_inspect"),
    ({"name": "x" * 256}, "name"),
    ({"description": "x" * 256}, "description"),
    ({"admin_state_up": "maybe"}, "admin_state_up"),
    ({"default_tls_container_ref": CERT}, "TERMINATED_HTTPS"),
    ({"sni_container_refs": [CERT]}, "TERMINATED_HTTPS"),
    ({"client_ca_tls_container_ref": CA}, "TERMINATED_HTTPS"),
    ({"protocol": "TERMINATED_HTTPS", "protocol_port": 443}, "certificate"),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "client_authentication": "MANDATORY"}, "CA"),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "client_crl_container_ref": CA}, "CRL"),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "client_authentication": "SOMETIMES"}, None),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "tls_versions": []}, "tls_versions"),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "tls_versions": ["TLSv9"]}, None),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "alpn_protocols": ["spdy"]}, None),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "tls_ciphers": "AES; rm -rf"}, None),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "hsts_include_subdomains": True}, "hsts_max_age"),
    ({"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": CERT, "hsts_max_age": -1}, "hsts_max_age"),
    ({"tls_versions": ["TLSv1.2"]}, "TERMINATED_HTTPS"),
    ({"tls_ciphers": "AES128-SHA"}, "TERMINATED_HTTPS"),
    ({"alpn_protocols": ["h2"]}, "TERMINATED_HTTPS"),
    ({"hsts_max_age": 100}, "HSTS"),
    ({"insert_headers": {"X-Bogus": "true"}}, "X-Bogus"),
    ({"insert_headers": {"X-SSL-Client-DN": "true"}}, "X-SSL-Client-DN"),
    ({"protocol": "TCP", "insert_headers": {"X-Forwarded-For": "true"}}, "X-Forwarded-For"),
    ({"protocol": "UDP", "insert_headers": {"X-Forwarded-For": "true"}}, "X-Forwarded-For"),
    ({"protocol": "UDP", "default_tls_container_ref": CERT}, "TERMINATED_HTTPS"),
    ({"allowed_cidrs": ["2001:db8::/64"]}, "IP version"),
    ({"allowed_cidrs": ["10.0.0.0/33"]}, "allowed_cidrs"),
    ({"allowed_cidrs": ["nope"]}, "allowed_cidrs"),
    ({"loadbalancer_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"}, None),
    ({"loadbalancer_id": "nope"}, "loadbalancer_id"),
    ({"default_pool_id": "nope"}, "default_pool_id"),
    ({"provisioning_status": "ACTIVE"}, "provisioning_status"),
    ({"l7policies": []}, "l7policies"),
]


@pytest.mark.parametrize("patch, contains", CREATE_CASES)
def test_create_validation(cloud: Cloud, patch: dict[str, Any], contains: str | None) -> None:
    lb = cloud.lb()
    body = _bad(lb["id"], **patch)
    body["listener"] = {k: v for k, v in body["listener"].items() if v is not None}
    status = 404 if patch.get("loadbalancer_id") == "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e" else 400
    cloud.rejected("POST", LISTENERS, body, status=status, contains=contains, lb_id=lb["id"])


@pytest.mark.parametrize("text", CONTROL_STRINGS)
@pytest.mark.parametrize(
    "field", ["name", "description", "default_tls_container_ref", "sni", "insert_headers", "tags"]
)
def test_control_characters_rejected(cloud: Cloud, field: str, text: str) -> None:
    lb = cloud.lb()
    patch: dict[str, Any] = {"protocol": "TERMINATED_HTTPS", "protocol_port": 443, "default_tls_container_ref": CERT}
    if field == "sni":
        patch["sni_container_refs"] = [text]
    elif field == "insert_headers":
        patch["insert_headers"] = {"X-Forwarded-For": text}
    elif field == "tags":
        patch["tags"] = [text]
    else:
        patch[field] = text
    cloud.rejected("POST", LISTENERS, _bad(lb["id"], **patch), lb_id=lb["id"])


def test_valid_optional_fields_are_stored(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(
        lb["id"],
        "TERMINATED_HTTPS",
        443,
        name="web",
        description="d",
        connection_limit=100,
        default_tls_container_ref=CERT,
        client_ca_tls_container_ref=CA,
        client_authentication="OPTIONAL",
        insert_headers={"X-Forwarded-For": "true", "X-SSL-Client-CN": "true"},
        timeout_client_data=1,
        timeout_member_connect=2,
        timeout_member_data=3,
        timeout_tcp_inspect=4,
        allowed_cidrs=["192.0.2.0/24"],
        tls_versions=["TLSv1.3"],
        alpn_protocols=["h2"],
        hsts_max_age=3600,
        hsts_include_subdomains=True,
        hsts_preload=True,
        tags=["t"],
    )
    assert li["connection_limit"] == 100 and li["client_authentication"] == "OPTIONAL"
    assert li["insert_headers"] == {"X-Forwarded-For": "true", "X-SSL-Client-CN": "true"}
    assert [li[f"timeout_{n}"] for n in ("client_data", "member_connect", "member_data", "tcp_inspect")] == [1, 2, 3, 4]
    assert li["allowed_cidrs"] == ["192.0.2.0/24"] and li["tls_versions"] == ["TLSv1.3"]
    assert (li["hsts_max_age"], li["hsts_include_subdomains"], li["hsts_preload"]) == (3600, True, True)


# Which pool protocols each listener protocol accepts (reference §1.4), checked in both directions.
COMPAT = {
    "TCP": {"HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"},
    "HTTP": {"HTTP", "PROXY", "PROXYV2"},
    "HTTPS": {"HTTPS", "PROXY", "PROXYV2", "TCP"},
    "TERMINATED_HTTPS": {"HTTP", "PROXY", "PROXYV2"},
    "UDP": {"UDP"},
    "SCTP": {"SCTP"},
}
POOL_PROTOCOLS = ["TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2", "UDP", "SCTP"]


@pytest.mark.parametrize("listener_protocol", sorted(COMPAT))
def test_default_pool_protocol_compatibility(cloud: Cloud, listener_protocol: str) -> None:
    lb = cloud.lb()
    extra = {"default_tls_container_ref": CERT} if listener_protocol == "TERMINATED_HTTPS" else {}
    for port, pool_protocol in enumerate(POOL_PROTOCOLS, start=1000):
        pool = cloud.pool(pool_protocol, loadbalancer_id=lb["id"])
        body = {"loadbalancer_id": lb["id"], "protocol": listener_protocol, "protocol_port": port,
                "default_pool_id": pool["id"], **extra}  # fmt: skip
        if pool_protocol in COMPAT[listener_protocol]:
            li = cloud.post(LISTENERS, "listener", body)
            assert li["default_pool_id"] == pool["id"]
            cloud.settle()
            assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["listeners"] == [{"id": li["id"]}]
        else:
            cloud.rejected("POST", LISTENERS, {"listener": body}, contains="invalid", lb_id=lb["id"])
            # And the same rule on update: attach the incompatible pool to an existing listener.
            li = cloud.listener(lb["id"], listener_protocol, port, **extra)
            cloud.rejected("PUT", f"{LISTENERS}/{li['id']}", {"listener": {"default_pool_id": pool["id"]}},
                           contains="invalid", lb_id=lb["id"])  # fmt: skip


def test_default_pool_from_another_lb_rejected(cloud: Cloud) -> None:
    lb1, lb2 = cloud.lb(), cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb2["id"])
    body = {"listener": {"loadbalancer_id": lb1["id"], "protocol": "HTTP", "protocol_port": 80, "default_pool_id": pool["id"]}}
    cloud.rejected("POST", LISTENERS, body, lb_id=lb1["id"])


def test_pool_can_be_default_of_several_listeners(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb["id"])
    a = cloud.listener(lb["id"], port=80, default_pool_id=pool["id"])
    b = cloud.listener(lb["id"], port=81, default_pool_id=pool["id"])
    pool = cloud.get(f"{POOLS}/{pool['id']}", "pool")
    assert sorted(x["id"] for x in pool["listeners"]) == sorted([a["id"], b["id"]])


def test_prometheus_listener_takes_no_pool(cloud: Cloud) -> None:
    lb = cloud.lb()
    pool = cloud.pool(loadbalancer_id=lb["id"])
    body = {"listener": {"loadbalancer_id": lb["id"], "protocol": "PROMETHEUS", "protocol_port": 9100, "default_pool_id": pool["id"]}}
    cloud.rejected("POST", LISTENERS, body, lb_id=lb["id"])
    li = cloud.listener(lb["id"], "PROMETHEUS", 9100)
    cloud.rejected("POST", POOLS, {"pool": {"listener_id": li["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
                   lb_id=lb["id"])  # fmt: skip


def test_update(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"], timeout_client_data=10, connection_limit=5)
    out = cloud.put(f"{LISTENERS}/{li['id']}", "listener",
                    {"name": "n", "timeout_client_data": None, "connection_limit": -1, "insert_headers": {"X-Forwarded-Port": "true"}})  # fmt: skip
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    assert out["timeout_client_data"] == 50000  # null resets to the default
    assert out["name"] == "n" and out["insert_headers"] == {"X-Forwarded-Port": "true"}
    cloud.settle()
    li = cloud.get(f"{LISTENERS}/{li['id']}", "listener")
    assert li["provisioning_status"] == "ACTIVE" and li["connection_limit"] == -1


@pytest.mark.parametrize(
    "body",
    [{"protocol": "TCP"}, {"protocol_port": 81}, {"loadbalancer_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"},
     {"connection_limit": -7}, {"timeout_member_data": -1}, {"insert_headers": {"X-Nope": "1"}},
     {"name": "a\nb"}, {"default_tls_container_ref": CERT}, {"hsts_max_age": 10},
     {"default_pool_id": "8f0bd8ab-4d1b-4a35-9f84-6f4c3f0c6a8e"}, {"admin_state_up": None},
     {"connection_limit": None}, {"hsts_preload": None}, {"client_authentication": None}],
)  # fmt: skip
def test_update_validation(cloud: Cloud, body: dict[str, Any]) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    status = 404 if body.get("default_pool_id") else 400
    cloud.rejected("PUT", f"{LISTENERS}/{li['id']}", {"listener": body}, status=status, lb_id=lb["id"])


def test_update_unsets_default_pool(cloud: Cloud, stack: tuple[dict[str, Any], ...]) -> None:
    lb, li, pool = stack
    out = cloud.put(f"{LISTENERS}/{li['id']}", "listener", {"default_pool_id": None})
    assert out["default_pool_id"] is None
    cloud.settle()
    assert cloud.get(f"{POOLS}/{pool['id']}", "pool")["listeners"] == []


def test_delete(cloud: Cloud) -> None:
    lb = cloud.lb()
    li = cloud.listener(lb["id"])
    cloud.delete(f"{LISTENERS}/{li['id']}")
    assert cloud.status_of(f"{LISTENERS}/{li['id']}", "listener") == "PENDING_DELETE"
    assert cloud.lb_status(lb["id"]) == "PENDING_UPDATE"
    cloud.settle()
    cloud.gone(f"{LISTENERS}/{li['id']}")
    assert_fault(cloud.client.delete(f"{LISTENERS}/{li['id']}"), 404)
    assert_fault(cloud.client.put(f"{LISTENERS}/{li['id']}", json={"listener": {"name": "x"}}), 404)
    assert cloud.get(f"{cloud.client.base_url}/v2/lbaas/loadbalancers/{lb['id']}", "loadbalancer")["listeners"] == []
    # The port is free again.
    cloud.listener(lb["id"])
