"""7. Failover: an agent host dies; how long until its VIP answers 200 again from another host.

The scale-out deployment on simulated hosts (``lbaas.tools.simcluster``): PostgreSQL, RabbitMQ, two API
processes, one controller, three agents each on its own host (network + pid + mount namespaces, its own
/run/netns), the tenant VLAN spanning them over an underlay bridge, the client and two members on a
fourth host. Real HAProxy. agent_down_time and the heartbeat period are the shipped defaults (``Settings``).

Per sample: a client load loop (new connection per request, 4 workers, 0.5 s timeout) runs against the
VIP of one LB; its host is killed (every process of the host SIGKILLed by namespace, its underlay link
and namespaces removed: a power cut); measured from the kill until the client's first 200 again, and the
client's longest gap without any 200. Then the host comes back (same state directory: it removes what it
lost) and the next sample kills the host the LB moved to. Beside it, from the logs: when the controller
re-bound the LB and when the new agent reported it applied. Target: ≤ 5 s (issue 4).
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from bench.common import BenchError, Report, fmt_ms, median, pct, plot_samples

TARGET = 5.0
P50_TARGET = 2.0


def _stat_row(t: object, label: str, xs: list[float], target: str = "") -> None:
    t.add(label, fmt_ms(median(xs)), fmt_ms(pct(xs, 90)), fmt_ms(min(xs)), fmt_ms(max(xs)), target)  # type: ignore[attr-defined]


def _first_after_outage(track: list[float], killed_at: float, victim: str) -> float:
    """Seconds from the kill to the first answer that ends the outage: answers still in flight when the
    host died are not it, so take the end of the first silence of ≥ 0.5 s that begins after the kill
    (the loop answers every few ms while the VIP is up)."""
    times = sorted(track)
    for prev, t in zip(times, times[1:], strict=False):
        if t > killed_at and t - max(prev, killed_at) >= 0.5:
            return t - killed_at
    raise BenchError(f"no outage and recovery seen after the kill of {victim}")


def run(args: argparse.Namespace, report: Report) -> None:
    from lbaas.tools.simcluster import SimCluster, services_available, wait_for

    why = services_available()
    if why:
        raise BenchError(f"failover: {why}")
    n = args.n or (1 if args.quick else 6)
    prefix = "lbsq" if args.quick else "lbsb"
    first: list[float] = []
    gaps: list[float] = []
    rebound: list[float] = []
    applied: list[float] = []
    cluster = SimCluster(prefix=prefix, cidr="10.240.2.0/24" if args.quick else "10.240.1.0/24").start()
    try:
        cluster.make_tenant_network(members=2)
        lbs = [cluster.create_lb(f"bf-{i}") for i in range(3)]
        wait_for(lambda: cluster.settled(lbs), 180, "the LBs ACTIVE")
        lb_id = lbs[0]
        url = f"http://{cluster.vip(lb_id)}/"
        for i in range(n):
            where = wait_for(lambda: cluster.settled(lbs), 120, "every LB ACTIVE")
            victim = where[lb_id]
            run_ = cluster.load(url, seconds=90, workers=4, timeout=0.5, track="m1")
            time.sleep(1.5)
            killed_at = time.time()
            cluster.kill_host(victim)
            wait_for(functools.partial(cluster.settled_off, lbs, victim), 90, "the dead host's LBs ACTIVE elsewhere")
            wait_for(lambda: cluster.answers(lb_id), 30, "the VIP to answer")
            time.sleep(1.0)
            rep = run_.stop()
            first.append(_first_after_outage(rep["track"], killed_at, victim))
            gaps.append(float(rep["longest_gap"]))
            tl = cluster.failover_timeline(lb_id, victim, killed_at)
            rebound.append(tl["rebound"] if tl["rebound"] is not None else float("nan"))
            applied.append(tl["applied"] if tl["applied"] is not None else float("nan"))
            print(f"  kill {i + 1}/{n} ({victim}): first 200 after {first[-1]:.2f} s, longest gap {gaps[-1]:.2f} s, "
                  f"re-bound at {rebound[-1]:.2f} s, applied at {applied[-1]:.2f} s", flush=True)
            cluster.start_host(victim)  # it comes back, removes what it lost, takes nothing
            wait_for(functools.partial(cluster.back_and_clean, victim), 90, f"{victim} back and clean")
    finally:
        cluster.close()

    t = report.table(f"Agent host killed → its VIP answers 200 again from another host (n = {n})",
                     ["", "p50", "p90", "min", "max", "target"])
    _stat_row(t, "kill → first 200 (client)", first, f"≤ {TARGET:.0f} s")
    _stat_row(t, "longest gap without a 200 (client)", gaps, f"≤ {TARGET:.0f} s")
    ok = [x for x in rebound if x == x]
    if ok:
        _stat_row(t, "kill → LB re-bound by the controller (log)", ok)
    ok = [x for x in applied if x == x]
    if ok:
        _stat_row(t, "kill → new agent reported it applied (log)", ok)
    met = max(first) <= TARGET and max(gaps) <= TARGET
    from lbaas.config import Settings

    d = Settings()
    report.notes.append(f"Target (every sample ≤ 5 s; p50 ≤ {P50_TARGET:.0f} s, issue 11): "
                        f"{'met' if met and median(first) <= P50_TARGET else 'MISSED'}. "
                        f"Detection: the controller declares a host dead {d.agent_down_time:g} s after its last "
                        f"heartbeat ({d.heartbeat_interval:g} s period; passes every {d.controller_interval:g} s). "
                        "Then the new agent plugs the same port (same MAC), starts HAProxy and sends gratuitous "
                        "ARP; on a host with no LB left on that network (here: the host restarted by the "
                        "previous sample) that includes creating the bridge and its VLAN tagger.")
    report.notes.append("Floor for comparison (dataplane-facts.md): keepalived VRRPv3 with 100 ms adverts moved "
                        "a VIP in 0.11–0.35 s; with 1 s adverts 0.7–3.5 s. We trade that for no standby "
                        "HAProxy per LB.")
    report.csv_header = ["iteration", "first_200_s", "longest_gap_s", "rebound_s", "applied_s"]
    report.csv_rows = [[i, f"{a:.4f}", f"{b:.4f}", f"{c:.3f}", f"{d:.3f}"]
                       for i, (a, b, c, d) in enumerate(zip(first, gaps, rebound, applied, strict=True))]

    def plot(path: Path) -> None:
        plot_samples(path, "Failover: agent host killed → first 200 through the VIP",
                     {"kill → first 200": first, "longest gap": gaps}, targets={"target 5 s": TARGET})

    report.plot = plot
