"""GET /v2/octavia/loadbalancers/{id}/logs: the tail of the LB's access log, under the LB's visibility."""

from __future__ import annotations

from pathlib import Path

from lbaas.services.accesslogs import access_log_path
from lbaas.tools.logs import new_lines
from tests.contract.helpers import Cloud


def test_scale_out_api_answers_501(cloud: Cloud) -> None:
    lb = cloud.lb()
    r = cloud.client.get(f"/v2/octavia/loadbalancers/{lb['id']}/logs")
    assert r.status_code == 501 and r.json()["faultcode"] == "Server"


def test_tail_of_the_local_file(cloud: Cloud, tmp_path: Path) -> None:
    lb = cloud.lb()
    cloud.client.app.state.local_logs = tmp_path  # type: ignore[attr-defined]
    url = f"/v2/octavia/loadbalancers/{lb['id']}/logs"
    assert cloud.client.get(url).json() == {"lines": []}  # nothing logged yet
    f = access_log_path(tmp_path, lb["id"])
    f.parent.mkdir(parents=True)
    f.write_text("".join(f"line {i}\n" for i in range(300)))
    assert cloud.client.get(url).json()["lines"] == [f"line {i}" for i in range(200, 300)]
    assert cloud.client.get(url, params={"tail": 3}).json() == {"lines": ["line 297", "line 298", "line 299"]}
    for bad in ("-1", "x", "10001"):
        assert cloud.client.get(url, params={"tail": bad}).status_code == 400
    other = cloud.client.get(url, headers={"X-Project-Id": "someone-else", "X-Roles": "member"})
    assert other.status_code == 403  # Octavia: another project's load balancer
    assert cloud.client.get("/v2/octavia/loadbalancers/00000000-0000-0000-0000-000000000000/logs").status_code == 404


def test_follow_prints_only_new_lines() -> None:
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b"], ["a", "b", "c"]) == ["c"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]  # the window moved
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines(["x"], ["y"]) == ["y"]  # rotated away: all of it
