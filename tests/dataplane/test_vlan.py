"""A VLAN provider network end to end: the LB's bridge is uplinked through the mapped "physical"
interface with 802.1Q tag 231, and the member sits on the far side of a veth "wire", reachable only
through VLAN 231.

The wire is a veth pair made here in the root namespace: ``tfphys0`` is mapped as physnet1 for the
service's agent; ``tfphys1`` is the far "hypervisor", built by a second plumber with its own name
prefixes (``tfb…`` bridge, ``tfg…`` tagger, ``lbh-tfvl-web`` member), on the same VLAN of physnet1. The
agent uses an 8021q subinterface where the kernel has one and the eBPF tagger otherwise; either way an
untagged frame on the wire reaches nobody, so an answer from the member proves the tag, and a raw capture
of the wire shows it.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host, kill_namespace_processes, remove_host
from lbaas.agent.netns.base import Naming, NetworkPlug, PortPlug
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "tfvl-"
SERVE_ARGS = ["--physical-interface-mappings", "physnet1:tfphys0"]
NET = "10.252.5"
VIP = f"{NET}.20"
VID = 231
PHYS0, PHYS1 = "tfphys0", "tfphys1"
MEMBER, MEMBER_IP = f"{HOST_PREFIX}web", f"{NET}.11"
FAR_NAMING = Naming(ns_prefix="lbh-", vip_prefix="tfv", tap_prefix="tft", bridge_prefix="tfb", tagger_prefix="tfg")
FAR_NET = NetworkPlug(network_id=str(uuid.uuid4()), network_type="vlan", physical_network="physnet1", segmentation_id=VID)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def link(name: str) -> dict[str, Any]:
    (info,) = json.loads(ip("-d", "-s", "-j", "link", "show", "dev", name).stdout)
    return dict(info)


def _no_ipv6(name: str) -> None:
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("1")


def _remove_wire(far: Pyroute2Plumber) -> None:
    ns = f"lbh-{MEMBER}"
    if subprocess.run(["ip", "netns", "pids", ns], capture_output=True).returncode == 0:
        kill_namespace_processes(ns)
        remove_host(MEMBER, far)
    far.remove_bridge_if_unused(FAR_NET)
    ip("link", "del", PHYS0, check=False)  # deleting tfphys0 deletes its peer tfphys1
    # The far side's links by this module's own prefixes, whatever the path above kept: a namespace removed
    # by someone else loses its veth in the kernel's asynchronous netns clean-up, and on a loaded machine
    # the bridge could still be judged in use (a tagger pair and its bridge were once left behind).
    prefixes = (FAR_NAMING.tap_prefix, FAR_NAMING.tagger_prefix, FAR_NAMING.bridge_prefix)
    for entry in json.loads(ip("-j", "link", "show").stdout):
        name = str(entry.get("ifname", ""))
        if name.startswith(prefixes):
            ip("link", "del", name, check=False)  # a veth's peer goes with it: "not found" is fine


@pytest.fixture(scope="module", autouse=True)
def wire() -> Iterator[None]:
    """Set up before the service (autouse), removed after it (and after the agent removed its part)."""
    far = Pyroute2Plumber(FAR_NAMING, neigh_gc_thresh=None)
    ip("link", "del", PHYS0, check=False)  # leftovers of an interrupted run (these names are this module's own)
    try:
        ip("link", "add", PHYS0, "type", "veth", "peer", "name", PHYS1)
        for name in (PHYS0, PHYS1):
            _no_ipv6(name)
            ip("link", "set", name, "up")
        far.ensure_bridge(FAR_NET, {"physnet1": PHYS1})
        port = PortPlug(port_id=str(uuid.uuid4()), mac_address="fa:16:3e:25:2a:0b",
                        addresses=((MEMBER_IP, 24),), network=FAR_NET)  # fmt: skip
        ns = ensure_host(MEMBER, port, far)
        pid = echo.serve_in_namespace(ns, MEMBER)
        yield
        echo.stop(pid)
    finally:
        _remove_wire(far)


class WireCapture:
    """Count frames on the wire (tfphys1) by VLAN tag, with PACKET_AUXDATA (the kernel strips the tag)."""

    PACKET_AUXDATA = 8
    TP_STATUS_VLAN_VALID = 1 << 4

    def __init__(self, ifname: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.setsockopt(263, self.PACKET_AUXDATA, 1)  # SOL_PACKET
        self.sock.bind((ifname, 0))
        self.sock.settimeout(0.2)
        self.tags: dict[int | None, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WireCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(32))
            except TimeoutError:
                continue
            except OSError:
                return
            vid: int | None = None
            for level, kind, payload in anc:
                if level == 263 and kind == self.PACKET_AUXDATA and len(payload) >= 20:
                    status, _len, _snap, _mac, _net, tci, _tpid = struct.unpack("=IIIHHHH", payload[:20])
                    if status & self.TP_STATUS_VLAN_VALID:
                        vid = tci & 0x0FFF
            if vid is None and len(data) >= 16 and data[12:14] == b"\x81\x00":
                vid = int.from_bytes(data[14:16], "big") & 0x0FFF
            if len(data) >= 14:
                self.tags[vid] = self.tags.get(vid, 0) + 1


def vlan_network(service: Service, cidr: str, vid: int) -> tuple[dict[str, Any], dict[str, Any]]:
    net, subnet = service.network(
        cidr, **{"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": vid}
    )
    assert net["provider:segmentation_id"] == vid
    return net, subnet


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = vlan_network(service, f"{NET}.0/24", VID)
    service.host("client", net["id"], f"{NET}.10", serve=None)
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"}}],
        "pools": [{"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                                     "max_retries_down": 2, "url_path": "/"},
                   "members": [{"address": MEMBER_IP, "protocol_port": 80}]}],
    })  # fmt: skip
    return {"lb": lb["id"], "net": net["id"]}


def test_traffic_crosses_the_wire_tagged_with_the_network_vlan(service: Service, topo: dict[str, Any]) -> None:
    service.wait_for(lambda: set(service.members(topo["lb"]).values()) == {"ONLINE"}, timeout=15,
                     what="member ONLINE through the VLAN")  # fmt: skip
    with WireCapture(PHYS1) as cap:
        answers = service.fetch("client", f"http://{VIP}/", 20)
    assert all(a["status"] == 200 for a in answers), answers
    assert {a["host"] for a in answers} == {MEMBER}
    assert {a["peer"] for a in answers} == {VIP}
    # Each request is at least SYN, request and final ACK toward the member: all of them tagged 231.
    assert cap.tags.get(VID, 0) >= 3 * 20, cap.tags
    assert cap.tags.get(None, 0) == 0, f"untagged frames on the wire: {cap.tags}"


def test_a_member_on_another_vlan_is_unreachable(service: Service, topo: dict[str, Any]) -> None:
    """Control: the same subnet on VLAN 232 at the far end gets no frame from VLAN 231."""
    far = Pyroute2Plumber(FAR_NAMING, neigh_gc_thresh=None)
    other = NetworkPlug(network_id=str(uuid.uuid4()), network_type="vlan", physical_network="physnet1",
                        segmentation_id=VID + 1)  # fmt: skip
    port = PortPlug(port_id=str(uuid.uuid4()), mac_address="fa:16:3e:25:2a:0c",
                    addresses=((f"{NET}.12", 24),), network=other)  # fmt: skip
    far.ensure_bridge(other, {"physnet1": PHYS1})
    ns = ensure_host(f"{HOST_PREFIX}oth", port, far)
    pid = echo.serve_in_namespace(ns, f"{HOST_PREFIX}oth")
    try:
        (a,) = service.fetch("client", f"http://{NET}.12/", 1, timeout=1.5)
        assert a["status"] is None, a
        (b,) = service.fetch("client", f"http://{MEMBER_IP}/", 1)
        assert b["status"] == 200
    finally:
        echo.stop(pid)
        remove_host(f"{HOST_PREFIX}oth", far)
        far.remove_bridge_if_unused(other)
