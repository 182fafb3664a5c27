"""KeepalivedSpec → keepalived.conf text, for one keepalived (VRRPv3) per load balancer instance. Pure.

One VRRP instance per LB, in the LB's namespace, on its VIP interface:

* **VRRPv3** with sub-second adverts (``advert_int_ms``, default 100 ms; VRRPv3 counts centiseconds,
  so 10 ms steps from 10 ms to 40.95 s): a BACKUP takes over 3 adverts (+ skew) after the last one;
* **unicast** adverts from the instance's own address to its peers (no multicast on tenant networks);
  only adverts from those peers are accepted (``check_unicast_src``); no peer → FAULT, never multicast;
* both instances start as BACKUP with ``nopreempt`` (a returning instance does not take the VIP back;
  the higher ``priority`` wins only the first election);
* the VIP's health is HAProxy's, through a **track file** the agent writes (``vrrp_track_process``
  does not work inside a namespace): ``0`` = healthy; anything else = FAULT (weight 0), and the file
  starts at ``1`` (``init_file``) so an instance is never MASTER before the agent vouched for HAProxy;
* **gratuitous ARP** (or unsolicited NA) on becoming MASTER: ``garp_master_repeat`` at once, again after
  ``garp_master_delay`` s, and every ``garp_master_refresh`` s while MASTER (0: not refreshed).

Every value is validated here (``KeepalivedRenderError``): addresses parsed, names and paths restricted
to characters that cannot split or quote a keepalived token, numbers range-checked.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

ADVERT_INT_MS = 100
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]{1,200}$")


class KeepalivedRenderError(ValueError):
    """The spec cannot be rendered into a config keepalived accepts safely."""


@dataclass(frozen=True)
class KeepalivedSpec:
    name: str  # the VRRP instance's name (e.g. from the LB id): letters, digits, '-', '_'
    interface: str  # the VIP interface inside the namespace
    vips: tuple[tuple[str, int], ...]  # (address, prefix length): the addresses VRRP moves
    virtual_router_id: int  # 1..255; unique per network among unicast peers that overlap
    priority: int  # 1..254; the higher wins the first election
    unicast_src_ip: str  # this instance's own address on the VIP network
    unicast_peers: tuple[str, ...]  # the other instances' addresses
    track_file: str  # absolute path the agent writes: 0 = HAProxy healthy
    advert_int_ms: int = ADVERT_INT_MS
    garp_master_delay: int = 1  # s: the second round of GARPs after becoming MASTER (0: none)
    garp_master_repeat: int = 3  # GARPs per round
    garp_master_refresh: int = 0  # s: GARP again every this while MASTER (0: never)
    garp_master_refresh_repeat: int = 1

    @property
    def advert_int(self) -> str:
        """Seconds, as keepalived reads them (centisecond precision)."""
        return f"{self.advert_int_ms / 1000:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class _View:
    name: str
    interface: str
    vips: tuple[str, ...]
    virtual_router_id: int
    priority: int
    unicast_src_ip: str
    unicast_peers: tuple[str, ...]
    track_file: str
    advert_int: str
    garp_master_delay: int
    garp_master_repeat: int
    garp_master_refresh: int
    garp_master_refresh_repeat: int


def _int(name: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise KeepalivedRenderError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    return value


def _ip(name: str, value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value)) if isinstance(value, str) else ipaddress.ip_address("x")
    except ValueError:
        raise KeepalivedRenderError(f"{name}: not an IP address: {value!r}") from None


def _token(name: str, value: object, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise KeepalivedRenderError(f"{name}: not allowed: {value!r}")
    return value


def build(spec: KeepalivedSpec) -> _View:
    """Validate and derive every value the template prints."""
    src = _ip("unicast_src_ip", spec.unicast_src_ip)
    family = src.version
    if not spec.unicast_peers:
        raise KeepalivedRenderError("at least one unicast peer is needed")
    peers = []
    for peer in spec.unicast_peers:
        ip = _ip("unicast peer", peer)
        if ip.version != family or ip == src:
            raise KeepalivedRenderError(f"unicast peer {peer!r}: must be another IPv{family} address")
        peers.append(str(ip))
    if len(set(peers)) != len(peers):
        raise KeepalivedRenderError("duplicate unicast peers")
    if not spec.vips:
        raise KeepalivedRenderError("at least one VIP is needed")
    vips = []
    for address, prefixlen in spec.vips:
        ip = _ip("VIP", address)
        if ip.version != family:
            raise KeepalivedRenderError(f"VIP {address!r}: one VRRP instance carries one address family")
        _int("VIP prefix length", prefixlen, 1 if family == 4 else 8, 32 if family == 4 else 128)
        vips.append(f"{ip}/{prefixlen}")
    ms = _int("advert_int_ms", spec.advert_int_ms, 10, 40950)
    if ms % 10:
        raise KeepalivedRenderError("advert_int_ms: VRRPv3 counts centiseconds (a multiple of 10 ms)")
    return _View(
        name=_token("name", spec.name, _NAME),
        interface=_token("interface", spec.interface, _IFNAME),
        vips=tuple(vips),
        virtual_router_id=_int("virtual_router_id", spec.virtual_router_id, 1, 255),
        priority=_int("priority", spec.priority, 1, 254),
        unicast_src_ip=str(src),
        unicast_peers=tuple(peers),
        track_file=_token("track_file", spec.track_file, _PATH),
        advert_int=spec.advert_int,
        garp_master_delay=_int("garp_master_delay", spec.garp_master_delay, 0, 3600),
        garp_master_repeat=_int("garp_master_repeat", spec.garp_master_repeat, 1, 100),
        garp_master_refresh=_int("garp_master_refresh", spec.garp_master_refresh, 0, 86400),
        garp_master_refresh_repeat=_int("garp_master_refresh_repeat", spec.garp_master_refresh_repeat, 1, 100),
    )


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("lbaas.agent.keepalived", "templates"),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_keepalived(spec: KeepalivedSpec) -> str:
    """The complete keepalived.conf for ``spec``. Raises KeepalivedRenderError when it cannot be rendered safely."""
    return _environment().get_template("keepalived.conf.j2").render(k=build(spec))


__all__ = ["ADVERT_INT_MS", "KeepalivedRenderError", "KeepalivedSpec", "build", "render_keepalived"]
