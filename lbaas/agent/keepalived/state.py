"""The measured state of this agent's instance of an ACTIVE_STANDBY LB, as ``StatusReporter.instance``
reports it. Measured, never assumed from the config or the priority:

    vrrp_state  MASTER   the VIP is on the instance's interface (keepalived put it there)
                BACKUP   keepalived runs in the namespace, the track file says 0, the VIP is not here
                FAULT    keepalived does not run there, or the track file is not 0 (HAProxy not vouched)
                UNKNOWN  the interface could not be read
    healthy     HAProxy runs in the namespace and the agent vouches for it (track file 0)

One netlink read in the namespace per ACTIVE_STANDBY LB (the address list), plus /proc and file reads.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from lbaas.agent.haproxy.process import HaproxyProcess
from lbaas.agent.keepalived.process import KeepalivedProcess
from lbaas.agent.keepalived.track import HEALTHY
from lbaas.agent.netns.base import Plumber
from lbaas.agent.paths import LbPaths, read_file
from lbaas.agent.plan import port_plug
from lbaas.domain.spec import LoadBalancerSpec

log = logging.getLogger(__name__)

MASTER, BACKUP, FAULT, UNKNOWN = "MASTER", "BACKUP", "FAULT", "UNKNOWN"


@dataclass(frozen=True)
class InstanceState:
    vrrp_state: str
    healthy: bool
    keepalived: bool = True  # keepalived runs in the namespace (False: the reconciler must start it)


class InstanceProbe:
    def __init__(self, keepalived: KeepalivedProcess, haproxy: HaproxyProcess, plumber: Plumber) -> None:
        self._keepalived = keepalived
        self._haproxy = haproxy
        self._plumber = plumber

    def measure(self, spec: LoadBalancerSpec, paths: LbPaths) -> InstanceState:
        ns = self._plumber.naming.ns_name(spec.id)
        track = (read_file(paths.track) or "").strip()
        vouched = track == HEALTHY
        healthy = vouched and self._haproxy.running_in(paths, ns) is not None
        running = self._keepalived.running_in(paths, ns) is not None
        try:
            held = str(ipaddress.ip_address(spec.vip.address)) in self._plumber.addresses(ns, port_plug(spec))
        except Exception as exc:  # the namespace went away under us, a netlink error: not known
            log.debug("instance state of %s: %s", spec.id, exc)
            return InstanceState(UNKNOWN, healthy, running)
        if held:
            return InstanceState(MASTER, healthy, running)
        if not running or not vouched:
            return InstanceState(FAULT, healthy, running)
        return InstanceState(BACKUP, healthy, running)


__all__ = ["BACKUP", "FAULT", "MASTER", "UNKNOWN", "InstanceProbe", "InstanceState"]
