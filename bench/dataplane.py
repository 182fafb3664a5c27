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

Like with like (as ``bench.tls``): ours logs every request (the tenant flow log, on by default: one
datagram per request to the agent, which writes the LB's access.log). The plain floor logs nothing, so a
third target is the same floor with our log-formats on its HTTP and TCP frontends, sending to a receiver
that appends each line to a file (socat, or a minimal Python one); the target ratio is against that one,
and the ratio to the plain floor says what the flow log costs.
"""

from __future__ import annotations

import argparse
import shutil

from bench.common import (
    BenchEnv,
    BenchError,
    Report,
    WrkResult,
    floor_comparison,
    interleaved_rounds,
    lb_body,
    log_receiver,
    wrk,
)

MODES = {  # mode → (port on the LBs, extra wrk headers)
    "http keep-alive": (80, ()),
    "http close": (80, ("Connection: close",)),
    "tcp": (81, ()),
}
FLOOR, FLOOR_LOG = "hand-written haproxy", "hand-written haproxy + flow log"
TARGETS = ("lbaas", FLOOR_LOG, FLOOR, "member direct")
TARGET_RATIO = 0.97


def log_formats(cfg: str) -> dict[int, str]:
    """Port → the ``log-format`` argument of our frontend bound there (from our rendered haproxy.cfg)."""
    out: dict[int, str] = {}
    port = None
    for line in cfg.splitlines():
        if not line[:1].isspace():
            port = None
            continue
        words = line.split()
        if words[:1] == ["bind"]:
            port = int(words[1].rsplit(":", 1)[1])
        elif words[:1] == ["log-format"] and port is not None:
            out[port] = line.strip()[len("log-format ") :]
    return out


def run(args: argparse.Namespace, report: Report) -> None:
    duration = args.duration or (1.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 7)
    with BenchEnv("dp") as env:
        svc = env.svc
        net, sn = svc.network("10.254.4.0/24")
        member = env.member(net["id"], "10.254.4.11", "m1")
        client = env.client(net["id"], "10.254.4.10")
        vip, floor_vip, floor_log_vip = "10.254.4.20", "10.254.4.30", "10.254.4.31"
        lb = svc.create_lb(lb_body(sn["id"], vip, [f"{member}:80"], hm=False, tcp_port=81))
        formats = log_formats((env.dir / "lb" / lb["id"] / "haproxy.cfg").read_text())
        fl = env.floor("d", net["id"], floor_vip, 24, [f"{member}:80"], tcp_port=81)
        fl.up()
        sink, floor_log = env.dir / "floor-log.sock", env.dir / "floor-access.log"
        with log_receiver(sink, floor_log):
            fll = env.floor("l", net["id"], floor_log_vip, 24, [f"{member}:80"], tcp_port=81,
                            log_target=f'"{sink}"', log_format=formats.get(80, ""),
                            log_format_tcp=formats.get(81, ""))  # fmt: skip
            fll.up()
            hosts = {"lbaas": vip, FLOOR_LOG: floor_log_vip, FLOOR: floor_vip, "member direct": member}
            if not args.quick:
                for host in hosts.values():  # warm up: ARP, first connections
                    wrk(f"http://{host}/", duration=1, connections=2, threads=1, ns=client)

            def measure(mode: str, target: str) -> WrkResult:
                port, headers = MODES[mode]
                p = 80 if target == "member direct" else port
                return wrk(f"http://{hosts[target]}:{p}/", duration=duration, ns=client, headers=headers)

            runs = interleaved_rounds(rounds, MODES, TARGETS, measure)
            logged = floor_log.stat().st_size if floor_log.exists() else 0
        if not (formats.get(80) and formats.get(81) and logged):
            raise BenchError(f"the floor + flow log did not log like ours (formats {sorted(formats)}, {logged} bytes)")
    floor_comparison(report, runs, list(MODES), TARGETS, like=FLOOR_LOG, target_ratio=TARGET_RATIO,
                     others={"lbaas / hand-written": FLOOR, "lbaas / direct": "member direct"},
                     title=f"wrk -t2 -c32, {duration:.0f} s per run, {rounds} interleaved round(s): median req/s, "
                           "median of the rounds' ratios",
                     plot_title="Data plane: wrk from a client namespace (median req/s)")  # fmt: skip
    report.notes.append("Flow log: ours sends one datagram per request to the agent (Python, batches its writes to "
                        "access.log); the floor + flow log sends the same line (our log-format, read from our "
                        f"haproxy.cfg) to {'socat' if shutil.which('socat') else 'a minimal Python receiver'}, "
                        "which appends it to a file. The plain floor logs nothing.")
    report.notes.append("Both HAProxies add X-Forwarded-For on HTTP (the floor's config: `bench/floor/config.sh`).")
