"""/metrics (scraped with prometheus_client's own text parser) and /healthcheck as Octavia answers it."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lbaas.agent.workqueue import Outcome, WorkQueue
from lbaas.api.metrics import ServiceMetrics
from lbaas.api.routes.health import DB_UNAVAILABLE, HealthCheck
from lbaas.db.session import Database
from tests.contract.helpers import LB, Cloud


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def lbs(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], prov: str, oper: str) -> float:
    key = ("lbaas_loadbalancers", (("operating_status", oper), ("provisioning_status", prov)))
    return samples.get(key, 0.0)


def test_loadbalancer_series_follow_creates_and_deletes(cloud: Cloud) -> None:
    assert not [k for k in scrape(cloud.client) if k[0] == "lbaas_loadbalancers"]
    a, b = cloud.lb(), cloud.lb()
    oper = a["operating_status"]
    assert lbs(scrape(cloud.client), "ACTIVE", oper) == 2
    cloud.delete(f"{LB}/{a['id']}")
    mid = scrape(cloud.client)
    assert lbs(mid, "ACTIVE", oper) == 1 and lbs(mid, "PENDING_DELETE", oper) == 1
    cloud.settle()
    cloud.gone(f"{LB}/{a['id']}")
    final = scrape(cloud.client)
    assert lbs(final, "ACTIVE", oper) == 1 and lbs(final, "PENDING_DELETE", oper) == 0
    assert cloud.lb_status(b["id"]) == "ACTIVE"


def test_requests_counted_by_route_template_and_status(cloud: Cloud) -> None:
    lb = cloud.lb()
    route = "/v2/lbaas/loadbalancers/{lb_id}"
    ok = ("lbaas_api_requests_total", (("method", "GET"), ("route", route), ("status", "200")))
    count = ("lbaas_api_request_duration_seconds_count", (("method", "GET"), ("route", route)))
    before = scrape(cloud.client)
    for _ in range(3):
        cloud.client.get(f"{LB}/{lb['id']}")
    cloud.client.get(f"{LB}/00000000-0000-0000-0000-000000000000")
    cloud.client.get("/no/such/path")
    samples = scrape(cloud.client)
    missing = ("lbaas_api_requests_total", (("method", "GET"), ("route", route), ("status", "404")))
    assert samples[ok] - before[ok] == 3 and samples[missing] == 1
    unmatched = ("lbaas_api_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    assert samples[unmatched] == 1
    assert samples[count] - before[count] == 4
    assert not any(lb["id"] in str(labels) for _, labels in samples), "an id became a label"


def test_agent_series_and_breaker(cloud: Cloud) -> None:
    r = cloud.client.post("/internal/agents/op-host-1/heartbeat", json={})  # refused: no secret configured
    assert r.status_code in (401, 404, 405, 422)
    samples = scrape(cloud.client)
    assert samples[("lbaas_failover_breaker_tripped", ())] == 0


def test_components_reconcile_queue_bus_controller() -> None:
    metrics = ServiceMetrics()
    done = threading.Event()

    def handler(key: str) -> Outcome:
        if key == "last":
            done.set()
        return Outcome(ok=key != "bad")

    q = WorkQueue(handler, workers=1)
    metrics.watch_queue(q)
    q.start()
    try:
        for key in ("a", "bad", "last"):
            q.add(key)
        assert done.wait(10)
        assert q.wait_idle(10)
    finally:
        q.stop()

    class Ctl:
        failovers = 3
        breaker_open = True

    metrics.watch_controller(Ctl())
    metrics.watch_bus("consumer", lambda: 4)
    text = metrics.render().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("lbaas_reconcile_duration_seconds_count", (("outcome", "ok"),))] >= 2
    assert samples[("lbaas_reconcile_duration_seconds_count", (("outcome", "error"),))] >= 1
    assert ("lbaas_reconcile_queue_depth", ()) in samples
    assert samples[("lbaas_failovers_total", ())] == 3
    assert samples[("lbaas_controller_breaker_open", ())] == 1
    assert samples[("lbaas_bus_reconnects_total", (("side", "consumer"),))] == 3


def test_registries_are_per_app(client: TestClient) -> None:
    one, two = ServiceMetrics(), ServiceMetrics()
    one.requests.observe("GET", "/x", 200, 0.001)
    assert b"/x" in one.render() and b"/x" not in two.render()


# --------------------------------------------------------------------------- healthcheck


def test_healthcheck_as_octavia_answers(client: TestClient) -> None:
    r = client.get("/healthcheck")
    assert r.status_code == 200 and r.text == "OK" and r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert client.head("/healthcheck").status_code == 204
    j = client.get("/healthcheck", headers={"Accept": "application/json"})
    assert j.status_code == 200 and j.json() == {"detailed": False, "reasons": ["OK"]}
    h = client.get("/healthcheck", headers={"Accept": "text/html"})
    assert h.status_code == 200 and "<TD>OK</TD>" in h.text and h.headers["content-type"].startswith("text/html")


def test_healthcheck_fails_when_the_database_is_away(tmp_path: pytest.TempPathFactory) -> None:
    db = Database(f"sqlite:///{tmp_path}/no/such/dir/x.sqlite")
    try:
        res = HealthCheck(db, refresh_interval=5.0).result()
    finally:
        db.dispose()
    assert not res.ok and res.reason == DB_UNAVAILABLE and res.details


def test_healthcheck_caches_for_the_refresh_interval(database: Database) -> None:
    check = HealthCheck(database, refresh_interval=60.0)
    first = check.result()
    assert check.result() is first
    assert HealthCheck(database, refresh_interval=0.0).result().at >= first.at
    assert time.monotonic() >= first.at


def test_client_errors_and_501_are_not_logged_as_errors(cloud: Cloud, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cloud.client.get(f"{LB}/00000000-0000-0000-0000-000000000000")
    lb = cloud.lb()
    li = cloud.listener(lb["id"], protocol="TCP", port=81)
    r = cloud.client.post("/v2/lbaas/l7policies", json={"l7policy": {"listener_id": li["id"], "action": "REJECT"}})
    assert r.status_code == 501, r.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert any(rec.levelno == logging.INFO and "501" in rec.getMessage() for rec in caplog.records)
