"""A tiny HTTP echo server to stand in for a member, run inside a test host's namespace.

Every request (any method, any path) gets ``200`` and a JSON body::

    {"host": <name>, "peer": <client address as seen>, "port": <client port>, "path": <path>,
     "headers": {<every X-Forwarded-* and X-SSL-* header>}}

so a test can tell which member answered, that the member saw the VIP as the source (one-arm mode), and
what the LB inserted. A query ``?set-cookie=<name>=<value>`` (repeatable) adds ``Set-Cookie: <name>=<value>``
to the answer, so an application cookie can be simulated (APP_COOKIE persistence). It speaks HTTP/1.1 keep-alive, so it also serves a TCP-mode listener unchanged.

``serve_in_namespace`` starts ``python -m lbaas.agent.echo`` through ``ip netns exec`` in its own
session, waits for the bound socket through a one-shot pipe that is closed right after, and returns
the pid; ``stop`` ends it by that pid only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import lbaas
from lbaas.agent.netns import nsexec

MODULE = "lbaas.agent.echo"
# name=value with token characters only: nothing a query can smuggle into a header.
_COOKIE = re.compile(r"^[A-Za-z0-9_.-]{1,64}=[A-Za-z0-9_.-]{0,256}$")


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbaas-echo/1"
    host_name = "echo"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        peer = str(self.client_address[0])
        if peer.startswith("::ffff:") and "." in peer:
            peer = peer[len("::ffff:") :]
        body = json.dumps({
            "host": self.host_name,
            "peer": peer,
            "port": int(self.client_address[1]),
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items() if k.lower().startswith(("x-forwarded-", "x-ssl-"))},
        }).encode()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        cookies = [c for c in query.get("set-cookie", []) if _COOKIE.match(c)]
        self.send_response(200)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


class _Server6(_Server):
    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" serves IPv4 too
        super().server_bind()


def make_server(name: str, port: int = 80, bind: str = "0.0.0.0") -> ThreadingHTTPServer:
    handler = type("Handler", (EchoHandler,), {"host_name": name})
    cls = _Server6 if ":" in bind else _Server
    return cls((bind, port), handler)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lbaas.agent.echo")
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--ready-fd", type=int, default=None)
    args = ap.parse_args(argv)
    server = make_server(args.name, args.port, args.bind)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.ready_fd is not None:
        os.write(args.ready_fd, b"ready\n")
        os.close(args.ready_fd)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def serve_in_namespace(ns: str, name: str, port: int = 80, bind: str = "0.0.0.0", *,
                       timeout: float = 10.0, ip_bin: str = "ip") -> int:
    """Start an echo server in namespace ``ns``, detached; return its pid once it listens."""
    root = str(Path(lbaas.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    r, w = os.pipe()
    err = tempfile.TemporaryFile()
    try:
        argv = nsexec.ip_netns_exec(
            ns,
            [sys.executable, "-m", MODULE, "--name", name, "--port", str(port), "--bind", bind,
             "--ready-fd", str(w)],
            ip_bin=ip_bin,
        )
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                pass_fds=(w,), start_new_session=True, cwd="/", env=env)
        os.close(w)
        w = -1
        ready, _, _ = select.select([r], [], [], timeout)
        line = os.read(r, 64) if ready else b""
        if line.strip() != b"ready":
            proc.kill()
            proc.wait()
            err.seek(0)
            output = err.read().decode(errors="replace")
            raise RuntimeError(f"echo server {name} in {ns} failed to start: {output}")
        return proc.pid
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        err.close()


def _is_echo(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return MODULE.encode() in f.read().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False


def stop(pid: int, timeout: float = 5.0) -> None:
    """Stop the echo server ``pid`` (SIGTERM, then SIGKILL); a pid that is not an echo server is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _gone(pid) or not _is_echo(pid):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.005)


def _gone(pid: int) -> bool:
    """Exited: reaped here if it is our child, else absent from /proc or a zombie."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return data[data.rindex(")") + 2 :].split()[0] in ("Z", "X")


if __name__ == "__main__":
    main()
