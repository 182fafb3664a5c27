"""Ports: defaults, MACs, fixed_ips requests and re-addressing, binding, filters, isolation, LB VIP ports."""

from __future__ import annotations

import ipaddress
import re

from fastapi.testclient import TestClient

from lbaas.providers.noop import NoopProvider
from tests.contract.helpers import settle
from tests.contract.neutron import fault, network, port, subnet

MAC = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


def test_create_defaults_and_shape(client: TestClient) -> None:
    net = network(client)
    v6 = subnet(client, net["id"], "2001:db8::/64")
    v4 = subnet(client, net["id"], "10.0.0.0/24")
    p = port(client, net["id"], name="p1")
    assert p["name"] == "p1" and p["network_id"] == net["id"] and p["description"] == ""
    assert MAC.match(p["mac_address"])
    assert p["fixed_ips"] == [{"subnet_id": v4["id"], "ip_address": "10.0.0.2"}]  # the first IPv4 subnet only
    assert p["status"] == "DOWN" and p["admin_state_up"] is True
    assert p["device_owner"] == "" and p["device_id"] == ""
    assert p["binding:host_id"] == "" and p["binding:vif_type"] == "unbound" and p["binding:vnic_type"] == "normal"
    assert p["security_groups"] == [] and p["port_security_enabled"] is True and p["allowed_address_pairs"] == []
    assert p["project_id"] == p["tenant_id"] == "lbaas-default"
    assert p["tags"] == [] and p["revision_number"] == 1 and p["created_at"].endswith("Z")
    assert client.get(f"/v2.0/ports/{p['id']}").json()["port"] == p
    # Only IPv6 on the network: the address comes from there (a random probe in a pool that large).
    only6 = network(client)
    s6 = subnet(client, only6["id"], "2001:db8:1::/64")
    (ip6,) = port(client, only6["id"])["fixed_ips"]
    assert ip6["subnet_id"] == s6["id"] and ipaddress.ip_address(ip6["ip_address"]) in ipaddress.ip_network(s6["cidr"])
    # No subnet: a port without addresses; fixed_ips [] asks for none.
    assert port(client, network(client)["id"])["fixed_ips"] == []
    assert port(client, net["id"], fixed_ips=[])["fixed_ips"] == []
    assert v6["id"] not in {ip["subnet_id"] for ip in p["fixed_ips"]}


