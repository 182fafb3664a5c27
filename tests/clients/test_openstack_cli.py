"""The unmodified ``openstack`` CLI (python-openstackclient + python-octaviaclient) against ``lbaas serve``.

Every command runs as its own process with ``OS_AUTH_TYPE=none`` and ``OS_ENDPOINT`` only, the way
the README tells users to run it, and ``-f json`` wherever the command has a formatter. Commands that
change a load balancer use ``--wait``, so each step also proves the CLI sees the noop provider
complete the change (PENDING_* → ACTIVE). One server serves the whole module; each test builds
what it needs under its own names on the module's load balancer.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients.server import Server

# Each command is a new Python process (~1-2 s of imports) and each --wait sleeps 3 s between polls:
# the longest test runs ~25 commands, so it gets more than the suite's default 300 s on a busy host.
pytestmark = [pytest.mark.clients, pytest.mark.timeout(600)]

CLI_TIMEOUT = 120  # seconds for one command (a --wait polls every 3 s)
ALL_QUOTAS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")


def _openstack_binary() -> str:
    beside = Path(sys.executable).parent / "openstack"
    found = str(beside) if beside.exists() else shutil.which("openstack")
    if not found:
        pytest.skip("the openstack CLI is not installed (pip install python-openstackclient python-octaviaclient)")
    return found


class OpenStack:
    """Runs ``openstack …`` as a subprocess; every call shows the command and its output on failure."""

    def __init__(self, binary: str, env: dict[str, str]) -> None:
        self.binary = binary
        self.env = env

    def _run(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False
        )

    def __call__(self, *args: str) -> str:
        """Run a command that must succeed; its stdout."""
        res = self._run(args)
        assert res.returncode == 0, f"openstack {' '.join(args)} → {res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    def json(self, *args: str) -> Any:
        """Run a command with ``-f json``; the parsed output."""
        return json.loads(self(*args, "-f", "json"))

    def fails(self, *args: str) -> str:
        """Run a command that must fail; its stderr."""
        res = self._run(args)
        assert res.returncode != 0, f"openstack {' '.join(args)} succeeded:\n{res.stdout}"
        return res.stderr


@pytest.fixture(scope="module")
def openstack(lbaas_server: Server, tmp_path_factory: pytest.TempPathFactory) -> OpenStack:
    home = tmp_path_factory.mktemp("cli-home")  # no clouds.yaml or caches from the developer's home
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(home), OS_AUTH_TYPE="none", OS_ENDPOINT=lbaas_server.url, PYTHONWARNINGS="ignore")
    return OpenStack(_openstack_binary(), env)


@pytest.fixture(scope="module")
def subnet(openstack: OpenStack) -> dict[str, Any]:
    net = openstack.json("network", "create", "cli-net")
    assert net["name"] == "cli-net"
    assert net["status"] == "ACTIVE"
    sub = openstack.json("subnet", "create", "--network", "cli-net", "--subnet-range", "10.0.0.0/24", "cli-sub")
    assert sub["name"] == "cli-sub"
    assert sub["network_id"] == net["id"]
    assert sub["cidr"] == "10.0.0.0/24"
    return dict(sub)


@pytest.fixture(scope="module")
def lb(openstack: OpenStack, subnet: dict[str, Any]) -> dict[str, Any]:
    """cli-lb, created by subnet *name* and waited for (it goes with the server; test_cascade_delete deletes one)."""
    created = openstack.json("loadbalancer", "create", "--name", "cli-lb", "--vip-subnet-id", "cli-sub", "--wait")
    assert created["provisioning_status"] == "ACTIVE"
    return dict(created)


def _names(rows: list[dict[str, Any]]) -> set[str]:
    return {r["name"] for r in rows}


# --------------------------------------------------------------------------- networks


def test_network_and_subnet(openstack: OpenStack, subnet: dict[str, Any]) -> None:
    assert "cli-net" in {r["Name"] for r in openstack.json("network", "list")}  # Neutron lists: capitalised keys
    shown = openstack.json("subnet", "show", "cli-sub")
    assert shown["id"] == subnet["id"]
    assert shown["gateway_ip"] == "10.0.0.1"
    assert shown["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]


# --------------------------------------------------------------------------- load balancer


def test_load_balancer_create_list_show_set(openstack: OpenStack, subnet: dict[str, Any], lb: dict[str, Any]) -> None:
    assert lb["name"] == "cli-lb"
    assert lb["vip_subnet_id"] == subnet["id"]
    assert lb["vip_network_id"] == subnet["network_id"]
    assert ipaddress.ip_address(lb["vip_address"]) in ipaddress.ip_network("10.0.0.0/24")
    assert lb["admin_state_up"] is True

    listed = {r["name"]: r for r in openstack.json("loadbalancer", "list")}
    assert listed["cli-lb"]["id"] == lb["id"]
    assert listed["cli-lb"]["provisioning_status"] == "ACTIVE"
    assert listed["cli-lb"]["vip_address"] == lb["vip_address"]

    openstack("loadbalancer", "set", "--name", "cli-lb-renamed", "--description", "made by the CLI", "--wait", "cli-lb")
    shown = openstack.json("loadbalancer", "show", "cli-lb-renamed")
    assert (shown["id"], shown["description"], shown["provisioning_status"]) == (lb["id"], "made by the CLI", "ACTIVE")
    openstack("loadbalancer", "set", "--name", "cli-lb", "--wait", lb["id"])  # the other tests use the name


def test_load_balancer_status_and_stats(openstack: OpenStack, lb: dict[str, Any]) -> None:
    # `status show` has no formatter: it prints the status tree as JSON itself.
    tree = json.loads(openstack("loadbalancer", "status", "show", "cli-lb"))["loadbalancer"]
    assert (tree["id"], tree["name"], tree["provisioning_status"]) == (lb["id"], "cli-lb", "ACTIVE")
    assert isinstance(tree["listeners"], list)

    stats = openstack.json("loadbalancer", "stats", "show", "cli-lb")
    assert stats == {
        "active_connections": 0, "bytes_in": 0, "bytes_out": 0, "request_errors": 0, "total_connections": 0,
    }  # fmt: skip


# --------------------------------------------------------------------------- listeners


def test_listener_lifecycle(openstack: OpenStack, lb: dict[str, Any]) -> None:
    li = openstack.json(
        "loadbalancer", "listener", "create", "--name", "cli-l1", "--protocol", "HTTP", "--protocol-port", "80",
        "--wait", "cli-lb",
    )  # fmt: skip
    assert (li["name"], li["protocol"], li["protocol_port"]) == ("cli-l1", "HTTP", 80)
    assert li["provisioning_status"] == "ACTIVE"
    assert li["loadbalancers"] == [{"id": lb["id"]}]
    assert li["connection_limit"] == -1  # Octavia's defaults
    assert li["timeout_client_data"] == 50000
    assert li["default_pool_id"] is None

    listed = {r["name"]: r for r in openstack.json("loadbalancer", "listener", "list", "--loadbalancer", "cli-lb")}
    assert listed["cli-l1"]["id"] == li["id"]
    assert listed["cli-l1"]["protocol_port"] == 80

    openstack(
        "loadbalancer", "listener", "set", "--name", "cli-l1-renamed", "--description", "front door",
        "--connection-limit", "100", "--wait", "cli-l1",
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "listener", "show", li["id"])
    assert (shown["name"], shown["description"], shown["connection_limit"]) == ("cli-l1-renamed", "front door", 100)
    assert shown["provisioning_status"] == "ACTIVE"

    stats = openstack.json("loadbalancer", "listener", "stats", "show", "cli-l1-renamed")
    assert stats["total_connections"] == 0
    assert set(stats) == {"active_connections", "bytes_in", "bytes_out", "request_errors", "total_connections"}

    # delete --wait polls the listener until it answers 404; the list agrees.
    openstack("loadbalancer", "listener", "delete", "--wait", "cli-l1-renamed")
    assert li["id"] not in {r["id"] for r in openstack.json("loadbalancer", "listener", "list")}


# --------------------------------------------------------------------------- pools, members, health monitors


def test_pool_member_health_monitor_lifecycle(openstack: OpenStack, lb: dict[str, Any], subnet: dict[str, Any]) -> None:
    li = openstack.json(
        "loadbalancer", "listener", "create", "--name", "cli-l2", "--protocol", "HTTP", "--protocol-port", "8080",
        "--wait", "cli-lb",
    )  # fmt: skip

    pool = openstack.json(
        "loadbalancer", "pool", "create", "--name", "cli-p1", "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
        "--listener", "cli-l2", "--wait",
    )  # fmt: skip
    assert (pool["name"], pool["protocol"], pool["lb_algorithm"]) == ("cli-p1", "HTTP", "ROUND_ROBIN")
    assert pool["provisioning_status"] == "ACTIVE"
    assert pool["listeners"] == [{"id": li["id"]}]
    assert pool["loadbalancers"] == [{"id": lb["id"]}]
    assert pool["session_persistence"] is None
    assert pool["healthmonitor_id"] is None
    assert openstack.json("loadbalancer", "listener", "show", "cli-l2")["default_pool_id"] == pool["id"]
    assert "cli-p1" in _names(openstack.json("loadbalancer", "pool", "list", "--loadbalancer", "cli-lb"))

    openstack(
        "loadbalancer", "pool", "set", "--name", "cli-p1-renamed", "--lb-algorithm", "LEAST_CONNECTIONS",
        "--description", "web servers", "--wait", "cli-p1",
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "pool", "show", pool["id"])
    assert (shown["name"], shown["lb_algorithm"], shown["description"]) == (
        "cli-p1-renamed", "LEAST_CONNECTIONS", "web servers",
    )  # fmt: skip

    # Members (addressed as <pool> <member>).
    mb = openstack.json(
        "loadbalancer", "member", "create", "--name", "cli-m1", "--address", "10.0.0.10", "--protocol-port", "80",
        "--subnet-id", "cli-sub", "--wait", "cli-p1-renamed",
    )  # fmt: skip
    assert (mb["address"], mb["protocol_port"], mb["subnet_id"]) == ("10.0.0.10", 80, subnet["id"])
    assert mb["weight"] == 1  # Octavia's default
    assert mb["backup"] is False
    assert mb["provisioning_status"] == "ACTIVE"
    assert mb["operating_status"] == "NO_MONITOR"  # no health monitor yet
    listed = openstack.json("loadbalancer", "member", "list", "cli-p1-renamed")
    assert [(r["name"], r["address"], r["weight"]) for r in listed] == [("cli-m1", "10.0.0.10", 1)]
    openstack(
        "loadbalancer", "member", "set", "--name", "cli-m1-renamed", "--weight", "5", "--wait", "cli-p1-renamed", "cli-m1",
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "member", "show", "cli-p1-renamed", "cli-m1-renamed")
    assert (shown["id"], shown["weight"], shown["provisioning_status"]) == (mb["id"], 5, "ACTIVE")

    # Health monitor on the pool.
    hm = openstack.json(
        "loadbalancer", "healthmonitor", "create", "--name", "cli-hm1", "--type", "HTTP", "--delay", "5",
        "--timeout", "3", "--max-retries", "3", "--url-path", "/healthz", "--wait", "cli-p1-renamed",
    )  # fmt: skip
    assert (hm["type"], hm["delay"], hm["timeout"], hm["max_retries"], hm["url_path"]) == ("HTTP", 5, 3, 3, "/healthz")
    assert (hm["http_method"], hm["expected_codes"], hm["max_retries_down"]) == ("GET", "200", 3)  # defaults
    assert hm["pools"] == [{"id": pool["id"]}]
    assert hm["provisioning_status"] == "ACTIVE"
    assert openstack.json("loadbalancer", "pool", "show", pool["id"])["healthmonitor_id"] == hm["id"]
    assert "cli-hm1" in _names(openstack.json("loadbalancer", "healthmonitor", "list"))
    openstack(
        "loadbalancer", "healthmonitor", "set", "--name", "cli-hm1-renamed", "--delay", "10",
        "--expected-codes", "200-204", "--wait", "cli-hm1",
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "healthmonitor", "show", hm["id"])
    assert (shown["name"], shown["delay"], shown["expected_codes"]) == ("cli-hm1-renamed", 10, "200-204")

    # Children first; each delete --wait polls the object until it answers 404.
    openstack("loadbalancer", "healthmonitor", "delete", "--wait", "cli-hm1-renamed")
    assert openstack.json("loadbalancer", "pool", "show", pool["id"])["healthmonitor_id"] is None
    openstack("loadbalancer", "member", "delete", "--wait", "cli-p1-renamed", "cli-m1-renamed")
    assert openstack.json("loadbalancer", "member", "list", "cli-p1-renamed") == []
    openstack("loadbalancer", "pool", "delete", "--wait", "cli-p1-renamed")
    assert openstack.json("loadbalancer", "listener", "show", "cli-l2")["default_pool_id"] is None
    openstack("loadbalancer", "listener", "delete", "--wait", "cli-l2")


# --------------------------------------------------------------------------- L7 policies and rules


def test_l7_policy_and_rule_lifecycle(openstack: OpenStack, lb: dict[str, Any]) -> None:
    li = openstack.json(
        "loadbalancer", "listener", "create", "--name", "cli-l3", "--protocol", "HTTP", "--protocol-port", "8081",
        "--wait", "cli-lb",
    )  # fmt: skip
    pool = openstack.json(
        "loadbalancer", "pool", "create", "--name", "cli-l7-pool", "--protocol", "HTTP",
        "--lb-algorithm", "SOURCE_IP", "--loadbalancer", "cli-lb", "--wait",
    )  # fmt: skip

    policy = openstack.json(
        "loadbalancer", "l7policy", "create", "--name", "cli-pol1", "--action", "REDIRECT_TO_POOL",
        "--redirect-pool", "cli-l7-pool", "--wait", "cli-l3",
    )  # fmt: skip
    assert (policy["action"], policy["redirect_pool_id"], policy["listener_id"]) == (
        "REDIRECT_TO_POOL", pool["id"], li["id"],
    )  # fmt: skip
    assert policy["position"] == 1
    assert policy["rules"] == []
    assert policy["provisioning_status"] == "ACTIVE"
    assert "cli-pol1" in _names(openstack.json("loadbalancer", "l7policy", "list", "--listener", "cli-l3"))

    openstack(
        "loadbalancer", "l7policy", "set", "--name", "cli-pol1-renamed", "--action", "REDIRECT_TO_URL",
        "--redirect-url", "http://example.com/", "--wait", "cli-pol1",
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "l7policy", "show", policy["id"])
    assert (shown["name"], shown["action"], shown["redirect_url"]) == (
        "cli-pol1-renamed", "REDIRECT_TO_URL", "http://example.com/",
    )  # fmt: skip
    assert shown["redirect_pool_id"] is None  # another action clears the pool

    rule = openstack.json(
        "loadbalancer", "l7rule", "create", "--type", "PATH", "--compare-type", "STARTS_WITH", "--value", "/api",
        "--wait", "cli-pol1-renamed",
    )  # fmt: skip
    assert (rule["type"], rule["compare_type"], rule["value"], rule["invert"]) == ("PATH", "STARTS_WITH", "/api", False)
    assert rule["provisioning_status"] == "ACTIVE"
    listed = openstack.json("loadbalancer", "l7rule", "list", "cli-pol1-renamed")
    assert [r["id"] for r in listed] == [rule["id"]]
    assert openstack.json("loadbalancer", "l7policy", "show", policy["id"])["rules"] == [{"id": rule["id"]}]
    openstack(
        "loadbalancer", "l7rule", "set", "--value", "/v2", "--compare-type", "EQUAL_TO", "--invert",
        "--wait", "cli-pol1-renamed", rule["id"],
    )  # fmt: skip
    shown = openstack.json("loadbalancer", "l7rule", "show", "cli-pol1-renamed", rule["id"])
    assert (shown["value"], shown["compare_type"], shown["invert"]) == ("/v2", "EQUAL_TO", True)

    openstack("loadbalancer", "l7rule", "delete", "--wait", "cli-pol1-renamed", rule["id"])
    assert openstack.json("loadbalancer", "l7policy", "show", policy["id"])["rules"] == []
    openstack("loadbalancer", "l7policy", "delete", "--wait", "cli-pol1-renamed")
    openstack("loadbalancer", "pool", "delete", "--wait", "cli-l7-pool")
    openstack("loadbalancer", "listener", "delete", "--wait", "cli-l3")


# --------------------------------------------------------------------------- operator: quotas, providers


def test_quotas(openstack: OpenStack) -> None:
    assert openstack.json("loadbalancer", "quota", "defaults", "show") == dict.fromkeys(ALL_QUOTAS, -1)

    # The CLI resolves a project name through Keystone; the server refuses that lookup with 403,
    # which the CLI answers by taking the name as the project id.
    assert openstack.json("loadbalancer", "quota", "show", "cli-project") == dict.fromkeys(ALL_QUOTAS, -1)
    updated = openstack.json("loadbalancer", "quota", "set", "--loadbalancer", "5", "--member", "50", "cli-project")
    assert (updated["load_balancer"], updated["member"], updated["pool"]) == (5, 50, -1)
    assert openstack.json("loadbalancer", "quota", "show", "cli-project")["load_balancer"] == 5
    listed = {r["project_id"]: r for r in openstack.json("loadbalancer", "quota", "list")}
    assert listed["cli-project"]["load_balancer"] == 5
    openstack("loadbalancer", "quota", "reset", "cli-project")
    assert openstack.json("loadbalancer", "quota", "show", "cli-project")["load_balancer"] == -1


def test_providers(openstack: OpenStack) -> None:
    providers = {p["name"]: p["description"] for p in openstack.json("loadbalancer", "provider", "list")}
    assert {"amphora", "octavia", "noop", "haproxy"} <= set(providers)
    assert "noop" in providers["amphora"]  # the default provider's alias names the provider behind it

    caps = {(c["type"], c["name"]) for c in openstack.json("loadbalancer", "provider", "capability", "list", "noop")}
    assert ("flavor", "loadbalancer_topology") in caps
    assert ("availability_zone", "compute_zone") in caps


# --------------------------------------------------------------------------- operator: flavors and zones


def test_flavor_profile_and_flavor_lifecycle(openstack: OpenStack) -> None:
    profile = openstack.json(
        "loadbalancer", "flavorprofile", "create", "--name", "cli-fp", "--provider", "noop",
        "--flavor-data", '{"loadbalancer_topology": "SINGLE"}',
    )  # fmt: skip
    assert (profile["name"], profile["provider_name"]) == ("cli-fp", "noop")
    assert json.loads(profile["flavor_data"]) == {"loadbalancer_topology": "SINGLE"}
    assert "cli-fp" in _names(openstack.json("loadbalancer", "flavorprofile", "list"))
    openstack("loadbalancer", "flavorprofile", "set", "--name", "cli-fp-renamed", "cli-fp")
    assert openstack.json("loadbalancer", "flavorprofile", "show", profile["id"])["name"] == "cli-fp-renamed"

    flavor = openstack.json(
        "loadbalancer", "flavor", "create", "--name", "cli-flavor", "--flavorprofile", "cli-fp-renamed",
        "--description", "single", "--enable",
    )  # fmt: skip
    assert (flavor["flavor_profile_id"], flavor["enabled"], flavor["description"]) == (profile["id"], True, "single")
    assert "cli-flavor" in _names(openstack.json("loadbalancer", "flavor", "list"))
    openstack("loadbalancer", "flavor", "set", "--name", "cli-flavor-renamed", "--disable", "cli-flavor")
    shown = openstack.json("loadbalancer", "flavor", "show", flavor["id"])
    assert (shown["name"], shown["enabled"]) == ("cli-flavor-renamed", False)

    # A profile in use cannot go.
    assert "in use" in openstack.fails("loadbalancer", "flavorprofile", "delete", "cli-fp-renamed")
    openstack("loadbalancer", "flavor", "delete", "cli-flavor-renamed")
    assert "cli-flavor-renamed" not in _names(openstack.json("loadbalancer", "flavor", "list"))
    openstack("loadbalancer", "flavorprofile", "delete", "cli-fp-renamed")
    assert "cli-fp-renamed" not in _names(openstack.json("loadbalancer", "flavorprofile", "list"))


def test_availability_zone_profile_and_zone_lifecycle(openstack: OpenStack) -> None:
    profile = openstack.json(
        "loadbalancer", "availabilityzoneprofile", "create", "--name", "cli-azp", "--provider", "noop",
        "--availability-zone-data", '{"compute_zone": "zone-a"}',
    )  # fmt: skip
    assert (profile["name"], profile["provider_name"]) == ("cli-azp", "noop")
    assert json.loads(profile["availability_zone_data"]) == {"compute_zone": "zone-a"}
    assert "cli-azp" in _names(openstack.json("loadbalancer", "availabilityzoneprofile", "list"))
    openstack("loadbalancer", "availabilityzoneprofile", "set", "--name", "cli-azp-renamed", "cli-azp")
    assert openstack.json("loadbalancer", "availabilityzoneprofile", "show", profile["id"])["name"] == "cli-azp-renamed"

    zone = openstack.json(
        "loadbalancer", "availabilityzone", "create", "--name", "cli-az", "--availabilityzoneprofile",
        "cli-azp-renamed", "--description", "zone a",
    )  # fmt: skip
    assert (zone["name"], zone["availability_zone_profile_id"], zone["enabled"]) == ("cli-az", profile["id"], True)
    assert "cli-az" in _names(openstack.json("loadbalancer", "availabilityzone", "list"))
    openstack("loadbalancer", "availabilityzone", "set", "--description", "zone a, closed", "--disable", "cli-az")
    shown = openstack.json("loadbalancer", "availabilityzone", "show", "cli-az")
    assert (shown["description"], shown["enabled"]) == ("zone a, closed", False)

    openstack("loadbalancer", "availabilityzone", "delete", "cli-az")
    assert "cli-az" not in _names(openstack.json("loadbalancer", "availabilityzone", "list"))
    openstack("loadbalancer", "availabilityzoneprofile", "delete", "cli-azp-renamed")
    assert "cli-azp-renamed" not in _names(openstack.json("loadbalancer", "availabilityzoneprofile", "list"))


# --------------------------------------------------------------------------- amphorae, failover, cascade delete


def test_amphora_and_failover(openstack: OpenStack, lb: dict[str, Any]) -> None:
    amphorae = openstack.json("loadbalancer", "amphora", "list", "--loadbalancer", lb["id"])
    assert [(a["loadbalancer_id"], a["role"], a["status"]) for a in amphorae] == [(lb["id"], "STANDALONE", "ALLOCATED")]
    amphora = openstack.json("loadbalancer", "amphora", "show", amphorae[0]["id"])
    assert (amphora["ha_ip"], amphora["ha_port_id"]) == (lb["vip_address"], lb["vip_port_id"])

    openstack("loadbalancer", "failover", "--wait", "cli-lb")
    assert openstack.json("loadbalancer", "show", lb["id"])["provisioning_status"] == "ACTIVE"


def test_cascade_delete(openstack: OpenStack, subnet: dict[str, Any]) -> None:
    doomed = openstack.json("loadbalancer", "create", "--name", "cli-doomed", "--vip-subnet-id", subnet["id"], "--wait")
    openstack(
        "loadbalancer", "listener", "create", "--name", "cli-doomed-l", "--protocol", "TCP", "--protocol-port", "443",
        "--wait", "cli-doomed",
    )  # fmt: skip
    openstack(
        "loadbalancer", "pool", "create", "--name", "cli-doomed-p", "--protocol", "TCP", "--lb-algorithm",
        "ROUND_ROBIN", "--listener", "cli-doomed-l", "--wait",
    )  # fmt: skip

    assert "it has children" in openstack.fails("loadbalancer", "delete", "--wait", "cli-doomed")
    openstack("loadbalancer", "delete", "--cascade", "--wait", "cli-doomed")

    assert "cli-doomed" not in _names(openstack.json("loadbalancer", "list"))
    assert "cli-doomed-l" not in _names(openstack.json("loadbalancer", "listener", "list"))
    assert "cli-doomed-p" not in _names(openstack.json("loadbalancer", "pool", "list"))
    assert doomed["vip_port_id"] not in {p["ID"] for p in openstack.json("port", "list")}
