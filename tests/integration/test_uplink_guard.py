"""``lbaas serve`` / ``lbaas agent`` refuse to map an interface that carries an address or the default
route unless ``--force``: shown with veth interfaces in a private network namespace (never a host
interface), through the guard itself and through a real ``lbaas serve`` started in that namespace."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent.netns.uplink_guard import UplinkInUse, check_mappings, inspect
from tests.clients.server import REPO

pytestmark = pytest.mark.netns


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def ns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"op-ug-{secrets.token_hex(3)}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        for dev in ("opd0", "opd1", "opd2"):  # veth pairs, both ends inside (no dummy driver in this kernel)
            ip("-n", name, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p")
            ip("-n", name, "link", "set", dev, "up")
            ip("-n", name, "link", "set", f"{dev}p", "up")
        ip("-n", name, "addr", "add", "10.231.250.1/24", "dev", "opd0")  # carries an address
        ip("-n", name, "route", "add", "default", "dev", "opd2")  # carries the default route
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_guard_sees_addresses_and_default_route(ns: str) -> None:
    assert inspect("opd0", ns).addresses == ("10.231.250.1/24",)
    assert inspect("opd1", ns).in_use is False  # only its IPv6 link-local address (ignored)
    assert inspect("opd2", ns).default_route is True
    assert inspect("nosuch", ns).exists is False
    assert check_mappings({"physnet1": "opd1"}, netns=ns) == []
    for iface, what in (("opd0", "10.231.250.1/24"), ("opd2", "the default route")):
        with pytest.raises(UplinkInUse, match=f"{iface} \\(mapped for physnet1\\) carries {what}"):
            check_mappings({"physnet1": iface}, netns=ns)
        assert check_mappings({"physnet1": iface}, force=True, netns=ns)  # let through, with a warning


def _serve(ns: str, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LBAAS_")}
    env["PYTHONPATH"] = str(REPO)
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "lbaas.cli", "serve", "--provider", "noop",
            "--state-dir", str(tmp_path), "--bind", "127.0.0.1:19876", "--log-level", "info",
            "--physical-interface-mappings", "physnet1:opd0", *extra]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def test_serve_refuses_unless_forced(ns: str, tmp_path: Path) -> None:
    proc = _serve(ns, tmp_path / "a")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    errors = [ln for ln in out.splitlines() if ln.startswith("lbaas: error:")]
    assert len(errors) == 1 and "opd0 (mapped for physnet1) carries 10.231.250.1/24" in errors[0], out
    assert "Traceback" not in out
    proc = _serve(ns, tmp_path / "b", "--force")
    try:
        deadline = time.monotonic() + 30
        seen = ""
        assert proc.stdout is not None
        while "lbaas serving on" not in seen:
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += proc.stdout.readline()
        assert "opd0 (mapped for physnet1) carries" in seen  # forced: warned, not refused
    finally:
        proc.terminate()
        proc.wait(timeout=15)
