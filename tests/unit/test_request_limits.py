"""Request-header limits of the HTTP server (lbaas.api.limits.header_limited_protocol), on a real uvicorn
on loopback: a half-sent request is closed within the header timeout, an oversized header block gets 431,
a complete request is served, and a kept-alive connection is not cut by the header timer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from lbaas.api.limits import header_limited_protocol

TIMEOUT = 1.0
MAX_HEADER = 8 * 1024


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app, log_level="warning", http=header_limited_protocol(TIMEOUT, MAX_HEADER), timeout_keep_alive=30, lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield port
    srv.should_exit = True
    thread.join(10)
    sock.close()


def _closed_within(conn: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(closed by the server before ``seconds``, what it sent)."""
    conn.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got


def test_half_sent_headers_are_closed_within_the_timeout(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        closed, got = _closed_within(conn, TIMEOUT + 5)
        assert closed and got == b""
        assert time.monotonic() - started >= TIMEOUT * 0.9


def test_a_silent_connection_is_closed_within_the_timeout(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        closed, _ = _closed_within(conn, TIMEOUT + 5)
        assert closed


def test_a_trickle_does_not_extend_the_timeout(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < TIMEOUT + 5:
            try:
                conn.sendall(b"X-A: b\r\n")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            done, _ = _closed_within(conn, 0.2)
            if done:
                closed = True
                break
        assert closed, "a request trickling headers was kept open past the header timeout"


def test_oversized_headers_get_431(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * (MAX_HEADER + 100) + b"\r\n")
        closed, got = _closed_within(conn, 5)
        assert closed and got.startswith(b"HTTP/1.1 431"), got[:100]


def test_complete_requests_are_served_and_keep_alive_outlives_the_header_timer(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server)) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        closed, _ = _closed_within(conn, TIMEOUT * 2)  # idle between requests: keep-alive (30 s) rules
        assert not closed
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
