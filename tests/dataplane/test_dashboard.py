"""The web dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright,
against a real ``lbaas serve`` with real namespaces, HAProxy and echo servers.

* the dashboard lists the load balancers, live (a rename shows within seconds; a hostile name stays text);
* the topology of one LB shows its listener and members and turns a member red within seconds of its
  server stopping (waits on the DOM state with a deadline), and green again when it is back; under a
  small load it shows a connection rate on the listener and a request rate on the serving member;
* a caller of another project sees nothing of it (token mode; skipped while the server has none).

``LBAAS_DASHBOARD_SCREENSHOT=docs/dashboard-topology.png`` keeps the topology screenshot there (how the
one in docs/ was made); otherwise it goes to the test's temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dataplane.harness import ROOT, LoadRun, Service, close_service, dataplane_available, open_service

pytestmark = pytest.mark.netns
HOST_PREFIX = "dba"
NET = "10.252.91"
VIP = f"{NET}.20"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RED = "#d32f2f"
GREEN = "#2e9d46"
# HTTP monitor delay 1 s, max_retries_down 2 → HAProxy marks the member DOWN after ~2 s; the agent reports
# within its 1 s tick and the dashboard polls once a second.
RED_WITHIN = 10.0


def _browser_or_skip() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (test extra)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("needs Debian's chromium package (scripts/install.sh installs it)")
    return sync_api


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; Playwright gives every context a fresh profile."""
    sync_api = _browser_or_skip()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(15_000)
    problems: list[str] = []  # a script error or a dialog (an injected alert) fails the test
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    try:
        yield pg
    finally:
        ctx.close()
    assert not problems, problems


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("client", net["id"], f"{NET}.10", serve=None)
    for n in (1, 2):
        service.host(f"web{n}", net["id"], f"{NET}.1{n}")
    hm = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2,
          "http_method": "GET", "url_path": "/", "expected_codes": "200"}  # fmt: skip
    lb = service.create_lb({
        "name": "shop", "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "webpool"}}],
        "pools": [{"name": "webpool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "healthmonitor": hm,
                   "members": [{"name": f"web{n}", "address": f"{NET}.1{n}", "protocol_port": 80} for n in (1, 2)]}],
    })  # fmt: skip
    (pool,) = service.client.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb['id']}")["pools"]
    members = {
        m["name"]: m["id"] for m in service.client.call("GET", f"/v2/lbaas/pools/{pool['id']}/members")["members"]
    }
    service.wait_for(lambda: set(service.members(lb["id"]).values()) == {"ONLINE"}, timeout=15, what="members ONLINE")
    return {"lb": lb["id"], "pool": pool["id"], **members}


def member_box(page: Any, member_id: str, status: str) -> Any:
    return page.locator(f'#topology g.member[data-member-id="{member_id}"][data-status="{status}"]')


def test_dashboard_lists_the_load_balancers_live(service: Service, topo: dict[str, Any], page: Any) -> None:
    page.goto(f"{service.endpoint}/dashboard")  # redirects to /dashboard/
    row = page.locator(f'#lb-rows tr[data-lb-id="{topo["lb"]}"]')
    row.wait_for()
    assert row.locator("td").nth(0).inner_text() == "shop"
    assert row.locator("td").nth(1).inner_text() == VIP
    assert row.locator("td.prov .badge").inner_text() == "ACTIVE"
    page.locator(f'#lb-rows tr[data-lb-id="{topo["lb"]}"] td.oper .badge[data-status="ONLINE"]').wait_for()

    # Live: a change made through the API shows without reloading. A hostile name is shown as text.
    hostile = '<img src=x onerror="alert(1)">shop'
    service.change(topo["lb"], "PUT", f"/v2/lbaas/loadbalancers/{topo['lb']}", {"loadbalancer": {"name": hostile}})
    try:
        t0 = time.monotonic()
        page.wait_for_function(
            "([id, name]) => { const r = document.querySelector(`#lb-rows tr[data-lb-id='${id}'] td`);"
            " return r && r.textContent === name; }",
            arg=[topo["lb"], hostile], timeout=5_000,
        )  # fmt: skip
        assert time.monotonic() - t0 < 5
        assert page.locator("#lb-rows img").count() == 0
    finally:
        service.change(topo["lb"], "PUT", f"/v2/lbaas/loadbalancers/{topo['lb']}", {"loadbalancer": {"name": "shop"}})

    # An id the caller cannot see reads as not found, with nothing drawn.
    page.goto(f"{service.endpoint}/dashboard/#/lb/00000000-0000-0000-0000-000000000000")
    page.locator("#detail-missing").wait_for(state="visible")
    assert page.locator("#topology g.member").count() == 0


