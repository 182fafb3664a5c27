"""Subnets: defaults (gateway, pools, no DHCP), cidr/gateway/pool/route validation, in-use, lists, isolation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.contract.neutron import fault, network, port, subnet


def _post(client: TestClient, **attrs: Any) -> Any:
    return client.post("/v2.0/subnets", json={"subnet": attrs})


def test_create_defaults_and_shape(client: TestClient) -> None:
    net = network(client)
    sn = subnet(client, net["id"], "10.0.0.0/24", name="sub1")
    assert sn["name"] == "sub1" and sn["network_id"] == net["id"]
    assert sn["ip_version"] == 4 and sn["cidr"] == "10.0.0.0/24"
    assert sn["gateway_ip"] == "10.0.0.1"
    assert sn["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert sn["host_routes"] == [] and sn["dns_nameservers"] == []
    assert sn["enable_dhcp"] is False  # there is no DHCP server here
    assert sn["ipv6_ra_mode"] is None and sn["ipv6_address_mode"] is None and sn["subnetpool_id"] is None
    assert sn["project_id"] == sn["tenant_id"] == "lbaas-default" and sn["tags"] == []
    assert sn["created_at"].endswith("Z") and sn["revision_number"] == 1
    assert client.get(f"/v2.0/subnets/{sn['id']}").json()["subnet"] == sn
    got = client.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert got["subnets"] == [sn["id"]] and got["revision_number"] == net["revision_number"] + 1


def test_cidr_normalised_and_ipv6(client: TestClient) -> None:
    net = network(client)
    assert subnet(client, net["id"], "10.1.2.77/24")["cidr"] == "10.1.2.0/24"
    v6 = subnet(client, net["id"], "2001:db8::/64", ip_version=6)
    assert v6["ip_version"] == 6 and v6["gateway_ip"] == "2001:db8::1"
    assert v6["allocation_pools"] == [{"start": "2001:db8::2", "end": "2001:db8::ffff:ffff:ffff:ffff"}]
    inferred = subnet(client, network(client)["id"], "2001:db8:1::/64")
    assert inferred["ip_version"] == 6


def test_gateway_rules(client: TestClient) -> None:
    net = network(client)
    none = subnet(client, net["id"], "10.0.0.0/24", gateway_ip=None)
    assert none["gateway_ip"] is None
    assert none["allocation_pools"] == [{"start": "10.0.0.1", "end": "10.0.0.254"}]
    mid = subnet(client, net["id"], "10.0.1.0/24", gateway_ip="10.0.1.100")
    assert mid["allocation_pools"] == [
        {"start": "10.0.1.1", "end": "10.0.1.99"},
        {"start": "10.0.1.101", "end": "10.0.1.254"},
    ]
    for gw in ("10.9.9.9", "10.0.2.0", "10.0.2.255", "bogus"):
        fault(_post(client, network_id=net["id"], cidr="10.0.2.0/24", gateway_ip=gw), 400)
    # Changing the gateway: checked against the cidr, the pools and the addresses in use.
    base = f"/v2.0/subnets/{mid['id']}"
    fault(client.put(base, json={"subnet": {"gateway_ip": "10.0.1.5"}}), 409, None)
    p = port(client, net["id"], fixed_ips=[{"subnet_id": mid["id"], "ip_address": "10.0.1.2"}])
    r = client.put(
        base, json={"subnet": {"gateway_ip": "10.0.1.2", "allocation_pools": [{"start": "10.0.1.3", "end": "10.0.1.9"}]}}
    )
    assert p["id"] in fault(r, 409)
    r = client.put(base, json={"subnet": {"gateway_ip": None}})
    assert r.status_code == 200 and r.json()["subnet"]["gateway_ip"] is None


def test_allocation_pool_rules(client: TestClient) -> None:
    net = network(client)
    pools = [{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.30", "end": "10.0.0.40"}]
    sn = subnet(client, net["id"], "10.0.0.0/24", allocation_pools=pools)
    assert sn["allocation_pools"] == pools
    nid = net["id"]
    cases: list[tuple[list[dict[str, str]], int, str | None]] = [
        ([{"start": "10.0.1.20", "end": "10.0.1.10"}], 400, None),  # reversed
        ([{"start": "10.0.1.10", "end": "10.0.2.10"}], 400, None),  # beyond the cidr
        ([{"start": "10.0.1.0", "end": "10.0.1.10"}], 400, None),  # the network address
        ([{"start": "10.0.1.200", "end": "10.0.1.255"}], 400, None),  # the broadcast address
        ([{"start": "2001:db8::1", "end": "2001:db8::5"}], 400, None),  # another IP version
        ([{"start": "10.0.1.5", "end": "10.0.1.20"}, {"start": "10.0.1.20", "end": "10.0.1.30"}], 409, None),  # overlap
        ([{"start": "10.0.1.1", "end": "10.0.1.9"}], 409, None),  # contains the gateway
        ([{"start": "10.0.1.5"}], 400, None),
    ]
    for pool, status, ntype in cases:
        fault(_post(client, network_id=nid, cidr="10.0.1.0/24", allocation_pools=pool), status, ntype)
    r = client.put(f"/v2.0/subnets/{sn['id']}", json={"subnet": {"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.5"}]}})
    assert r.status_code == 200 and r.json()["subnet"]["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.5"}]


def test_validation_faults(client: TestClient) -> None:
    net = network(client)
    nid = net["id"]
    fault(_post(client, cidr="10.0.0.0/24"), 400)  # network_id required
    fault(_post(client, network_id=nid), 400)  # cidr required
    fault(_post(client, network_id=nid, cidr="10.0.0.0/33"), 400)
    fault(_post(client, network_id=nid, cidr="0.0.0.0/0"), 400, "InvalidInput")
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", ip_version=6), 400, "InvalidInput")
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", ip_version=5), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", ipv6_ra_mode="slaac"), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", subnetpool_id="5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", bogus=True), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", dns_nameservers=["8.8.8.8", "8.8.8.8"]), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", dns_nameservers=["dns.example"]), 400)
    fault(_post(client, network_id=nid, cidr="10.0.0.0/24", host_routes=[{"destination": "2001:db8::/64", "nexthop": "10.0.0.1"}]), 400)
    missing = "5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"
    fault(_post(client, network_id=missing, cidr="10.0.0.0/24"), 404, "NetworkNotFound")


def test_overlap_on_one_network_only(client: TestClient) -> None:
    net = network(client)
    subnet(client, net["id"], "10.0.0.0/24")
    msg = fault(_post(client, network_id=net["id"], cidr="10.0.0.128/25"), 400, "InvalidInput")
    assert "overlaps with another subnet" in msg
    fault(_post(client, network_id=net["id"], cidr="10.0.0.0/16"), 400, "InvalidInput")
    subnet(client, network(client)["id"], "10.0.0.0/24")  # another network may reuse the range


def test_routes_dns_and_update(client: TestClient) -> None:
    net = network(client)
    sn = subnet(
        client, net["id"], "10.0.0.0/24",
        host_routes=[{"destination": "192.168.0.7/16", "nexthop": "10.0.0.254"}], dns_nameservers=["10.0.0.53"],
        enable_dhcp=True, tags=["t"], description="d",
    )  # fmt: skip
    assert sn["host_routes"] == [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}]
    assert sn["dns_nameservers"] == ["10.0.0.53"] and sn["enable_dhcp"] is True and sn["tags"] == ["t"]
    r = client.put(f"/v2.0/subnets/{sn['id']}", json={"subnet": {"name": "n2", "dns_nameservers": [], "enable_dhcp": False}})
    assert r.status_code == 200, r.text
    upd = r.json()["subnet"]
    assert upd["name"] == "n2" and upd["dns_nameservers"] == [] and upd["enable_dhcp"] is False
    assert upd["revision_number"] == sn["revision_number"] + 1 and upd["description"] == "d"
    fault(client.put(f"/v2.0/subnets/{sn['id']}", json={"subnet": {"cidr": "10.1.0.0/24"}}), 400)
    fault(client.put(f"/v2.0/subnets/{sn['id']}", json={"subnet": {"network_id": net["id"]}}), 400)


def test_delete_in_use_and_not_found(client: TestClient) -> None:
    net = network(client)
    sn = subnet(client, net["id"])
    p = port(client, net["id"])
    msg = fault(client.delete(f"/v2.0/subnets/{sn['id']}"), 409, "SubnetInUse")
    assert msg.startswith(f"Unable to complete operation on subnet {sn['id']}")
    assert client.delete(f"/v2.0/ports/{p['id']}").status_code == 204
    assert client.delete(f"/v2.0/subnets/{sn['id']}").status_code == 204
    assert fault(client.get(f"/v2.0/subnets/{sn['id']}"), 404, "SubnetNotFound") == f"Subnet {sn['id']} could not be found."
    fault(client.delete(f"/v2.0/subnets/{sn['id']}"), 404, "SubnetNotFound")
    fault(client.put(f"/v2.0/subnets/{sn['id']}", json={"subnet": {"name": "x"}}), 404, "SubnetNotFound")
    assert client.get(f"/v2.0/networks/{net['id']}").json()["network"]["subnets"] == []


def test_list_filters_fields_pagination(client: TestClient) -> None:
    a, b = network(client), network(client)
    subs = [subnet(client, a["id"], f"10.0.{i}.0/24", name=f"s{i}") for i in range(3)]
    v6 = subnet(client, b["id"], "2001:db8::/64", name="six")

    def names(query: str) -> list[str]:
        r = client.get(f"/v2.0/subnets?{query}")
        assert r.status_code == 200, r.text
        return sorted(s["name"] for s in r.json()["subnets"])

    assert names(f"network_id={a['id']}") == ["s0", "s1", "s2"]
    assert names("ip_version=6") == ["six"]
    assert names("cidr=10.0.1.0/24") == ["s1"]
    assert names(f"id={subs[0]['id']}&id={v6['id']}") == ["s0", "six"]
    assert names("gateway_ip=10.0.2.1") == ["s2"]
    body = client.get("/v2.0/subnets?fields=cidr&name=s2").json()
    assert body["subnets"] == [{"cidr": "10.0.2.0/24"}]
    page = client.get("/v2.0/subnets?limit=3&sort_key=name&sort_dir=asc").json()
    assert [s["name"] for s in page["subnets"]] == ["s0", "s1", "s2"]
    nxt = next(link["href"] for link in page["subnets_links"] if link["rel"] == "next")
    assert [s["name"] for s in client.get(nxt).json()["subnets"]] == ["six"]


def test_project_isolation(client: TestClient) -> None:
    net = network(client, project="p1")
    sn = subnet(client, net["id"], project="p1")
    other = {"X-Project-Id": "p2"}
    fault(client.get(f"/v2.0/subnets/{sn['id']}", headers=other), 404, "SubnetNotFound")
    fault(client.delete(f"/v2.0/subnets/{sn['id']}", headers=other), 404, "SubnetNotFound")
    assert client.get("/v2.0/subnets", headers=other).json()["subnets"] == []
    r = client.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.1.0.0/24"}}, headers=other)
    fault(r, 404, "NetworkNotFound")
    assert [s["id"] for s in client.get("/v2.0/subnets", headers={"X-Project-Id": "p1"}).json()["subnets"]] == [sn["id"]]
