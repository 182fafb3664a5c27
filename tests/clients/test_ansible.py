"""Ansible's openstack.cloud modules (from the ``ansible`` package on PyPI, which bundles the
collection) against a real ``lbaas serve``: the whole stack is created, a second run changes nothing,
and ``state: absent`` removes it. Nothing is worked around: the modules run as shipped, through a
clouds.yaml for a cloud without Keystone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.server import Server

pytestmark = pytest.mark.clients
HERE = Path(__file__).parent / "ansible"
# The openstack.cloud collection that the newest `ansible` for Python 3.11 bundles (2.5.0) reads
# `openstack.version`, which openstacksdk removed in 4.15 (fixed in collection 2.6.0, on Galaxy only).
# scripts/install.sh puts an openstacksdk of the range that collection supports here, for its modules.
MODULE_SDK = Path(sys.prefix) / "ansible-sdk"


def playbook_bin() -> str:
    path = Path(sys.executable).parent / "ansible-playbook"
    if path.exists():
        return str(path)
    found = shutil.which("ansible-playbook")
    if found is None:
        pytest.skip("ansible-playbook is not installed (pip install ansible)")
    return found


def run(playbook: str, server: Server, tmp_path: Path) -> dict[str, Any]:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds:\n  lbaas:\n    auth_type: none\n    auth:\n      endpoint: {server.url}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "LBAAS_", "ANSIBLE_"))}
    env.update(
        OS_CLIENT_CONFIG_FILE=str(clouds),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "no-collections"),  # only the ones the package bundles
    )
    if MODULE_SDK.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(MODULE_SDK), env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [playbook_bin(), "-i", "localhost,", str(HERE / playbook)],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert out.returncode == 0, f"{playbook} failed:\n{out.stdout[-6000:]}\n{out.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def changed(result: dict[str, Any]) -> int:
    return sum(int(stats.get("changed", 0)) for stats in result["stats"].values())


def lbaas_objects(server: Server) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, path in (("loadbalancers", "/v2/lbaas/loadbalancers"), ("listeners", "/v2/lbaas/listeners"),
                      ("pools", "/v2/lbaas/pools"), ("healthmonitors", "/v2/lbaas/healthmonitors"),
                      ("networks", "/v2.0/networks"), ("subnets", "/v2.0/subnets")):  # fmt: skip
        out[key] = sorted(o["name"] for o in httpx.get(server.url + path).json()[key])
    return out


def test_playbook_present_idempotent_absent(lbaas_server: Server, tmp_path: Path) -> None:
    first = run("present.yml", lbaas_server, tmp_path)
    assert changed(first) == 7, first["stats"]  # network, subnet, LB, listener, pool, members (one loop), monitor
    objs = lbaas_objects(lbaas_server)
    assert objs["loadbalancers"] == ["op-ans-lb"] and objs["listeners"] == ["op-ans-listener"]
    assert objs["pools"] == ["op-ans-pool"] and objs["healthmonitors"] == ["op-ans-hm"]
    pool = httpx.get(lbaas_server.url + "/v2/lbaas/pools").json()["pools"][0]
    members = httpx.get(f"{lbaas_server.url}/v2/lbaas/pools/{pool['id']}/members").json()["members"]
    assert sorted((m["address"], m["protocol_port"]) for m in members) == [
        ("10.231.88.11", 8080),
        ("10.231.88.12", 8080),
    ]
    lb = httpx.get(lbaas_server.url + "/v2/lbaas/loadbalancers").json()["loadbalancers"][0]
    assert lb["provisioning_status"] == "ACTIVE"
    # the loadbalancer module looked for the VIP port's floating IPs (issue 9: that was a 404)
    metrics = httpx.get(lbaas_server.url + "/metrics").text
    assert any(
        line.startswith("lbaas_api_requests_total{") and '/floatingips"' in line and 'status="200"' in line
        for line in metrics.splitlines()
    ), [ln for ln in metrics.splitlines() if "floatingips" in ln]

    second = run("present.yml", lbaas_server, tmp_path)
    assert changed(second) == 0, second["stats"]

    gone = run("absent.yml", lbaas_server, tmp_path)
    assert changed(gone) == 7, gone["stats"]
    assert all(not names for names in lbaas_objects(lbaas_server).values()), lbaas_objects(lbaas_server)
