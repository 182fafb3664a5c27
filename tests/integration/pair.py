"""An ACTIVE_STANDBY pair on a real data plane, for integration tests: two instances of ONE load balancer,
each run by its own ``Reconciler`` (as two agents on two hosts would), and the cleanup that removes
everything of theirs.

A test module names its pair once (``Names``): root links ``<links>?<token>*`` (bridge ``<links>b``,
veths ``<links>t``, instance interfaces ``<links>v``, taggers ``<links>g``), instance ``<name>``'s
namespaces ``<lb_ns><name><token>-*``, and, if it makes hosts, their namespaces ``<hosts_ns><token>-*``.
``<token>`` is 4 random hex digits per module, so two sessions never touch each other's names.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lbaas.agent import echo
from lbaas.agent.haproxy.process import MasterWorkerHaproxy
from lbaas.agent.hosts import kill_namespace_processes
from lbaas.agent.keepalived.pair import PairParts, pair_parts
from lbaas.agent.keepalived.track import HaproxyTracker
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import Naming
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.observe import Observer
from lbaas.agent.paths import LbPaths
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.domain.spec import LoadBalancerSpec, VrrpPeerSpec, VrrpSpec

MARKS = [pytest.mark.netns,
         pytest.mark.skipif(shutil.which("keepalived") is None, reason="needs keepalived")]  # fmt: skip
"""A pair test module's ``pytestmark``."""


@dataclass(frozen=True)
class Names:
    links: str  # 3 letters
    lb_ns: str
    hosts_ns: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(2))

    @property
    def hosts(self) -> str:
        """The hosts' namespace prefix."""
        return f"{self.hosts_ns}{self.token}-"

    def new_id(self) -> str:
        """Ids whose first 4 hex digits are the token, so every interface derived from one carries it."""
        return str(uuid.UUID(self.token + uuid.uuid4().hex[4:]))

    def naming(self, ns_prefix: str) -> Naming:
        return Naming(ns_prefix=ns_prefix, vip_prefix=f"{self.links}v", tap_prefix=f"{self.links}t",
                      bridge_prefix=f"{self.links}b", tagger_prefix=f"{self.links}g")  # fmt: skip

    def instance_naming(self, name: str) -> Naming:
        return self.naming(f"{self.lb_ns}{name}{self.token}-")

    def namespaces(self) -> list[str]:
        """Our namespaces now."""
        try:
            names = os.listdir(nsexec.NETNS_RUN_DIR)
        except FileNotFoundError:
            return []
        prefixes = [f"{self.lb_ns}a{self.token}-", f"{self.lb_ns}b{self.token}-"]
        if self.hosts_ns:
            prefixes.append(self.hosts)
        return sorted(n for n in names if n.startswith(tuple(prefixes)))

    def root_links(self) -> list[str]:
        """Our links in the root namespace now."""
        return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(self.links) and n[4:8] == self.token)


def mac() -> str:
    return "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))


def vrrp_pair(names: Names, address_a: str, address_b: str, virtual_router_id: int) -> tuple[VrrpSpec, VrrpSpec]:
    """The ``vrrp`` parts of the two instances: a the MASTER (priority 200), b the BACKUP (100), each the
    other's peer."""
    amp_a, amp_b = names.new_id(), names.new_id()
    a = VrrpSpec(amphora_id=amp_a, role="MASTER", priority=200, virtual_router_id=virtual_router_id,
                 address=address_a, port_id=names.new_id(), mac_address=mac(),
                 peers=(VrrpPeerSpec(amphora_id=amp_b, address=address_b),))
    b = VrrpSpec(amphora_id=amp_b, role="BACKUP", priority=100, virtual_router_id=virtual_router_id,
                 address=address_b, port_id=names.new_id(), mac_address=mac(),
                 peers=(VrrpPeerSpec(amphora_id=amp_a, address=address_a),))
    return a, b  # fmt: skip


@dataclass
class Reports:
    instances: list[tuple[str, str, int, str, bool]] = field(default_factory=list)

    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        assert ok, message

    def operating(self, lb_id: str, statuses: object) -> None:
        pass

    def stats(self, lb_id: str, deltas: object) -> None:
        pass

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        self.instances.append((lb_id, amphora_id, epoch, vrrp_state, healthy))


@dataclass
class Source:
    spec: LoadBalancerSpec | None

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.spec if self.spec is not None and self.spec.id == lb_id else None

    def assigned(self) -> dict[str, int]:
        return {self.spec.id: self.spec.generation} if self.spec is not None else {}