def test_mac_address(client: TestClient) -> None:
    net = network(client)
    p = port(client, net["id"], mac_address="FA-16-3E-00-00-01")
    assert p["mac_address"] == "fa:16:3e:00:00:01"
    msg = fault(client.post("/v2.0/ports", json={"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}}), 409, "MacAddressInUse")
    assert "fa:16:3e:00:00:01 is in use" in msg
    for bad in ("fa:16:3e:00:00", "zz:16:3e:00:00:01", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"):
        fault(client.post("/v2.0/ports", json={"port": {"network_id": net["id"], "mac_address": bad}}), 400)
    assert len({port(client, net["id"])["mac_address"] for _ in range(5)}) == 5


def test_fixed_ips_requests(client: TestClient) -> None:
    net = network(client)
    a = subnet(client, net["id"], "10.0.0.0/24")
    b = subnet(client, net["id"], "10.0.1.0/24")
    p = port(client, net["id"], fixed_ips=[{"subnet_id": b["id"]}, {"ip_address": "10.0.0.50"}, {"subnet_id": a["id"], "ip_address": "10.0.0.60"}])
    assert sorted((ip["subnet_id"], ip["ip_address"]) for ip in p["fixed_ips"]) == sorted(
        [(b["id"], "10.0.1.2"), (a["id"], "10.0.0.50"), (a["id"], "10.0.0.60")]
    )
    nid = net["id"]

    def post(fixed: list[dict[str, str]]) -> object:
        return client.post("/v2.0/ports", json={"port": {"network_id": nid, "fixed_ips": fixed}})

    assert "already allocated" in fault(post([{"ip_address": "10.0.0.50"}]), 409, "IpAddressAlreadyAllocated")
    fault(post([{"ip_address": "10.0.0.1"}]), 409, "IpAddressAlreadyAllocated")  # the gateway
    fault(post([{"ip_address": "10.5.0.1"}]), 400, "InvalidInput")  # on no subnet of this network
    fault(post([{"subnet_id": a["id"], "ip_address": "10.0.1.9"}]), 400)  # not on that subnet
    fault(post([{"subnet_id": a["id"], "ip_address": "10.0.0.255"}]), 400)  # broadcast
    fault(post([{"subnet_id": a["id"], "ip_address": "10.0.0.0"}]), 400)  # network address
    fault(post([{"ip_address": "10.0.0.70"}, {"ip_address": "10.0.0.70"}]), 400)
    fault(post([{}]), 400, "InvalidInput")
    fault(post([{"subnet_id": a["id"]}] * 6), 400, "InvalidInput")
    other_sub = subnet(client, network(client)["id"], "10.7.0.0/24")
    fault(post([{"subnet_id": other_sub["id"]}]), 400, "InvalidInput")
    fault(post([{"ip_address": "not-an-ip"}]), 400)
    # A specific address outside the allocation pools is allowed (as in Neutron).
    small = network(client)
    s = subnet(client, small["id"], "10.2.0.0/24", allocation_pools=[{"start": "10.2.0.10", "end": "10.2.0.20"}])
    assert port(client, small["id"], fixed_ips=[{"ip_address": "10.2.0.200"}])["fixed_ips"][0]["ip_address"] == "10.2.0.200"
    assert port(client, small["id"])["fixed_ips"] == [{"subnet_id": s["id"], "ip_address": "10.2.0.10"}]


def test_update_and_readdress(client: TestClient) -> None:
    net = network(client)
    a = subnet(client, net["id"], "10.0.0.0/24")
    b = subnet(client, net["id"], "10.0.1.0/24")
    p = port(client, net["id"])
    url = f"/v2.0/ports/{p['id']}"
    r = client.put(url, json={"port": {"name": "n", "description": "d", "device_owner": "compute:nova", "device_id": "vm1", "binding:host_id": "host1"}})
    assert r.status_code == 200, r.text
    upd = r.json()["port"]
    assert (upd["name"], upd["description"], upd["device_owner"], upd["device_id"]) == ("n", "d", "compute:nova", "vm1")
    assert upd["binding:host_id"] == "host1" and upd["binding:vif_type"] == "other" and upd["status"] == "ACTIVE"
    assert upd["revision_number"] == p["revision_number"] + 1
    down = client.put(url, json={"port": {"admin_state_up": False}}).json()["port"]
    assert down["status"] == "DOWN"
    # Keep the address on a (subnet_id only), add one on b, then move a's to a chosen one.
    r = client.put(url, json={"port": {"fixed_ips": [{"subnet_id": a["id"]}, {"subnet_id": b["id"]}]}})
    assert r.status_code == 200, r.text
    assert sorted(ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]) == ["10.0.0.2", "10.0.1.2"]
    r = client.put(url, json={"port": {"fixed_ips": [{"subnet_id": a["id"], "ip_address": "10.0.0.9"}]}})
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.0.0.9"}]
    # The freed addresses are free again.
    assert port(client, net["id"])["fixed_ips"][0]["ip_address"] == "10.0.0.2"
    assert port(client, net["id"], fixed_ips=[{"subnet_id": b["id"]}])["fixed_ips"][0]["ip_address"] == "10.0.1.2"
    other = port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    r = client.put(url, json={"port": {"fixed_ips": [{"ip_address": "10.0.0.77"}]}})
    fault(r, 409, "IpAddressAlreadyAllocated")
    assert client.get(url).json()["port"]["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.0.0.9"}]  # unchanged
    # Swap-free re-request of the same address keeps it.
    r = client.put(url, json={"port": {"fixed_ips": [{"ip_address": "10.0.0.9"}]}})
    assert r.json()["port"]["fixed_ips"] == [{"subnet_id": a["id"], "ip_address": "10.0.0.9"}]
    for bad in ({"mac_address": "fa:16:3e:00:00:09"}, {"network_id": net["id"]}, {"bogus": 1}):
        fault(client.put(url, json={"port": bad}), 400)
    assert other["id"]


def test_delete_frees_and_not_found(client: TestClient) -> None:
    net = network(client)
    subnet(client, net["id"], "10.0.0.0/24")
    p = port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])
    assert client.delete(f"/v2.0/ports/{p['id']}").status_code == 204
    assert port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])["fixed_ips"][0]["ip_address"] == "10.0.0.5"
    msg = fault(client.get(f"/v2.0/ports/{p['id']}"), 404, "PortNotFound")
    assert msg == f"Port {p['id']} could not be found."
    fault(client.delete(f"/v2.0/ports/{p['id']}"), 404, "PortNotFound")
    fault(client.put(f"/v2.0/ports/{p['id']}", json={"port": {"name": "x"}}), 404, "PortNotFound")
    missing = "5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"
    fault(client.post("/v2.0/ports", json={"port": {"network_id": missing}}), 404, "NetworkNotFound")
    fault(client.post("/v2.0/ports", json={"port": {"name": "no network"}}), 400)


