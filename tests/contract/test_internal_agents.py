"""Contract tests: the internal agent API (secret, heartbeat, assigned, spec, fenced reports) and the
operator's agent endpoints (list, disable, drain, breaker), on SQLite and PostgreSQL; plus
``ApiSource``/``ApiReporter`` driven through the same app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from lbaas.agent.remote import SECRET_HEADER, ApiReporter, ApiSource
from lbaas.config import Settings
from lbaas.db import models as m
from lbaas.db.session import Database
from lbaas.providers.noop import NoopProvider
from tests.contract.helpers import active_lb, make_subnet
from tests.contract.personas import persona_headers

SECRET = "s3cret-for-tests"
H = {SECRET_HEADER: SECRET}


@pytest.fixture
def settings(tmp_path: Path, auth_strategy: str) -> Settings:
    return Settings(state_dir=tmp_path, provider="noop", internal_secret=SECRET, auth_strategy=auth_strategy)


@pytest.fixture
def lb(client: TestClient, provider: NoopProvider, database: Database) -> dict:
    return active_lb(client, provider, make_subnet(database))


def bind(db: Database, lb_id: str, host: str) -> None:
    with db.write() as s:
        agent_id = s.scalar(select(m.Agent.id).where(m.Agent.host == host))
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb_id).values(agent_id=agent_id, binding_epoch=7))


def row(db: Database, lb_id: str) -> m.LoadBalancer | None:
    with db.read() as s:
        return s.get(m.LoadBalancer, lb_id)


def beat(client: TestClient, host: str, az: str | None = None) -> dict:
    r = client.put(f"/internal/agents/{host}", json={"availability_zone": az}, headers=H)
    assert r.status_code == 200, r.text
    return dict(r.json()["agent"])


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}])
def test_internal_api_refuses_without_the_secret(client: TestClient, headers: dict) -> None:
    for method, path in (("PUT", "/internal/agents/a1"), ("GET", "/internal/agents/a1/assigned")):
        r = client.request(method, path, json={}, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["faultstring"].startswith("The internal agent API needs")


def test_internal_api_is_closed_when_no_secret_is_configured(
    client: TestClient, app_env: object, settings: Settings
) -> None:
    settings.internal_secret = None
    assert client.get("/internal/agents/a1/assigned", headers=H).status_code == 401
    assert client.get("/internal/agents/a1/assigned", headers={SECRET_HEADER: ""}).status_code == 401


# --------------------------------------------------------------------------- heartbeat, assigned, spec


def test_heartbeat_creates_then_refreshes_the_agent(client: TestClient, database: Database) -> None:
    first = beat(client, "host-a", "az1")
    with database.read() as s:
        a = s.get(m.Agent, first["id"])
        assert a is not None and a.availability_zone == "az1" and a.last_heartbeat is not None
        hb1 = a.last_heartbeat
    again = beat(client, "host-a", "az2")
    assert again["id"] == first["id"]
    with database.read() as s:
        a = s.get(m.Agent, first["id"])
        assert a is not None and a.availability_zone == "az2"
        assert a.last_heartbeat is not None and a.last_heartbeat > hb1  # microseconds are kept
        assert s.scalar(select(m.Agent.id).where(m.Agent.host == "host-a")) == first["id"]


def test_assigned_and_spec_only_for_the_bound_agent(client: TestClient, database: Database, lb: dict) -> None:
    beat(client, "host-a")
    beat(client, "host-b")
    assert client.get("/internal/agents/host-a/assigned", headers=H).json() == {"loadbalancers": {}}
    bind(database, lb["id"], "host-a")
    gen = row(database, lb["id"]).generation  # type: ignore[union-attr]
    assert client.get("/internal/agents/host-a/assigned", headers=H).json() == {"loadbalancers": {lb["id"]: gen}}
    assert client.get("/internal/agents/host-b/assigned", headers=H).json() == {"loadbalancers": {}}
    assert client.get("/internal/agents/nobody/assigned", headers=H).json() == {"loadbalancers": {}}

    spec = client.get(f"/internal/agents/host-a/loadbalancers/{lb['id']}", headers=H).json()["loadbalancer"]
    assert spec["id"] == lb["id"] and spec["generation"] == gen and spec["binding_epoch"] == 7
    assert spec["vip"]["address"] == lb["vip_address"]
    other = client.get(f"/internal/agents/host-b/loadbalancers/{lb['id']}", headers=H)
    assert other.status_code == 200 and other.json() == {"loadbalancer": None}
    gone = client.get("/internal/agents/host-a/loadbalancers/00000000-0000-0000-0000-000000000000", headers=H)
    assert gone.status_code == 200 and gone.json() == {"loadbalancer": None}


# --------------------------------------------------------------------------- fenced reports


def test_applied_is_fenced_by_binding_and_generation(
    client: TestClient, database: Database, provider: NoopProvider, lb: dict
) -> None:
    beat(client, "host-a")
    beat(client, "host-b")
    bind(database, lb["id"], "host-a")
    r = client.put(f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "x"}})
    assert r.status_code == 200, r.text
    gen = row(database, lb["id"]).generation  # type: ignore[union-attr]
    url = f"/internal/agents/%s/loadbalancers/{lb['id']}/applied"

    r = client.post(url % "host-b", json={"generation": gen, "ok": True}, headers=H)
    assert r.json() == {"accepted": False}
    assert row(database, lb["id"]).provisioning_status == "PENDING_UPDATE"  # type: ignore[union-attr]
    r = client.post(url % "host-a", json={"generation": gen - 1, "ok": True}, headers=H)
    assert r.json() == {"accepted": False}
    assert row(database, lb["id"]).provisioning_status == "PENDING_UPDATE"  # type: ignore[union-attr]

    r = client.post(url % "host-a", json={"generation": gen, "ok": True}, headers=H)
    assert r.json() == {"accepted": True}
    after = row(database, lb["id"])
    assert after is not None and after.provisioning_status == "ACTIVE" and after.observed_generation == gen
    with database.read() as s:
        amp = s.scalars(select(m.Amphora).where(m.Amphora.loadbalancer_id == lb["id"])).one()
        host_a = s.scalar(select(m.Agent.id).where(m.Agent.host == "host-a"))
        assert host_a is not None and amp.compute_id == host_a and amp.status == "ALLOCATED"
    body = client.get(f"/v2/octavia/amphorae/{amp.id}").json()["amphora"]
    assert body["compute_id"] == host_a


def test_operating_and_stats_are_fenced(client: TestClient, database: Database, lb: dict) -> None:
    beat(client, "host-a")
    beat(client, "host-b")
    bind(database, lb["id"], "host-a")
    base = f"/internal/agents/%s/loadbalancers/{lb['id']}"
    r = client.post(base % "host-b" + "/operating", json={"statuses": {lb["id"]: "ERROR"}}, headers=H)
    assert r.json() == {"accepted": False}
    assert row(database, lb["id"]).operating_status != "ERROR"  # type: ignore[union-attr]
    r = client.post(base % "host-a" + "/operating", json={"statuses": {lb["id"]: "DEGRADED"}}, headers=H)
    assert r.json() == {"accepted": True}
    assert row(database, lb["id"]).operating_status == "DEGRADED"  # type: ignore[union-attr]

    deltas = {"deltas": {"l-1": {"bytes_in": 10, "active_connections": 3}}}
    assert client.post(base % "host-b" + "/stats", json=deltas, headers=H).json() == {"accepted": False}
    assert client.post(base % "host-a" + "/stats", json=deltas, headers=H).json() == {"accepted": True}
    assert client.post(base % "host-a" + "/stats", json=deltas, headers=H).json() == {"accepted": True}
    with database.read() as s:
        st = s.get(m.ListenerStats, "l-1")
        assert st is not None and st.bytes_in == 20 and st.active_connections == 3  # counter adds, gauge sets


# --------------------------------------------------------------------------- ApiSource / ApiReporter


@pytest.fixture
def remote(client: TestClient) -> Iterator[TestClient]:
    client.headers[SECRET_HEADER] = SECRET
    yield client
    del client.headers[SECRET_HEADER]


def test_api_source_and_reporter_round_trip(remote: TestClient, database: Database, lb: dict) -> None:
    source = ApiSource(remote, host="host-a", availability_zone="az9")
    reporter = ApiReporter(remote, host="host-a")
    source.heartbeat()
    assert source.assigned() == {}
    assert source.get(lb["id"]) is None  # not ours: the reconciler tears down
    bind(database, lb["id"], "host-a")
    spec = source.get(lb["id"])
    assert spec is not None and spec.id == lb["id"] and spec.binding_epoch == 7
    assert source.assigned() == {lb["id"]: spec.generation}
    with database.write() as s:
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb["id"]).values(provisioning_status="PENDING_UPDATE"))
    reporter.applied(lb["id"], spec.generation, ok=True)
    reporter.operating(lb["id"], {lb["id"]: "ONLINE"})
    after = row(database, lb["id"])
    assert after is not None and after.provisioning_status == "ACTIVE" and after.operating_status == "ONLINE"


def test_api_source_raises_instead_of_answering_none_on_errors(client: TestClient, lb: dict) -> None:
    client.headers[SECRET_HEADER] = "wrong"
    try:
        with pytest.raises(httpx.HTTPStatusError):
            ApiSource(client, host="host-a").get(lb["id"])
        with pytest.raises(httpx.HTTPStatusError):
            ApiSource(client, host="host-a").assigned()
    finally:
        del client.headers[SECRET_HEADER]
    down = httpx.Client(base_url="http://127.0.0.1:1", timeout=0.5)
    with pytest.raises(httpx.TransportError):
        ApiSource(down, host="host-a").get(lb["id"])
    misrouted = httpx.Client(
        base_url="http://x", transport=httpx.MockTransport(lambda req: httpx.Response(404, json={"detail": "no"}))
    )
    with pytest.raises(httpx.HTTPStatusError):
        ApiSource(misrouted, host="host-a").get(lb["id"])
    odd = httpx.Client(base_url="http://x", transport=httpx.MockTransport(lambda req: httpx.Response(200, json={})))
    with pytest.raises(KeyError):
        ApiSource(odd, host="host-a").get(lb["id"])


# --------------------------------------------------------------------------- operator endpoints


def test_agent_list_disable_and_drain(client: TestClient, database: Database, lb: dict, personas: None) -> None:
    a = beat(client, "host-a", "az1")
    beat(client, "host-b")
    with database.write() as s:  # host-b went silent long ago
        s.execute(update(m.Agent).where(m.Agent.host == "host-b").values(last_heartbeat=dt.datetime(2020, 1, 1)))
    bind(database, lb["id"], "host-a")
    agents = {x["host"]: x for x in client.get("/v2/octavia/agents").json()["agents"]}
    assert agents["host-a"]["alive"] is True and agents["host-a"]["loadbalancer_count"] == 1
    assert agents["host-a"]["availability_zone"] == "az1"
    assert agents["host-b"]["alive"] is False and agents["host-b"]["liveness"] == "DEAD"
    assert agents["host-b"]["loadbalancer_count"] == 0
    assert client.get("/v2/octavia/agents", headers=persona_headers("member")).status_code == 403

    r = client.put(f"/v2/octavia/agents/{a['id']}", json={"agent": {"admin_state_up": False}})
    assert r.status_code == 200 and r.json()["agent"]["admin_state_up"] is False
    assert client.put("/v2/octavia/agents/host-a", json={"agent": {"admin_state_up": True}}).json()["agent"][
        "admin_state_up"
    ]
    assert client.get("/v2/octavia/agents/nope").status_code == 404

    before = row(database, lb["id"])
    assert before is not None and before.provisioning_status == "ACTIVE"
    r = client.post("/v2/octavia/agents/host-a/drain")
    assert r.status_code == 202 and r.json() == {"loadbalancers": [lb["id"]]}
    after = row(database, lb["id"])
    assert after is not None and after.agent_id is None and after.binding_epoch == before.binding_epoch + 1
    assert after.generation == before.generation + 1 and after.provisioning_status == "PENDING_UPDATE"
    assert client.get("/v2/octavia/agents/host-a").json()["agent"]["admin_state_up"] is False


def test_failover_breaker_endpoint(client: TestClient, database: Database) -> None:
    for h in ("h1", "h2", "h3"):
        beat(client, h)
    b = client.get("/v2/octavia/failover_breaker").json()["failover_breaker"]
    assert b == {**b, "tripped": False, "down": 0, "fleet": 3}
    with database.write() as s:
        s.execute(update(m.Agent).where(m.Agent.host.in_(["h1", "h2"])).values(last_heartbeat=dt.datetime(2020, 1, 1)))
    b = client.get("/v2/octavia/failover_breaker").json()["failover_breaker"]
    assert b["tripped"] is True and b["down"] == 2 and "open" in b["reason"]


def test_lb_failover_unbinds_with_a_new_epoch(client: TestClient, database: Database, lb: dict) -> None:
    beat(client, "host-a")
    bind(database, lb["id"], "host-a")
    r = client.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover")
    assert r.status_code == 202, r.text
    after = row(database, lb["id"])
    assert after is not None and after.agent_id is None and after.binding_epoch == 8
    assert after.provisioning_status == "PENDING_UPDATE"


def test_an_operating_report_and_the_applied_that_deletes_its_object_do_not_collide(
    client: TestClient, database: Database, lb: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observer reports a listener's status while a worker reports the generation that deletes it
    (issue-4 concurrency test: StaleDataError, a 500 to the agent). Reports on one LB now serialize."""
    import threading

    from lbaas.services import agents

    beat(client, "host-a")
    bind(database, lb["id"], "host-a")
    with database.write() as s:
        s.add(m.Listener(id="l-gone", loadbalancer_id=lb["id"], project_id=lb["project_id"], protocol="TCP",
                         protocol_port=81, provisioning_status="PENDING_DELETE"))  # fmt: skip
        s.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb["id"]).values(
            provisioning_status="PENDING_UPDATE", generation=m.LoadBalancer.generation + 1))  # fmt: skip
    gen = row(database, lb["id"]).generation  # type: ignore[union-attr]
    loaded, deleted = threading.Event(), threading.Event()
    original = agents.record_operating

    def slow_record(s: object, lb_row: m.LoadBalancer, statuses: dict[str, str]) -> None:
        original(s, lb_row, statuses)  # type: ignore[arg-type]
        loaded.set()
        deleted.wait(timeout=1.5)  # with the row lock, the delete cannot happen meanwhile

    monkeypatch.setattr(agents, "record_operating", slow_record)
    errors: list[BaseException] = []

    def report_operating() -> None:
        try:
            with database.write() as s:
                agents.operating(s, "host-a", lb["id"], {"l-gone": "ONLINE"})
        except BaseException as exc:
            errors.append(exc)

    def report_applied() -> None:
        loaded.wait(timeout=10)
        with database.write() as s:
            assert agents.applied(s, "host-a", lb["id"], gen, ok=True)
        deleted.set()

    threads = [threading.Thread(target=report_operating), threading.Thread(target=report_applied)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    with database.read() as s:
        assert s.get(m.Listener, "l-gone") is None
    assert row(database, lb["id"]).provisioning_status == "ACTIVE"  # type: ignore[union-attr]
