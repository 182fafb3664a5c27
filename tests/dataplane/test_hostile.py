"""Hostile input against the real data plane: a listener with more allowed_cidrs than HAProxy reads on one
line (64 words) renders, passes ``haproxy -c``, runs, and lets in exactly the right client; and every
file and directory ``lbaas serve`` writes is root's alone (dirs 0700, files 0600) while HAProxy still
runs with its workers dropped to their unprivileged user; HAProxy's
admin sockets (stats and master) are 0600: the agent, root, is their only client."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.dataplane.harness import Service

pytestmark = pytest.mark.netns
HOST_PREFIX = "hxa-"
NET = "10.252.90"
VIP = f"{NET}.20"
GOOD, OTHER = f"{NET}.10", f"{NET}.13"
# 99 CIDRs that do not cover GOOD or OTHER, then GOOD/32 last: the allowing one sits on the second line.
DECOYS = [f"172.{16 + i // 250}.{i % 250}.0/24" for i in range(99)]
NOT_OURS = {"serve.log", "hosts"}  # written by the test harness (its log, its test hosts), not by lbaas


@pytest.fixture(scope="module")
def topo(service: Service) -> dict[str, Any]:
    net, subnet = service.network(f"{NET}.0/24")
    service.host("good", net["id"], GOOD, serve=None)
    service.host("other", net["id"], OTHER, serve=None)
    service.host("web1", net["id"], f"{NET}.11")
    lb = service.create_lb({
        "vip_subnet_id": subnet["id"], "vip_address": VIP,
        "listeners": [
            {"name": "guarded", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "web"},
             "allowed_cidrs": [*DECOYS, f"{GOOD}/32"]},
        ],
        "pools": [
            {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": f"{NET}.11", "protocol_port": 80}]},
        ],
    })  # fmt: skip
    return {"lb": lb["id"]}


def allowed(service: Service, client: str) -> bool:
    (a,) = service.fetch(client, f"http://{VIP}:80/", 1, timeout=2)
    if a["status"] == 200:
        assert a["host"] == f"{HOST_PREFIX}web1"
        return True
    assert a["status"] is None, a
    return False


def test_a_hundred_allowed_cidrs_render_run_and_filter(service: Service, topo: dict[str, Any]) -> None:
    cfg = (service.state_dir / "lb" / topo["lb"] / "haproxy.cfg").read_text()
    acl_lines = [line for line in cfg.splitlines() if line.strip().startswith("acl lbaas_allowed_src src")]
    assert len(acl_lines) == 2 and all(len(line.split()) <= 64 for line in acl_lines)
    lb = service.client.call("GET", f"/v2/lbaas/loadbalancers/{topo['lb']}")["loadbalancer"]
    assert lb["provisioning_status"] == "ACTIVE"
    assert allowed(service, "good")
    assert not allowed(service, "other")


def test_every_file_lbaas_writes_is_root_only(service: Service, topo: dict[str, Any]) -> None:
    assert service.haproxy_pid(topo["lb"]) is not None
    root: Path = service.state_dir
    bad: list[str] = []
    seen = 0
    sockets: list[str] = []
    for path in [root, *root.rglob("*")]:
        if NOT_OURS & set(path.relative_to(root).parts) or path.is_symlink():
            continue
        st = path.lstat()
        seen += 1
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != 0:
            bad.append(f"{path}: owner {st.st_uid}")
        if stat.S_ISDIR(st.st_mode) and mode != 0o700:
            bad.append(f"{path}: dir mode {mode:o}")
        elif stat.S_ISREG(st.st_mode) and mode != 0o600:
            bad.append(f"{path}: file mode {mode:o}")
        elif stat.S_ISSOCK(st.st_mode):
            sockets.append(path.name)
            if mode != 0o600:  # the agent (root) is the only client of HAProxy's admin sockets
                bad.append(f"{path}: socket mode {mode:o}")
    assert seen > 5, "the walk found almost nothing: wrong directory?"
    assert {"stats.sock", "master.sock"} <= set(sockets), sockets
    assert (root / "lbaas.sqlite").exists()
    assert not bad, "\n".join(bad)


def test_haproxy_workers_run_unprivileged(service: Service, topo: dict[str, Any]) -> None:
    master = service.haproxy_pid(topo["lb"])
    assert master is not None
    children = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    assert children, "HAProxy has no worker"
    for pid in children:
        uid = os.stat(f"/proc/{pid}").st_uid
        assert uid != 0, f"worker {pid} runs as root"
