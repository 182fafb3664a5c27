"""The server-state file given to a reloading HAProxy keeps health but takes admin state from the new config."""

from __future__ import annotations

from pathlib import Path

from lbaas.agent.haproxy.process import FakeHaproxyProcess
from lbaas.agent.haproxy.server_state import align_admin_state, config_admin_state
from lbaas.agent.haproxy.stats import parse_server_state
from lbaas.agent.haproxy.unit import HaproxyUnit, SaveServerState, Start
from lbaas.agent.paths import LbPaths
from lbaas.agent.plan import LbMemory
from lbaas.agent.units import RunContext

# Dumped by HAProxy 2.6.12 (Debian 12): m1 enabled in the config, m2 ``disabled`` in the config (5 =
# CMAINT|FMAINT), m3 added with ``add server`` and never enabled (1 = FMAINT), m4 set to maint at runtime.
HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
    " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl"
    " srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)
STATE = "\n".join([
    "1",
    HEADER,
    "2 b1 1 m1 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 1 - 0 0 - - 0",
    "2 b1 2 m2 127.0.0.1 0 5 1 1 1 1 0 0 8 0 0 0 - 2 - 0 0 - - 0",
    "2 b1 3 m3 127.0.0.1 0 1 2 2 0 1 0 0 0 0 0 0 - 3 - 0 0 - - 0",
    "2 b1 4 m4 127.0.0.1 2 1 1 1 0 1 0 2 0 0 0 0 - 4 - 0 0 - - 0",
    "3 gone 1 x 127.0.0.1 2 1 1 1 0 1 0 2 0 0 0 0 - 4 - 0 0 - - 0",
]) + "\n"  # fmt: skip


def _config(servers: str) -> str:
    return f"global\n    maxconn 100\n\nbackend b1\n    balance roundrobin\n{servers}"


def _admin(text: str) -> dict[str, int]:
    return {f"{r.be_name}/{r.srv_name}": r.srv_admin_state for r in parse_server_state(text)}


def test_admin_state_follows_the_new_config() -> None:
    new = _config(
        "    server m1 127.0.0.1:1 weight 1 disabled\n"  # enabled → now disabled
        "    server m2 127.0.0.1:2 weight 1\n"  # disabled → now enabled
        "    server m3 127.0.0.1:3 weight 2 backup\n"  # added admin-down → now enabled (the bug)
        "    server m4 127.0.0.1:4 weight 1 disabled\n"  # maint at runtime → disabled in config
    )
    out = align_admin_state(STATE, new)
    # m2 and m3 were in maintenance (saved as stopped) and are enabled now: left out, HAProxy starts them
    # as configured (a server without checks restored as stopped would stay DOWN: tempest's member update)
    assert _admin(out) == {"b1/m1": 5, "b1/m4": 5, "gone/x": 1}
    # everything but the admin state is kept: health, weights, ids
    before = {r.srv_name: r for r in parse_server_state(STATE)}
    for row in parse_server_state(out):
        b = before[row.srv_name]
        assert (row.srv_op_state, row.srv_uweight, row.srv_iweight, row.srv_id) == (
            b.srv_op_state, b.srv_uweight, b.srv_iweight, b.srv_id)  # fmt: skip
        assert row.raw["srv_check_health"] == b.raw["srv_check_health"]


def test_other_admin_bits_are_kept() -> None:
    state = STATE.replace(" m1 127.0.0.1 2 0 ", " m1 127.0.0.1 2 24 ")  # IDRAIN|FDRAIN: not ours to set
    out = align_admin_state(state, _config("    server m1 127.0.0.1:1 weight 1 disabled\n"))
    assert _admin(out)["b1/m1"] == 24 | 5
    out = align_admin_state(state, _config("    server m1 127.0.0.1:1 weight 1\n"))
    assert _admin(out)["b1/m1"] == 24


def test_unchanged_when_it_already_matches() -> None:
    same = _config(
        "    server m1 127.0.0.1:1 weight 1\n"
        "    server m2 127.0.0.1:2 weight 1 disabled\n"
    )
    out = align_admin_state(STATE, same)
    assert [line.split() for line in out.splitlines()[:4]] == [line.split() for line in STATE.splitlines()[:4]]


def test_unreadable_state_or_config_gives_no_state() -> None:
    ok = _config("    server m1 127.0.0.1:1\n")
    assert align_admin_state("", ok) == ""
    assert align_admin_state("2\n" + HEADER + "\n", ok) == ""  # an unknown version
    assert align_admin_state("1\n2 b1 1 m1 127.0.0.1 2 0\n", ok) == ""  # no header
    assert align_admin_state("1\n" + HEADER + "\n2 b1 1 m1 127.0.0.1 2 x\n", ok) == ""
    assert align_admin_state("1\n" + HEADER + "\n2 b1\n", ok) == ""
    assert align_admin_state(STATE, "backend b1\n    server m1\n") == ""  # a server line without an address
    assert align_admin_state("1\n" + HEADER + "\n", ok) == "1\n" + HEADER + "\n"  # no servers: fine


def test_config_admin_state() -> None:
    text = _config("    server a 10.0.0.1:80 weight 1\n    server b 10.0.0.2:80 backup disabled\n")
    assert config_admin_state(text) == {("b1", "a"): True, ("b1", "b"): False}


def test_the_haproxy_unit_aligns_the_saved_state_before_a_start_and_a_reload(tmp_path: Path) -> None:
    """The unit's Start step aligns a dump left by an earlier reload to haproxy.cfg; its SaveServerState
    step hands the reconciler the config the reload will load (haproxy.cfg once swapped)."""
    paths = LbPaths(tmp_path, "lb-1")
    paths.ensure()
    text = _config("    server m3 127.0.0.1:3 weight 2 backup\n")
    process = FakeHaproxyProcess()
    process.stage(text, paths)
    process.swap(paths)
    paths.server_state.write_text(STATE)
    saved: list[str] = []
    unit = HaproxyUnit(process, lambda p: None, lambda p, t: saved.append(t))  # type: ignore[arg-type,return-value]
    ctx = RunContext(paths, "ns-1", LbMemory())
    unit.run(Start(), ctx)
    aligned = _admin(paths.server_state.read_text())
    assert "b1/m3" not in aligned and aligned["b1/m4"] == 1  # m3: added admin-down, enabled in the config now
    unit.run(SaveServerState(), ctx)
    assert saved == [text]
