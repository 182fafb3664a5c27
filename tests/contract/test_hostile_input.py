"""Regression tests for the hostile-input findings of issue 10, against the real app.

Each finding: zone-index injection (member, monitor and VIP address; IPAM duplicates), lone surrogates
and invalid UTF-8 (500 and a reset connection before), integers ≥ 2^63 (SQLite overflow), bare names
HAProxy reads (L7 rule key, APP_COOKIE name, insert_headers names), delay/timeout past HAProxy's timer
range, bad expected_codes, a 200 MB body (echoed whole before), reserved addresses in IPv4-mapped form;
and the echo of member/VIP addresses as written (issue 12).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from lbaas.db import models as m
from lbaas.db.to_spec import to_spec
from tests.contract.helpers import HMS, LB, LISTENERS, POLICIES, POOLS, Cloud, assert_fault, make_subnet

INJECTION = "::1%lo]:8080 init-addr ::1 namespace lbh-web1 #"


def members(pool_id: str) -> str:
    return f"{POOLS}/{pool_id}/members"


# ---------------------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("field", ["address", "monitor_address"])
@pytest.mark.parametrize("value", [INJECTION, "10.0.0.5%eth0"])
def test_zone_index_refused_in_member_addresses(cloud: Cloud, stack: Any, field: str, value: str) -> None:
    lb, _, pool = stack
    body = {"address": "10.0.0.10", "protocol_port": 80, field: value}
    fault = cloud.rejected("POST", members(pool["id"]), {"member": body}, lb_id=lb["id"])
    assert "zone index" in fault or "IP address" in fault


def test_zone_index_refused_on_member_update_and_batch(cloud: Cloud, stack: Any) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"])
    cloud.rejected("PUT", f"{members(pool['id'])}/{mb['id']}", {"member": {"monitor_address": INJECTION}}, lb_id=lb["id"])
    batch = {"members": [{"address": INJECTION, "protocol_port": 80}]}
    cloud.rejected("PUT", members(pool["id"]), batch, lb_id=lb["id"])


def test_zone_index_refused_on_vip(cloud: Cloud) -> None:
    cloud.rejected("POST", LB, {"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "vip_address": "10.0.0.50%lo"}})


def test_neutron_port_zone_index_refused_and_spellings_are_one_address(cloud: Cloud) -> None:
    c = cloud.client
    net = c.post("/v2.0/networks", json={"network": {"name": "n6"}}).json()["network"]
    r = c.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 6, "cidr": "fd98::/64"}})
    assert r.status_code == 201, r.text
    first = c.post("/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "fd98::5"}]}})
    assert first.status_code == 201, first.text
    for spelling in ("fd98::5%lo", "fd98::5%other"):
        r = c.post("/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": spelling}]}})
        assert r.status_code == 400, r.text
    r = c.post("/v2.0/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "FD98:0:0:0:0:0:0:5"}]}})
    assert r.status_code == 409, r.text


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "::FFFF:a9fe:a9fe"])
def test_reserved_address_seen_through_ipv4_mapped(cloud: Cloud, stack: Any, address: str) -> None:
    lb, _, pool = stack
    body = {"member": {"address": address, "protocol_port": 80}}
    cloud.rejected("POST", members(pool["id"]), body, contains="reserved", lb_id=lb["id"])


def test_member_address_echoed_as_written_and_compared_canonically(cloud: Cloud, stack: Any) -> None:
    lb, _, pool = stack
    mb = cloud.member(pool["id"], address="2001:db8:0:0:0:0:0:1")
    assert mb["address"] == "2001:db8:0:0:0:0:0:1"
    again = {"member": {"address": "2001:DB8::1", "protocol_port": 80}}
    cloud.rejected("POST", members(pool["id"]), again, status=409, lb_id=lb["id"])
    with cloud.db.read() as s:
        row = s.get(m.LoadBalancer, lb["id"])
        assert row is not None
        spec = to_spec(s, row)
    assert [x.address for x in spec.pools[0].members] == ["2001:db8::1"]  # canonical inside


def test_batch_update_matches_members_across_spellings(cloud: Cloud, stack: Any) -> None:
    _, _, pool = stack
    mb = cloud.member(pool["id"], address="2001:db8:0:0:0:0:0:1")
    r = cloud.client.put(members(pool["id"]), json={"members": [{"address": "2001:db8::1", "protocol_port": 80, "weight": 7}]})
    assert r.status_code == 202, r.text
    cloud.settle()
    got = cloud.get(f"{members(pool['id'])}/{mb['id']}", "member")
    assert got["weight"] == 7 and got["id"] == mb["id"]


def test_vip_address_echoed_as_written(cloud: Cloud) -> None:
    subnet = make_subnet(cloud.db, cidr="2001:db8:5::/64")
    lb = cloud.post(LB, "loadbalancer", {"vip_subnet_id": subnet, "vip_address": "2001:db8:5:0:0:0:0:20"})
    assert lb["vip_address"] == "2001:db8:5:0:0:0:0:20"
    with cloud.db.read() as s:
        ips = list(s.scalars(select(m.IpAllocation.ip_address).where(m.IpAllocation.subnet_id == subnet)))
    assert ips == ["2001:db8:5::20"]  # IPAM keys on the canonical form


# ---------------------------------------------------------------------------------------------- unicode


@pytest.mark.parametrize(
    "path,body",
    [
        (LB, '{"loadbalancer": {"name": "\\ud800", "vip_subnet_id": "SUBNET"}}'),
        (LB, '{"loadbalancer": {"\\udfff": 1}}'),
        (LB, '{"loadbalancer": {"vip_subnet_id": "\\ud83d"}}'),
        ("/v2.0/networks", '{"network": {"name": "\\ud800x"}}'),
    ],
)
def test_lone_surrogate_is_400_and_the_connection_survives(cloud: Cloud, path: str, body: str) -> None:
    r = cloud.client.post(path, content=body.replace("SUBNET", cloud.subnet_id), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert cloud.client.get(LB).status_code == 200


def test_paired_surrogates_are_fine(cloud: Cloud) -> None:
    body = json.dumps({"loadbalancer": {"name": "smile \U0001f600", "vip_subnet_id": cloud.subnet_id}})
    r = cloud.client.post(LB, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["loadbalancer"]["name"] == "smile \U0001f600"


def test_invalid_utf8_body_path_and_query_are_400(cloud: Cloud) -> None:
    r = cloud.client.post(LB, content=b'{"loadbalancer": {"name": "\xff\xfe"}}', headers={"content-type": "application/json"})
    assert_fault(r, 400, "UTF-8")
    assert_fault(cloud.client.get(f"{LB}/%ff%fe"), 400, "UTF-8")
    assert_fault(cloud.client.get(f"{LB}?name=%ed%a0%80"), 400, "UTF-8")


def test_fault_quotes_at_most_about_200_characters(cloud: Cloud) -> None:
    long = "x" * 100_000
    r = cloud.client.post(LB, json={"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "name": long}})
    fault = assert_fault(r, 400)
    assert len(fault) < 1000


# ---------------------------------------------------------------------------------------------- integers


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_huge_integers_are_400(cloud: Cloud, stack: Any, value: int) -> None:
    lb, listener, pool = stack
    cloud.rejected("PUT", f"{LISTENERS}/{listener['id']}", {"listener": {"connection_limit": value}}, lb_id=lb["id"])
    cloud.rejected("PUT", f"{LISTENERS}/{listener['id']}", {"listener": {"timeout_client_data": value}}, lb_id=lb["id"])
    sp = {"type": "SOURCE_IP", "persistence_timeout": value}
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}", {"pool": {"session_persistence": sp}}, lb_id=lb["id"])
    hm = {"pool_id": pool["id"], "type": "TCP", "delay": value, "timeout": 1, "max_retries": 1}
    cloud.rejected("POST", HMS, {"healthmonitor": hm}, lb_id=lb["id"])


@pytest.mark.parametrize("field", ["delay", "timeout"])
def test_delay_and_timeout_within_haproxy_timer_range(cloud: Cloud, stack: Any, field: str) -> None:
    lb, _, pool = stack
    base = {"pool_id": pool["id"], "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1}
    cloud.rejected("POST", HMS, {"healthmonitor": {**base, field: 2_147_484}}, lb_id=lb["id"])
    hm = cloud.hm(pool["id"], type="TCP", **{field: 2_147_483})
    assert hm[field] == 2_147_483


# ---------------------------------------------------------------------------------------------- bare names


@pytest.mark.parametrize("key", ["it's", "a#b", "$HOME", "a b", ""])
def test_l7_rule_key_held_to_token_grammar(cloud: Cloud, stack: Any, key: str) -> None:
    lb, listener, _ = stack
    pol = cloud.policy(listener["id"])
    body = {"rule": {"type": "HEADER", "compare_type": "EQUAL_TO", "key": key, "value": "v"}}
    cloud.rejected("POST", f"{POLICIES}/{pol['id']}/rules", body, lb_id=lb["id"])


@pytest.mark.parametrize("name", ["it's", "a#b"])
def test_app_cookie_name_held_to_token_grammar(cloud: Cloud, stack: Any, name: str) -> None:
    lb, _, pool = stack
    sp = {"type": "APP_COOKIE", "cookie_name": name}
    cloud.rejected("PUT", f"{POOLS}/{pool['id']}", {"pool": {"session_persistence": sp}}, lb_id=lb["id"])


def test_good_token_names_accepted(cloud: Cloud, stack: Any) -> None:
    _, listener, pool = stack
    pol = cloud.policy(listener["id"])
    rule = cloud.rule(pol["id"], type="HEADER", compare_type="EQUAL_TO", key="X-My_Header.v2", value="abc")
    assert rule["key"] == "X-My_Header.v2"
    got = cloud.put(f"{POOLS}/{pool['id']}", "pool", {"session_persistence": {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}})
    assert got["session_persistence"]["cookie_name"] == "JSESSIONID"


# ---------------------------------------------------------------------------------------------- expected_codes


@pytest.mark.parametrize("codes", ["000", "099", "599-100", "200,700"])
def test_bad_expected_codes(cloud: Cloud, stack: Any, codes: str) -> None:
    lb, _, pool = stack
    hm = {"pool_id": pool["id"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 1, "expected_codes": codes}
    cloud.rejected("POST", HMS, {"healthmonitor": hm}, lb_id=lb["id"])


@pytest.mark.parametrize("codes", ["200-204", "200, 202,301"])
def test_good_expected_codes(cloud: Cloud, stack: Any, codes: str) -> None:
    _, _, pool = stack
    assert cloud.hm(pool["id"], expected_codes=codes)["expected_codes"] == codes


# ---------------------------------------------------------------------------------------------- bodies


def test_body_over_the_limit_is_413_before_parsing(cloud: Cloud) -> None:
    big = b'{"loadbalancer": {"name": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    r = cloud.client.post(LB, content=big, headers={"content-type": "application/json"})
    fault = assert_fault(r, 413)
    assert len(r.content) < 1000 and "1048576" in fault


def test_chunked_body_over_the_limit_is_413(cloud: Cloud) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 65536

    r = cloud.client.post(LB, content=chunks(), headers={"content-type": "application/json"})
    assert_fault(r, 413)


def test_body_under_the_limit_still_works(cloud: Cloud) -> None:
    r = cloud.client.post(LB, json={"loadbalancer": {"vip_subnet_id": cloud.subnet_id, "description": "d" * 255}})
    assert r.status_code == 201, r.text
