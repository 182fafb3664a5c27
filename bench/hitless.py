"""3. Hitless changes: 100 member/pool changes under a bounded load, failed and reset requests counted.

The load (``bench.loadgen`` in a client namespace): 4 keep-alive clients and 4 new-connection-per-
request clients, each paced at 50 requests/s (400/s in all), every failure counted by kind. Under it,
100 changes through the API, each waited for (ACTIVE) before the next, in a cycle of eight that ends
where it started: add m3, weight m1 5, add m4, LEAST_CONNECTIONS, remove m3, weight m1 1, remove m4,
ROUND_ROBIN. Beside it, the same load against a hand-run HAProxy in its own namespace restarted the
classic way neutron-lbaas did (``haproxy -D … -sf <oldpid>``, no master, no socket transfer) for the
same 100 config changes, paced at the median interval of ours.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO, BenchEnv, BenchError, FloorLb, Report, lb_body, median, plot_bars

KA, CLOSE, RATE = 4, 4, 50.0


class Load:
    def __init__(self, ns: str, url: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "bench.loadgen", "--url", url,
                "--keepalive", str(KA), "--close", str(CLOSE), "--rate", str(RATE), "--duration", "900"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=str(REPO), stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "started":
            self.proc.kill()
            raise BenchError(f"loadgen did not start: {line}{self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        lines = out.strip().splitlines()
        if not lines:
            raise BenchError(f"loadgen printed nothing: {err}")
        return dict(json.loads(lines[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def under_load(ns: str, url: str, changes: Callable[[], None]) -> dict[str, Any]:
    load = Load(ns, url)
    try:
        time.sleep(1.0)
        changes()
        time.sleep(1.0)
        return load.stop()
    finally:
        load.kill()


def run(args: argparse.Namespace, report: Report) -> None:
    count = args.changes or (8 if args.quick else 100)
    results: dict[str, dict[str, Any]] = {}
    intervals: list[float] = []
    with BenchEnv("hit") as env:
        svc = env.svc
        net, sn = svc.network("10.254.3.0/24")
        m = [f"{env.member(net['id'], f'10.254.3.{11 + i}', f'm{i + 1}')}:80" for i in range(4)]
        client = env.client(net["id"], "10.254.3.10")
        vip, floor_vip = "10.254.3.20", "10.254.3.30"
        lb = svc.create_lb(lb_body(sn["id"], vip, m[:2], hm=True))
        c = svc.client
        pool_id = c.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"][0]["id"]
        ids = {mb["address"]: mb["id"] for mb in c.call("GET", f"/v2/lbaas/pools/{pool_id}/members")["members"]}
        addr = [x.split(":")[0] for x in m]
        members_url = f"/v2/lbaas/pools/{pool_id}/members"

        def add(i: int) -> None:
            body = {"member": {"address": addr[i], "protocol_port": 80}}
            ids[addr[i]] = c.call("POST", members_url, body)["member"]["id"]

        ours_cycle: list[Callable[[], None]] = [
            lambda: add(2),
            lambda: c.call("PUT", f"{members_url}/{ids[addr[0]]}", {"member": {"weight": 5}}),
            lambda: add(3),
            lambda: c.call("PUT", f"/v2/lbaas/pools/{pool_id}", {"pool": {"lb_algorithm": "LEAST_CONNECTIONS"}}),
            lambda: c.call("DELETE", f"{members_url}/{ids.pop(addr[2])}"),
            lambda: c.call("PUT", f"{members_url}/{ids[addr[0]]}", {"member": {"weight": 1}}),
            lambda: c.call("DELETE", f"{members_url}/{ids.pop(addr[3])}"),
            lambda: c.call("PUT", f"/v2/lbaas/pools/{pool_id}", {"pool": {"lb_algorithm": "ROUND_ROBIN"}}),
        ]

        def ours() -> None:
            for i in range(count):
                t0 = time.monotonic()
                ours_cycle[i % len(ours_cycle)]()
                env.wait_active(lb["id"])
                intervals.append(time.monotonic() - t0)

        results["lbaas (master-worker reload via API)"] = under_load(client, f"http://{vip}/", ours)

        fl = env.floor("h", net["id"], floor_vip, 24, m[:2], check=True, classic=True)
        fl.up()

        def set_members(f: FloorLb, ms: list[str]) -> None:
            f.members = ms

        floor_cycle: list[Callable[[FloorLb], None]] = [
            lambda f: set_members(f, m[:3]),
            lambda f: f.weights.update({m[0]: 5}),
            lambda f: set_members(f, m[:4]),
            lambda f: setattr(f, "balance", "leastconn"),
            lambda f: set_members(f, [m[0], m[1], m[3]]),
            lambda f: f.weights.update({m[0]: 1}),
            lambda f: set_members(f, m[:2]),
            lambda f: setattr(f, "balance", "roundrobin"),
        ]
        pace = median(intervals)

        def classic() -> None:
            for i in range(count):
                t0 = time.monotonic()
                floor_cycle[i % len(floor_cycle)](fl)
                fl.reload()
                time.sleep(max(0.0, pace - (time.monotonic() - t0)))

        # A client namespace's first requests to a fresh VIP need ARP; let it answer before the load.
        time.sleep(0.5)
        results["classic haproxy -sf restart (by hand)"] = under_load(client, f"http://{floor_vip}/", classic)

    t = report.table(
        f"{count} changes under load ({KA} keep-alive + {CLOSE} new-connection clients at {RATE:.0f} req/s each)",
        ["", "mode", "requests", "failed", "of which reset", "refused", "timeout", "non-200", "target"],
    )
    rows: list[list[object]] = []
    for variant, res in results.items():
        for mode in ("keepalive", "close"):
            r = res[mode]
            failed = r["sent"] - r["ok"]
            t.add(variant, "keep-alive" if mode == "keepalive" else "new connection", r["sent"], failed, r["reset"],
                  r["refused"], r["timeout"], r["http_error"], "0 failed" if variant.startswith("lbaas") else "")
            rows.append([variant, mode, r["sent"], failed, r["reset"], r["refused"], r["timeout"], r["http_error"],
                         r["other"], "; ".join(r["examples"][:3])])
    ours_failed = sum(results[next(iter(results))][mode]["sent"] - results[next(iter(results))][mode]["ok"]
                      for mode in ("keepalive", "close"))
    report.notes.append(f"Our changes took a median {median(intervals) * 1000:.0f} ms each (API call to ACTIVE); "
                        f"the classic restarts were paced the same.")
    report.notes.append(f"Target (0 failed requests across the changes): {'met' if ours_failed == 0 else 'MISSED'}.")
    report.csv_header = ["variant", "mode", "sent", "failed", "reset", "refused", "timeout", "non_200", "other",
                         "examples"]
    report.csv_rows = rows

    def plot(path: Path) -> None:
        cats = ["keep-alive", "new connection"]
        series = {v: [float(res[k]["sent"] - res[k]["ok"]) for k in ("keepalive", "close")] for v, res in results.items()}
        plot_bars(path, f"Failed requests across {count} changes under load", cats, series, "failed requests")

    report.plot = plot
