"""6. API: throughput and latency of the hot endpoints, on SQLite and on PostgreSQL.

``lbaas serve --provider noop`` (no data plane: this measures the API, the services and the database).
The load is ``wrk -t1 -c4`` (keep-alive) on 127.0.0.1; POST and PUT bodies come from generated Lua
scripts. Endpoints, in order:

* ``GET /v2/lbaas/loadbalancers`` with 10 LBs, then with the larger size (default page, 1000);
* ``GET /v2/lbaas/loadbalancers/<id>``;
* ``POST /v2/lbaas/pools/<id>/members``: each request a new member, round robin over the pools of all
  the LBs (an LB is immutable while PENDING_UPDATE, so one pool at a time would mostly get 409);
* ``PUT /v2/lbaas/pools/<id>/members`` (batch): alternately two member sets per pool, round robin.

Each LB has an HTTP listener and a pool. PostgreSQL: a throwaway database on 127.0.0.1:5432 (trust,
user postgres), created for the run and dropped after.
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import BenchEnv, Report, WrkResult, fmt_num, plot_bars, wrk

TARGET_LIST10 = 1500.0

POST_LUA = """
pools = {%(pools)s}
counter = 0
request = function()
  local c = counter
  counter = counter + 1
  local pool = pools[(c %% #pools) + 1]
  local addr = string.format("10.254.%%d.%%d", math.floor(c / 250) %% 256, (c %% 250) + 1)
  local port = 1000 + math.floor(c / 64000)
  local body = string.format('{"member": {"address": "%%s", "protocol_port": %%d}}', addr, port)
  return wrk.format("POST", "/v2/lbaas/pools/" .. pool .. "/members",
                    {["Content-Type"] = "application/json"}, body)
end
"""

PUT_LUA = """
pools = {%(pools)s}
sets = {
  '{"members": [{"address": "10.254.250.1", "protocol_port": 80}, {"address": "10.254.250.2", "protocol_port": 80}]}',
  '{"members": [{"address": "10.254.250.2", "protocol_port": 80}, {"address": "10.254.250.3", "protocol_port": 80}]}',
}
counter = 0
request = function()
  local c = counter
  counter = counter + 1
  local pool = pools[(c %% #pools) + 1]
  local body = sets[(math.floor(c / #pools) %% 2) + 1]
  return wrk.format("PUT", "/v2/lbaas/pools/" .. pool .. "/members",
                    {["Content-Type"] = "application/json"}, body)
end
"""


def lua_list(items: list[str]) -> str:
    return ", ".join(f'"{x}"' for x in items)


def populate(env: BenchEnv, subnet_id: str, start: int, stop: int) -> None:
    c = env.svc.client
    for i in range(start, stop):
        c.call("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
            "name": f"api{i}", "vip_subnet_id": subnet_id,
            "listeners": [{"protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p"}}],
            "pools": [{"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}],
        }})  # fmt: skip


def bench_db(db: str, args: argparse.Namespace, sizes: list[int], duration: float) -> dict[str, WrkResult]:
    extra = ["--provider", "noop"]
    pg_name = None
    admin = None
    if db == "postgres":
        pg_name = f"lbaas_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        extra += ["--database-url", args.pg_admin_url.rsplit("/", 1)[0] + f"/{pg_name}"]
    out: dict[str, WrkResult] = {}
    try:
        with BenchEnv("api", extra=extra) as env:
            c = env.svc.client
            _, sn = env.svc.network("10.254.128.0/17")
            base = env.svc.endpoint
            populate(env, sn["id"], 0, sizes[0])
            out[f"GET list ({sizes[0]} LBs)"] = wrk(f"{base}/v2/lbaas/loadbalancers", duration=duration, threads=1,
                                                    connections=4)
            populate(env, sn["id"], sizes[0], sizes[1])
            out[f"GET list ({sizes[1]} LBs)"] = wrk(f"{base}/v2/lbaas/loadbalancers", duration=duration, threads=1,
                                                    connections=4)
            lbs = c.call("GET", "/v2/lbaas/loadbalancers?fields=id")["loadbalancers"]
            out["GET one"] = wrk(f"{base}/v2/lbaas/loadbalancers/{lbs[len(lbs) // 2]['id']}", duration=duration,
                                 threads=1, connections=4)
            pools = [p["id"] for p in c.call("GET", "/v2/lbaas/pools?fields=id")["pools"]]
            lua = env.dir / "post.lua"
            lua.write_text(POST_LUA % {"pools": lua_list(pools)})
            out["POST member"] = wrk(f"{base}/", duration=duration, threads=1, connections=4, script=lua)
            lua = env.dir / "put.lua"
            lua.write_text(PUT_LUA % {"pools": lua_list(pools)})
            out["PUT members (batch)"] = wrk(f"{base}/", duration=duration, threads=1, connections=4, script=lua)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()
    return out


def run(args: argparse.Namespace, report: Report) -> None:
    sizes = [int(x) for x in (args.api_sizes or ("5,10" if args.quick else "10,1000")).split(",")]
    duration = args.duration or (1.0 if args.quick else 8.0)
    dbs = [d for d in args.databases.split(",") if d]
    results = {db: bench_db(db, args, sizes, duration) for db in dbs}
    t = report.table(f"API, lbaas serve --provider noop, wrk -t1 -c4 keep-alive, {duration:.0f} s per endpoint",
                     ["endpoint", *[f"{db} {k}" for db in dbs for k in ("req/s", "p50", "p99", "non-2xx")], "target"])
    endpoints = list(next(iter(results.values())))
    rows = []
    for ep in endpoints:
        cells = []
        for db in dbs:
            r = results[db][ep]
            cells += [fmt_num(r.rps), f"{r.p50 * 1000:.1f} ms", f"{r.p99 * 1000:.1f} ms", str(r.non2xx + r.errors)]
            rows.append([db, ep, f"{r.rps:.1f}", f"{r.p50 * 1000:.2f}", f"{r.p99 * 1000:.2f}", r.requests, r.non2xx,
                         r.errors])
        t.add(ep, *cells, f"≥ {TARGET_LIST10:.0f} req/s on SQLite" if ep == f"GET list ({sizes[0]} LBs)" else "")
    if "sqlite" in results:
        got = results["sqlite"][f"GET list ({sizes[0]} LBs)"].rps
        report.notes.append(f"Target (GET list of {sizes[0]} LBs ≥ 1500 req/s on SQLite): "
                            f"{'met' if got >= TARGET_LIST10 else 'MISSED'} ({got:.0f} req/s).")
    report.csv_header = ["database", "endpoint", "req_s", "p50_ms", "p99_ms", "requests", "non_2xx", "socket_errors"]
    report.csv_rows = rows

    def plot(path: Path) -> None:
        plot_bars(path, "API throughput (wrk -t1 -c4)", endpoints,
                  {db: [results[db][ep].rps for ep in endpoints] for db in dbs}, "requests/s")

    report.plot = plot
