"""IP addresses as objects: parse once (no zone index, ever), compare canonical forms, echo the input.

Every address the API takes (member address and monitor_address, VIP address, port fixed IPs, subnet
gateways and pools, allowed_cidrs) goes through ``parse``/``parse_network``, so two spellings of one
address are one address (``2001:db8::1`` and ``2001:db8:0:0:0:0:0:1``), and a zone index
(``fe80::1%eth0``) is refused: it has no meaning off-host and it was a config-injection vector.

Checks against reserved or link-local ranges look through IPv4-mapped IPv6 (``::ffff:169.254.169.254``
is 169.254.169.254).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressError(ValueError):
    pass


def _no_zone(value: str) -> None:
    if "%" in value:
        raise AddressError("a zone index (%…) is not allowed")


def parse(value: str) -> IPAddress:
    """An address object; AddressError for anything that is not a plain IPv4/IPv6 address."""
    if not isinstance(value, str):
        raise AddressError("must be a string")
    _no_zone(value)
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise AddressError("must be an IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:  # belt and braces
        raise AddressError("a zone index (%…) is not allowed")
    return addr


def parse_network(value: str) -> IPNetwork:
    if not isinstance(value, str):
        raise AddressError("must be a string")
    _no_zone(value)
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise AddressError("must be a CIDR") from None


def canonical(value: str) -> str:
    """The one text form of an address (compressed IPv6, dotted IPv4)."""
    return parse(value).compressed


def is_canonical(value: str) -> bool:
    try:
        return canonical(value) == value
    except AddressError:
        return False


def unmapped(addr: IPAddress) -> IPAddress:
    """The IPv4 address behind an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``); else ``addr``."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def same(a: str | None, b: str | None) -> bool:
    """Two address texts name one address (False if either is absent or not an address)."""
    if a is None or b is None:
        return False
    try:
        return parse(a) == parse(b)
    except AddressError:
        return False


def is_reserved(value: str, reserved: Iterable[str]) -> bool:
    """``value`` is one of ``reserved`` (compared as objects, IPv4-mapped IPv6 seen through)."""
    addr = unmapped(parse(value))
    for r in reserved:
        try:
            if unmapped(parse(r)) == addr:
                return True
        except AddressError:
            continue
    return False


def is_link_local(value: str) -> bool:
    return unmapped(parse(value)).is_link_local
