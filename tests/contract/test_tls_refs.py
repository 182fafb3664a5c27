"""TLS refs at the API: a ref must name material the load balancer's project can read and that parses;
anything else is a 400 with a clear message and changes nothing. The spec then carries the PEM."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lbaas.db import models as m
from lbaas.db.to_spec import to_spec
from lbaas.services.env import ServiceEnv
from tests.contract.helpers import LISTENERS, POOLS, Cloud
from tests.tlsutil import CA, Issued

OTHER = {"X-Project-Id": "someone-else", "X-Roles": "member"}


def _secret(cloud: Cloud, payload: bytes, *, headers: dict[str, str] | None = None, binary: bool = False) -> str:
    if not binary:
        body: dict[str, Any] = {"payload": payload.decode(), "payload_content_type": "text/plain"}
    else:
        body = {"payload": base64.b64encode(payload).decode(), "payload_content_type": "application/octet-stream",
                "payload_content_encoding": "base64"}  # fmt: skip
    r = cloud.client.post("/v1/secrets", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return str(r.json()["secret_ref"])


def _container(cloud: Cloud, parts: dict[str, bytes], headers: dict[str, str] | None = None) -> str:
    refs = [{"name": k, "secret_ref": _secret(cloud, v, headers=headers, binary=not v.isascii())}
            for k, v in parts.items()]  # fmt: skip
    r = cloud.client.post("/v1/containers", json={"type": "certificate", "secret_refs": refs}, headers=headers or {})
    assert r.status_code == 201, r.text
    return str(r.json()["container_ref"])


def _cert(cloud: Cloud, issued: Issued, headers: dict[str, str] | None = None) -> str:
    parts = {"certificate": issued.cert_pem, "private_key": issued.key_pem}
    if issued.chain:
        parts["intermediates"] = issued.chain_pem
    return _container(cloud, parts, headers)


def _https(lb_id: str, **extra: Any) -> dict[str, Any]:
    return {"loadbalancer_id": lb_id, "protocol": "TERMINATED_HTTPS", "protocol_port": 443, **extra}


def _spec(cloud: Cloud, env: ServiceEnv, lb_id: str) -> Any:
    with cloud.db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        return to_spec(s, lb, env.secrets())


def test_listener_gets_pem_material_in_its_spec(cloud: Cloud, app_env: ServiceEnv) -> None:
    inter = CA("inter", parent=CA("root"))
    www = inter.issue("www.example.com")
    api = CA().issue("api.example.com", kind="rsa")
    client_ca = CA("clients")
    lb = cloud.lb()
    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=_cert(cloud, www),
                        sni_container_refs=[_cert(cloud, api)], client_authentication="MANDATORY",
                        client_ca_tls_container_ref=_secret(cloud, client_ca.cert_pem),
                        client_crl_container_ref=_secret(cloud, client_ca.crl_pem()))  # fmt: skip
    assert li["provisioning_status"] == "ACTIVE"
    (tls,) = [x.tls for x in _spec(cloud, app_env, lb["id"]).listeners]
    assert tls.error is None and tls.default_cert.names == ("www.example.com",)
    assert tls.default_cert.pem.count("BEGIN CERTIFICATE") == 2  # leaf + intermediate
    assert [c.names for c in tls.sni_certs] == [("api.example.com",)]
    assert "BEGIN CERTIFICATE" in tls.client_ca_pem and "BEGIN X509 CRL" in tls.client_crl_pem
    assert tls.client_authentication == "MANDATORY"


@pytest.mark.parametrize("passphrase", [None, b"pw"])
def test_pkcs12_secret_is_a_tls_ref(cloud: Cloud, app_env: ServiceEnv, passphrase: bytes | None) -> None:
    leaf = CA().issue("p12.example.com")
    lb = cloud.lb()
    if passphrase is None:
        ref = _secret(cloud, leaf.pkcs12(), binary=True)
    else:  # a passphrase-protected bundle comes in a container with its passphrase
        ref = _container(cloud, {"certificate": leaf.pkcs12(passphrase), "private_key_passphrase": passphrase})
    cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=ref)
    (tls,) = [x.tls for x in _spec(cloud, app_env, lb["id"]).listeners]
    assert tls.default_cert.names == ("p12.example.com",)


def test_bad_material_is_400_and_changes_nothing(cloud: Cloud) -> None:
    ca = CA()
    leaf, other = ca.issue("a.example.com"), ca.issue("b.example.com")
    lb = cloud.lb()
    cases = {
        "does not match": _container(cloud, {"certificate": leaf.cert_pem, "private_key": other.key_pem}),
        "could not be parsed": _container(cloud, {"certificate": b"hello", "private_key": leaf.key_pem}),
        "PKCS#12": _secret(cloud, b"just text"),
        "not found": "http://x/v1/containers/00000000-0000-4000-8000-000000000000",
        "is not a secret or container reference": "http://x/v1/things/1",
        "do not form a chain": _container(cloud, {"certificate": leaf.cert_pem, "private_key": leaf.key_pem,
                                                  "intermediates": CA("elsewhere").cert_pem}),  # fmt: skip
        "another project": _cert(cloud, leaf, OTHER),
    }
    for words, ref in cases.items():
        fault = cloud.rejected("POST", LISTENERS, {"listener": _https(lb["id"], default_tls_container_ref=ref)},
                               lb_id=lb["id"])  # fmt: skip
        assert words.lower() in fault.lower(), (words, fault)
    good = _cert(cloud, leaf)
    fault = cloud.rejected("POST", LISTENERS, {"listener": _https(
        lb["id"], default_tls_container_ref=good, client_authentication="OPTIONAL",
        client_ca_tls_container_ref=_secret(cloud, b"not a CA"))}, lb_id=lb["id"])  # fmt: skip
    assert "CA certificate" in fault
    fault = cloud.rejected("POST", LISTENERS, {"listener": _https(
        lb["id"], default_tls_container_ref=good, client_authentication="OPTIONAL",
        client_ca_tls_container_ref=_secret(cloud, ca.cert_pem),
        client_crl_container_ref=_secret(cloud, b"not a CRL"))}, lb_id=lb["id"])  # fmt: skip
    assert "CRL" in fault


@pytest.mark.parametrize(("extra", "words"), [
    ({"tls_ciphers": "NOT-A-CIPHER"}, "selects no cipher"),
    ({"tls_versions": ["SSLv3"]}, "tls_versions"),
])  # fmt: skip
def test_tls_options_the_data_plane_cannot_run_are_400(cloud: Cloud, extra: dict[str, Any], words: str) -> None:
    lb = cloud.lb()
    ref = _cert(cloud, CA().issue("c.example.com"))
    fault = cloud.rejected("POST", LISTENERS, {"listener": _https(lb["id"], default_tls_container_ref=ref, **extra)},
                           lb_id=lb["id"])  # fmt: skip
    assert words in fault


def test_update_swaps_certificate(cloud: Cloud, app_env: ServiceEnv) -> None:
    lb = cloud.lb()
    first, second = CA().issue("one.example.com"), CA().issue("two.example.com")
    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=_cert(cloud, first))
    cloud.put(f"{LISTENERS}/{li['id']}", "listener", {"default_tls_container_ref": _cert(cloud, second)})
    cloud.settle()
    (tls,) = [x.tls for x in _spec(cloud, app_env, lb["id"]).listeners]
    assert tls.default_cert.names == ("two.example.com",)
    bad = _container(cloud, {"certificate": first.cert_pem, "private_key": second.key_pem})
    cloud.rejected("PUT", f"{LISTENERS}/{li['id']}", {"listener": {"default_tls_container_ref": bad}}, lb_id=lb["id"])


def test_pool_tls_refs(cloud: Cloud, app_env: ServiceEnv) -> None:
    lb = cloud.lb()
    member_ca = CA("members")
    client = CA("clients").issue("lb", client=True)
    pool = cloud.pool(loadbalancer_id=lb["id"], tls_enabled=True, tls_container_ref=_cert(cloud, client),
                      ca_tls_container_ref=_secret(cloud, member_ca.cert_pem),
                      crl_container_ref=_secret(cloud, member_ca.crl_pem()))  # fmt: skip
    assert pool["provisioning_status"] == "ACTIVE"
    (pt,) = [p.tls for p in _spec(cloud, app_env, lb["id"]).pools]
    assert pt.error is None and pt.client_cert.names == ("lb",) and "BEGIN X509 CRL" in (pt.crl_pem or "")
    fault = cloud.rejected("POST", POOLS, {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                                    "lb_algorithm": "ROUND_ROBIN", "tls_enabled": True,
                                                    "ca_tls_container_ref": _secret(cloud, b"nope")}},
                           lb_id=lb["id"])  # fmt: skip
    assert "CA certificate" in fault


def test_refs_in_use_cannot_be_deleted(cloud: Cloud) -> None:
    lb = cloud.lb()
    leaf = CA().issue("busy.example.com")
    ref = _cert(cloud, leaf)
    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=ref)
    path = ref.removeprefix("http://testserver")
    assert cloud.client.delete(path).status_code == 409
    secret = cloud.client.get(path).json()["secret_refs"][0]["secret_ref"].removeprefix("http://testserver")
    r = cloud.client.delete(secret)
    assert r.status_code == 409 and "in use by listener" in r.json()["description"]
    cloud.delete(f"{LISTENERS}/{li['id']}")
    cloud.settle()
    assert cloud.client.delete(path).status_code == 204
    assert cloud.client.delete(secret).status_code == 204
    # the resolved material is cached, but never for a ref that is gone
    cloud.rejected("POST", LISTENERS, {"listener": _https(lb["id"], default_tls_container_ref=ref)},
                   lb_id=lb["id"], contains="not found")  # fmt: skip