def test_topology_turns_a_member_red_when_its_server_stops(
    service: Service, topo: dict[str, Any], page: Any, tmp_path: Path
) -> None:
    page.goto(f"{service.endpoint}/dashboard/#/lb/{topo['lb']}")
    member_box(page, topo["web1"], "ONLINE").wait_for()
    member_box(page, topo["web2"], "ONLINE").wait_for()
    svg = page.locator("#topology")
    assert svg.get_attribute("data-mode") == "one-arm"
    text = svg.text_content() or ""
    assert f"{NET}.11:80" in text and f"{NET}.12:80" in text
    assert f"sees src {VIP}" in text  # one-arm: HAProxy connects to the members from the VIP
    assert page.locator("#topology g.listener text").first.text_content() == "HTTP :80"
    assert member_box(page, topo["web2"], "ONLINE").locator("rect").get_attribute("fill") == GREEN

    load = _load(service, f"http://{VIP}/")
    service.hosts.stop_server(f"{HOST_PREFIX}web2")
    try:
        t0 = time.monotonic()
        red = member_box(page, topo["web2"], "ERROR")
        red.wait_for(timeout=RED_WITHIN * 1000)
        took = time.monotonic() - t0
        assert red.locator("rect").get_attribute("fill") == RED
        assert member_box(page, topo["web1"], "ONLINE").count() == 1
        print(f"member red in the dashboard {took:.1f}s after its server stopped")
        # Rates need two samples a second apart with traffic between them: the listener's connections and
        # web1's requests (per-member counters measured by the agent, /v2/octavia/.../member_stats).
        for selector in ("#topology g.listener .rate", f'#topology g.member[data-member-id="{topo["web1"]}"] .rate'):
            page.wait_for_function(
                "(sel) => { const t = document.querySelector(sel); return t && Number(t.dataset.rate) > 0; }",
                arg=selector,
                timeout=8_000,
            )
        assert "req/s" in (member_box(page, topo["web1"], "ONLINE").text_content() or "")
        # The dead member gets nothing once HAProxy has marked it down (its refused attempts before that
        # show in the sample that straddles the moment).
        page.wait_for_function(
            "(sel) => { const t = document.querySelector(sel); return t && t.dataset.rate === '0'; }",
            arg=f'#topology g.member[data-member-id="{topo["web2"]}"] .rate',
            timeout=8_000,
        )
        shot = Path(os.environ.get("LBAAS_DASHBOARD_SCREENSHOT") or tmp_path / "dashboard-topology.png")
        page.locator("#detail").screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        service.hosts.serve(f"{HOST_PREFIX}web2", 80)
        load.stop()
    member_box(page, topo["web2"], "ONLINE").wait_for(timeout=RED_WITHIN * 1000)


def test_access_log_tail_shows_when_the_server_has_logs(service: Service, topo: dict[str, Any], page: Any) -> None:
    """The log box follows ``GET /v2/octavia/loadbalancers/{id}/logs``: its lines when it answers 200,
    otherwise one line saying logs are not available."""
    page.goto(f"{service.endpoint}/dashboard/#/lb/{topo['lb']}")
    box = page.locator("#log-tail")
    box.wait_for()
    page.wait_for_function("() => document.querySelector('#log-tail').dataset.available !== undefined")
    r = service.client.http.get(f"/v2/octavia/loadbalancers/{topo['lb']}/logs?tail=30")
    if r.status_code != 200:
        assert box.get_attribute("data-available") == "no"
        assert "not available" in (box.text_content() or "")
        return
    service.fetch("client", f"http://{VIP}/dashboard-log-probe", 1)
    page.wait_for_function(
        "() => document.querySelector('#log-tail').textContent.includes('/dashboard-log-probe')", timeout=10_000
    )
    assert box.get_attribute("data-available") == "yes"


