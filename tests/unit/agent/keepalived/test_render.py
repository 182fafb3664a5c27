"""keepalived.conf rendering: golden files, refusals of anything unsafe, and keepalived's own check.

Each case in ``CASES`` renders to ``golden/<case>.conf``; regenerate after an intended change with
``UPDATE_GOLDEN=1 python -m pytest tests/unit/agent/keepalived`` and review the diff. When keepalived is
installed and we are root, every golden also goes through ``keepalived -t`` (config test) inside a
namespace of our own that has the VIP interface (a veth with both ends in that namespace), and must
pass with no warning.
"""

from __future__ import annotations

import difflib
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lbaas.agent.keepalived.render import KeepalivedRenderError, KeepalivedSpec, render_keepalived

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
TRACK = "/var/lib/lbaas/lb/lb-0001/track"

BASE = KeepalivedSpec(
    name="lb-0001",
    interface="vipf0a1b2c3-d4",
    vips=(("192.0.2.10", 24),),
    virtual_router_id=17,
    priority=100,
    unicast_src_ip="192.0.2.11",
    unicast_peers=("192.0.2.12",),
    track_file=TRACK,
)

CASES: dict[str, Callable[[], KeepalivedSpec]] = {
    "default": lambda: BASE,
    "backup_priority": lambda: replace(BASE, priority=90, unicast_src_ip="192.0.2.12", unicast_peers=("192.0.2.11",)),
    "ipv6": lambda: replace(BASE, vips=(("2001:db8::10", 64),), unicast_src_ip="2001:db8::11",
                            unicast_peers=("2001:db8::12",)),  # fmt: skip
    "two_vips_two_peers": lambda: replace(BASE, vips=(("192.0.2.10", 24), ("192.0.2.20", 24)),
                                          unicast_peers=("192.0.2.12", "192.0.2.13")),  # fmt: skip
    "slow_adverts_garp_refresh": lambda: replace(BASE, advert_int_ms=1000, garp_master_delay=5, garp_master_repeat=5,
                                                 garp_master_refresh=60, garp_master_refresh_repeat=2),  # fmt: skip
    "centisecond_advert": lambda: replace(BASE, advert_int_ms=250),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    path = GOLDEN / f"{name}.conf"
    got = render_keepalived(CASES[name]())
    if UPDATE:
        path.write_text(got)
    assert path.exists(), f"no golden for {name}; run with UPDATE_GOLDEN=1"
    want = path.read_text()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{name}.conf", "got"))
        pytest.fail(f"rendered config differs from golden/{name}.conf:\n{diff}")


def test_no_stale_goldens() -> None:
    assert {p.stem for p in GOLDEN.glob("*.conf")} == set(CASES)


def test_the_defaults_are_sub_second_vrrpv3() -> None:
    text = render_keepalived(BASE)
    assert "vrrp_version 3" in text and "advert_int 0.1\n" in text
    assert "nopreempt" in text and "state BACKUP" in text and "unicast_fault_no_peer" in text
    assert f'file "{TRACK}"' in text and "weight 0" in text and "init_file 1" in text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name": "lb\nvrrp_instance x {"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a b"}, "name"),
        ({"interface": "vip-0123456789abcdef"}, "interface"),  # longer than IFNAMSIZ - 1
        ({"interface": "eth0 }"}, "interface"),
        ({"track_file": 'relative/track'}, "track_file"),
        ({"track_file": '/tmp/a"b'}, "track_file"),
        ({"track_file": "/tmp/a b"}, "track_file"),
        ({"virtual_router_id": 0}, "virtual_router_id"),
        ({"virtual_router_id": 256}, "virtual_router_id"),
        ({"virtual_router_id": True}, "virtual_router_id"),
        ({"priority": 255}, "priority"),  # address owner: tracking could not lower it
        ({"priority": 0}, "priority"),
        ({"advert_int_ms": 105}, "centiseconds"),
        ({"advert_int_ms": 0}, "advert_int_ms"),
        ({"advert_int_ms": 50000}, "advert_int_ms"),
        ({"unicast_src_ip": "192.0.2.300"}, "unicast_src_ip"),
        ({"unicast_peers": ()}, "peer"),
        ({"unicast_peers": ("192.0.2.11",)}, "another"),
        ({"unicast_peers": ("2001:db8::1",)}, "another"),
        ({"unicast_peers": ("192.0.2.12", "192.0.2.12")}, "duplicate"),
        ({"unicast_peers": ("192.0.2.12\n}",)}, "not an IP"),
        ({"vips": ()}, "VIP"),
        ({"vips": (("2001:db8::10", 64),)}, "family"),
        ({"vips": (("192.0.2.10", 33),)}, "prefix"),
        ({"vips": (("192.0.2.10 dev eth0", 24),)}, "not an IP"),
        ({"garp_master_repeat": 0}, "garp_master_repeat"),
        ({"garp_master_refresh": -1}, "garp_master_refresh"),
    ],
)
def test_unsafe_or_invalid_values_are_refused(change: dict[str, Any], words: str) -> None:
    with pytest.raises(KeepalivedRenderError, match=words):
        render_keepalived(replace(BASE, **change))


# ---------------------------------------------------------------------------------------------- keepalived -t

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
needs_keepalived = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(KEEPALIVED) or shutil.which("ip") is None,
    reason="needs root, ip and keepalived",
)


@pytest.fixture(scope="module")
def vrrp_ns() -> Iterator[str]:
    """A namespace of ours holding the cases' VIP interface (a veth pair, both ends inside it)."""
    ns = f"rckt{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", BASE.interface, "type", "veth", "peer", "name", "rcktpeer"],
                       check=True)  # fmt: skip
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


@needs_keepalived
@pytest.mark.parametrize("name", sorted(CASES))
def test_keepalived_accepts_golden(name: str, vrrp_ns: str, tmp_path: Path) -> None:
    text = (GOLDEN / f"{name}.conf").read_text().replace(TRACK, str(tmp_path / "track"))
    cfg = tmp_path / "keepalived.conf"
    cfg.write_text(text)
    proc = subprocess.run(["ip", "netns", "exec", vrrp_ns, KEEPALIVED, "-t", "-l", "-f", str(cfg)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and not out.strip(), out
    assert not (tmp_path / "track").exists()  # a config test writes nothing


@needs_keepalived
def test_keepalived_check_can_fail(vrrp_ns: str, tmp_path: Path) -> None:
    """The check above is not vacuous: keepalived -t refuses what our renderer would never write."""
    cfg = tmp_path / "keepalived.conf"
    cfg.write_text(render_keepalived(BASE).replace("nopreempt", "nopreempt_typo"))
    proc = subprocess.run(["ip", "netns", "exec", vrrp_ns, KEEPALIVED, "-t", "-l", "-f", str(cfg)],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode != 0 and "nopreempt_typo" in proc.stdout + proc.stderr
