"""5. Density: many LBs on one agent; memory per LB, time per LB, idle CPU, full-resync time.

Each LB is one POST (HTTP listener, round-robin pool, 2 members, no health monitor) on one network; the
POSTs are sent back to back and the clock stops when the last LB is ACTIVE. Then, at each size:

* memory: the PSS (``/proc/<pid>/smaps_rollup``) of every HAProxy (master + worker) per LB, and the
  agent's share: the growth of ``lbaas serve``'s PSS since it started, divided by the LB count; the
  machine's ``MemAvailable`` drop per LB is shown too (kernel: namespaces, veths, sockets; noisy);
* idle CPU over a quiet window of 31 s, so that it holds one periodic resync: ``lbaas serve`` (API +
  agent: observer every second, resync every 30 s) and all HAProxy processes, in % of one core;
* a full resync: ``lbaas serve`` is stopped (HAProxy keeps serving), and the product's own agent wiring
  (``lbaas.embedded.start_agent``) is started in this process against the same database and state
  directory; the clock runs from its start until its work queue is idle (every LB reconciled, all
  already converged: the cost of a restart or of the periodic resync), then ``lbaas serve`` returns.

A sample of VIPs is checked to answer 200 from a client namespace at each size.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BenchEnv,
    BenchError,
    Report,
    children,
    fmt_num,
    lb_body,
    mem_available_kb,
    plot_bars,
    probe_first,
    proc_cpu_seconds,
    pss_kb,
)

MAX_PER_BRIDGE = 1000  # a bridge should stay under ~1024 ports (dataplane-facts)
MAX_NETWORKS = 4


def haproxy_pids(env: BenchEnv, lb_ids: list[str]) -> list[int]:
    return [p for pair in haproxy_roles(env, lb_ids) for p in pair]


def haproxy_roles(env: BenchEnv, lb_ids: list[str]) -> list[tuple[int, ...]]:
    """(master, worker...) per LB."""
    out = []
    for lb_id in lb_ids:
        master = env.svc.haproxy_pid(lb_id)
        if master:
            out.append((master, *children(master)))
    return out


def rollup_kb(pid: int, field: str) -> int:
    """One field of /proc/<pid>/smaps_rollup in kB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_all_active(env: BenchEnv, ids: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lbs = env.svc.all_lbs("fields=provisioning_status")
        pending = {lb["id"] for lb in lbs if lb["provisioning_status"] != "ACTIVE"} & ids
        errors = [lb["id"] for lb in lbs if lb["provisioning_status"] == "ERROR"]
        if errors:
            raise BenchError(f"{len(errors)} LBs went to ERROR")
        if not pending and ids <= {lb["id"] for lb in lbs}:
            return
        time.sleep(0.5)
    raise BenchError(f"LBs not ACTIVE after {timeout}s")


def cpu_window(pids: list[int], seconds: float) -> float:
    before = sum(proc_cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    return (sum(proc_cpu_seconds(p) for p in pids) - before) / seconds * 100.0


def timed_resync(env: BenchEnv, expected: int) -> float:
    """Stop ``lbaas serve``, run the product's agent here until its queue is idle, start serve again."""
    from lbaas.config import Settings
    from lbaas.db.session import Database
    from lbaas.embedded import start_agent
    from lbaas.providers.haproxy_ns import HaproxyProvider

    env.stop_service()
    try:
        settings = Settings(state_dir=env.dir)
        db = Database(settings.db_url())
        try:
            t0 = time.monotonic()
            agent: Any = start_agent(settings, db, HaproxyProvider())
            if not agent.queue.wait_idle(timeout=max(60.0, expected * 1.0)):
                raise BenchError("resync did not finish")
            elapsed = time.monotonic() - t0
            agent.stop()
        finally:
            db.dispose()
    finally:
        env.restart_service()
    return elapsed


def run(args: argparse.Namespace, report: Report) -> None:
    sizes = [int(x) for x in (args.sizes or ("5,10" if args.quick else "100,500,2000")).split(",")]
    per_net = args.per_network or (6 if args.quick else MAX_PER_BRIDGE)  # quick: 10 LBs span two networks
    if sizes != sorted(sizes) or not 0 < per_net <= MAX_PER_BRIDGE or max(sizes) > per_net * MAX_NETWORKS:
        raise BenchError(f"--sizes must be ascending and at most {MAX_PER_BRIDGE * MAX_NETWORKS} "
                         f"({MAX_NETWORKS} networks of at most {MAX_PER_BRIDGE} LBs: one bridge each)")
    idle_s = 1.0 if args.quick else 31.0  # full mode: one whole resync period (30 s)
    rows: list[dict[str, float]] = []
    with BenchEnv("dens", cleanup_timeout=120 + 0.5 * max(sizes)) as env:  # API deletes took ~0.2 s per LB at 2000
        svc = env.svc
        # LB i lives on network i // per_net (10.254.16.0/20, 10.254.32.0/20, ...), each with its own
        # two members and client, so that no bridge carries more than MAX_PER_BRIDGE ports
        nets: list[tuple[str, list[str], str]] = []  # (subnet id, members, client namespace)

        def network(k: int) -> tuple[str, list[str], str]:
            while len(nets) <= k:
                j = len(nets)
                base = f"10.254.{16 * (j + 1)}"
                net, sn = svc.network(f"{base}.0/20")
                tag = "" if j == 0 else f"n{j}"
                members = [f"{env.member(net['id'], f'{base}.{11 + i}', f'{tag}m{i + 1}')}:80" for i in range(2)]
                nets.append((sn["id"], members, env.client(net["id"], f"{base}.10", f"{tag}client")))
            return nets[k]

        network(0)
        time.sleep(1.0)
        serve_pss0 = pss_kb(svc.process.pid)
        avail0 = mem_available_kb()
        ids: list[str] = []
        for size in sizes:
            t0 = time.monotonic()
            for i in range(len(ids), size):
                sn_id, members, _ = network(i // per_net)
                lb = svc.client.call("POST", "/v2/lbaas/loadbalancers",
                                     {"loadbalancer": lb_body(sn_id, None, members, hm=False, name=f"d{i}")})
                ids.append(lb["loadbalancer"]["id"])
            posted = time.monotonic() - t0
            wait_all_active(env, set(ids), timeout=60 + 2.0 * size)
            created = time.monotonic() - t0
            batch = size - (rows[-1]["lbs"] if rows else 0)
            time.sleep(2.0)
            # a sample of VIPs answers
            lbs = env.svc.all_lbs("fields=vip_address&fields=vip_subnet_id")
            for lb in random.Random(size).sample(lbs, min(5, len(lbs))):
                client = next(c for sn_id, _, c in nets if sn_id == lb["vip_subnet_id"])
                probe_first(client, lb["vip_address"], 80, timeout=30).result()
            roles = haproxy_roles(env, ids)
            hp = [p for pair in roles for p in pair]
            hp_pss = sum(pss_kb(p) for p in hp)
            master_priv = sum(rollup_kb(r[0], "Private_Dirty") for r in roles)
            worker_priv = sum(rollup_kb(p, "Private_Dirty") for r in roles for p in r[1:])
            serve_pss = pss_kb(svc.process.pid)
            avail = mem_available_kb()
            serve_cpu = cpu_window([svc.process.pid], idle_s)
            hp_cpu = cpu_window(hp, idle_s)
            resync = timed_resync(env, size)
            rows.append({
                "lbs": size, "haproxy_processes": len(hp),
                "create_s_per_lb": created / batch, "post_s_per_lb": posted / batch,
                "haproxy_pss_mb_per_lb": hp_pss / 1024 / size,
                "haproxy_master_private_mb_per_lb": master_priv / 1024 / size,
                "haproxy_worker_private_mb_per_lb": worker_priv / 1024 / size,
                "agent_pss_mb_per_lb": (serve_pss - serve_pss0) / 1024 / size,
                "serve_pss_mb": serve_pss / 1024,
                "memavailable_drop_mb_per_lb": (avail0 - avail) / 1024 / size,
                "serve_idle_cpu_pct": serve_cpu, "haproxy_idle_cpu_pct": hp_cpu, "resync_s": resync,
            })  # fmt: skip
            print(f"density: {rows[-1]}", flush=True)
    t = report.table(f"Density (one agent; sizes run: {', '.join(map(str, sizes))})",
                     ["LBs", "time per LB (create → ACTIVE)", "HAProxy PSS per LB",
                      "HAProxy private dirty per LB (master + worker)", "agent PSS per LB",
                      "lbaas serve PSS", "MemAvailable drop per LB", "idle CPU lbaas serve", "idle CPU all HAProxy",
                      "full resync"])  # fmt: skip
    for r in rows:
        t.add(int(r["lbs"]), f"{r['create_s_per_lb'] * 1000:.0f} ms", f"{r['haproxy_pss_mb_per_lb']:.2f} MB",
              f"{r['haproxy_master_private_mb_per_lb']:.2f} + {r['haproxy_worker_private_mb_per_lb']:.2f} MB",
              f"{r['agent_pss_mb_per_lb']:.3f} MB", f"{r['serve_pss_mb']:.0f} MB",
              f"{r['memavailable_drop_mb_per_lb']:.1f} MB", f"{r['serve_idle_cpu_pct']:.1f} %",
              f"{r['haproxy_idle_cpu_pct']:.1f} %", f"{r['resync_s']:.2f} s ({fmt_num(r['resync_s'] / r['lbs'] * 1000, 1)} ms/LB)")
    report.notes.append("Time per LB is for the batch that reached this size (POSTs back to back, 4 agent workers); "
                        "CPU is % of one core over an idle window.")
    report.csv_header = list(rows[0]) if rows else []
    report.csv_rows = [[f"{v:.4f}" if isinstance(v, float) else v for v in r.values()] for r in rows]

    def plot(path: Path) -> None:
        cats = [str(int(r["lbs"])) + " LBs" for r in rows]
        plot_bars(path, "Density: per-LB cost", cats, {
            "HAProxy PSS per LB (MB)": [r["haproxy_pss_mb_per_lb"] for r in rows],
            "time per LB (10 ms)": [r["create_s_per_lb"] * 100 for r in rows],
            "serve idle CPU (%)": [r["serve_idle_cpu_pct"] for r in rows],
            "full resync (s)": [r["resync_s"] for r in rows],
        }, "see legend")  # fmt: skip

    report.plot = plot