def test_fleet_panel_shows_agents_liveness_load_and_the_breaker(service: Service, page: Any) -> None:
    """All-in-one mode: the breaker and the agent list as the API gives them. Then a distributed fleet, with
    the two admin endpoints' answers given by the test (the browser's requests are answered by page.route)."""
    page.goto(f"{service.endpoint}/dashboard/")
    page.locator('#breaker-state[data-tripped="no"]').wait_for()
    hosts = [a["host"] for a in service.client.call("GET", "/v2/octavia/agents")["agents"]]
    page.wait_for_function("(n) => document.querySelectorAll('#agent-rows tr').length === n", arg=len(hosts))
    assert page.locator("#agent-rows tr td:first-child").all_text_contents() == hosts
    assert page.locator("#agents-empty").is_visible() == (not hosts)

    agents = {"agents": [
        {"id": "a1", "host": "lb-host-1", "availability_zone": "az1", "admin_state_up": True, "alive": True,
         "liveness": "ALIVE", "loadbalancer_count": 7, "last_heartbeat": "2026-12-06T13:00:00.123456"},
        {"id": "a2", "host": "lb-host-2", "availability_zone": None, "admin_state_up": False, "alive": False,
         "liveness": "DEAD", "loadbalancer_count": 0, "last_heartbeat": None},
    ]}  # fmt: skip
    breaker = {"failover_breaker": {"tripped": True, "down": 1, "fleet": 2, "max_dead_share": 0.4, "reason": "x"}}
    page.route("**/v2/octavia/agents", lambda route: route.fulfill(json=agents))
    page.route("**/v2/octavia/failover_breaker", lambda route: route.fulfill(json=breaker))
    page.locator('#breaker-state[data-tripped="yes"]').wait_for()
    rows = page.locator("#agent-rows tr")
    rows.nth(1).wait_for()
    one, two = (rows.nth(i).locator("td").all_text_contents() for i in (0, 1))
    assert one[0] == "lb-host-1" and one[1] == "az1" and "ALIVE" in one[2] and one[3] == "enabled" and one[4] == "7"
    assert two[0] == "lb-host-2" and "DEAD" in two[2] and two[3] == "disabled" and two[5] == "never"
    assert "agents down 1 of 2" in (page.locator("#breaker").text_content() or "")
    assert page.locator("#agents-empty").is_hidden()


def test_the_drawing_takes_the_mode_as_a_parameter(service: Service, page: Any) -> None:
    """One-arm is the only mode today; the drawing code is ready for the others (what members see changes)."""
    page.goto(f"{service.endpoint}/dashboard/")
    texts = page.evaluate("""async () => {
        const { drawTopology } = await import('/dashboard/topology.js');
        const model = {lb: {id: 'x', name: 'x', vip: '192.0.2.5', operating_status: 'ONLINE',
                            provisioning_status: 'ACTIVE'},
                       listeners: [{id: 'l', name: 'l', protocol: 'TCP', port: 5432, operating_status: 'ONLINE',
                                    rate: null, pools: ['p']}],
                       pools: [{id: 'p', name: 'p', operating_status: 'ONLINE',
                                members: [{id: 'm', name: 'm', address: '192.0.2.9', port: 5432,
                                           operating_status: 'NO_MONITOR', rate: 3}]}],
                       memberRates: true};
        const out = {};
        for (const mode of ['one-arm', 'transparent']) {
            const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
            drawTopology(svg, model, {mode});
            out[mode] = [svg.getAttribute('data-mode'), svg.querySelector('g.member').textContent,
                         svg.querySelector('g.member rect').getAttribute('fill')];
        }
        return out;
    }""")
    assert texts["one-arm"][0] == "one-arm" and "sees src 192.0.2.5" in texts["one-arm"][1]
    assert texts["transparent"][0] == "transparent" and "sees src client address" in texts["transparent"][1]
    assert texts["one-arm"][2] == "#8d949b"  # NO_MONITOR grey


