"""4. Data plane: wrk from a client namespace, our LB vs a hand-written minimal HAProxy vs the member direct.

One fast member (a static HAProxy answering ``200``), one client namespace, all on one bridge. Ours: an
LB with an HTTP listener on :80 and a TCP listener on :81, each with a one-member pool and no health
monitor. The floor: ``provision.sh`` builds an identical namespace (same sysctls, master-worker HAProxy)
with a minimal hand-written config (``frontend``/``backend``/``server``, and X-Forwarded-For on HTTP,
which one-arm mode needs so members see the client: the same work as ours). Modes: HTTP keep-alive,
HTTP with ``Connection: close`` (a new connection per request), and TCP (keep-alive HTTP through a
TCP-mode listener). ``wrk -t2 -c32`` per run; rounds interleave the three targets in a rotating order.
The client, the LB and the member share the 2 cores, so one run swings by ±10 %: req/s are medians
over the rounds, and the ratios are medians of each round's own ratio (runs seconds apart, so a slow
drift of the machine cancels out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.common import (
    BenchEnv,
    Report,
    WrkResult,
    fmt_num,
    fmt_ratio,
    interleaved_rounds,
    lb_body,
    median,
    paired_ratio,
    plot_bars,
    wrk,
)

MODES = {  # mode → (port on the LBs, extra wrk headers)
    "http keep-alive": (80, ()),
    "http close": (80, ("Connection: close",)),
    "tcp": (81, ()),
}
TARGETS = ("lbaas", "hand-written haproxy", "member direct")
TARGET_RATIO = 0.97


def run(args: argparse.Namespace, report: Report) -> None:
    duration = args.duration or (1.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 7)
    with BenchEnv("dp") as env:
        svc = env.svc
        net, sn = svc.network("10.254.4.0/24")
        member = env.member(net["id"], "10.254.4.11", "m1")
        client = env.client(net["id"], "10.254.4.10")
        vip, floor_vip = "10.254.4.20", "10.254.4.30"
        svc.create_lb(lb_body(sn["id"], vip, [f"{member}:80"], hm=False, tcp_port=81))
        fl = env.floor("d", net["id"], floor_vip, 24, [f"{member}:80"], tcp_port=81)
        fl.up()
        hosts = {"lbaas": vip, "hand-written haproxy": floor_vip, "member direct": member}
        if not args.quick:
            for host in hosts.values():  # warm up: ARP, first connections
                wrk(f"http://{host}/", duration=1, connections=2, threads=1, ns=client)

        def measure(mode: str, target: str) -> WrkResult:
            port, headers = MODES[mode]
            p = 80 if target == "member direct" else port
            return wrk(f"http://{hosts[target]}:{p}/", duration=duration, ns=client, headers=headers)

        runs = interleaved_rounds(rounds, MODES, TARGETS, measure)
    t = report.table(f"wrk -t2 -c32, {duration:.0f} s per run, {rounds} interleaved round(s): median req/s, "
                     "median of the rounds' ratios",
                     ["mode", "target", "req/s", "p99", "lbaas / hand-written", "lbaas / direct", "errors", "target"])
    summary: dict[str, list[float]] = {target: [] for target in TARGETS}
    rows: list[list[object]] = []
    missed = []
    for mode in MODES:
        rps = {target: median([r.rps for r in runs[(mode, target)]]) for target in TARGETS}
        vs_floor = paired_ratio(runs[(mode, "lbaas")], runs[(mode, "hand-written haproxy")])
        vs_direct = paired_ratio(runs[(mode, "lbaas")], runs[(mode, "member direct")])
        for target in TARGETS:
            rs = runs[(mode, target)]
            p99 = median([r.p99 for r in rs])
            errs = sum(r.errors + r.non2xx for r in rs)
            first = target == "lbaas"
            t.add(mode, target, fmt_num(rps[target]), f"{p99 * 1000:.1f} ms",
                  fmt_ratio(vs_floor) if first else "", fmt_ratio(vs_direct) if first else "", errs,
                  f"≥ {TARGET_RATIO:.2f}× hand-written" if first else "")
            summary[target].append(rps[target])
            for i, r in enumerate(rs):
                rows.append([mode, target, i, f"{r.rps:.0f}", f"{r.p50 * 1000:.3f}", f"{r.p99 * 1000:.3f}", r.requests,
                             r.errors, r.non2xx])
        if vs_floor < TARGET_RATIO:
            missed.append(mode)
    report.notes.append("Target (≥ 97 % of the hand-written HAProxy): "
                        + ("met in every mode." if not missed else f"MISSED in {', '.join(missed)}."))
    report.notes.append("Both HAProxies add X-Forwarded-For on HTTP (the floor's config: `bench/floor/config.sh`).")
    report.csv_header = ["mode", "target", "run", "req_s", "p50_ms", "p99_ms", "requests", "socket_errors", "non_2xx"]
    report.csv_rows = rows

    def plot(path: Path) -> None:
        plot_bars(path, "Data plane: wrk from a client namespace (median req/s)", list(MODES), summary, "requests/s")

    report.plot = plot