@dataclass
class Instance:
    """One agent's side: its reconciler, its HAProxy and keepalived, its observer."""

    name: str
    spec: LoadBalancerSpec
    state_dir: Path
    plumber: Pyroute2Plumber
    haproxy: MasterWorkerHaproxy
    pair: PairParts
    source: Source
    reports: Reports
    rec: Reconciler
    observer: Observer
    dead: list[str] = field(default_factory=list)  # the tracker's on_dead calls

    @property
    def paths(self) -> LbPaths:
        return self.rec.paths(self.spec.id)

    @property
    def ns(self) -> str:
        return self.rec.ns_name(self.spec.id)

    @property
    def vrrp(self) -> VrrpSpec:
        assert self.spec.vrrp is not None
        return self.spec.vrrp

    def holds_vip(self) -> bool:
        if not nsexec.netns_exists(self.ns):
            return False
        out = subprocess.run(["ip", "-n", self.ns, "-o", "addr", "show"], capture_output=True, text=True).stdout
        return f" {self.spec.vip.address}/" in out

    def state(self) -> tuple[str, bool]:
        """(VRRP state, healthy) as the observer measures and reports this instance now."""
        self.observer.observe(self.spec.id)
        last = self.reports.instances[-1]
        assert last[:3] == (self.spec.id, self.vrrp.amphora_id, self.spec.binding_epoch)
        return last[3], last[4]

    def runtime(self, command: str) -> str:
        return self.haproxy.runtime(self.paths, command)

    def connections(self) -> int:
        """Sessions its listener's frontend took (``show stat`` stot): the load flows through this instance."""
        rows = [line.split(",") for line in self.runtime("show stat").splitlines() if line and line[0] != "#"]
        return sum(int(r[7]) for r in rows if len(r) > 7 and r[1] == "FRONTEND")


def build_instance(names: Names, name: str, spec: LoadBalancerSpec, vrrp: VrrpSpec, root: Path) -> Instance:
    """Instance ``name`` ("a" or "b") of ``spec`` with its own ``vrrp`` part, its state under ``root/name``."""
    mine = spec.model_copy(update={"vrrp": vrrp})
    state_dir = root / name
    state_dir.mkdir()
    plumber = Pyroute2Plumber(names.instance_naming(name), neigh_gc_thresh=None)
    haproxy = MasterWorkerHaproxy()
    pair = pair_parts(plumber, haproxy)
    source, reports = Source(mine), Reports()
    rec = Reconciler(config=AgentConfig(state_dir=state_dir), source=source, reporter=reports, plumber=plumber,
                     haproxy=haproxy, units=[pair.unit])  # fmt: skip
    inst = Instance(name, mine, state_dir, plumber, haproxy, pair, source, reports, rec,
                    Observer(rec, reports, instances=pair.probe, instance_refresh=0.0))  # fmt: skip
    assert isinstance(pair.tracker, HaproxyTracker)
    pair.tracker.on_dead = inst.dead.append
    return inst


def clean_up(names: Names, made: Iterable[Instance], root: Path, echo_pids: Iterable[int] = ()) -> None:
    """Everything of ours removed, on failure too: keepalived, HAProxy and the echo servers by pid, every
    process living in one of our namespaces, the namespaces, the links (veths first, then the bridge),
    ``root``; then asserts nothing of ours is left."""
    problems = []
    for inst in made:
        inst.pair.unit.process.stop(inst.paths)
        inst.haproxy.stop(inst.paths)
        assert isinstance(inst.pair.tracker, HaproxyTracker)
        inst.pair.tracker.close()
    for pid in echo_pids:
        echo.stop(pid)
    for ns in names.namespaces():
        kill_namespace_processes(ns)
        r = subprocess.run(["ip", "netns", "delete", ns], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"ip netns delete {ns}: {r.stderr.strip()}")
    for link in sorted(names.root_links(), key=lambda n: n.startswith(f"{names.links}b")):
        if os.path.exists(f"/sys/class/net/{link}"):
            subprocess.run(["ip", "link", "delete", "dev", link], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    left = names.namespaces() + names.root_links()
    assert not problems and not left, (problems, left)


def wait_until(what: str, pred: Callable[[], bool], timeout: float = 10.0,
               diag: Callable[[], str] | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout} s: {what}" + (f"\n{diag()}" if diag is not None else ""))