def _load(service: Service, url: str) -> LoadRun:
    """A gentle load (about 50 connections/s, one request each) from the client host, so the picture shows rates."""
    loop = ROOT / "lbaas" / "tools" / "loadloop.py"
    argv = [sys.executable, str(loop), url, "--mode", "new", "--seconds", "30", "--workers", "1",
            "--interval", "0.02"]  # fmt: skip
    proc = subprocess.Popen(service.hosts.exec_argv(f"{HOST_PREFIX}client", argv), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    run = LoadRun(proc, "new")
    run.wait_ready()
    return run


# ------------------------------------------------------------------------------------------ token mode


def _token_mode_supported() -> bool:
    out = subprocess.run([sys.executable, "-m", "lbaas.cli", "serve", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, timeout=60)  # fmt: skip
    return "--auth-strategy" in out.stdout


def _token(state_dir: Path, project: str, *roles: str) -> str:
    argv = [sys.executable, "-m", "lbaas.cli", "token", "create", "--project", project, "--state-dir", str(state_dir)]
    for r in roles:
        argv += ["--role", r]
    out = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def token_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, dict[str, str]]]:
    """A second ``lbaas serve`` with ``--auth-strategy token``: an admin token for the harness, one
    member token in the owner's project and one in another project."""
    reason = dataplane_available()
    if reason:
        pytest.skip(reason)
    if not _token_mode_supported():
        pytest.skip("this lbaas serve has no --auth-strategy (token mode): cross-project test runs once it has")
    state_dir = Path(tmp_path_factory.mktemp("lbaas-token", numbered=True))
    tokens = {
        "admin": _token(state_dir, "dbt-owner", "admin"),
        "owner": _token(state_dir, "dbt-owner", "member", "load-balancer_member"),
        "other": _token(state_dir, "dbt-other", "member", "load-balancer_member"),
    }
    svc = open_service(state_dir, "dbt", extra=["--auth-strategy", "token"])
    svc.client.http.headers["X-Auth-Token"] = tokens["admin"]
    try:
        yield svc, tokens
    finally:
        close_service(svc)


def _login(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#login button[type=submit]")


def test_a_caller_of_another_project_sees_nothing_of_it(
    token_service: tuple[Service, dict[str, str]], page: Any
) -> None:
    svc, tokens = token_service
    _, subnet = svc.network("10.252.92.0/24")
    lb = svc.create_lb({"name": "private", "vip_subnet_id": subnet["id"],
                        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                                       "default_pool": {"name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                                        "members": [{"address": "10.252.92.11", "protocol_port": 80}]}}]})  # fmt: skip

    # The page itself holds no data: it must load without a token so that its login box can take one.
    r = httpx.get(f"{svc.endpoint}/dashboard/", timeout=10)
    assert r.status_code == 200, f"/dashboard/ must be a public path in token mode (auth middleware): {r.status_code}"
    page.goto(f"{svc.endpoint}/dashboard/")
    page.locator("#auth-error").wait_for(state="visible")  # no token: the API asks for one, nothing listed
    assert page.locator("#lb-rows tr").count() == 0

    _login(page, tokens["owner"])  # control: the owner's member sees it
    page.locator(f'#lb-rows tr[data-lb-id="{lb["id"]}"]').wait_for()

    _login(page, tokens["other"])
    page.locator("#lb-empty").wait_for(state="visible")
    assert page.locator("#lb-rows tr").count() == 0
    assert page.locator("#fleet").is_hidden()  # agents and breaker are admin only
    page.goto(f"{svc.endpoint}/dashboard/#/lb/{lb['id']}")
    page.locator("#detail-missing").wait_for(state="visible")
    assert page.locator("#topology *").count() == 0
    body = page.locator("body").text_content() or ""
    assert lb["id"] not in body and "private" not in body
    assert page.evaluate("sessionStorage.getItem('lbaas.dashboard.token')") == tokens["other"]
