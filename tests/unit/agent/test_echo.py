"""The echo server, in process on loopback: the JSON it answers and the optional Set-Cookie."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from lbaas.agent.echo import make_server


@pytest.fixture
def port() -> Iterator[int]:
    server = make_server("e1", 0, "127.0.0.1")
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"X-Forwarded-For": "1.2.3.4", "Cookie": "a=b"})
    return conn.getresponse()


def test_answers_its_name_peer_path_and_forwarded_headers(port: int) -> None:
    r = get(port, "/x?y=1")
    body = json.loads(r.read())
    assert r.status == 200
    assert r.getheader("Set-Cookie") is None
    assert body["host"] == "e1" and body["peer"] == "127.0.0.1" and body["path"] == "/x?y=1"
    assert body["headers"] == {"X-Forwarded-For": "1.2.3.4"}


def test_set_cookie_query_sets_each_cookie(port: int) -> None:
    r = get(port, "/?set-cookie=JSESSIONID=abc123&set-cookie=x=1")
    r.read()
    assert r.status == 200
    assert r.headers.get_all("Set-Cookie") == ["JSESSIONID=abc123", "x=1"]


def test_set_cookie_refuses_anything_but_token_characters(port: int) -> None:
    r = get(port, "/?set-cookie=a%3Db%0D%0AX-Evil:%201")
    r.read()
    assert r.status == 200
    assert r.headers.get_all("Set-Cookie") is None
    assert r.getheader("X-Evil") is None
