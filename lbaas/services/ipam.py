"""IP address management for the Neutron subset: allocation pools, never one address twice.

The ``ip_allocation`` primary key (subnet_id, ip_address) is the guarantee (``ip_address`` is always the
canonical text of a zone-less address, so two spellings of one address meet there); on PostgreSQL two
concurrent requests that pick the same free address meet that constraint inside a SAVEPOINT, and the
loser moves on to the next address. On SQLite writers are serialised by BEGIN IMMEDIATE.

Row locks (PostgreSQL only; SQLite ignores FOR UPDATE and needs none) keep deletes honest: whoever
allocates holds FOR KEY SHARE on the network and the subnet, and a network or subnet delete takes
FOR UPDATE, so it waits for in-flight allocations and then sees them. Locks are always taken network
first, then subnet.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.db import models as m
from lbaas.domain import addresses, errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def default_pools(cidr: str, gateway_ip: str | None) -> list[dict[str, str]]:
    """Neutron's default: the whole subnet minus network, broadcast (v4) and gateway addresses."""
    net = ipaddress.ip_network(cidr, strict=False)
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    if net.num_addresses <= 2:
        return []

    def ip(n: int) -> str:
        return str(ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n))

    pools: list[dict[str, str]] = []
    gw = int(ipaddress.ip_address(gateway_ip)) if gateway_ip else None
    if gw is not None and first <= gw <= last:
        if gw > first:
            pools.append({"start": ip(first), "end": ip(gw - 1)})
        if gw < last:
            pools.append({"start": ip(gw + 1), "end": ip(last)})
    else:
        pools.append({"start": ip(first), "end": ip(last)})
    return pools


def in_pools(subnet: m.Subnet, ip: IPAddress) -> bool:
    n = int(ip)
    return any(int(ipaddress.ip_address(p["start"])) <= n <= int(ipaddress.ip_address(p["end"])) for p in subnet.allocation_pools)


def _text_v4(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


def _text_v6(n: int) -> str:
    return str(ipaddress.IPv6Address(n))


def _candidates(subnet: m.Subnet, taken: set[str]) -> Iterator[str]:
    for pool in subnet.allocation_pools:
        start, end = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
        text = _text_v6 if ":" in pool["start"] else _text_v4

        size = end - start + 1
        if size > 65536:  # large (v6) pools: random probes instead of a scan
            for _ in range(256):
                cand = text(start + random.randrange(size))
                if cand not in taken:
                    yield cand
            continue
        for n in range(start, end + 1):
            cand = text(n)
            if cand not in taken:
                yield cand


LockMode = Literal["key_share", "no_key_update", "update"]


def lock(s: Session, model: Any, ident: str, mode: LockMode) -> bool:
    """Row-lock ``model`` ``ident`` for the rest of the transaction; False if the row is gone.

    ``key_share`` (FOR KEY SHARE): many allocators at once; ``no_key_update`` (FOR NO KEY UPDATE): one
    writer of the row while allocators go on; ``update`` (FOR UPDATE): waits for all of them (deletes).
    """
    stmt = select(model.id).where(model.id == ident)
    stmt = stmt.with_for_update(read=mode == "key_share", key_share=mode != "update")
    return s.execute(stmt).first() is not None


def has_free(s: Session, subnet: m.Subnet, count: int) -> bool:
    """At least ``count`` addresses of the subnet's pools are still free."""
    taken = set(s.scalars(select(m.IpAllocation.ip_address).where(m.IpAllocation.subnet_id == subnet.id)))
    free = _candidates(subnet, taken)
    return all(next(free, None) is not None for _ in range(count))


def allocate(s: Session, port: m.Port, subnet: m.Subnet, ip_address: str | None = None) -> m.IpAllocation:
    """Give ``port`` an address on ``subnet``: the one asked for (409 if taken) or the first free one."""
    if not lock(s, m.Subnet, subnet.id, "key_share"):
        raise errors.SubnetNotFound(subnet.id)
    net = ipaddress.ip_network(subnet.cidr, strict=False)
    if ip_address is not None:
        try:
            ip = addresses.parse(ip_address)  # no zone index; the row keys on the canonical text
        except addresses.AddressError:
            raise errors.NeutronBadRequest(f"Invalid IP address {ip_address[:200]!r}.") from None
        if ip not in net or ip == net.network_address or (net.version == 4 and ip == net.broadcast_address):
            raise errors.NeutronBadRequest(f"IP address {ip_address} is not a valid IP for the specified subnet.")
        if subnet.gateway_ip and ip == ipaddress.ip_address(subnet.gateway_ip):
            raise errors.IpAddressAlreadyAllocated(
                f"IP address {ip_address} already allocated in subnet {subnet.id}"
            )
        return _insert(s, port, subnet, ip.compressed)
    taken = set(s.scalars(select(m.IpAllocation.ip_address).where(m.IpAllocation.subnet_id == subnet.id)))
    for cand in _candidates(subnet, taken):
        try:
            return _insert(s, port, subnet, cand)
        except errors.IpAddressAlreadyAllocated:
            continue
    raise errors.IpAddressGenerationFailure(f"No more IP addresses available on network {subnet.network_id}.")


def _insert(s: Session, port: m.Port, subnet: m.Subnet, ip: str) -> m.IpAllocation:
    alloc = m.IpAllocation(subnet_id=subnet.id, ip_address=ip, port_id=port.id)
    try:
        with s.begin_nested():
            s.add(alloc)
            s.flush()
    except IntegrityError:
        raise errors.IpAddressAlreadyAllocated(
            f"IP address {ip} already allocated in subnet {subnet.id}"
        ) from None
    # The row is in; the port's collection (loaded or not) is re-read on next use, so it never holds
    # an address twice.
    s.expire(port, ["fixed_ips"])
    return alloc


def random_mac() -> str:
    # fa:16:3e is the prefix Neutron uses for port MACs.
    return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


MAC_ATTEMPTS = 8


def new_port(
    s: Session,
    *,
    network: m.Network,
    project_id: str,
    name: str = "",
    device_owner: str = "",
    device_id: str = "",
    mac_address: str | None = None,
    **attrs: Any,
) -> m.Port:
    """A port row on ``network`` (no addresses yet). A MAC asked for must be free (409); a generated
    one that happens to collide is drawn again."""
    if not lock(s, m.Network, network.id, "key_share"):
        raise errors.NetworkNotFound(network.id)
    for _ in range(MAC_ATTEMPTS):
        mac = mac_address or random_mac()
        port = m.Port(
            id=m.new_id(),
            network_id=network.id,
            project_id=project_id,
            name=name,
            device_owner=device_owner,
            device_id=device_id,
            mac_address=mac,
            **attrs,
        )
        try:
            with s.begin_nested():
                s.add(port)
                s.flush()
        except IntegrityError:
            if mac_address is not None:
                break
            continue
        return port
    raise errors.MacAddressInUse(network.id, mac)
