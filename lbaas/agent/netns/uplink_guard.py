"""Refuse to map an interface the host itself uses: a flat network's bridge enslaves the mapped
interface, and an enslaved interface's addresses stop working (mapping the management NIC cuts the host
off). ``lbaas serve`` and ``lbaas agent`` check every mapping at start and refuse, unless ``--force``, an
interface that carries a (non-link-local) address or the default route. Read with iproute2's JSON
output, in the caller's network namespace (or ``netns``, for tests)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass


class UplinkInUse(RuntimeError):
    """A mapped interface carries the host's addresses or its default route."""


@dataclass(frozen=True)
class UplinkUse:
    interface: str
    addresses: tuple[str, ...]
    default_route: bool
    exists: bool = True

    @property
    def in_use(self) -> bool:
        return bool(self.addresses) or self.default_route


def _ip(args: list[str], netns: str | None) -> list[dict[str, object]]:
    argv = ["ip", *(["-n", netns] if netns else []), "-j", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    if out.returncode != 0:
        raise FileNotFoundError(out.stderr.strip())
    return list(json.loads(out.stdout or "[]"))


def inspect(interface: str, netns: str | None = None) -> UplinkUse:
    try:
        links = _ip(["addr", "show", "dev", interface], netns)
    except FileNotFoundError:
        return UplinkUse(interface, (), False, exists=False)
    addresses = tuple(
        f"{a['local']}/{a['prefixlen']}"
        for link in links
        for a in link.get("addr_info", [])  # type: ignore[attr-defined]
        if a.get("scope") != "link"
    )
    default = any(
        r.get("dev") == interface for family in ("-4", "-6") for r in _ip([family, "route", "show", "default"], netns)
    )
    return UplinkUse(interface, addresses, default)


def check_mappings(mappings: Mapping[str, str], *, force: bool = False, netns: str | None = None) -> list[str]:
    """Raise UplinkInUse for the first mapped interface the host uses (unless ``force``); return warnings
    (the problems ``force`` let through, interfaces that do not exist yet)."""
    warnings: list[str] = []
    for physnet, iface in sorted(mappings.items()):
        use = inspect(iface, netns)
        if not use.exists:
            warnings.append(f"{iface} (mapped for {physnet}) does not exist yet")
            continue
        if not use.in_use:
            continue
        what = " and ".join(
            p for p in (", ".join(use.addresses), "the default route" if use.default_route else "") if p
        )
        problem = (
            f"{iface} (mapped for {physnet}) carries {what}: a flat network's bridge would enslave it and the "
            f"host would lose them. Map a dedicated interface (or a VLAN of it, e.g. {physnet}:{iface}.100), "
            "or pass --force (see docs/real-networks.md)"
        )
        if not force:
            raise UplinkInUse(problem)
        warnings.append(problem)
    return warnings
