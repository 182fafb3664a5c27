"""A bounded HTTP load loop, run inside a client namespace: N requests or T seconds, whichever first.

    python loadloop.py URL --mode keepalive|new [--requests N] [--seconds T] [--workers C] [--track HOST]
                           [--interval S]

Each worker sends GETs one after another, on one persistent HTTP/1.1 connection (``keepalive``: a
connection the server closes is reopened for the next request, as a browser does) or on a new
connection per request (``new``). Every exception, timeout or non-200 answer is a failed request; no
request is retried. It prints ``ready`` once the first request succeeded, stops early on SIGTERM, and
prints one JSON line at the end:

    requests, failed, errors (first 20: [seconds since start, what]), longest_gap (the longest time
    without a single successful answer, start and end included) and gap_at, per_host answer counts,
    and ``track``: wall-clock times of the answers from the host named by ``--track``.

An ``https://`` URL is fetched over TLS (certificate not verified: the load is what is measured).

Stdlib only: it runs under ``ip netns exec`` with whatever Python the tests use.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import ssl
import threading
import time
from urllib.parse import urlsplit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--mode", choices=("keepalive", "new"), default="keepalive")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--track", default=None)
    ap.add_argument("--interval", type=float, default=0.003, help="pause between requests, per worker")
    args = ap.parse_args()
    url = urlsplit(args.url)
    secure = url.scheme == "https"  # a test tool: the certificate is not verified
    host, port, path = url.hostname or "", url.port or (443 if secure else 80), url.path or "/"
    tls_context = ssl._create_unverified_context() if secure else None

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    start = time.monotonic()
    state = {"sent": 0, "failed": 0, "last_ok": start, "gap": 0.0, "gap_at": 0.0, "ready": False}
    errors: list[tuple[float, str]] = []
    per_host: dict[str, int] = {}
    track: list[float] = []

    def take() -> bool:
        with lock:
            if stop.is_set() or state["sent"] >= args.requests or time.monotonic() - start >= args.seconds:
                return False
            state["sent"] += 1
            return True

    def ok(name: str) -> None:
        now = time.monotonic()
        with lock:
            gap = now - state["last_ok"]
            if gap > state["gap"]:
                state["gap"], state["gap_at"] = gap, state["last_ok"] - start
            state["last_ok"] = now
            per_host[name] = per_host.get(name, 0) + 1
            if name == args.track:
                track.append(time.time())
            if not state["ready"]:
                state["ready"] = True
                print("ready", flush=True)

    def fail(what: str) -> None:
        with lock:
            state["failed"] += 1
            if len(errors) < 20:
                errors.append((round(time.monotonic() - start, 3), what))

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while take():
            try:
                if conn is None:
                    conn = (
                        http.client.HTTPSConnection(host, port, timeout=args.timeout, context=tls_context)
                        if secure
                        else http.client.HTTPConnection(host, port, timeout=args.timeout)
                    )
                headers = {"Connection": "close"} if args.mode == "new" else {}
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    fail(f"HTTP {resp.status}")
                else:
                    try:
                        name = str(json.loads(body).get("host", "?"))
                    except ValueError:
                        name = "?"
                    ok(name)
                if args.mode == "new" or resp.will_close:
                    conn.close()
                    conn = None
                if args.interval:
                    time.sleep(args.interval)  # leave the 2 shared cores to HAProxy and the agent
            except Exception as exc:
                fail(repr(exc)[:200])
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)  # nothing listens: do not spin
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.monotonic()
    with lock:
        tail = end - state["last_ok"]
        if tail > state["gap"]:
            state["gap"], state["gap_at"] = tail, state["last_ok"] - start
        report = {
            "requests": state["sent"],
            "failed": state["failed"],
            "errors": errors,
            "longest_gap": round(state["gap"], 4),
            "gap_at": round(state["gap_at"], 3),
            "seconds": round(end - start, 3),
            "per_host": per_host,
            "track": track,
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
