"""The unmodified openstacksdk against ``lbaas serve``: ``conn.network`` and every ``conn.load_balancer`` call.

The connection is what a user writes for a cloud without Keystone: ``auth_type="none"`` and the
service's root URL as ``endpoint``. The SDK discovers both services from the versions document at
``/`` (Octavia's v2.x list; the Neutron subset is served under the same /v2 and /v2.0 prefixes).
Per-service overrides work too when they name that root, not a versioned path (as with a real
Octavia or Neutron, whose /v2 and /v2.0 are not version documents): see test_endpoint_overrides.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients.server import Server

openstack = pytest.importorskip("openstack")
from openstack import exceptions  # noqa: E402
from openstack.connection import Connection  # noqa: E402

# The SDK's own notices about its future (e.g. InfluxDB support) are not about this server; its
# warnings about what it found (UnsupportedServiceVersion, …) still fail the tests.
pytestmark = [pytest.mark.clients, pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")]

ALL_QUOTAS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")


def _connect(**kwargs: Any) -> Connection:
    """A connection built only from the arguments: no clouds.yaml, no OS_* variables."""
    conn: Connection = openstack.connect(auth_type="none", load_yaml_config=False, load_envvars=False, **kwargs)
    return conn


@pytest.fixture(scope="module")
def conn(lbaas_server: Server) -> Iterator[Connection]:
    c = _connect(endpoint=lbaas_server.url)
    yield c
    c.close()


def settle(conn: Connection, lb_id: str) -> Any:
    """wait_for_load_balancer, polling fast (the noop provider completes in milliseconds)."""
    # The annotation says int; the SDK sleeps any number of seconds.
    return conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.1, wait=30)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def subnet(conn: Connection) -> Any:
    net = conn.network.create_network(name="sdk-net")
    assert (net.name, net.status, net.is_admin_state_up) == ("sdk-net", "ACTIVE", True)
    sub = conn.network.create_subnet(network_id=net.id, name="sdk-sub", ip_version=4, cidr="10.1.0.0/24")
    assert (sub.name, sub.network_id, sub.cidr, sub.gateway_ip) == ("sdk-sub", net.id, "10.1.0.0/24", "10.1.0.1")
    return sub


@pytest.fixture(scope="module")
def lb(conn: Connection, subnet: Any) -> Any:
    created = conn.load_balancer.create_load_balancer(name="sdk-lb", vip_subnet_id=subnet.id)
    assert created.provisioning_status == "PENDING_CREATE"
    active = settle(conn, created.id)
    assert active.provisioning_status == "ACTIVE"
    return active


# --------------------------------------------------------------------------- connection and networks


def test_endpoint_overrides(lbaas_server: Server, conn: Connection) -> None:
    url = lbaas_server.url
    overridden = _connect(endpoint=url, load_balancer_endpoint_override=url, network_endpoint_override=url)
    try:
        assert str(overridden.load_balancer.get_endpoint()).rstrip("/") == f"{url}/v2"
        assert "noop" in {p.name for p in overridden.load_balancer.providers()}
        net = overridden.network.create_network(name="sdk-override-net")
        assert conn.network.get_network(net.id).name == "sdk-override-net"
        overridden.network.delete_network(net.id)
        assert conn.network.find_network(net.id) is None
    finally:
        overridden.close()


def test_networks_and_subnets(conn: Connection, subnet: Any) -> None:
    assert conn.network.find_network("sdk-net", ignore_missing=False).id == subnet.network_id
    assert conn.network.get_subnet(subnet.id).allocation_pools == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert subnet.id in {s.id for s in conn.network.subnets(network_id=subnet.network_id)}


# --------------------------------------------------------------------------- load balancers


def test_load_balancer_get_find_list_update(conn: Connection, subnet: Any, lb: Any) -> None:
    assert (lb.name, lb.vip_subnet_id, lb.vip_network_id) == ("sdk-lb", subnet.id, subnet.network_id)
    assert ipaddress.ip_address(lb.vip_address) in ipaddress.ip_network("10.1.0.0/24")
    assert lb.is_admin_state_up is True
    assert conn.network.get_port(lb.vip_port_id).fixed_ips == [{"subnet_id": subnet.id, "ip_address": lb.vip_address}]

    assert conn.load_balancer.get_load_balancer(lb.id).name == "sdk-lb"
    assert conn.load_balancer.find_load_balancer("sdk-lb", ignore_missing=False).id == lb.id
    assert conn.load_balancer.find_load_balancer("no-such-lb") is None
    with pytest.raises(exceptions.NotFoundException):
        conn.load_balancer.find_load_balancer("no-such-lb", ignore_missing=False)
    assert [x.id for x in conn.load_balancer.load_balancers(name="sdk-lb")] == [lb.id]

    updated = conn.load_balancer.update_load_balancer(lb.id, name="sdk-lb-renamed", description="made by the SDK")
    assert updated.provisioning_status == "PENDING_UPDATE"
    done = settle(conn, lb.id)
    assert (done.name, done.description, done.provisioning_status) == ("sdk-lb-renamed", "made by the SDK", "ACTIVE")
    conn.load_balancer.update_load_balancer(lb.id, name="sdk-lb")
    assert settle(conn, lb.id).name == "sdk-lb"


def test_load_balancer_statistics_and_status(conn: Connection, lb: Any) -> None:
    stats = conn.load_balancer.get_load_balancer_statistics(lb.id)
    assert (stats.active_connections, stats.bytes_in, stats.bytes_out, stats.total_connections) == (0, 0, 0, 0)
    assert stats.request_errors == 0

    # openstacksdk (4.x) has no get_load_balancer_status; its proxy reaches the status tree as raw REST.
    resp = conn.load_balancer.get(f"/lbaas/loadbalancers/{lb.id}/status")
    assert resp.status_code == 200
    tree = resp.json()["statuses"]["loadbalancer"]
    assert (tree["id"], tree["provisioning_status"]) == (lb.id, "ACTIVE")


# --------------------------------------------------------------------------- listeners


def test_listener_lifecycle(conn: Connection, lb: Any) -> None:
    li = conn.load_balancer.create_listener(name="sdk-l1", protocol="HTTP", protocol_port=80, loadbalancer_id=lb.id)
    assert li.provisioning_status == "PENDING_CREATE"
    settle(conn, lb.id)
    li = conn.load_balancer.get_listener(li.id)
    assert (li.name, li.protocol, li.protocol_port, li.provisioning_status) == ("sdk-l1", "HTTP", 80, "ACTIVE")
    assert li.load_balancers == [{"id": lb.id}]
    assert (li.connection_limit, li.timeout_client_data, li.timeout_member_connect) == (-1, 50000, 5000)
    assert conn.load_balancer.find_listener("sdk-l1", ignore_missing=False).id == li.id
    assert li.id in {x.id for x in conn.load_balancer.listeners(load_balancer_id=lb.id)}
    assert conn.load_balancer.get_load_balancer(lb.id).listeners == [{"id": li.id}]

    conn.load_balancer.update_listener(li.id, name="sdk-l1-renamed", connection_limit=100, description="front door")
    settle(conn, lb.id)
    li = conn.load_balancer.get_listener(li.id)
    assert (li.name, li.connection_limit, li.description) == ("sdk-l1-renamed", 100, "front door")

    stats = conn.load_balancer.get_listener_statistics(li.id)
    assert (stats.total_connections, stats.bytes_in) == (0, 0)

    conn.load_balancer.delete_listener(li.id)
    settle(conn, lb.id)
    assert conn.load_balancer.find_listener("sdk-l1-renamed") is None
    with pytest.raises(exceptions.NotFoundException):
        conn.load_balancer.get_listener(li.id)


# --------------------------------------------------------------------------- pools, members, health monitors


def test_pool_member_health_monitor_lifecycle(conn: Connection, lb: Any, subnet: Any) -> None:
    li = conn.load_balancer.create_listener(name="sdk-l2", protocol="HTTP", protocol_port=8080, loadbalancer_id=lb.id)
    settle(conn, lb.id)

    pool = conn.load_balancer.create_pool(name="sdk-p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN", listener_id=li.id)
    assert pool.provisioning_status == "PENDING_CREATE"
    settle(conn, lb.id)
    pool = conn.load_balancer.get_pool(pool.id)
    assert (pool.name, pool.protocol, pool.lb_algorithm, pool.provisioning_status) == (
        "sdk-p1", "HTTP", "ROUND_ROBIN", "ACTIVE",
    )  # fmt: skip
    assert (pool.listeners, pool.loadbalancers) == ([{"id": li.id}], [{"id": lb.id}])
    assert pool.session_persistence is None
    assert conn.load_balancer.get_listener(li.id).default_pool_id == pool.id
    assert conn.load_balancer.find_pool("sdk-p1", ignore_missing=False).id == pool.id
    assert pool.id in {p.id for p in conn.load_balancer.pools(loadbalancer_id=lb.id)}

    conn.load_balancer.update_pool(
        pool.id, name="sdk-p1-renamed", lb_algorithm="LEAST_CONNECTIONS", session_persistence={"type": "HTTP_COOKIE"}
    )
    settle(conn, lb.id)
    pool = conn.load_balancer.get_pool(pool.id)
    assert (pool.name, pool.lb_algorithm) == ("sdk-p1-renamed", "LEAST_CONNECTIONS")
    assert pool.session_persistence["type"] == "HTTP_COOKIE"

    # Members: the pool is part of every call.
    mb = conn.load_balancer.create_member(
        pool.id, name="sdk-m1", address="10.1.0.10", protocol_port=80, subnet_id=subnet.id
    )
    settle(conn, lb.id)
    mb = conn.load_balancer.get_member(mb.id, pool.id)
    assert (mb.address, mb.protocol_port, mb.subnet_id, mb.weight, mb.backup) == ("10.1.0.10", 80, subnet.id, 1, False)
    assert (mb.provisioning_status, mb.operating_status) == ("ACTIVE", "NO_MONITOR")
    assert conn.load_balancer.find_member("sdk-m1", pool.id, ignore_missing=False).id == mb.id
    assert [m.id for m in conn.load_balancer.members(pool.id)] == [mb.id]
    conn.load_balancer.update_member(mb.id, pool.id, weight=5, name="sdk-m1-renamed")
    settle(conn, lb.id)
    mb = conn.load_balancer.get_member(mb.id, pool.id)
    assert (mb.name, mb.weight) == ("sdk-m1-renamed", 5)

    # Health monitor.
    hm = conn.load_balancer.create_health_monitor(
        name="sdk-hm1", pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=3, url_path="/healthz"
    )
    settle(conn, lb.id)
    hm = conn.load_balancer.get_health_monitor(hm.id)
    assert (hm.type, hm.delay, hm.timeout, hm.max_retries, hm.url_path) == ("HTTP", 5, 3, 3, "/healthz")
    assert (hm.http_method, hm.expected_codes, hm.max_retries_down) == ("GET", "200", 3)
    assert (hm.pools, hm.provisioning_status) == ([{"id": pool.id}], "ACTIVE")
    assert conn.load_balancer.get_pool(pool.id).health_monitor_id == hm.id
    assert conn.load_balancer.find_health_monitor("sdk-hm1", ignore_missing=False).id == hm.id
    assert hm.id in {h.id for h in conn.load_balancer.health_monitors(pool_id=pool.id)}
    conn.load_balancer.update_health_monitor(hm.id, delay=10, expected_codes="200-204", name="sdk-hm1-renamed")
    settle(conn, lb.id)
    hm = conn.load_balancer.get_health_monitor(hm.id)
    assert (hm.name, hm.delay, hm.expected_codes) == ("sdk-hm1-renamed", 10, "200-204")

    conn.load_balancer.delete_health_monitor(hm.id)
    settle(conn, lb.id)
    assert conn.load_balancer.find_health_monitor(hm.id) is None
    assert conn.load_balancer.get_pool(pool.id).health_monitor_id is None
    conn.load_balancer.delete_member(mb.id, pool.id)
    settle(conn, lb.id)
    assert list(conn.load_balancer.members(pool.id)) == []
    conn.load_balancer.delete_pool(pool.id)
    settle(conn, lb.id)
    assert conn.load_balancer.find_pool(pool.id) is None
    assert conn.load_balancer.get_listener(li.id).default_pool_id is None
    conn.load_balancer.delete_listener(li.id)
    settle(conn, lb.id)


# --------------------------------------------------------------------------- L7 policies and rules


def test_l7_policy_and_rule_lifecycle(conn: Connection, lb: Any) -> None:
    li = conn.load_balancer.create_listener(name="sdk-l3", protocol="HTTP", protocol_port=8081, loadbalancer_id=lb.id)
    settle(conn, lb.id)
    pool = conn.load_balancer.create_pool(
        name="sdk-l7-pool", protocol="HTTP", lb_algorithm="ROUND_ROBIN", loadbalancer_id=lb.id
    )
    settle(conn, lb.id)

    policy = conn.load_balancer.create_l7_policy(
        name="sdk-pol1", listener_id=li.id, action="REDIRECT_TO_POOL", redirect_pool_id=pool.id
    )
    settle(conn, lb.id)
    policy = conn.load_balancer.get_l7_policy(policy.id)
    assert (policy.action, policy.redirect_pool_id, policy.position, policy.rules) == (
        "REDIRECT_TO_POOL", pool.id, 1, [],
    )  # fmt: skip
    assert policy.provisioning_status == "ACTIVE"
    assert conn.load_balancer.find_l7_policy("sdk-pol1", ignore_missing=False).id == policy.id
    assert policy.id in {p.id for p in conn.load_balancer.l7_policies(listener_id=li.id)}
    conn.load_balancer.update_l7_policy(policy.id, action="REDIRECT_PREFIX", redirect_prefix="https://example.com")
    settle(conn, lb.id)
    policy = conn.load_balancer.get_l7_policy(policy.id)
    assert (policy.action, policy.redirect_prefix, policy.redirect_pool_id) == (
        "REDIRECT_PREFIX", "https://example.com", None,
    )  # fmt: skip

    rule = conn.load_balancer.create_l7_rule(
        policy.id, type="HEADER", compare_type="EQUAL_TO", key="X-Env", rule_value="dev"
    )
    settle(conn, lb.id)
    rule = conn.load_balancer.get_l7_rule(rule.id, policy.id)
    assert (rule.type, rule.compare_type, rule.key, rule.rule_value, rule.invert) == (
        "HEADER", "EQUAL_TO", "X-Env", "dev", False,
    )  # fmt: skip
    assert rule.provisioning_status == "ACTIVE"
    assert conn.load_balancer.find_l7_rule(rule.id, policy.id, ignore_missing=False).id == rule.id
    assert [r.id for r in conn.load_balancer.l7_rules(policy.id)] == [rule.id]
    assert conn.load_balancer.get_l7_policy(policy.id).rules == [{"id": rule.id}]
    conn.load_balancer.update_l7_rule(rule.id, policy.id, rule_value="prod", invert=True)
    settle(conn, lb.id)
    rule = conn.load_balancer.get_l7_rule(rule.id, policy.id)
    assert (rule.rule_value, rule.invert) == ("prod", True)

    conn.load_balancer.delete_l7_rule(rule.id, policy.id)
    settle(conn, lb.id)
    assert list(conn.load_balancer.l7_rules(policy.id)) == []
    conn.load_balancer.delete_l7_policy(policy.id)
    settle(conn, lb.id)
    assert conn.load_balancer.find_l7_policy(policy.id) is None
    conn.load_balancer.delete_pool(pool.id)
    settle(conn, lb.id)
    conn.load_balancer.delete_listener(li.id)
    settle(conn, lb.id)


# --------------------------------------------------------------------------- operator: quotas, providers


def test_quotas(conn: Connection) -> None:
    default = conn.load_balancer.get_quota_default()
    assert (default.load_balancers, default.listeners, default.pools, default.members) == (-1, -1, -1, -1)

    assert conn.load_balancer.get_quota("sdk-project").load_balancers == -1
    updated = conn.load_balancer.update_quota("sdk-project", load_balancers=5, members=50)
    assert (updated.load_balancers, updated.members, updated.pools) == (5, 50, -1)
    assert conn.load_balancer.get_quota("sdk-project").load_balancers == 5
    assert "sdk-project" in {q.project_id for q in conn.load_balancer.quotas()}

    conn.load_balancer.delete_quota("sdk-project")
    assert conn.load_balancer.get_quota("sdk-project").load_balancers == -1
    assert "sdk-project" not in {q.project_id for q in conn.load_balancer.quotas()}


def test_providers(conn: Connection) -> None:
    names = {p.name for p in conn.load_balancer.providers()}
    assert {"amphora", "octavia", "noop", "haproxy"} <= names
    # The SDK offers name/description filters; Octavia's provider list ignores them, and so does this one.
    assert {p.name for p in conn.load_balancer.providers(name="noop")} == names
    caps = {c.name for c in conn.load_balancer.provider_flavor_capabilities("noop")}
    assert "loadbalancer_topology" in caps
    # Capabilities do filter by name.
    assert [c.name for c in conn.load_balancer.provider_flavor_capabilities("noop", name="no-such-capability")] == []


# --------------------------------------------------------------------------- operator: flavors and zones


def test_flavor_profile_and_flavor_lifecycle(conn: Connection, subnet: Any) -> None:
    profile = conn.load_balancer.create_flavor_profile(
        name="sdk-fp", provider_name="noop", flavor_data=json.dumps({"loadbalancer_topology": "SINGLE"})
    )
    assert (profile.name, profile.provider_name) == ("sdk-fp", "noop")
    assert json.loads(profile.flavor_data) == {"loadbalancer_topology": "SINGLE"}
    assert conn.load_balancer.find_flavor_profile("sdk-fp", ignore_missing=False).id == profile.id
    assert profile.id in {p.id for p in conn.load_balancer.flavor_profiles()}
    assert conn.load_balancer.update_flavor_profile(profile.id, name="sdk-fp-renamed").name == "sdk-fp-renamed"
    assert conn.load_balancer.get_flavor_profile(profile.id).name == "sdk-fp-renamed"

    flavor = conn.load_balancer.create_flavor(name="sdk-flavor", flavor_profile_id=profile.id, description="single")
    assert (flavor.flavor_profile_id, flavor.is_enabled, flavor.description) == (profile.id, True, "single")
    assert conn.load_balancer.find_flavor("sdk-flavor", ignore_missing=False).id == flavor.id
    assert flavor.id in {f.id for f in conn.load_balancer.flavors()}

    # A load balancer of that flavor, cascade-deleted at once.
    flavored = conn.load_balancer.create_load_balancer(
        name="sdk-flavored", vip_subnet_id=subnet.id, flavor_id=flavor.id
    )
    assert settle(conn, flavored.id).flavor_id == flavor.id
    conn.load_balancer.delete_load_balancer(flavored.id, cascade=True)
    conn.load_balancer.wait_for_delete(flavored, interval=0.1, wait=30)

    conn.load_balancer.update_flavor(flavor.id, name="sdk-flavor-renamed", is_enabled=False)
    flavor = conn.load_balancer.get_flavor(flavor.id)
    assert (flavor.name, flavor.is_enabled) == ("sdk-flavor-renamed", False)

    with pytest.raises(exceptions.ConflictException):  # the profile is in use
        conn.load_balancer.delete_flavor_profile(profile.id)
    conn.load_balancer.delete_flavor(flavor.id)
    assert conn.load_balancer.find_flavor(flavor.id) is None
    conn.load_balancer.delete_flavor_profile(profile.id)
    assert conn.load_balancer.find_flavor_profile(profile.id) is None


def test_availability_zone_profile_and_zone_lifecycle(conn: Connection) -> None:
    profile = conn.load_balancer.create_availability_zone_profile(
        name="sdk-azp", provider_name="noop", availability_zone_data=json.dumps({"compute_zone": "zone-b"})
    )
    assert (profile.name, profile.provider_name) == ("sdk-azp", "noop")
    assert json.loads(profile.availability_zone_data) == {"compute_zone": "zone-b"}
    assert conn.load_balancer.find_availability_zone_profile("sdk-azp", ignore_missing=False).id == profile.id
    assert profile.id in {p.id for p in conn.load_balancer.availability_zone_profiles()}
    conn.load_balancer.update_availability_zone_profile(profile.id, name="sdk-azp-renamed")
    assert conn.load_balancer.get_availability_zone_profile(profile.id).name == "sdk-azp-renamed"

    zone = conn.load_balancer.create_availability_zone(
        name="sdk-az", availability_zone_profile_id=profile.id, description="zone b"
    )
    assert (zone.name, zone.availability_zone_profile_id, zone.is_enabled) == ("sdk-az", profile.id, True)
    assert conn.load_balancer.get_availability_zone("sdk-az").description == "zone b"
    assert conn.load_balancer.find_availability_zone("sdk-az", ignore_missing=False).name == "sdk-az"
    assert "sdk-az" in {z.name for z in conn.load_balancer.availability_zones()}
    conn.load_balancer.update_availability_zone("sdk-az", description="zone b, closed", is_enabled=False)
    zone = conn.load_balancer.get_availability_zone("sdk-az")
    assert (zone.description, zone.is_enabled) == ("zone b, closed", False)

    conn.load_balancer.delete_availability_zone("sdk-az")
    assert conn.load_balancer.find_availability_zone("sdk-az") is None
    conn.load_balancer.delete_availability_zone_profile(profile.id)
    assert conn.load_balancer.find_availability_zone_profile(profile.id) is None


# --------------------------------------------------------------------------- amphorae, failover, cascade delete


def test_amphorae_and_failover(conn: Connection, lb: Any) -> None:
    amphorae = list(conn.load_balancer.amphorae(loadbalancer_id=lb.id))
    assert [(a.loadbalancer_id, a.role, a.status) for a in amphorae] == [(lb.id, "STANDALONE", "ALLOCATED")]
    amphora = conn.load_balancer.get_amphora(amphorae[0].id)
    assert (amphora.ha_ip, amphora.ha_port_id) == (lb.vip_address, lb.vip_port_id)
    assert conn.load_balancer.find_amphora(amphora.id, ignore_missing=False).id == amphora.id

    conn.load_balancer.configure_amphora(amphora.id)
    conn.load_balancer.failover_amphora(amphora.id)
    assert settle(conn, lb.id).provisioning_status == "ACTIVE"

    conn.load_balancer.failover_load_balancer(lb.id)
    assert settle(conn, lb.id).provisioning_status == "ACTIVE"


def test_cascade_delete(conn: Connection, subnet: Any) -> None:
    doomed = conn.load_balancer.create_load_balancer(name="sdk-doomed", vip_subnet_id=subnet.id)
    settle(conn, doomed.id)
    li = conn.load_balancer.create_listener(protocol="TCP", protocol_port=443, loadbalancer_id=doomed.id)
    settle(conn, doomed.id)
    pool = conn.load_balancer.create_pool(protocol="TCP", lb_algorithm="ROUND_ROBIN", listener_id=li.id)
    settle(conn, doomed.id)

    with pytest.raises(exceptions.BadRequestException, match="it has children"):
        conn.load_balancer.delete_load_balancer(doomed.id)
    conn.load_balancer.delete_load_balancer(doomed.id, cascade=True)
    conn.load_balancer.wait_for_delete(doomed, interval=0.1, wait=30)

    assert conn.load_balancer.find_load_balancer(doomed.id) is None
    assert conn.load_balancer.find_listener(li.id) is None
    assert conn.load_balancer.find_pool(pool.id) is None
    assert conn.network.find_port(doomed.vip_port_id) is None
