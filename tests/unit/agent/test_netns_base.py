"""Pure helpers of the agent's data plane: naming within IFNAMSIZ, PortPlug, GARP frames, sysctl raise."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lbaas.agent.netns import garp, nsexec
from lbaas.agent.netns.base import (
    MAX_IFNAME,
    HostRoute,
    Naming,
    NetworkPlug,
    PortPlug,
    bridge_name,
    check_ifname,
    ns_name,
    short_id,
    tap_ifname,
    vip_ifname,
    vlan_ifname,
)
from lbaas.domain.spec import HostRouteSpec, VipSpec

PORT = "1234abcd-5678-90ef-1234-567890abcdef"
NET = "fedcba98-7654-3210-fedc-ba9876543210"


def test_default_names() -> None:
    assert ns_name("lb-1") == "qlbaas-lb-1"
    assert vip_ifname(PORT) == "lbv-1234abcd567"
    assert tap_ifname(PORT) == "tap1234abcd567"
    assert bridge_name(NET) == "brqfedcba98765"
    assert short_id(PORT) == "1234abcd567"


@pytest.mark.parametrize("i", range(50))
def test_names_fit_ifnamsiz(i: int) -> None:
    some = str(uuid.uuid4())
    for name in (vip_ifname(some), tap_ifname(some), bridge_name(some)):
        assert len(name) <= MAX_IFNAME == 15


def test_vlan_names() -> None:
    assert vlan_ifname("eth1", 231) == "eth1.231"
    assert vlan_ifname("enp0s31f6", 4094) == "enp0s31f6.4094"
    long = vlan_ifname("enp129s0f1np1", 4094)  # 13 + 5 > 15
    assert len(long) <= 15 and long.endswith(".4094") and long.startswith("v")
    assert long == vlan_ifname("enp129s0f1np1", 4094)  # stable
    assert long != vlan_ifname("enp129s0f0np0", 4094)
    with pytest.raises(ValueError):
        vlan_ifname("eth1", 0)
    with pytest.raises(ValueError):
        vlan_ifname("eth1", 4095)


def test_naming_prefixes_are_checked() -> None:
    n = Naming(ns_prefix="qlbaas-t1-", vip_prefix="lbtv", tap_prefix="lbtt", bridge_prefix="lbtb")
    assert n.tap_ifname(PORT) == "lbtt1234abcd567" and len(n.tap_ifname(PORT)) == 15
    assert n.ns_name("x") == "qlbaas-t1-x"
    with pytest.raises(ValueError):
        Naming(tap_prefix="toolong")
    with pytest.raises(ValueError):
        Naming(ns_prefix="a/b")


def test_check_ifname() -> None:
    assert check_ifname("eth0") == "eth0"
    for bad in ("", "x" * 16, "a b", "a/b", ".", ".."):
        with pytest.raises(ValueError):
            check_ifname(bad)


def test_network_plug_validation() -> None:
    NetworkPlug(NET)
    NetworkPlug(NET, "vlan", "physnet1", 231)
    with pytest.raises(ValueError):
        NetworkPlug(NET, "vxlan")
    with pytest.raises(ValueError):
        NetworkPlug(NET, "vlan", "physnet1", None)
    with pytest.raises(ValueError):
        NetworkPlug(NET, "vlan", None, 10)


def test_port_plug_normalises() -> None:
    p = PortPlug(PORT, "FA:16:3E:AA:BB:CC", [("10.231.0.5", 24), ("fd00:231:0:0::5", 64)], NetworkPlug(NET),
                 gateway_ip="10.231.0.1", host_routes=[HostRoute("10.232.0.0/16", "10.231.0.2")])
    assert p.mac_address == "fa:16:3e:aa:bb:cc"
    assert p.addresses == (("10.231.0.5", 24), ("fd00:231::5", 64))
    assert p.host_routes == (HostRoute("10.232.0.0/16", "10.231.0.2"),)
    hash(p)  # frozen and hashable
    for bad_mac in ("01:00:5e:00:00:01", "fa:16:3e:aa:bb", "zz:16:3e:aa:bb:cc"):
        with pytest.raises(ValueError):
            PortPlug(PORT, bad_mac, [], NetworkPlug(NET))
    with pytest.raises(ValueError):
        PortPlug(PORT, "fa:16:3e:aa:bb:cc", [("10.231.0.5", 33)], NetworkPlug(NET))


def test_port_plug_from_vip() -> None:
    vip = VipSpec(address="10.231.0.10", prefixlen=24, port_id=PORT, mac_address="fa:16:3e:00:00:01",
                  subnet_id="s", network_id=NET, gateway_ip="10.231.0.1", mtu=1450,
                  host_routes=(HostRouteSpec(destination="10.9.0.0/16", nexthop="10.231.0.3"),),
                  network_type="vlan", physical_network="physnet1", segmentation_id=231)
    p = PortPlug.from_vip(vip)
    assert p == PortPlug(
        port_id=PORT, mac_address="fa:16:3e:00:00:01", addresses=(("10.231.0.10", 24),), mtu=1450,
        gateway_ip="10.231.0.1", host_routes=(HostRoute("10.9.0.0/16", "10.231.0.3"),),
        network=NetworkPlug(NET, "vlan", "physnet1", 231, 1450),
    )


def test_garp_frame_layout() -> None:
    f = garp.garp_frame("fa:16:3e:00:00:01", "10.231.0.10")
    assert len(f) == 42
    assert f[:6] == b"\xff" * 6 and f[6:12] == bytes.fromhex("fa163e000001") and f[12:14] == b"\x08\x06"
    arp = f[14:]
    assert arp[6:8] == b"\x00\x01"  # request
    assert arp[8:14] == bytes.fromhex("fa163e000001") and arp[14:18] == bytes([10, 231, 0, 10])
    assert arp[18:24] == b"\x00" * 6 and arp[24:28] == bytes([10, 231, 0, 10])  # sender ip == target ip
    reply = garp.garp_frame("fa:16:3e:00:00:01", "10.231.0.10", op=2)[14:]
    assert reply[6:8] == b"\x00\x02" and reply[18:24] == bytes.fromhex("fa163e000001")
    with pytest.raises(ValueError):
        garp.garp_frame("fa:16:3e:00:00:01", "fd00::1")


def test_raise_sysctl_never_lowers(tmp_path: Path) -> None:
    d = tmp_path / "net" / "ipv4" / "neigh" / "default"
    d.mkdir(parents=True)
    (d / "gc_thresh3").write_text("1024\n")
    assert nsexec.raise_sysctl("net.ipv4.neigh.default.gc_thresh3", 8192, root=str(tmp_path)) is True
    assert (d / "gc_thresh3").read_text() == "8192\n"
    assert nsexec.raise_sysctl("net.ipv4.neigh.default.gc_thresh3", 4096, root=str(tmp_path)) is False
    assert (d / "gc_thresh3").read_text() == "8192\n"


def test_netns_names_are_validated() -> None:
    for bad in ("", "a/b", ".", ".."):
        with pytest.raises(ValueError):
            nsexec.netns_path(bad)
    argv = nsexec.ip_netns_exec("qlbaas-x", ["haproxy", "-v"])
    assert argv == ["ip", "netns", "exec", "qlbaas-x", "haproxy", "-v"]
