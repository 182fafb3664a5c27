"""Scale-out access logs: ``GET /v2/octavia/loadbalancers/{id}/logs`` on an API process is answered by
the agent the LB is bound to (its log server, with the internal secret), under the LB's visibility.
Real processes: API, controller and an agent with the in-memory data plane; the agent's file is written
by the test where the receiver would write it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.db.migrate import upgrade
from lbaas.services.accesslogs import access_log_path
from lbaas.tools import simcluster
from tests.conftest import _drop_pg_db, _make_pg_db, _pg_available
from tests.e2e.test_scaleout import Cluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
HOST = "op-logs-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _pg_available():
        pytest.skip("needs PostgreSQL on :5432")
    name, url = _make_pg_db()
    c = Cluster(tmp_path_factory.mktemp("oplogs"), url, "unused", simcluster.free_port_in(19851, 19870))
    logs_port = simcluster.free_port_in(19871, 19890)
    c.env.pop("LBAAS_AMQP_URL", None)  # no broker: the controller polls, the agent resyncs
    c.env.update(
        LBAAS_AGENT_LOGS_BIND=f"127.0.0.1:{logs_port}",  # read by the agent
        LBAAS_AGENT_LOGS_URL=f"http://127.0.0.1:{logs_port}",  # read by the API ("{host}" unused: one machine)
        LBAAS_RESYNC_INTERVAL="1",
    )
    try:
        upgrade(url)
        c.start_api("api-1")
        wait_for(lambda: c.http.get("/").status_code == 200, 30, "the API")
        c.start_controller()
        c.start(HOST, "agent", "--host", HOST, "--endpoint", c.endpoint, "--state-dir", str(c.tmp / HOST),
                "--fake-dataplane")  # fmt: skip
        wait_for(lambda: any(a["alive"] for a in c.http.get("/v2/octavia/agents").json()["agents"]), 30, "the agent")
        yield c
    finally:
        c.stop_all()
        c.http.close()
        c.engine.dispose()
        _drop_pg_db(name)


def test_logs_come_from_the_agent_holding_the_lb(cluster: Cluster) -> None:
    net = cluster.http.post("/v2.0/networks", json={"network": {"name": "oplogs"}}).json()["network"]
    sn = cluster.http.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.78.0.0/24"}})
    lb_id = cluster.create_lb(sn.json()["subnet"]["id"], "oplogs")
    wait_for(lambda: cluster.settled([lb_id]), 60, "the LB ACTIVE on the agent")
    url = f"/v2/octavia/loadbalancers/{lb_id}/logs"
    assert cluster.http.get(url).json() == {"lines": []}  # nothing logged yet
    f = access_log_path(Path(cluster.tmp / HOST), lb_id)
    f.write_text("".join(f"line {i}\n" for i in range(5)))
    assert cluster.http.get(url, params={"tail": 2}).json() == {"lines": ["line 3", "line 4"]}
    # (this cluster's API runs noauth: every caller is admin. Another project's 403 is checked in token mode by
    # tests/contract/test_access_log_api.py.)
    cluster.kill(HOST)  # the agent is gone: a clear 503, not a hang or a 500
    r = cluster.http.get(url)
    assert r.status_code == 503 and HOST in r.json()["faultstring"]