def test_unsupported_attributes(client: TestClient) -> None:
    net = network(client)
    nid = net["id"]
    ok = port(client, nid, security_groups=[], allowed_address_pairs=[], port_security_enabled=True)
    assert ok["security_groups"] == []
    for bad in (
        {"security_groups": ["5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"]},
        {"allowed_address_pairs": [{"ip_address": "10.0.0.9"}]},
        {"port_security_enabled": "maybe"},
        {"binding:profile": {}},
    ):
        fault(client.post("/v2.0/ports", json={"port": {"network_id": nid, **bad}}), 400)


def test_list_filters_fields_pagination(client: TestClient) -> None:
    net = network(client)
    a = subnet(client, net["id"], "10.0.0.0/24")
    b = subnet(client, net["id"], "10.0.1.0/24")
    ports = [port(client, net["id"], name=f"p{i}", device_owner="compute:nova" if i % 2 else "", device_id=f"d{i}") for i in range(4)]
    pb = port(client, net["id"], name="pb", fixed_ips=[{"subnet_id": b["id"]}], **{"binding:host_id": "h1"})
    elsewhere = port(client, network(client)["id"], name="elsewhere")

    def names(query: str) -> list[str]:
        r = client.get(f"/v2.0/ports?{query}")
        assert r.status_code == 200, r.text
        return sorted(p["name"] for p in r.json()["ports"])

    assert names(f"network_id={net['id']}") == ["p0", "p1", "p2", "p3", "pb"]
    assert names("device_owner=compute:nova") == ["p1", "p3"]
    assert names("device_id=d2") == ["p2"]
    assert names(f"id={ports[0]['id']}&id={elsewhere['id']}") == ["elsewhere", "p0"]
    assert names("name=p3") == ["p3"]
    assert names("binding:host_id=h1") == ["pb"]
    assert names("status=ACTIVE") == ["pb"]
    assert names(f"mac_address={ports[1]['mac_address']}") == ["p1"]
    ip1 = ports[1]["fixed_ips"][0]["ip_address"]
    assert names(f"fixed_ips=ip_address={ip1}") == ["p1"]
    assert names(f"fixed_ips=subnet_id={b['id']}") == ["pb"]
    assert names(f"fixed_ips=subnet_id={a['id']}&fixed_ips=ip_address={ip1}") == ["p1"]
    assert names("fixed_ips=ip_address=10.9.9.9") == []
    fault(client.get("/v2.0/ports?fixed_ips=mac=1"), 400)
    assert names("port_security_enabled=False") == []
    assert len(names("port_security_enabled=true")) == 6
    body = client.get("/v2.0/ports?fields=id&fields=fixed_ips&name=pb").json()
    assert body["ports"] == [{"id": pb["id"], "fixed_ips": pb["fixed_ips"]}]
    page = client.get("/v2.0/ports?limit=4&sort_key=name").json()
    assert [p["name"] for p in page["ports"]] == ["elsewhere", "p0", "p1", "p2"]
    nxt = next(link["href"] for link in page["ports_links"] if link["rel"] == "next")
    assert [p["name"] for p in client.get(nxt).json()["ports"]] == ["p3", "pb"]


def test_project_isolation_and_shared_network(client: TestClient) -> None:
    net = network(client, project="p1", shared=True)
    subnet(client, net["id"], project="p1")
    mine = port(client, net["id"], project="p1")
    theirs = port(client, net["id"], project="p2")  # anyone may attach to a shared network
    p1, p2 = {"X-Project-Id": "p1"}, {"X-Project-Id": "p2"}
    assert [p["id"] for p in client.get("/v2.0/ports", headers=p1).json()["ports"]] == [mine["id"]]
    assert [p["id"] for p in client.get("/v2.0/ports", headers=p2).json()["ports"]] == [theirs["id"]]
    assert client.get("/v2.0/ports", headers={"X-Project-Id": "p3"}).json()["ports"] == []
    fault(client.get(f"/v2.0/ports/{mine['id']}", headers=p2), 404, "PortNotFound")
    fault(client.delete(f"/v2.0/ports/{mine['id']}", headers=p2), 404, "PortNotFound")
    fault(client.put(f"/v2.0/ports/{mine['id']}", json={"port": {"name": "x"}}, headers=p2), 404, "PortNotFound")
    private = network(client, project="p1")
    r = client.post("/v2.0/ports", json={"port": {"network_id": private["id"]}}, headers=p2)
    fault(r, 404, "NetworkNotFound")


