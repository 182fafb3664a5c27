"""A load balancer is a consumer of the containers and secrets its listeners and pools use: from the request
that makes one of them use a ref, until nothing of the LB uses it (ref replaced, listener or pool deleted,
LB deleted). Containers show it in Barbican's container shape (name, URL), secrets in Barbican 1.1's
secret-consumer shape (service, resource_type, resource_id). A ref in use cannot be deleted (409)."""

from __future__ import annotations

from typing import Any

from tests.contract.helpers import LB, LISTENERS, POOLS, Cloud
from tests.contract.test_tls_refs import _cert, _secret
from tests.tlsutil import CA

BASE = "http://testserver"
OTHER = {"X-Project-Id": "someone-else", "X-Roles": "member"}


def path(ref: str) -> str:
    return ref.removeprefix(BASE)


def consumer(lb_id: str) -> dict[str, str]:
    return {"name": "lbaas", "URL": f"{BASE}{LB}/{lb_id}"}


def container_consumers(cloud: Cloud, ref: str) -> list[dict[str, Any]]:
    got = cloud.client.get(path(ref))
    assert got.status_code == 200, got.text
    listed = cloud.client.get(path(ref) + "/consumers").json()
    assert listed["consumers"] == got.json()["consumers"] and listed["total"] == len(listed["consumers"])
    return list(got.json()["consumers"])


def secret_consumers(cloud: Cloud, ref: str) -> list[str]:
    got = cloud.client.get(path(ref)).json()["consumers"]
    assert cloud.client.get(path(ref) + "/consumers").json()["consumers"] == got
    assert all(c["service"] == "lbaas" and c["resource_type"] == "loadbalancer" for c in got), got
    return [c["resource_id"] for c in got]


def test_listener_refs_make_the_lb_a_consumer_until_they_are_replaced(cloud: Cloud) -> None:
    lb, lb2 = cloud.lb(), cloud.lb()
    www, api = _cert(cloud, CA().issue("www.example.com")), _cert(cloud, CA().issue("api.example.com"))
    client_ca = CA("clients")
    ca, crl = _secret(cloud, client_ca.cert_pem), _secret(cloud, client_ca.crl_pem())
    assert container_consumers(cloud, www) == [] and secret_consumers(cloud, ca) == []

    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=www, sni_container_refs=[api],
                        client_authentication="MANDATORY", client_ca_tls_container_ref=ca,
                        client_crl_container_ref=crl)  # fmt: skip
    assert container_consumers(cloud, www) == [consumer(lb["id"])]
    assert container_consumers(cloud, api) == [consumer(lb["id"])]
    assert secret_consumers(cloud, ca) == [lb["id"]] and secret_consumers(cloud, crl) == [lb["id"]]
    # a second LB using the same container: both are consumers; a second listener of the first LB: still one
    cloud.listener(lb2["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=www)
    cloud.listener(lb["id"], "TERMINATED_HTTPS", 8443, default_tls_container_ref=www)
    assert sorted(c["URL"] for c in container_consumers(cloud, www)) == sorted(
        consumer(x)["URL"] for x in (lb["id"], lb2["id"]))  # fmt: skip
    listed = cloud.client.get("/v1/containers?limit=100").json()["containers"]
    assert {c["container_ref"]: len(c["consumers"]) for c in listed}[www] == 2
    listed_secrets = cloud.client.get("/v1/secrets?limit=100").json()["secrets"]
    assert {s["secret_ref"]: s["consumers"] for s in listed_secrets}[ca][0]["resource_id"] == lb["id"]

    # SNI ref replaced: the old container loses the consumer; the CRL dropped: so does the CRL secret
    api2 = _cert(cloud, CA().issue("api.example.com"))
    cloud.put(f"{LISTENERS}/{li['id']}", "listener", {"sni_container_refs": [api2], "client_crl_container_ref": None})
    cloud.settle()
    assert container_consumers(cloud, api) == [] and container_consumers(cloud, api2) == [consumer(lb["id"])]
    assert secret_consumers(cloud, crl) == [] and secret_consumers(cloud, ca) == [lb["id"]]
    assert cloud.client.delete(path(api)).status_code == 204  # unused now: deletable
    assert cloud.client.delete(path(crl)).status_code == 204


def test_pool_refs_and_deletion_of_the_lb(cloud: Cloud) -> None:
    lb = cloud.lb()
    member_ca = CA("members")
    client_cert = _cert(cloud, CA("clients").issue("lb", client=True))
    ca = _secret(cloud, member_ca.cert_pem)
    pool = cloud.pool(loadbalancer_id=lb["id"], tls_enabled=True, tls_container_ref=client_cert,
                      ca_tls_container_ref=ca)  # fmt: skip
    assert container_consumers(cloud, client_cert) == [consumer(lb["id"])] and secret_consumers(cloud, ca) == [lb["id"]]
    cloud.delete(f"{POOLS}/{pool['id']}")
    cloud.settle()
    assert container_consumers(cloud, client_cert) == [] and secret_consumers(cloud, ca) == []

    www = _cert(cloud, CA().issue("www.example.com"))
    cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=www)
    assert container_consumers(cloud, www) == [consumer(lb["id"])]
    r = cloud.client.delete(f"{LB}/{lb['id']}?cascade=true")
    assert r.status_code == 204, r.text
    assert container_consumers(cloud, www) == []  # from the request on (the LB is being deleted)
    cloud.settle()
    assert container_consumers(cloud, www) == [] and cloud.client.delete(path(www)).status_code == 204


def test_deleting_a_ref_in_use_is_refused_and_the_lb_keeps_its_material(cloud: Cloud) -> None:
    lb = cloud.lb()
    www = _cert(cloud, CA().issue("www.example.com"))
    li = cloud.listener(lb["id"], "TERMINATED_HTTPS", 443, default_tls_container_ref=www)
    r = cloud.client.delete(path(www))
    assert r.status_code == 409 and f"in use by listener {li['id']}" in r.json()["description"]
    key = next(x["secret_ref"] for x in cloud.client.get(path(www)).json()["secret_refs"] if x["name"] == "private_key")
    assert cloud.client.delete(path(key)).status_code == 409  # a secret held through the container
    # the LB's consumer cannot be removed by hand either (it goes when the listener stops using the ref)
    r = cloud.client.request("DELETE", path(www) + "/consumers", json=consumer(lb["id"]))
    assert r.status_code == 409, r.text
    assert container_consumers(cloud, www) == [consumer(lb["id"])]
    # consumers that clients register themselves are kept next to the LB's, and removable
    mine = {"name": "my-service", "URL": "http://example.org/thing/1"}
    assert cloud.client.post(path(www) + "/consumers", json=mine).json()["consumers"] == [mine, consumer(lb["id"])]
    r = cloud.client.request("DELETE", path(www) + "/consumers", json=mine)
    assert r.status_code == 200 and r.json()["consumers"] == [consumer(lb["id"])]
    # another project sees neither the container nor its consumers
    assert cloud.client.get(path(www) + "/consumers", headers=OTHER).status_code == 403
    assert cloud.lb_status(lb["id"]) == "ACTIVE"
