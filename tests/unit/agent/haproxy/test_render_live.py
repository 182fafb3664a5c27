"""Rendered configs served by a real HAProxy on loopback: proves the escaping and the L7 semantics.

Golden files prove the text is stable and ``haproxy -c`` proves it parses; only a running HAProxy
proves it *means* what we intend: that a quoted header value with quotes, ``$``, ``%``, ``#`` and
backslashes matches exactly that value, that a redirect target comes out byte for byte, that an
earlier REDIRECT_TO_POOL wins over a later REJECT, and that allowed_cidrs rejects.

Needs root (workers drop to the ``haproxy`` user) and /usr/sbin/haproxy; uses 127.0.0.1:19040-19049.
HAProxy runs in the foreground as our child and is stopped by its pid.
"""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.domain.spec import ListenerSpec, LoadBalancerSpec, MemberSpec, PoolSpec
from tests.unit.agent.haproxy import cases as c

HAPROXY = "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(
    not os.path.exists(HAPROXY) or os.geteuid() != 0, reason="needs root and /usr/sbin/haproxy"
)

FE, FE_DENIED, MEMBER_A, MEMBER_B, NOBODY = 19041, 19042, 19043, 19044, 19045
WEIRD = 'a "b" $HOME \\d %e #f \'g'


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = "|".join(
            [
                str(self.server.server_address[1]),
                self.path,
                self.headers.get("X-Forwarded-For", "-"),
                self.headers.get("X-Forwarded-Port", "-"),
            ]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _spec() -> LoadBalancerSpec:
    pool_a = PoolSpec(
        id="pool-a",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=(
            MemberSpec(id="m-a", address="127.0.0.1", protocol_port=MEMBER_A),
            MemberSpec(id="m-off", address="127.0.0.1", protocol_port=NOBODY, admin_state_up=False),
        ),
    )
    pool_b = PoolSpec(
        id="pool-b",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=(MemberSpec(id="m-b", address="127.0.0.1", protocol_port=MEMBER_B),),
    )
    policies = (
        c.policy(
            "to-b", "REDIRECT_TO_POOL", 1, (c.rule("r-hdr", "HEADER", "EQUAL_TO", WEIRD, key="X-Test"),)
        ),
        c.policy("deny", "REJECT", 2, (c.rule("r-deny", "PATH", "STARTS_WITH", "/deny"),)),
        c.policy(
            "url",
            "REDIRECT_TO_URL",
            3,
            (c.rule("r-url", "PATH", "EQUAL_TO", "/redir"),),
            redirect_url="https://x.example/%20a\\b$HOME",
        ),
        c.policy(
            "prefix",
            "REDIRECT_PREFIX",
            4,
            (c.rule("r-ck", "COOKIE", "REGEX", r"^a\d+$", key="sess"),),
            redirect_prefix="https://y.example",
            redirect_http_code=308,
        ),
    )
    listeners = (
        ListenerSpec(
            id="http",
            protocol="HTTP",
            protocol_port=FE,
            default_pool_id="pool-a",
            l7policies=policies,
            insert_headers={"X-Forwarded-Port": "true"},
        ),
        ListenerSpec(
            id="denied",
            protocol="HTTP",
            protocol_port=FE_DENIED,
            default_pool_id="pool-a",
            allowed_cidrs=("10.0.0.0/8",),
        ),
    )
    return c.lb(listeners, (pool_a, pool_b), vip=c.vip("127.0.0.1", prefixlen=8))


def _wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def lb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    run = tmp_path_factory.mktemp("live")
    os.chmod(run, 0o755)
    servers = []
    for port in (MEMBER_A, MEMBER_B):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Echo)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    (run / "state").write_text("1\n")
    opts = RenderOptions(stats_socket_path=str(run / "sock"), server_state_file=str(run / "state"))
    cfg = Path(run / "haproxy.cfg")
    cfg.write_text(render_haproxy(_spec(), opts))
    proc = subprocess.Popen(
        [HAPROXY, "-W", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_port(FE, time.monotonic() + 10)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for srv in servers:
            srv.shutdown()
            srv.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kw: object) -> None:
        return None


def _get(path: str, headers: dict[str, str] | None = None, port: int = FE) -> tuple[int, str, str | None]:
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Location")
    except urllib.error.HTTPError as err:
        return err.code, "", err.headers.get("Location")


@pytest.mark.usefixtures("lb")
def test_default_pool_and_headers() -> None:
    for _ in range(4):  # the disabled member never gets traffic
        status, body, _loc = _get("/")
        assert status == 200
        assert body == f"{MEMBER_A}|/|127.0.0.1|{FE}"


@pytest.mark.usefixtures("lb")
def test_quoted_header_value_matches_exactly() -> None:
    assert _get("/", {"X-Test": WEIRD})[1].startswith(f"{MEMBER_B}|")
    assert _get("/", {"X-Test": WEIRD + "x"})[1].startswith(f"{MEMBER_A}|")
    assert _get("/", {"X-Test": WEIRD.replace("\\", "")})[1].startswith(f"{MEMBER_A}|")


@pytest.mark.usefixtures("lb")
def test_first_matching_policy_wins() -> None:
    assert _get("/deny")[0] == 403
    status, body, _loc = _get("/deny", {"X-Test": WEIRD})  # position 1 (pool) beats position 2 (reject)
    assert status == 200 and body.startswith(f"{MEMBER_B}|/deny|")


@pytest.mark.usefixtures("lb")
def test_redirect_targets_are_literal() -> None:
    assert _get("/redir")[0::2] == (302, "https://x.example/%20a\\b$HOME")
    assert _get("/p?q=1", {"Cookie": "sess=a123"})[0::2] == (308, "https://y.example/p?q=1")
    assert _get("/p", {"Cookie": "sess=b123"})[0] == 200


@pytest.mark.usefixtures("lb")
def test_allowed_cidrs_reject() -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected)):
        _get("/", port=FE_DENIED)
