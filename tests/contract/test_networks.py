"""Networks: defaults, provider (flat/VLAN) rules, faults, lists, tags, project isolation, version root."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.contract.neutron import fault, network, port, subnet

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_create_defaults_and_shape(client: TestClient) -> None:
    r = client.post("/v2.0/networks", json={"network": {"name": "net1"}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert net["name"] == "net1" and net["description"] == ""
    assert net["admin_state_up"] is True and net["shared"] is False
    assert net["mtu"] == 1500 and net["status"] == "ACTIVE" and net["subnets"] == []
    assert net["project_id"] == net["tenant_id"] == "lbaas-default"
    assert net["provider:network_type"] == "flat"
    assert net["provider:physical_network"] is None and net["provider:segmentation_id"] is None
    assert net["router:external"] is False and net["port_security_enabled"] is True
    assert net["tags"] == [] and net["revision_number"] == 1
    assert TS.match(net["created_at"]) and net["updated_at"] == net["created_at"]
    assert r.headers["x-openstack-request-id"].startswith("req-")
    # Both mounts serve the same resource.
    assert client.get(f"/v2/networks/{net['id']}").json()["network"] == net


def test_vlan_provider_rules(client: TestClient) -> None:
    net = network(
        client,
        **{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": "100"},
    )
    assert (net["provider:network_type"], net["provider:physical_network"], net["provider:segmentation_id"]) == (
        "vlan",
        "physnet1",
        100,
    )
    # The same (physnet, VLAN) pair again: 409; another VLAN or physnet is fine.
    body = {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}
    r = client.post("/v2.0/networks", json={"network": body})
    assert "VLAN 100 on physical network physnet1 is in use" in fault(r, 409, "VlanIdInUse")
    network(client, **{**body, "provider:segmentation_id": 101})
    network(client, **{**body, "provider:physical_network": "physnet2"})
    # VLAN needs an id and a physnet; flat refuses an id; ids are 1..4094; types are flat|vlan.
    for bad in (
        {"provider:network_type": "vlan", "provider:physical_network": "physnet1"},
        {"provider:network_type": "vlan", "provider:segmentation_id": 5},
        {"provider:network_type": "flat", "provider:segmentation_id": 5},
        {"provider:segmentation_id": 5},
        {"provider:network_type": "vlan", "provider:physical_network": "p", "provider:segmentation_id": 0},
        {"provider:network_type": "vlan", "provider:physical_network": "p", "provider:segmentation_id": 4095},
        {"provider:network_type": "vxlan"},
        {"network_type": "vlan"},
    ):
        fault(client.post("/v2.0/networks", json={"network": bad}), 400)
    flat = network(client, **{"provider:physical_network": "physnet1"})
    assert flat["provider:network_type"] == "flat" and flat["provider:segmentation_id"] is None
    # A deleted VLAN network frees its segment.
    assert client.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    network(client, **body)


def test_validation_faults(client: TestClient) -> None:
    for bad in (
        {"bogus": 1},
        {"mtu": 67},
        {"mtu": "big"},
        {"admin_state_up": "maybe"},
        {"name": "x" * 256},
        {"name": "a\nb"},
        {"router:external": True},
        {"port_security_enabled": False},
        {"tags": ["x" * 61]},
        {"project_id": "p1", "tenant_id": "p2"},
    ):
        msg = fault(client.post("/v2.0/networks", json={"network": bad}), 400)
        assert msg
    fault(client.post("/v2.0/networks", json={"nope": {}}), 400)
    fault(client.post("/v2.0/networks", content=b"{not json", headers={"content-type": "application/json"}), 400)


def test_get_update_delete_and_not_found(client: TestClient) -> None:
    net = network(client, description="d", mtu=9000, tags=["b", "a", "a"])
    assert net["mtu"] == 9000 and net["tags"] == ["a", "b"]
    r = client.put(f"/v2.0/networks/{net['id']}", json={"network": {"name": "renamed", "admin_state_up": False}})
    assert r.status_code == 200, r.text
    upd = r.json()["network"]
    assert upd["name"] == "renamed" and upd["admin_state_up"] is False and upd["description"] == "d"
    assert upd["revision_number"] == net["revision_number"] + 1
    # Provider attributes cannot be changed.
    fault(client.put(f"/v2.0/networks/{net['id']}", json={"network": {"provider:segmentation_id": 3}}), 400)
    missing = "5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"
    for r in (
        client.get(f"/v2.0/networks/{missing}"),
        client.put(f"/v2.0/networks/{missing}", json={"network": {"name": "x"}}),
        client.delete(f"/v2.0/networks/{missing}"),
    ):
        assert fault(r, 404, "NetworkNotFound") == f"Network {missing} could not be found."
    assert client.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    fault(client.get(f"/v2.0/networks/{net['id']}"), 404, "NetworkNotFound")


def test_delete_in_use_and_subnets_go_with_it(client: TestClient) -> None:
    net = network(client)
    sn = subnet(client, net["id"])
    assert client.get(f"/v2.0/networks/{net['id']}").json()["network"]["subnets"] == [sn["id"]]
    p = port(client, net["id"])
    msg = fault(client.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert msg.startswith(f"Unable to complete operation on network {net['id']}.")
    assert client.delete(f"/v2.0/ports/{p['id']}").status_code == 204
    assert client.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    fault(client.get(f"/v2.0/subnets/{sn['id']}"), 404, "SubnetNotFound")


def test_list_filters_fields_sort_and_pagination(client: TestClient) -> None:
    vlan = {"provider:network_type": "vlan", "provider:physical_network": "physnet1"}
    nets = [network(client, name=f"n{i}", **vlan, **{"provider:segmentation_id": 10 + i}) for i in range(5)]
    other = network(client, name="other", admin_state_up=False)

    def names(query: str) -> list[str]:
        r = client.get(f"/v2.0/networks?{query}")
        assert r.status_code == 200, r.text
        return [n["name"] for n in r.json()["networks"]]

    assert names("name=n1") == ["n1"]
    assert names(f"id={nets[2]['id']}") == ["n2"]
    assert names("provider:segmentation_id=12") == ["n2"]
    assert sorted(names("provider:network_type=flat")) == ["other"]
    assert names("admin_state_up=False") == ["other"]
    assert len(names("tenant_id=lbaas-default")) == 6
    assert names("name=n1&name=n3&sort_key=name&sort_dir=desc") == ["n3", "n1"]
    assert names("router:external=True") == []
    assert len(names("router:external=False")) == 6
    assert len(names("unknown_attribute=1")) == 6  # unknown filters are ignored

    r = client.get("/v2.0/networks?fields=id&fields=provider:segmentation_id&name=n4")
    assert r.json()["networks"] == [{"id": nets[4]["id"], "provider:segmentation_id": 14}]
    one = client.get(f"/v2.0/networks/{other['id']}?fields=name").json()
    assert one == {"network": {"name": "other"}}

    # Pages of two by name, following the next links to the end, then one step back.
    seen: list[str] = []
    url = "/v2.0/networks?limit=2&sort_key=name&sort_dir=asc"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [n["name"] for n in body["networks"]]
        nxt = [link["href"] for link in body["networks_links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else ""
        pages += 1
    assert seen == ["n0", "n1", "n2", "n3", "n4", "other"] and pages == 3
    body = client.get(f"/v2.0/networks?limit=2&sort_key=name&marker={nets[3]['id']}&page_reverse=True").json()
    assert [n["name"] for n in body["networks"]] == ["n1", "n2"]
    assert {link["rel"] for link in body["networks_links"]} == {"next", "previous"}
    assert len(names("limit=0")) == 6
    fault(client.get("/v2.0/networks?sort_key=nonsense"), 400)
    fault(client.get("/v2.0/networks?limit=abc"), 400)


def test_tags(client: TestClient) -> None:
    net = network(client, tags=["red"])
    base = f"/v2.0/networks/{net['id']}/tags"
    assert client.get(base).json() == {"tags": ["red"]}
    assert client.put(f"{base}/blue").status_code == 201
    assert client.get(f"{base}/blue").status_code == 204
    fault(client.get(f"{base}/green"), 404)
    r = client.put(base, json={"tags": ["x", "y"]})
    assert r.status_code == 200 and r.json() == {"tags": ["x", "y"]}
    other = network(client, tags=["x"])
    listed = client.get("/v2.0/networks?tags=x&tags=y").json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]
    assert len(client.get("/v2.0/networks?tags-any=x").json()["networks"]) == 2
    assert [n["id"] for n in client.get("/v2.0/networks?not-tags=y").json()["networks"]] == [other["id"]]
    assert client.delete(f"{base}/x").status_code == 204
    fault(client.delete(f"{base}/x"), 404)
    assert client.delete(base).status_code == 204
    got = client.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert got["tags"] == [] and got["revision_number"] > net["revision_number"]
    fault(client.put(base, json={"tags": ["z" * 61]}), 400)


def test_project_isolation_and_shared(client: TestClient) -> None:
    mine = network(client, project="p1", name="mine")
    shared = network(client, project="p1", name="common", shared=True)
    other = {"X-Project-Id": "p2"}
    fault(client.get(f"/v2.0/networks/{mine['id']}", headers=other), 404, "NetworkNotFound")
    fault(client.delete(f"/v2.0/networks/{mine['id']}", headers=other), 404)
    listed = client.get("/v2.0/networks", headers=other).json()["networks"]
    assert [n["name"] for n in listed] == ["common"]
    assert client.get(f"/v2.0/networks/{shared['id']}", headers=other).status_code == 200
    # Visible is not writable: another project may not change, delete or subnet a shared network.
    fault(client.put(f"/v2.0/networks/{shared['id']}", json={"network": {"name": "x"}}, headers=other), 403)
    fault(client.delete(f"/v2.0/networks/{shared['id']}", headers=other), 403)
    r = client.post("/v2.0/subnets", json={"subnet": {"network_id": shared["id"], "cidr": "10.9.0.0/24"}}, headers=other)
    fault(r, 403)
    # … but may attach a port to it, which then keeps the network shared.
    sn = subnet(client, shared["id"], "10.9.0.0/24", project="p1")
    assert client.get(f"/v2.0/subnets/{sn['id']}", headers=other).status_code == 200
    port(client, shared["id"], project="p2")
    r = client.put(f"/v2.0/networks/{shared['id']}", json={"network": {"shared": False}}, headers={"X-Project-Id": "p1"})
    fault(r, 409)
    # A project creating for another project: refused; an admin sees everything.
    r = client.post("/v2.0/networks", json={"network": {"project_id": "p3"}}, headers=other)
    assert r.status_code == 403
    admin = {"X-Project-Id": "admin", "X-Roles": "admin"}
    assert len(client.get("/v2.0/networks", headers=admin).json()["networks"]) == 2
    assert client.get(f"/v2.0/networks/{mine['id']}", headers=admin).status_code == 200


def test_version_root_and_extensions(client: TestClient) -> None:
    for prefix in ("/v2.0", "/v2"):
        res = client.get(f"{prefix}/").json()["resources"]
        assert {r["collection"] for r in res} == {"networks", "subnets", "ports"}
        assert all(r["links"][0]["href"].endswith(f"{prefix}/{r['collection']}") for r in res)
    exts = client.get("/v2.0/extensions").json()["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {"provider", "binding", "standard-attr-tag"} <= aliases
    assert all(set(e) >= {"alias", "name", "description", "updated", "links"} for e in exts)
    assert client.get("/v2.0/extensions/provider").json()["extension"]["alias"] == "provider"
    fault(client.get("/v2.0/extensions/security-group"), 404)
