"""Escaping of user text for haproxy.cfg, and the render-time safety net.

The API already refuses control characters, but the renderer must not trust that: a row written by an
older version, a migration or a direct DB edit would otherwise become a config-injection hole (Octavia
shipped two such fixes in 2026). So every user string is re-checked here and then written in the one
quoting form HAProxy cannot misread: a double-quoted word with ``\\``, ``"`` and ``$`` escaped (inside
double quotes HAProxy expands ``$VAR``). Strings that HAProxy reads as log-format (redirect targets,
header values) additionally get ``%`` doubled.

Identifiers (object ids) are never quoted: they appear in section names, ACL names and server names,
so they must match a strict pattern instead.

Sample-fetch arguments (``req.hdr(<name>)``, ``req.cook(<name>)``) cannot be quoted reliably, so their
text must be a token (RFC 9110 token characters minus ``'``, ``#``, ``$`` and ``%``, which HAProxy's
parser reads as quote, comment, variable and format).

Addresses are parsed again and written in their canonical form; a zone index (``%…``) or anything that
is not a plain address is refused rather than written, since it means a check upstream was bypassed.
"""

from __future__ import annotations

import ipaddress
import re

from lbaas.domain import addresses
from lbaas.domain.text import HAPROXY_TOKEN, UnsafeText, ensure_safe


class RenderError(ValueError):
    """The spec cannot be turned into a safe, valid haproxy.cfg. The message names the object."""


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOKEN = HAPROXY_TOKEN


def checked(value: str, what: str) -> str:
    """ensure_safe, with the failure turned into a RenderError naming ``what``."""
    try:
        return ensure_safe(value, what)
    except UnsafeText as exc:
        raise RenderError(f"unsafe text refused at render time: {exc}") from exc


def ident(value: str, what: str) -> str:
    """An object id used as a name in the config (section, ACL, server, cookie value)."""
    if not _ID.match(value):
        raise RenderError(f"{what} {value!r} is not a safe identifier")
    return value


def token(value: str, what: str) -> str:
    """A header or cookie name used inside a sample-fetch argument list."""
    checked(value, what)
    if not _TOKEN.match(value):
        raise RenderError(f"{what} {value!r} is not an HTTP token")
    return value


def quote(value: str, what: str) -> str:
    """One double-quoted config word carrying exactly ``value``."""
    checked(value, what)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def quote_logformat(value: str, what: str) -> str:
    """Like quote(), for arguments HAProxy parses as log-format: ``%`` is doubled to stay literal."""
    checked(value, what)
    return quote(value.replace("%", "%%"), what)


def ip(value: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address without zone index (written back in canonical form by host()), or RenderError."""
    checked(value, what)
    try:
        addr = addresses.parse(value)
    except addresses.AddressError as exc:
        raise RenderError(f"{what} {value[:200]!r} is not an IP address: {exc}") from exc
    return addr


def host(value: str, what: str) -> str:
    """An address as HAProxy wants it in front of ``:port`` or alone: IPv6 in brackets."""
    addr = ip(value, what)
    return f"[{addr.compressed}]" if addr.version == 6 else addr.compressed


def host_port(value: str, port: int, what: str) -> str:
    if not 1 <= port <= 65535:
        raise RenderError(f"{what} port {port} out of range")
    return f"{host(value, what)}:{port}"


def cidr(value: str, what: str) -> str:
    checked(value, what)
    try:
        return addresses.parse_network(value).compressed
    except addresses.AddressError as exc:
        raise RenderError(f"{what} {value[:200]!r} is not a CIDR: {exc}") from exc
