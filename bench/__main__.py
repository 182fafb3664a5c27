"""``python -m bench [--quick] [NAME ...]``: run benchmarks, print their tables, write CSV + PNG, update the doc.

Needs root, ``ip``, ``haproxy`` and ``wrk``; touches no network beyond the namespaces it creates.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
import traceback
from pathlib import Path

import bench.common
from bench.common import DEFAULT_OUT, DOC, Report, loadavg, missing_requirements, terminate_as_exception, update_doc

BENCHMARKS = {
    "provision": ("bench.provision", "1. Provisioning"),
    "change": ("bench.change", "2. Change-to-live"),
    "hitless": ("bench.hitless", "3. Hitless changes"),
    "dataplane": ("bench.dataplane", "4. Data plane"),
    "density": ("bench.density", "5. Density"),
    "api": ("bench.api", "6. API"),
    "failover": ("bench.failover", "7. Failover"),
    "tls": ("bench.tls", "8. TLS"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    ap.add_argument("--quick", action="store_true", help="few samples, small sizes: checks that each benchmark works")
    ap.add_argument("--out", type=Path, default=None, help=f"CSV/PNG directory (default {DEFAULT_OUT})")
    ap.add_argument("--doc", type=Path, default=None, help=f"markdown file to update (default {DOC}; never in --quick)")
    ap.add_argument("--no-doc", action="store_true", help="do not update the markdown file")
    ap.add_argument("--n", type=int, default=None, help="samples for provision/change (default 20)")
    ap.add_argument("--changes", type=int, default=None, help="changes under load for hitless (default 100)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default: 5 data plane, 8 API)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds for the data plane (default 7)")
    ap.add_argument("--sizes", default=None, help="LB counts for density, ascending (default 100,500,2000; quick 5,10)")
    ap.add_argument("--per-network", type=int, default=None,
                    help="density: LBs per network (one bridge each; default and at most 1000)")
    ap.add_argument("--api-sizes", default=None, help="LB counts for the API list (default 10,1000; quick 5,10)")
    ap.add_argument("--databases", default="sqlite,postgres", help="API benchmark databases")
    ap.add_argument("--trace", action="store_true",
                    help="provision/change: time the agent's steps too (bench.traced_serve) and show where the time goes")
    ap.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    reason = missing_requirements()
    if reason:
        print(f"bench: {reason}", file=sys.stderr)
        return 2
    bench.common.QUICK_NAMES = args.quick
    out = args.out or DEFAULT_OUT
    doc = args.doc or DOC
    names = args.names or list(BENCHMARKS)
    command = shlex.join(["python", "-m", "bench", *raw])
    failed: list[str] = []
    with terminate_as_exception():
        for name in names:
            module, title = BENCHMARKS[name]
            report = Report(name, title, args.quick, command)
            print(f"\n=== {title} ({name}) — load average {loadavg()}", flush=True)
            start = time.monotonic()
            try:
                importlib.import_module(module).run(args, report)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            report.load_after = loadavg()
            block = report.markdown()
            print(block, flush=True)
            for p in report.write(out):
                print(f"wrote {p}")
            if not args.quick and not args.no_doc:
                update_doc(doc, name, block)
                print(f"updated {doc}")
            print(f"({name} took {time.monotonic() - start:.0f} s)", flush=True)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
