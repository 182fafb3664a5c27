"""``python -m bench.reconciler_cost``: what one ``Reconciler.reconcile`` costs the agent, with no API, DB
or client in the way: one real LB (namespace, bridge, veth, HAProxy), reconciled in this process.

* ``resync``: a pass over the converged LB (the cheap path every periodic resync takes, per LB),
  CPU time of this thread (median of ``--passes``);
* ``live``: a member added or removed (alternately) through the runtime API, then checked and swapped
  (``haproxy -c`` is a child process: in the wall time, not in the CPU time);
* ``first``: the first start (plumbing + HAProxy start), wall time.

It measures the code on ``sys.path``: to compare two trees, run it from each, alternately, e.g.
``PYTHONPATH=<old tree> python bench/reconciler_cost.py`` (see docs/benchmarks.md, "Reconciler refactor").
Needs root, ``ip`` and ``haproxy``; names: LB ``rcb-<hex>``, namespace ``qlbaas-rcb-<hex>``, links
``rcv*``/``rct*``/``rcb*``, all removed at the end (the LB is torn down by the reconciler itself).
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from lbaas.agent.haproxy.process import MasterWorkerHaproxy
from lbaas.agent.netns.base import Naming
from lbaas.agent.netns.pyroute2_plumber import Pyroute2Plumber
from lbaas.agent.reconciler import AgentConfig, Reconciler
from lbaas.domain.spec import ListenerSpec, LoadBalancerSpec, MemberSpec, PoolSpec, VipSpec


class _Source:
    def __init__(self) -> None:
        self.specs: dict[str, LoadBalancerSpec] = {}

    def assigned(self) -> Mapping[str, int]:
        return {k: v.generation for k, v in self.specs.items()}

    def get(self, lb_id: str) -> LoadBalancerSpec | None:
        return self.specs.get(lb_id)


class _Reports:
    def applied(self, lb_id: str, generation: int, *, ok: bool, message: str | None = None) -> None:
        pass

    def operating(self, lb_id: str, statuses: Mapping[str, str]) -> None:
        pass

    def stats(self, lb_id: str, deltas: Mapping[str, Mapping[str, int]]) -> None:
        pass

    def instance(self, lb_id: str, amphora_id: str, *, epoch: int, vrrp_state: str, healthy: bool) -> None:
        pass


def _spec(lb_id: str, tok: str, generation: int, members: int) -> LoadBalancerSpec:
    vip = VipSpec(address="192.0.2.10", prefixlen=24, port_id=f"rcport{tok}", mac_address="fa:16:3e:00:00:01",
                  subnet_id="subnet-vip", network_id=f"rcnet{tok}")  # fmt: skip
    pool = PoolSpec(id="pool-a", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=tuple(
        MemberSpec(id=f"member-{i}", address=f"198.51.100.{11 + i}", protocol_port=80) for i in range(members)))
    listener = ListenerSpec(id="listener-80", protocol="HTTP", protocol_port=80, default_pool_id="pool-a")
    return LoadBalancerSpec(id=lb_id, project_id="p", generation=generation, vip=vip, listeners=(listener,),
                            pools=(pool,))  # fmt: skip


def measure(changes: int, passes: int) -> dict[str, float]:
    tok = secrets.token_hex(3)
    lb_id = f"rcb-{tok}"
    naming = Naming(vip_prefix="rcv", tap_prefix="rct", bridge_prefix="rcb", tagger_prefix="rcg")
    source = _Source()
    state_dir = Path(tempfile.mkdtemp(prefix="rcb", dir="/tmp"))
    rec = Reconciler(config=AgentConfig(state_dir=state_dir), source=source,
                     reporter=_Reports(), haproxy=MasterWorkerHaproxy(),
                     plumber=Pyroute2Plumber(naming, neigh_gc_thresh=None, send_garp=False))  # fmt: skip
    live: list[float] = []
    live_cpu: list[float] = []
    resync_cpu: list[float] = []
    try:
        source.specs[lb_id] = _spec(lb_id, tok, 1, 2)
        t = time.perf_counter()
        if not rec.reconcile(lb_id).ok:
            raise SystemExit("the first start failed")
        first = time.perf_counter() - t
        for g in range(2, changes + 2):
            source.specs[lb_id] = _spec(lb_id, tok, g, 3 if g % 2 == 0 else 2)
            t, c = time.perf_counter(), time.thread_time()
            if not rec.reconcile(lb_id).ok:
                raise SystemExit(f"change {g} failed")
            live.append(time.perf_counter() - t)
            live_cpu.append(time.thread_time() - c)
        for _ in range(passes):
            c = time.thread_time()
            rec.reconcile(lb_id)
            resync_cpu.append(time.thread_time() - c)
    finally:
        source.specs.clear()
        rec.reconcile(lb_id)  # teardown
        shutil.rmtree(state_dir, ignore_errors=True)
    ms = 1000.0
    return {
        "first_ms": first * ms,
        "live_ms": statistics.median(live) * ms,
        "live_cpu_ms": statistics.median(live_cpu) * ms,
        "resync_cpu_ms": statistics.median(resync_cpu) * ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.reconciler_cost", description=__doc__)
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--passes", type=int, default=2000)
    args = ap.parse_args()
    print(json.dumps({k: round(v, 3) for k, v in measure(args.changes, args.passes).items()}))


if __name__ == "__main__":
    main()
