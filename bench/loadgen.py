"""A bounded HTTP load with every failure counted by kind (stdlib only; runs inside a client namespace).

    python -m bench.loadgen --url http://10.254.3.20/ --keepalive 4 --close 4 --rate 50 --duration 60

``--keepalive N`` connections each send requests one after the other on one connection (reconnecting
only when the server closes it, as a browser would, or after a failure); ``--close N`` clients open a
new connection per request. Each client paces itself at ``--rate`` requests per second, so the load
is bounded and does not compete for the CPU with what it measures. It stops at ``--duration`` or on
SIGTERM/SIGINT and prints one JSON object: per mode, the counts of ``ok`` (200), ``http_error``
(another status), ``reset`` (connection reset, or closed before a complete answer), ``refused``,
``timeout`` and ``other``, plus the number of requests sent.

A request that fails on a reused keep-alive connection is counted as failed, not retried: that is what
an LB reload does to a naive client, and what ``option idle-close-on-response`` is there to avoid.
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import socket
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

KINDS = ("ok", "http_error", "reset", "refused", "timeout", "other")


class Incomplete(Exception):
    pass


def read_response(sock: socket.socket, buf: bytearray) -> tuple[int, bool]:
    """Read one response from ``sock`` (``buf`` carries leftovers); (status, server wants close)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise Incomplete("closed before the headers")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    close = False
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"connection" and v.strip().lower() == b"close":
            close = True
    body = bytearray(rest)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Incomplete("closed in the body")
        body += chunk
    buf[:] = body[length:]
    return status, close


def classify(exc: BaseException) -> str:
    if isinstance(exc, Incomplete | ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    return "other"


class Client(threading.Thread):
    def __init__(self, host: str, port: int, path: str, keepalive: bool, rate: float, stop: threading.Event,
                 timeout: float) -> None:
        super().__init__(daemon=True)
        self.addr = (host, port)
        self.keepalive = keepalive
        self.interval = 1.0 / rate
        self.stop = stop
        self.timeout = timeout
        conn = "keep-alive" if keepalive else "close"
        self.request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {conn}\r\n\r\n".encode()
        self.counts: Counter[str] = Counter()
        self.sent = 0
        self.errors: list[str] = []

    def run(self) -> None:
        sock: socket.socket | None = None
        buf = bytearray()
        due = time.monotonic()
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(self.addr, timeout=self.timeout)
                    buf.clear()
                self.sent += 1
                sock.sendall(self.request)
                status, close = read_response(sock, buf)
                self.counts["ok" if status == 200 else "http_error"] += 1
                if close or not self.keepalive:
                    sock.close()
                    sock = None
            except Exception as exc:
                kind = classify(exc)
                self.counts[kind] += 1
                if len(self.errors) < 20:
                    self.errors.append(f"{time.monotonic():.3f} {kind} {exc!r}")
                if sock is not None:
                    sock.close()
                    sock = None
            due += self.interval
            delay = due - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                due = time.monotonic()
        if sock is not None:
            sock.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.loadgen")
    ap.add_argument("--url", required=True)
    ap.add_argument("--keepalive", type=int, default=4)
    ap.add_argument("--close", type=int, default=4)
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second per client")
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args(argv)
    u = urlsplit(args.url)
    host, port, path = u.hostname or "127.0.0.1", u.port or 80, u.path or "/"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    clients = [Client(host, port, path, True, args.rate, stop, args.timeout) for _ in range(args.keepalive)]
    clients += [Client(host, port, path, False, args.rate, stop, args.timeout) for _ in range(args.close)]
    started = time.monotonic()
    for c in clients:
        c.start()
    print("started", flush=True)
    stop.wait(args.duration)
    stop.set()
    for c in clients:
        c.join(timeout=args.timeout + 2)
    out: dict[str, object] = {"seconds": round(time.monotonic() - started, 3)}
    for mode, keep in (("keepalive", True), ("close", False)):
        mine = [c for c in clients if c.keepalive is keep]
        total: Counter[str] = Counter()
        for c in mine:
            total.update(c.counts)
        out[mode] = {"sent": sum(c.sent for c in mine), **{k: total.get(k, 0) for k in KINDS},
                     "examples": [e for c in mine for e in c.errors][:10]}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
