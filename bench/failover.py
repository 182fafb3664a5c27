"""7. Failover: an agent host (or an HAProxy) dies; how long until its VIP answers 200 again.

The scale-out deployment on simulated hosts (``lbaas.tools.simcluster``): PostgreSQL, RabbitMQ, two API
processes, one controller, three agents each on its own host (network + pid + mount namespaces, its own
/run/netns), the tenant VLAN spanning them over an underlay bridge, the client and two members on a
fourth host. Real HAProxy and keepalived. agent_down_time and the heartbeat period are the shipped
defaults (``Settings``).

Three kinds of sample, interleaved round by round so they see the same machine conditions (issue 11):

* SINGLE, host death: the host of a SINGLE LB is killed (every process of the host SIGKILLed by
  namespace, its underlay link and namespaces removed: a power cut); the controller re-binds the LB and
  another agent builds it. Target ≤ 5 s (issue 4).
* ACTIVE_STANDBY, host death: the host holding the pair's VIP is killed; the BACKUP's keepalived takes
  the VIP; the controller rebuilds the lost instance afterwards. Target p50 ≤ 0.5 s, max ≤ 1 s.
* ACTIVE_STANDBY, HAProxy death: only the VIP holder's HAProxy (master and workers) is SIGKILLed, by pid,
  found in that host's LB namespace; its track file turns keepalived FAULT and the VIP moves. Same target.

Per sample a client load loop (new connection per request, 4 workers, 0.2 s timeout: see CLIENT_TIMEOUT) runs against the
VIP; measured from the kill until the client's first 200 ending the outage, and the client's longest gap
without any 200. A killed host comes back (same state directory: it removes what it lost) before the next
sample. Beside it, from the logs, for SINGLE: when the controller re-bound the LB and when the new agent
reported it applied.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import BenchError, Report, fmt_ms, median, pct, plot_samples

TARGET = 5.0
P50_TARGET = 2.0
AS_P50_TARGET = 0.5  # ACTIVE_STANDBY (issue 11)
AS_MAX_TARGET = 1.0
# The client's per-request timeout. A request in flight to a host that dies waits this long, so no gap
# can be shorter: with 0.5 s every ACTIVE_STANDBY host-death sample read 0.55-0.59 s (quick run,
# 2026-12-06 17:01 UTC), the client's timeout rather than the VIP's move. 0.2 s for every kind.
CLIENT_TIMEOUT = 0.2


def _stat_row(t: object, label: str, xs: list[float], target: str = "") -> None:
    t.add(label, fmt_ms(median(xs)), fmt_ms(pct(xs, 90)), fmt_ms(min(xs)), fmt_ms(max(xs)), target)  # type: ignore[attr-defined]


def _first_after_outage(track: list[float], killed_at: float, victim: str) -> float:
    """Seconds from the kill to the answer that ends the outage: the end of the longest silence that
    begins after the kill (answers still in flight when the host died are not it; the loop answers
    every few ms while the VIP is up, so a sub-second VRRP move is seen too)."""
    times = sorted(track)
    best: tuple[float, float] | None = None
    for prev, t in zip(times, times[1:], strict=False):
        if t > killed_at:
            silence = t - max(prev, killed_at)
            if best is None or silence > best[0]:
                best = (silence, t - killed_at)
    if best is None:
        raise BenchError(f"no answer seen after the kill of {victim}")
    return best[1]


KINDS = {
    "single_host": "SINGLE, agent host killed",
    "as_host": "ACTIVE_STANDBY, VIP holder's host killed",
    "as_haproxy": "ACTIVE_STANDBY, VIP holder's HAProxy SIGKILLed",
}


def run(args: argparse.Namespace, report: Report) -> None:
    from lbaas.tools.simcluster import SimCluster, services_available, wait_for

    why = services_available()
    if why:
        raise BenchError(f"failover: {why}")
    n = args.n or (2 if args.quick else 10)
    prefix = "lbbq" if args.quick else "lbb"
    first: dict[str, list[float]] = {k: [] for k in KINDS}
    gaps: dict[str, list[float]] = {k: [] for k in KINDS}
    rebound: list[float] = []
    applied: list[float] = []
    rows: list[list[object]] = []
    cluster = SimCluster(prefix=prefix, vid=241, cidr="10.241.2.0/24" if args.quick else "10.241.1.0/24").start()

    def settled_all(lbs: list[str], pair_lb: str, off: str | None = None) -> bool:
        where = cluster.settled_off(lbs, off) if off else cluster.settled(lbs)
        pair = cluster.pair(pair_lb)
        return bool(where and pair and (off is None or off not in pair.values()))

    def sample(kind: str, i: int, url: str, lb_id: str, victim: str, kill: Callable[[], object],
               recovered: Callable[[], object]) -> None:  # fmt: skip
        run_ = cluster.load(url, seconds=90, workers=4, timeout=CLIENT_TIMEOUT, track="m1")
        time.sleep(1.5)
        killed_at = time.time()
        kill()
        wait_for(recovered, 90, f"{kind}: recovered")
        wait_for(lambda: cluster.answers(lb_id), 30, "the VIP to answer")
        time.sleep(1.0)
        rep = run_.stop()
        first[kind].append(_first_after_outage(rep["track"], killed_at, victim))
        gaps[kind].append(float(rep["longest_gap"]))
        extra = ""
        if kind == "single_host":
            tl = cluster.failover_timeline(lb_id, victim, killed_at)
            rebound.append(tl["rebound"] if tl["rebound"] is not None else float("nan"))
            applied.append(tl["applied"] if tl["applied"] is not None else float("nan"))
            extra = f", re-bound at {rebound[-1]:.2f} s, applied at {applied[-1]:.2f} s"
        rows.append([i, kind, victim, f"{first[kind][-1]:.4f}", f"{gaps[kind][-1]:.4f}"])
        print(f"  {kind} {i + 1}/{n} ({victim}): first 200 after {first[kind][-1]:.3f} s, longest gap "
              f"{gaps[kind][-1]:.3f} s{extra}", flush=True)  # fmt: skip

    try:
        cluster.make_tenant_network(members=2)
        singles = [cluster.create_lb(f"bf-{i}") for i in range(2)]
        pair_lb = cluster.create_lb("bf-as", flavor_id=cluster.active_standby_flavor())
        lbs = [*singles, pair_lb]
        wait_for(lambda: settled_all(lbs, pair_lb), 180, "the LBs ACTIVE")
        single_url, pair_url = f"http://{cluster.vip(singles[0])}/", f"http://{cluster.vip(pair_lb)}/"

        def holder() -> str | None:
            h = cluster.vip_holders(pair_lb)
            return h[0] if len(h) == 1 else None

        def host_kill(kind: str, i: int, lb_id: str, url: str, victim: str) -> None:
            sample(kind, i, url, lb_id, victim, lambda: cluster.kill_host(victim),
                   lambda: settled_all(lbs, pair_lb, off=victim))  # fmt: skip
            cluster.start_host(victim)  # it comes back, removes what it lost, takes nothing
            wait_for(functools.partial(cluster.back_and_clean, victim), 90, f"{victim} back and clean")

        def pair_online() -> None:
            try:
                wait_for(lambda: settled_all(lbs, pair_lb) and cluster.lb(pair_lb)["operating_status"] == "ONLINE",
                         120, "every LB ACTIVE, the pair ONLINE")  # fmt: skip
            except AssertionError:
                for lb_id in lbs:
                    print(f"  {lb_id}: {cluster.lb(lb_id)}", flush=True)
                print(f"  amphorae: {cluster.amphorae(pair_lb)}", flush=True)
                raise

        def haproxy_kill(i: int, victim: str) -> None:
            other = next(h for h in (cluster.pair(pair_lb) or {}).values() if h != victim)
            old = cluster.haproxy_pids(victim, pair_lb)
            sample("as_haproxy", i, pair_url, pair_lb, victim, lambda: cluster.kill_haproxy(victim, pair_lb),
                   lambda: cluster.vip_holders(pair_lb) == [other])  # fmt: skip
            wait_for(lambda: cluster.haproxy_pids(victim, pair_lb)[0] not in old, 60, "HAProxy restarted")

        for i in range(n):  # the three kinds interleaved: the same machine conditions for each
            wait_for(lambda: settled_all(lbs, pair_lb), 120, "every LB ACTIVE")
            host_kill("single_host", i, singles[0], single_url, str(cluster.settled(lbs)[singles[0]]))  # type: ignore[index]
            pair_online()
            victim = wait_for(holder, 30, "one VIP holder")
            host_kill("as_host", i, pair_lb, pair_url, victim)
            pair_online()
            haproxy_kill(i, wait_for(holder, 30, "one VIP holder"))
    finally:
        cluster.close()

    t = report.table(f"Failover, SINGLE and ACTIVE_STANDBY side by side in one run (n = {n} each): the client's "
                     "view through the VIP", ["", "p50", "p90", "min", "max", "target"])  # fmt: skip
    for kind, label in KINDS.items():
        target = f"≤ {TARGET:.0f} s" if kind == "single_host" else f"p50 ≤ {AS_P50_TARGET} s, max ≤ {AS_MAX_TARGET:.0f} s"
        _stat_row(t, f"{label}: kill → first 200", first[kind], target)
        _stat_row(t, f"{label}: longest gap without a 200", gaps[kind], target)
    ok = [x for x in rebound if x == x]
    if ok:
        _stat_row(t, "SINGLE: kill → LB re-bound by the controller (log)", ok)
    ok = [x for x in applied if x == x]
    if ok:
        _stat_row(t, "SINGLE: kill → new agent reported it applied (log)", ok)
    single_met = max(first["single_host"]) <= TARGET and max(gaps["single_host"]) <= TARGET
    as_all = first["as_host"] + first["as_haproxy"]
    as_gaps = gaps["as_host"] + gaps["as_haproxy"]
    as_met = all(median(xs) <= AS_P50_TARGET and max(xs) <= AS_MAX_TARGET
                 for xs in (first["as_host"], first["as_haproxy"], gaps["as_host"], gaps["as_haproxy"]))  # fmt: skip
    from lbaas.config import Settings

    d = Settings()
    report.notes.append(f"SINGLE target (every sample ≤ 5 s; p50 ≤ {P50_TARGET:.0f} s): "
                        f"{'met' if single_met and median(first['single_host']) <= P50_TARGET else 'MISSED'}. "
                        f"Detection: the controller declares a host dead {d.agent_down_time:g} s after its last "
                        f"heartbeat ({d.heartbeat_interval:g} s period; passes every {d.controller_interval:g} s); "
                        "then the new agent plugs the same port (same MAC), starts HAProxy and sends gratuitous ARP.")
    report.notes.append(f"ACTIVE_STANDBY target (issue 11: p50 ≤ {AS_P50_TARGET} s, max ≤ {AS_MAX_TARGET:.0f} s, "
                        f"both kinds): {'met' if as_met else 'MISSED'} (all {len(as_all)} samples: p50 "
                        f"{median(as_all):.3f} s, max {max(as_all):.3f} s; longest gaps max {max(as_gaps):.3f} s). "
                        "No controller in the path: the BACKUP's keepalived takes the VIP after 3 missed "
                        "100 ms adverts (host death) or on the MASTER's FAULT (its HAProxy's track file), and "
                        "sends gratuitous ARP; the controller rebuilds the lost instance afterwards. Client: a new "
                        f"connection per request, 4 workers, {CLIENT_TIMEOUT:g} s timeout (a request in flight to "
                        "the dead host waits that long: no gap can be shorter).")
    report.csv_header = ["iteration", "kind", "victim", "first_200_s", "longest_gap_s"]
    report.csv_rows = rows

    def plot(path: Path) -> None:
        plot_samples(path, "Failover: kill → first 200 through the VIP",
                     {KINDS[k]: first[k] for k in KINDS}, targets={"SINGLE target 5 s": TARGET,
                                                                 "ACTIVE_STANDBY max 1 s": AS_MAX_TARGET})

    report.plot = plot
