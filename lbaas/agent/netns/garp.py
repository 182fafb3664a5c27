"""Gratuitous ARP, built by hand and sent on an AF_PACKET socket from inside the namespace.

Why not ``arping -U -c 2``: iputils arping waits one second between packets, which would triple the
plug time measured in /work/shared/dataplane-facts.md, and needs a fork per address. A re-plugged VIP
keeps its fixed MAC, so one announcement is normally enough; we send a request and a reply back to back
because some neighbours only refresh on one of the two. Linux neighbours update an *existing* entry
from either (``arp_accept=0`` only stops creating new ones), which is exactly the stale-entry case.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST = b"\xff" * 6


def mac_bytes(mac: str) -> bytes:
    b = bytes(int(x, 16) for x in mac.split(":"))
    if len(b) != 6:
        raise ValueError(f"bad MAC {mac!r}")
    return b


def garp_frame(mac: str, ip: str, *, op: int = 1) -> bytes:
    """An Ethernet broadcast ARP frame announcing ``ip`` is at ``mac`` (op 1 request, 2 reply)."""
    if op not in (1, 2):
        raise ValueError("op must be 1 (request) or 2 (reply)")
    src = mac_bytes(mac)
    addr = ipaddress.IPv4Address(ip).packed
    tha = b"\x00" * 6 if op == 1 else src
    eth = BROADCAST + src + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + src + addr + tha + addr
    return eth + arp


def probe_frame(src_mac: str, ip: str) -> bytes:
    """A broadcast ARP probe (RFC 5227: sender IP 0.0.0.0) asking who has ``ip``, from ``src_mac``."""
    src = mac_bytes(src_mac)
    eth = BROADCAST + src + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + src + b"\x00" * 4 + b"\x00" * 6
    return eth + arp + ipaddress.IPv4Address(ip).packed


def send_probes(ifname: str, src_mac: str, ips: list[str]) -> int:
    """Send an ARP probe per IPv4 address on ``ifname`` of the current thread's namespace. Whoever holds
    the address answers from its own MAC, which re-teaches every switch on the way where that MAC is."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((ifname, 0))
        for ip in ips:
            s.send(probe_frame(src_mac, ip))
    finally:
        threading.Thread(target=s.close, name="probe-close", daemon=True).start()
    return len(ips)


def send_garp(ifname: str, mac: str, ips: list[str]) -> int:
    """Send a gratuitous request and reply per IPv4 address on ``ifname`` of the *current thread's*
    namespace (call it through ``nsexec.run_in_netns``). Returns the number of frames sent."""
    sent = 0
    # Protocol 0: a send-only socket registers no receive hook, so bind() is instant.
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        s.bind((ifname, 0))
        for ip in ips:
            for op in (1, 2):
                s.send(garp_frame(mac, ip, op=op))
                sent += 1
    finally:
        # Closing a packet socket waits for an RCU grace period (synchronize_net, 8-16 ms measured);
        # nobody needs to wait for that, so it happens off the caller's path.
        threading.Thread(target=s.close, name="garp-close", daemon=True).start()
    return sent
