"""VLAN networks through the eBPF tagger (``vlan_mode="ebpf"``, the only way on kernels without 8021q).

Two 'hypervisors' share one kernel: two plumbers with disjoint prefixes, each with its own end of a veth
pair that stands for the physical wire. Hosts are namespaces plugged like LB ports. Everything carries
the session token (see conftest); addresses are 10.249.0.0/16; nothing touches a real interface.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pyroute2 import IPRoute

from lbaas.agent import echo
from lbaas.agent.hosts import ensure_host, remove_host
from lbaas.agent.netns import bpf_vlan, nsexec, vlan_tagger
from lbaas.agent.netns.base import Naming, NetworkPlug, PlumbingError
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from tests.integration.conftest import TOKEN, Env, http_get, our_link, root_links, wait_until

pytestmark = pytest.mark.netns

ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
PHYSNET = "physnet-v"
IP_MTU_DISCOVER = 10  # linux/in.h (not in Python 3.11's socket module)
IP_PMTUDISC_DO = 2


def side1(env: Env) -> Pyroute2Plumber:
    return Pyroute2Plumber(env.naming, neigh_gc_thresh=None, vlan_mode="ebpf")


def side2(env: Env) -> Pyroute2Plumber:
    naming = Naming(ns_prefix=env.naming.ns_prefix, vip_prefix="lbtw", tap_prefix="lbtu", bridge_prefix="lbtc",
                    tagger_prefix="lbth")
    return Pyroute2Plumber(naming, neigh_gc_thresh=None, vlan_mode="ebpf")


@pytest.fixture
def wire(env: Env) -> Iterator[tuple[str, str]]:
    """The fake physical link: a veth pair of our own (no IPv6, up); removed by the env cleanup."""
    a, b = f"lbtp{TOKEN}a", f"lbtp{TOKEN}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    for n in (a, b):
        with open(f"/proc/sys/net/ipv6/conf/{n}/disable_ipv6", "w") as f:
            f.write("1\n")
        subprocess.run(["ip", "link", "set", n, "up"], check=True)
    yield a, b


def ifindex(name: str) -> int:
    with open(f"/sys/class/net/{name}/ifindex") as f:
        return int(f.read())


def tc_state(*links: str) -> dict[str, Any]:
    """Every ingress filter (with program id and tag) and RX map of ``links``, plus their ifindexes."""
    with IPRoute() as ipr:
        out: dict[str, Any] = {}
        for n in links:
            i = ifindex(n)
            filters = vlan_tagger.ingress_filters(ipr, i)
            rx = any(f.name == vlan_tagger.RX_NAME for f in filters)
            out[n] = (i, filters, vlan_tagger.rx_entries(ipr, i) if rx else {})
        return out


def tc_show(dev: str) -> str:
    return subprocess.run(["tc", "filter", "show", "dev", dev, "ingress"], capture_output=True, text=True,
                          check=True).stdout


def qdiscs(dev: str) -> str:
    return subprocess.run(["tc", "qdisc", "show", "dev", dev], capture_output=True, text=True, check=True).stdout


@dataclass
class Frame:
    outgoing: bool
    vid: int | None  # None: untagged
    tpid: int | None
    via_aux: bool  # the tag came as skb metadata (PACKET_AUXDATA), not in the payload
    ethertype: int
    src_ip: str | None
    dst_ip: str | None
    length: int  # on-wire length including a tag, without FCS


def parse_frame(data: bytes, aux: bytes | None, pkttype: int) -> Frame:
    vid = tpid = None
    via_aux = False
    if aux is not None:
        status, _, _, _, _, tci, aux_tpid = struct.unpack("<IIIHHHH", aux[:20])
        if status & TP_STATUS_VLAN_VALID:
            vid, via_aux = tci & 0xFFF, True
            tpid = aux_tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
    ethertype = int.from_bytes(data[12:14], "big")
    l3 = 14
    if vid is None and ethertype == ETH_P_8021Q:
        vid, tpid = int.from_bytes(data[14:16], "big") & 0xFFF, ETH_P_8021Q
        ethertype, l3 = int.from_bytes(data[16:18], "big"), 18
    src = dst = None
    if ethertype == 0x0800 and len(data) >= l3 + 20:
        src, dst = socket.inet_ntoa(data[l3 + 12 : l3 + 16]), socket.inet_ntoa(data[l3 + 16 : l3 + 20])
    elif ethertype == 0x0806 and len(data) >= l3 + 28:
        src, dst = socket.inet_ntoa(data[l3 + 14 : l3 + 18]), socket.inet_ntoa(data[l3 + 24 : l3 + 28])
    return Frame(pkttype == socket.PACKET_OUTGOING, vid, tpid, via_aux, ethertype, src, dst,
                 len(data) + (4 if via_aux else 0))


@dataclass
class Capture:
    """AF_PACKET capture on one root-namespace link, with PACKET_AUXDATA (the kernel hands a tag held in
    skb metadata out of band, not in the bytes)."""

    dev: str
    frames: list[Frame] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Capture:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((self.dev, 0))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.setblocking(False)

        def run() -> None:
            with s:
                while not self._stop.is_set():
                    if not select.select([s], [], [], 0.05)[0]:
                        continue
                    while True:
                        try:
                            data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
                        except BlockingIOError:
                            break
                        aux = next((d for lvl, typ, d in anc if lvl == SOL_PACKET and typ == PACKET_AUXDATA), None)
                        self.frames.append(parse_frame(data, aux, addr[2]))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.05)
        self._stop.set()
        assert self._thread is not None
        self._thread.join(5)

    def ip(self, *addrs: str) -> list[Frame]:
        return [f for f in self.frames if f.src_ip in addrs or f.dst_ip in addrs]


def tcp_sink(ns: str, addr: str, port: int) -> tuple[socket.socket, threading.Thread, list[int]]:
    """A server in ``ns`` counting the bytes of one connection."""
    srv = nsexec.run_in_netns(ns, lambda: socket.create_server((addr, port)))
    got: list[int] = []

    def run() -> None:
        conn, _ = srv.accept()
        n = 0
        with conn:
            while chunk := conn.recv(1 << 20):
                n += len(chunk)
            conn.sendall(b"ok")
        got.append(n)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return srv, t, got


def bulk_mb_per_s(client_ns: str, server_ns: str, server_ip: str, port: int, total: int = 128 << 20) -> float:
    srv, t, got = tcp_sink(server_ns, server_ip, port)
    buf = b"\0" * (1 << 20)

    def send() -> float:
        with socket.create_connection((server_ip, port), timeout=10) as s:
            t0 = time.perf_counter()
            sent = 0
            while sent < total:
                s.sendall(buf)
                sent += len(buf)
            s.shutdown(socket.SHUT_WR)
            assert s.recv(2) == b"ok"
            return time.perf_counter() - t0

    try:
        elapsed = nsexec.run_in_netns(client_ns, send, timeout=60)
        t.join(10)
    finally:
        srv.close()
    assert got == [total]
    return total / elapsed / 1e6


def udp_df(client_ns: str, server_ns: str, server_ip: str, port: int, size: int) -> bool:
    """One UDP datagram of ``size`` payload bytes with DF set (no fragmentation); True if it arrived."""
    rx = nsexec.run_in_netns(server_ns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with rx:
        rx.bind((server_ip, port))
        rx.settimeout(1.0)

        def send() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
                for _ in range(3):  # the first may wait for ARP
                    s.sendto(b"x" * size, (server_ip, port))
                    time.sleep(0.05)

        nsexec.run_in_netns(client_ns, send)
        try:
            return len(rx.recv(65536)) == size
        except TimeoutError:
            return False


def vlan_net(env: Env, vid: int) -> NetworkPlug:
    return env.network(network_type="vlan", physical_network=PHYSNET, segmentation_id=vid)


def test_two_hypervisors_vlans_and_flat_share_one_wire(env: Env, wire: tuple[str, str]) -> None:
    a, b = wire
    p1, p2 = side1(env), side2(env)
    v231, v232 = vlan_net(env, 231), vlan_net(env, 232)
    flat = env.network(network_type="flat", physical_network=PHYSNET)
    for p, w in ((p1, a), (p2, b)):
        for net in (v231, v232, flat):
            p.ensure_bridge(net, {PHYSNET: w})

    # one RX filter per wire end, whatever the number of VLANs; the map says where each VID goes
    t1a, t1b = p1.naming.tagger_ifnames(v231.network_id)
    t1a2, t1b2 = p1.naming.tagger_ifnames(v232.network_id)
    state = tc_state(a, b, t1b, t1b2)
    _, filters_a, map_a = state[a]
    assert [(f.prio, f.name) for f in filters_a] == [(vlan_tagger.PRIO, vlan_tagger.RX_NAME)]
    assert map_a == {231: ifindex(t1b), 232: ifindex(t1b2)}
    assert [f.name for f in state[t1b][1]] == [vlan_tagger.TX_NAME]
    assert "lbaas_vlan_rx" in tc_show(a) and "direct-action" in tc_show(a)
    with open(f"/sys/class/net/{t1a}/master/ifindex") as f:
        assert int(f.read()) == ifindex(p1.naming.bridge_name(v231.network_id))
    with open(f"/sys/class/net/{a}/master/ifindex") as f:  # the flat network still owns the wire end
        assert int(f.read()) == ifindex(p1.naming.bridge_name(flat.network_id))
    with open(f"/sys/class/net/{a}/flags") as f:
        assert int(f.read(), 16) & 0x100  # promiscuous, as a real NIC must be

    # idempotent: a second round changes no link, filter, program or map entry
    links_before = {n: ifindex(n) for n in root_links() if our_link(n)}
    for p, w in ((p1, a), (p2, b)):
        for net in (v231, v232, flat):
            p.ensure_bridge(net, {PHYSNET: w})
    assert tc_state(a, b, t1b, t1b2) == state
    assert {n: ifindex(n) for n in root_links() if our_link(n)} == links_before

    # hosts: 10.249.1.0/24 spans VLAN 231, VLAN 232 and the flat network, so only L2 separates them
    h1 = ensure_host(f"{TOKEN}v1", env.port(v231, "10.249.1.11"), p1, prefix=env.host_prefix)
    h2 = ensure_host(f"{TOKEN}v2", env.port(v231, "10.249.1.12"), p2, prefix=env.host_prefix)
    s2 = ensure_host(f"{TOKEN}s2", env.port(v232, "10.249.1.13"), p2, prefix=env.host_prefix)
    f2 = ensure_host(f"{TOKEN}f2", env.port(flat, "10.249.1.14"), p2, prefix=env.host_prefix)
    s1 = ensure_host(f"{TOKEN}s1", env.port(v232, "10.249.2.11"), p1, prefix=env.host_prefix)
    s3 = ensure_host(f"{TOKEN}s3", env.port(v232, "10.249.2.12"), p2, prefix=env.host_prefix)
    f1 = ensure_host(f"{TOKEN}f1", env.port(flat, "10.249.3.11"), p1, prefix=env.host_prefix)
    f3 = ensure_host(f"{TOKEN}f3", env.port(flat, "10.249.3.12"), p2, prefix=env.host_prefix)
    for ns, name in ((h2, "v231"), (s2, "v232-stranger"), (f2, "flat-stranger"), (s3, "v232"), (f3, "flat")):
        env.echo_pids.append(echo.serve_in_namespace(ns, name))

    with Capture(b) as cap:
        assert http_get(h1, "10.249.1.12")["host"] == "v231"
        assert http_get(s1, "10.249.2.12")["host"] == "v232"
        assert http_get(f1, "10.249.3.12")["host"] == "flat"
        for stranger in ("10.249.1.13", "10.249.1.14"):
            with pytest.raises(OSError):
                http_get(h1, stranger, timeout=0.5)
    seen = {(f.vid, f.tpid) for f in cap.ip("10.249.1.11", "10.249.1.12")}
    assert seen == {(231, ETH_P_8021Q)}, seen
    assert {f.vid for f in cap.ip("10.249.2.11", "10.249.2.12")} == {232}
    assert {f.vid for f in cap.ip("10.249.3.11", "10.249.3.12")} == {None}
    tagged = [f for f in cap.frames if f.vid is not None]
    assert any(f.outgoing for f in tagged) and any(not f.outgoing for f in tagged)  # both directions
    print(f"\nwire {b}: {len(cap.frames)} frames, tags via auxdata: {all(f.via_aux for f in tagged)}")
    # the stranger on VLAN 232 with an address of VLAN 231's subnet saw the ARP of VLAN 231 never
    assert not [f for f in cap.ip("10.249.1.13") if f.vid == 232 and f.ethertype == 0x0806 and not f.outgoing]

    # a second network on an already used VID of the same wire is refused
    with pytest.raises(PlumbingError, match="already delivered"):
        p1.ensure_bridge(vlan_net(env, 231), {PHYSNET: a})

    # removing VLAN 232 on side 1 takes its pair and exactly its map entry; 231 and flat keep working
    remove_host(f"{TOKEN}s1", p1, prefix=env.host_prefix)
    progs = {f.prog_id for f in tc_state(a)[a][1]} | {f.prog_id for f in tc_state(t1b2)[t1b2][1]}
    assert p1.remove_bridge_if_unused(v232) is True
    assert t1a2 not in root_links() and t1b2 not in root_links()
    assert p1.naming.bridge_name(v232.network_id) not in root_links()
    _, filters_after, map_after = tc_state(a)[a]
    assert filters_after == filters_a and map_after == {231: ifindex(t1b)}
    assert http_get(h1, "10.249.1.12")["host"] == "v231"
    assert http_get(f1, "10.249.3.12")["host"] == "flat"

    # the last VLAN gone: no RX filter, no clsact left on the wire end; the flat network still works
    remove_host(f"{TOKEN}v1", p1, prefix=env.host_prefix)
    assert p1.remove_bridge_if_unused(v231) is True
    assert tc_state(a)[a][1:] == ([], {})
    assert "clsact" not in qdiscs(a)
    assert t1a not in root_links() and t1b not in root_links()
    assert http_get(f1, "10.249.3.12")["host"] == "flat"
    assert wait_until(lambda: not any(bpf_vlan.prog_exists(i) for i in progs if i is not None), 5.0)
    assert p1.remove_bridge_if_unused(v231) is True  # idempotent


def test_mtu_1500_and_throughput_tagged_vs_flat(env: Env, wire: tuple[str, str]) -> None:
    a, b = wire
    p1, p2 = side1(env), side2(env)
    v = vlan_net(env, 241)
    flat = env.network(network_type="flat", physical_network=PHYSNET)
    for p, w in ((p1, a), (p2, b)):
        p.ensure_bridge(v, {PHYSNET: w})
        p.ensure_bridge(flat, {PHYSNET: w})
    h1 = ensure_host(f"{TOKEN}m1", env.port(v, "10.249.41.11"), p1, prefix=env.host_prefix)
    h2 = ensure_host(f"{TOKEN}m2", env.port(v, "10.249.41.12"), p2, prefix=env.host_prefix)
    f1 = ensure_host(f"{TOKEN}n1", env.port(flat, "10.249.42.11"), p1, prefix=env.host_prefix)
    f2 = ensure_host(f"{TOKEN}n2", env.port(flat, "10.249.42.12"), p2, prefix=env.host_prefix)

    # 1472 bytes of UDP + 28 = a 1500-byte IP packet, DF set: an 1518-byte tagged frame on an MTU 1500 wire
    with Capture(b) as cap:
        assert udp_df(h1, h2, "10.249.41.12", 9000, 1472)
        assert udp_df(h2, h1, "10.249.41.11", 9001, 1472)
    big = [f for f in cap.ip("10.249.41.12") if f.ethertype == 0x0800 and f.length == 1518]
    assert big and all(f.vid == 241 for f in big)
    assert udp_df(f1, f2, "10.249.42.12", 9002, 1472)
    with pytest.raises(OSError):  # and the sender's own MTU still applies (EMSGSIZE), as on any link
        udp_df(h1, h2, "10.249.41.12", 9003, 1473)

    runs = {"vlan": [], "flat": []}  # type: dict[str, list[float]]
    for _ in range(3):
        runs["vlan"].append(bulk_mb_per_s(h1, h2, "10.249.41.12", 9100))
        runs["flat"].append(bulk_mb_per_s(f1, f2, "10.249.42.12", 9101))
    med = {k: sorted(v)[1] for k, v in runs.items()}
    print(f"\nTCP bulk 128 MiB x3, median: tagged {med['vlan']:.0f} MB/s, flat {med['flat']:.0f} MB/s "
          f"(ratio {med['vlan'] / med['flat']:.2f}); runs {runs}")
    assert med["vlan"] > 0.2 * med["flat"]  # same order of magnitude: kernel speed, no userspace hop


def test_a_tag_in_the_payload_is_recognised(env: Env, wire: tuple[str, str]) -> None:
    """A NIC without VLAN offload hands up frames with the tag in the bytes; the kernel moves it to skb
    metadata before tc ingress. Injected here as raw bytes on the far end of the wire."""
    a, b = wire
    p1 = side1(env)
    v = vlan_net(env, 251)
    p1.ensure_bridge(v, {PHYSNET: a})
    port = env.port(v, "10.249.51.11")
    h1 = ensure_host(f"{TOKEN}r1", port, p1, prefix=env.host_prefix)
    rx = nsexec.run_in_netns(h1, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))

    def frame(vid: int, payload: bytes) -> bytes:
        udp = struct.pack("!HHHH", 4000, 9251, 8 + len(payload), 0) + payload
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                                   socket.inet_aton("10.249.51.99"), socket.inet_aton("10.249.51.11")))
        csum = sum(struct.unpack("!10H", ip))
        csum = (csum & 0xFFFF) + (csum >> 16)
        ip[10:12] = struct.pack("!H", ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF)
        dst = bytes.fromhex(port.mac_address.replace(":", ""))
        return dst + bytes.fromhex("02000000f9f9") + struct.pack("!HH", ETH_P_8021Q, vid) + b"\x08\x00" + bytes(ip) + udp

    with rx:
        rx.bind(("10.249.51.11", 9251))
        rx.settimeout(1.0)
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((b, 0))
            tx.send(frame(252, b"other vlan"))
            tx.send(frame(251, b"in-payload tag"))
        assert rx.recv(100) == b"in-payload tag"


def test_programs_outlive_the_agent_and_a_restart_converges(env: Env, wire: tuple[str, str]) -> None:
    """ensure_bridge in another process that exits; this process finds the filters, programs and map
    (by program id, nothing pinned), traffic flows, and its own ensure_bridge changes nothing."""
    a, b = wire
    v = vlan_net(env, 261)
    code = (
        "import json, sys\n"
        "from lbaas.agent.netns.base import Naming, NetworkPlug\n"
        "from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber\n"
        "n = Naming(**json.loads(sys.argv[1])); net = NetworkPlug(**json.loads(sys.argv[2]))\n"
        "Pyroute2Plumber(n, neigh_gc_thresh=None, vlan_mode='ebpf').ensure_bridge(net, {'physnet-v': sys.argv[3]})\n"
    )
    p2 = side2(env)
    for naming, w in ((env.naming, a), (p2.naming, b)):
        subprocess.run([sys.executable, "-c", code, json.dumps(naming.__dict__), json.dumps(v.__dict__), w],
                       check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    tb = env.naming.tagger_ifnames(v.network_id)[1]
    state = tc_state(a, tb)
    assert state[a][2] == {261: ifindex(tb)}
    assert all(f.prog_id is not None and bpf_vlan.prog_exists(f.prog_id) for f in state[a][1] + state[tb][1])

    p1 = side1(env)
    h1 = ensure_host(f"{TOKEN}o1", env.port(v, "10.249.61.11"), p1, prefix=env.host_prefix)
    h2 = ensure_host(f"{TOKEN}o2", env.port(v, "10.249.61.12"), p2, prefix=env.host_prefix)
    env.echo_pids.append(echo.serve_in_namespace(h2, "after-restart"))
    assert http_get(h1, "10.249.61.12")["host"] == "after-restart"
    p1.ensure_bridge(v, {PHYSNET: a})
    assert tc_state(a, tb) == state


def test_half_built_tagger_is_repaired_and_removed(env: Env, wire: tuple[str, str]) -> None:
    a, _ = wire
    p1 = side1(env)
    v = vlan_net(env, 271)
    ta, tb = p1.naming.tagger_ifnames(v.network_id)
    p1.ensure_bridge(v, {PHYSNET: a})
    # someone deletes the pair: the map entry goes stale, the next ensure rebuilds and re-points it
    subprocess.run(["ip", "link", "del", ta], check=True)
    p1.ensure_bridge(v, {PHYSNET: a})
    assert tc_state(a)[a][2] == {271: ifindex(tb)}
    with open(f"/sys/class/net/{ta}/master/ifindex") as f:
        assert int(f.read()) == ifindex(p1.naming.bridge_name(v.network_id))
    # the bridge deleted by hand: removal still takes the pair and the entry
    subprocess.run(["ip", "link", "del", p1.naming.bridge_name(v.network_id)], check=True)
    assert p1.remove_bridge_if_unused(v) is True
    assert ta not in root_links() and tc_state(a)[a][1:] == ([], {})


def test_many_vlans_concurrently_on_one_interface(env: Env, wire: tuple[str, str]) -> None:
    """The agent reconciles several LBs at once: bridges of VLAN networks sharing one physical interface
    are ensured and removed from parallel threads; the shared RX map ends up exact."""
    a, _ = wire
    p1 = side1(env)
    nets = [vlan_net(env, 300 + i) for i in range(12)]
    errors: list[BaseException] = []

    def run(fn: Any, items: list[NetworkPlug]) -> None:
        def one(n: NetworkPlug) -> None:
            try:
                fn(n)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(n,)) for n in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)

    t0 = time.perf_counter()
    run(lambda n: p1.ensure_bridge(n, {PHYSNET: a}), nets)
    first_ms = (time.perf_counter() - t0) * 1000
    assert not errors, errors

    def expected(ns: list[NetworkPlug]) -> dict[int, int]:
        return {n.segmentation_id or 0: ifindex(p1.naming.tagger_ifnames(n.network_id)[1]) for n in ns}

    assert tc_state(a)[a][2] == expected(nets)
    t0 = time.perf_counter()
    p1.ensure_bridge(nets[0], {PHYSNET: a})
    again_ms = (time.perf_counter() - t0) * 1000
    print(f"\n12 VLAN bridges from 12 threads {first_ms:.0f} ms; converged ensure_bridge {again_ms:.1f} ms")

    # remove half while the other half is re-ensured
    run(lambda n: p1.remove_bridge_if_unused(n) if n.segmentation_id % 2 else p1.ensure_bridge(n, {PHYSNET: a}),
        nets)
    assert not errors, errors
    assert tc_state(a)[a][2] == expected([n for n in nets if n.segmentation_id % 2 == 0])
    run(p1.remove_bridge_if_unused, nets)
    assert not errors, errors
    assert tc_state(a)[a][1:] == ([], {}) and "clsact" not in qdiscs(a)