def test_load_balancer_vip_port(client: TestClient, provider: NoopProvider) -> None:
    net = network(client)
    sn = subnet(client, net["id"], "10.0.0.0/24")
    taken = port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.10"}])
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"], "vip_address": "10.0.0.10"}})
    assert r.status_code == 409, r.text
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"], "vip_address": "10.0.0.1"}})
    assert r.status_code == 409, r.text  # the gateway
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"], "vip_address": "10.0.9.1"}})
    assert r.status_code == 400, r.text
    r = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_network_id": net["id"], "vip_address": "10.0.0.20"}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    settle(provider)
    vips = client.get("/v2.0/ports?device_owner=Octavia").json()["ports"]
    assert [p["id"] for p in vips] == [lb["vip_port_id"]]
    vip = vips[0]
    assert vip["device_id"] == lb["id"] and vip["fixed_ips"] == [{"subnet_id": sn["id"], "ip_address": "10.0.0.20"}]
    assert client.get(f"/v2.0/ports?fixed_ips=ip_address=10.0.0.20&device_id={lb['id']}").json()["ports"] == [vip]
    # An automatic VIP skips addresses ports hold, and ports skip the VIP.
    lb2 = client.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sn["id"]}}).json()["loadbalancer"]
    assert lb2["vip_address"] == "10.0.0.2"
    assert port(client, net["id"])["fixed_ips"][0]["ip_address"] == "10.0.0.3"
    settle(provider)
    # The VIP port belongs to the LB: not deletable or re-addressable here; the network is in use.
    assert "load balancer" in fault(client.delete(f"/v2.0/ports/{vip['id']}"), 409, "PortInUse")
    fault(client.put(f"/v2.0/ports/{vip['id']}", json={"port": {"fixed_ips": []}}), 409, "PortInUse")
    fault(client.put(f"/v2.0/ports/{vip['id']}", json={"port": {"device_id": ""}}), 409, "PortInUse")
    fault(client.put(f"/v2.0/ports/{vip['id']}", json={"port": {"name": "mine"}}), 409, "PortInUse")
    assert client.put(f"/v2.0/ports/{vip['id']}", json={"port": {"description": "vip"}}).status_code == 200
    fault(client.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    # Deleting the LB frees the port and its address.
    assert client.delete(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code == 204
    settle(provider)
    fault(client.get(f"/v2.0/ports/{vip['id']}"), 404, "PortNotFound")
    assert port(client, net["id"], fixed_ips=[{"ip_address": "10.0.0.20"}])["fixed_ips"][0]["ip_address"] == "10.0.0.20"
    assert taken["id"]


def test_port_security_can_be_disabled(client: TestClient) -> None:
    """Neutron (and Octavia's tests) create ports with port security off: accepted, kept and shown. There
    are no security groups or anti-spoofing rules here, so it changes nothing on the data plane."""
    nid = network(client)["id"]
    off = port(client, nid, name="off", port_security_enabled=False)
    assert off["port_security_enabled"] is False
    assert client.get(f"/v2.0/ports/{off['id']}").json()["port"]["port_security_enabled"] is False
    on = port(client, nid, name="on")
    assert on["port_security_enabled"] is True
    listed = {p["name"]: p["port_security_enabled"] for p in client.get("/v2.0/ports").json()["ports"]}
    assert listed == {"off": False, "on": True}
    assert [p["name"] for p in client.get("/v2.0/ports?port_security_enabled=false").json()["ports"]] == ["off"]
    r = client.put(f"/v2.0/ports/{on['id']}", json={"port": {"port_security_enabled": False}})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["port_security_enabled"] is False
    r = client.put(f"/v2.0/ports/{on['id']}", json={"port": {"name": "renamed"}})
    assert r.json()["port"]["port_security_enabled"] is False  # unchanged by an update that does not name it
    r = client.put(f"/v2.0/ports/{on['id']}", json={"port": {"port_security_enabled": True}})
    assert r.json()["port"]["port_security_enabled"] is True
    # security groups still cannot be set, with port security on or off
    fault(client.post("/v2.0/ports", json={"port": {"network_id": nid, "port_security_enabled": False,
                                                   "security_groups": ["5e1f3a36-6a0c-4f5c-9d64-2f4a2a6a0f00"]}}), 400)
