"""Observe: everything the host holds for one LB, read in one place, into one frozen record.

The LB's own files are read through ``LbPaths`` (the epoch, the network record, the plumbing record;
each unit reads its own: HAProxy's ``haproxy.cfg`` and ``loaded``), plus liveness: is the VIP veth up in
its bridge (sysfs only) and is each unit's process alive. No netlink dump, no namespace entered: this
runs on every reconcile, and a resync of thousands of converged LBs is mostly this.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from lbaas.agent.netns.base import NetworkPlug, Plumber, PortPlug
from lbaas.agent.paths import LbPaths, read_file
from lbaas.agent.plan import HostRecord
from lbaas.agent.units import Unit


def _read(path: Path, *, strip: bool = True) -> str | None:
    text = read_file(path)
    return text.strip() if strip and text is not None else text


def parse_network(text: str | None) -> tuple[NetworkPlug | None, str | None]:
    """The recorded VIP network, or (None, why not)."""
    if text is None:
        return None, "no network record"
    try:
        return NetworkPlug(**json.loads(text)), None
    except (ValueError, TypeError) as exc:
        return None, str(exc)


def observe_host(
    paths: LbPaths, ns: str, plug: PortPlug | None, units: Sequence[Unit], plumber: Plumber
) -> HostRecord:
    """What the host holds for the LB of ``paths`` (``plug``: the VIP port whose liveness to read)."""
    epoch_text = _read(paths.epoch, strip=False)
    directory = epoch_text is not None or paths.directory.is_dir()
    epoch = int(epoch_text or 0) if epoch_text is not None else None
    network_text = _read(paths.network, strip=False)
    network, _ = parse_network(network_text)
    return HostRecord(
        directory=directory,
        epoch=epoch,
        network_text=network_text,
        network=network,
        plumbed=_read(paths.plumbed),
        port_alive=plug is not None and plumber.port_alive(ns, plug),
        units={u.name: u.observe(paths, ns) for u in units},
    )


__all__ = ["observe_host", "parse_network"]
