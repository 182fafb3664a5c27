"""2. Change-to-live: a member added, timed until it answers; removed, timed until it gets no more traffic.

A fully populated LB (HTTP listener, round-robin pool of m1 and m2, HTTP health monitor) runs; a client
namespace polls the VIP with a new connection every ~2 ms. *Add*: from just before ``POST member m3``
until the first answer from m3. *Remove*: from just before ``DELETE member m3`` until the first of 9
answers in a row that are not m3 (three round-robin turns). Each change waits for ACTIVE before the
next. Beside it, interleaved, the floor: a hand-made LB (``provision.sh``) whose config is rewritten by
hand and reloaded through its master (``reload.sh master-worker``: SIGUSR2), timed the same way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import (
    BenchEnv,
    Report,
    add_trace_table,
    fmt_ms,
    fmt_ratio,
    lb_body,
    median,
    pct,
    plot_samples,
    probe_first,
    probe_gone,
    ratio,
    trace_steps,
)

TARGET_P50 = 0.150


def run(args: argparse.Namespace, report: Report) -> None:
    n = args.n or (2 if args.quick else 20)
    samples: dict[str, list[float]] = {"lbaas add": [], "floor add": [], "lbaas remove": [], "floor remove": []}
    windows: dict[str, list[tuple[float, float]]] = {"add": [], "remove": []}
    api: dict[str, list[float]] = {"add": [], "remove": []}
    with BenchEnv("chg", trace=args.trace) as env:
        svc = env.svc
        net, sn = svc.network("10.254.2.0/24")
        m = [f"{env.member(net['id'], f'10.254.2.{11 + i}', f'm{i + 1}')}:80" for i in range(3)]
        client = env.client(net["id"], "10.254.2.10")
        vip, floor_vip = "10.254.2.20", "10.254.2.30"
        lb = svc.create_lb(lb_body(sn["id"], vip, m[:2], hm=True))
        pool_id = svc.client.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"][0]["id"]
        fl = env.floor("c", net["id"], floor_vip, 24, m[:2], check=True)
        fl.up()
        m3 = f"{env.prefix}m3".encode()

        def is_m3(status: int, body: bytes) -> bool:
            return status == 200 and body == m3

        def not_m3(status: int, body: bytes) -> bool:
            return status == 200 and body != m3

        for target in (vip, floor_vip):  # both answer before the first change
            probe_first(client, target, 80, not_m3, timeout=30).result()

        def ours_add() -> None:
            probe = probe_first(client, vip, 80, is_m3)
            time.sleep(0.02)
            t0 = time.monotonic()
            member = svc.client.call("POST", f"/v2/lbaas/pools/{pool_id}/members",
                                     {"member": {"name": "m3", "address": m[2].split(":")[0], "protocol_port": 80}})
            api["add"].append((time.monotonic() - t0) * 1000)
            t = probe.result()
            samples["lbaas add"].append(t - t0)
            windows["add"].append((t0, t))
            state["member"] = member["member"]["id"]
            env.wait_active(lb["id"])

        def ours_remove() -> None:
            t0 = time.monotonic()
            svc.client.call("DELETE", f"/v2/lbaas/pools/{pool_id}/members/{state['member']}")
            api["remove"].append((time.monotonic() - t0) * 1000)
            t = probe_gone(client, vip, 80, not_m3).result()
            samples["lbaas remove"].append(t - t0)
            windows["remove"].append((t0, t))
            env.wait_active(lb["id"])

        def floor_add() -> None:
            probe = probe_first(client, floor_vip, 80, is_m3)
            time.sleep(0.02)
            fl.members = m[:3]
            t0 = time.monotonic()
            fl.reload()
            samples["floor add"].append(probe.result() - t0)

        def floor_remove() -> None:
            fl.members = m[:2]
            t0 = time.monotonic()
            fl.reload()
            t = probe_gone(client, floor_vip, 80, not_m3).result()
            samples["floor remove"].append(t - t0)

        state: dict[str, str] = {}
        for i in range(n):
            steps = ((ours_add, ours_remove, floor_add, floor_remove) if i % 2 == 0
                     else (floor_add, floor_remove, ours_add, ours_remove))  # fmt: skip
            for step in steps:
                step()
                time.sleep(0.1)  # let the previous generation's workers drain
        breakdown = {w: trace_steps(env.trace_log, windows[w]) for w in windows}
    t = report.table(f"Change-to-live (n = {n} each, interleaved)", ["", "p50", "p90", "min", "max", "target"])
    for what in ("add", "remove"):
        ours, floor = samples[f"lbaas {what}"], samples[f"floor {what}"]
        t.add(f"lbaas: member {what} (API)", fmt_ms(median(ours)), fmt_ms(pct(ours, 90)), fmt_ms(min(ours)),
              fmt_ms(max(ours)), f"p50 ≤ {fmt_ms(TARGET_P50)}")
        t.add(f"floor: member {what} (edit + master reload)", fmt_ms(median(floor)), fmt_ms(pct(floor, 90)),
              fmt_ms(min(floor)), fmt_ms(max(floor)), "")
        t.add(f"ratio lbaas / floor ({what})", fmt_ratio(ratio(median(ours), median(floor))),
              fmt_ratio(ratio(pct(ours, 90), pct(floor, 90))), "", "", "")
    for w, st in breakdown.items():
        if st:
            add_trace_table(report, f"Where the time goes (member {w}): agent steps ended inside each sample (traced)",
                            {"API call (client side; inside rest)": api[w], **st})
    met = all(median(samples[f"lbaas {w}"]) <= TARGET_P50 for w in ("add", "remove"))
    report.notes.append(f"Target (p50 ≤ 150 ms): {'met' if met else 'MISSED'}.")
    report.csv_header = ["variant", "iteration", "seconds"]
    report.csv_rows = [[v, i, f"{s:.4f}"] for v, xs in samples.items() for i, s in enumerate(xs)]

    def plot(path: Path) -> None:
        plot_samples(path, "Change-to-live: member add / remove", samples, targets={"target p50 150 ms": TARGET_P50})

    report.plot = plot
