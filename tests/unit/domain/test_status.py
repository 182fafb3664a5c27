"""One test per operating-status rule of lbaas.domain.status, on hand-made rows (no agent import)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lbaas.domain.enums import OperatingStatus as S
from lbaas.domain.spec import (
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    VipSpec,
)
from lbaas.domain.status import (
    ListenerCounters,
    StatType,
    compute_statuses,
    frontend_status,
    haproxy_backend_name,
    listener_counters,
    loadbalancer_counters,
    member_counters,
    member_status_from_row,
)


@dataclass(frozen=True)
class Row:
    pxname: str
    svname: str
    type: StatType
    status: str
    weight: int | None = None
    scur: int = 0
    slim: int | None = None
    stot: int = 0
    bin: int = 0
    bout: int = 0
    ereq: int = 0
    econ: int = 0
    eresp: int = 0


def srv(pool: str, member: str, status: str, weight: int = 1, listener: str = "l1") -> Row:
    return Row(haproxy_backend_name(pool, listener), member, StatType.SERVER, status, weight)


def be(pool: str, status: str = "UP", listener: str = "l1") -> Row:
    return Row(haproxy_backend_name(pool, listener), "BACKEND", StatType.BACKEND, status)


def fe(listener: str = "l1", status: str = "OPEN", **kw: int) -> Row:
    return Row(listener, "FRONTEND", StatType.FRONTEND, status, **kw)


VIP = VipSpec(address="192.0.2.1", prefixlen=24, port_id="p", mac_address="m", subnet_id="s", network_id="n")


def spec(
    members: tuple[MemberSpec, ...] = (),
    *,
    pool_up: bool = True,
    listener_up: bool = True,
    lb_up: bool = True,
    hm: HealthMonitorSpec | None = None,
    extra_listeners: tuple[ListenerSpec, ...] = (),
    extra_pools: tuple[PoolSpec, ...] = (),
    policies: tuple[L7PolicySpec, ...] = (),
) -> LoadBalancerSpec:
    pool = PoolSpec(
        id="p1",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members,
        admin_state_up=pool_up,
        healthmonitor=hm,
    )
    listener = ListenerSpec(
        id="l1",
        protocol="HTTP",
        protocol_port=80,
        default_pool_id="p1",
        admin_state_up=listener_up,
        l7policies=policies,
    )
    return LoadBalancerSpec(
        id="lb",
        project_id="pr",
        generation=1,
        vip=VIP,
        admin_state_up=lb_up,
        listeners=(listener, *extra_listeners),
        pools=(pool, *extra_pools),
    )


def m(mid: str, **kw: object) -> MemberSpec:
    return MemberSpec(id=mid, address="198.51.100.1", protocol_port=80, **kw)  # type: ignore[arg-type]


# --- member rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "weight", "want"),
    [
        ("UP", 1, S.ONLINE),
        ("UP 1/3", 1, S.ONLINE),
        ("UP", 0, S.DRAINING),
        ("DOWN", 1, S.ERROR),
        ("DOWN 1/2", 1, S.ERROR),
        ("DOWN", 0, S.ERROR),
        ("MAINT", 1, S.OFFLINE),
        ("MAINT (via p1/x)", 1, S.OFFLINE),
        ("MAINT (resolution)", 1, S.OFFLINE),
        ("DRAIN", 1, S.DRAINING),
        ("DRAIN (agent)", 1, S.DRAINING),
        ("NOLB", 1, S.DRAINING),
        ("NOLB 1/2", 1, S.DRAINING),
        ("no check", 1, S.NO_MONITOR),
        ("no check", 0, S.DRAINING),
        ("", 1, S.OFFLINE),
        ("WEIRD", 1, S.OFFLINE),
    ],
)
def test_member_row_mapping(status: str, weight: int, want: S) -> None:
    assert member_status_from_row(srv("p1", "m1", status, weight)) == want


def test_member_admin_down_is_offline_whatever_the_row() -> None:
    st = compute_statuses(spec((m("m1", admin_state_up=False),)), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert st.members["m1"] == S.OFFLINE


def test_member_not_reported_is_offline() -> None:
    st = compute_statuses(spec((m("m1"), m("m2"))), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert st.members == {"m1": S.ONLINE, "m2": S.OFFLINE}


def test_member_in_two_backends_takes_the_worst() -> None:
    other = ListenerSpec(id="l2", protocol="HTTP", protocol_port=81, default_pool_id="p1")
    rows = [
        fe(),
        fe("l2"),
        be("p1"),
        be("p1", listener="l2"),
        srv("p1", "m1", "UP"),
        srv("p1", "m1", "DOWN", listener="l2"),
    ]
    st = compute_statuses(spec((m("m1"),), extra_listeners=(other,)), rows)
    assert st.members["m1"] == S.ERROR


# --- pools ------------------------------------------------------------------------------------------


def _pool(rows_status: list[tuple[str, str]], members: tuple[MemberSpec, ...] | None = None) -> S:
    members = members or tuple(m(mid) for mid, _ in rows_status)
    rows = [fe(), be("p1"), *(srv("p1", mid, s) for mid, s in rows_status)]
    return compute_statuses(spec(members), rows).pools["p1"]


def test_pool_online_when_all_up() -> None:
    assert _pool([("m1", "UP"), ("m2", "UP")]) == S.ONLINE


def test_pool_degraded_when_some_error() -> None:
    assert _pool([("m1", "UP"), ("m2", "DOWN")]) == S.DEGRADED


def test_pool_error_when_all_enabled_error() -> None:
    members = (m("m1"), m("m2"), m("m3", admin_state_up=False))
    assert _pool([("m1", "DOWN"), ("m2", "DOWN 1/2"), ("m3", "MAINT")], members) == S.ERROR


def test_pool_no_monitor_and_draining_count_as_up() -> None:
    assert _pool([("m1", "no check"), ("m2", "DRAIN")]) == S.ONLINE


def test_pool_with_members_but_none_enabled_is_error() -> None:
    assert _pool([("m1", "MAINT")], (m("m1", admin_state_up=False),)) == S.ERROR


def test_pool_without_members_on_a_listener_is_online() -> None:
    # HAProxy reports a backend with no servers UP; Octavia maps UP to ONLINE
    assert _pool([], ()) == S.ONLINE
    st = compute_statuses(spec(()), [fe(), be("p1")])
    assert (st.pools["p1"], st.listeners["l1"], st.loadbalancer) == (S.ONLINE, S.ONLINE, S.ONLINE)


def test_pool_error_when_haproxy_reports_its_backend_down() -> None:
    # e.g. its only server is a backup that is down too: measured by HAProxy, not inferred
    rows = [fe(), be("p1", "DOWN"), srv("p1", "m1", "DOWN"), srv("p1", "m2", "UP")]
    assert compute_statuses(spec((m("m1"), m("m2"))), rows).pools["p1"] == S.ERROR


def test_pool_admin_down_is_offline_with_offline_members() -> None:
    st = compute_statuses(spec((m("m1"),), pool_up=False), [fe(), be("p1"), srv("p1", "m1", "MAINT")])
    assert st.pools["p1"] == S.OFFLINE and st.members["m1"] == S.OFFLINE


def test_pool_not_reported_is_offline() -> None:
    unused = PoolSpec(id="p2", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=(m("m9"),))
    st = compute_statuses(spec((m("m1"),), extra_pools=(unused,)), [fe(), be("p1"), srv("p1", "m1", "UP")])
    # the pool is OFFLINE; its members are not in the result, so they keep their status (Octavia's health
    # manager leaves them: a member made NO_MONITOR stays so, octavia-tempest-plugin's member list test)
    assert st.pools["p2"] == S.OFFLINE and "m9" not in st.members
    disabled = PoolSpec(id="p3", protocol="HTTP", lb_algorithm="ROUND_ROBIN", admin_state_up=False, members=(m("m8"),))
    st = compute_statuses(spec((m("m1"),), extra_pools=(disabled,)), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert st.pools["p3"] == S.OFFLINE and st.members["m8"] == S.OFFLINE  # a disabled pool's members: OFFLINE


# --- health monitors --------------------------------------------------------------------------------

HM = HealthMonitorSpec(id="hm1", type="HTTP", delay=5, timeout=3, max_retries=2)


@pytest.mark.parametrize(
    ("rows", "pool_up", "listener_up"),
    [
        ([fe(), be("p1"), srv("p1", "m1", "UP")], True, True),
        ([fe(), be("p1", "DOWN"), srv("p1", "m1", "DOWN")], True, True),  # what it checks is down: members say so
        ([fe(), be("p1"), srv("p1", "m1", "MAINT")], False, True),  # its pool is offline
        ([], True, False),  # its pool is on no served listener
    ],
)
def test_hm_online_once_applied_whatever_its_pool(rows: list[Row], pool_up: bool, listener_up: bool) -> None:
    st = compute_statuses(spec((m("m1"),), hm=HM, pool_up=pool_up, listener_up=listener_up), rows)
    assert st.healthmonitors == {"hm1": S.ONLINE}


def test_hm_offline_when_disabled() -> None:
    off = HM.model_copy(update={"admin_state_up": False})
    rows = [fe(), be("p1"), srv("p1", "m1", "no check")]
    st = compute_statuses(spec((m("m1"),), hm=off), rows)
    assert st.healthmonitors == {"hm1": S.OFFLINE} and st.members["m1"] == S.NO_MONITOR


def test_members_without_a_monitor_are_no_monitor() -> None:
    st = compute_statuses(spec((m("m1"), m("m2"))), [fe(), be("p1"), srv("p1", "m1", "no check"),
                                                      srv("p1", "m2", "no check")])  # fmt: skip
    assert st.members == {"m1": S.NO_MONITOR, "m2": S.NO_MONITOR}
    assert (st.pools["p1"], st.listeners["l1"], st.loadbalancer) == (S.ONLINE, S.ONLINE, S.ONLINE)


# --- L7 policies and rules --------------------------------------------------------------------------


def _policy(pid: str, *, up: bool = True, rules: tuple[L7RuleSpec, ...] = ()) -> L7PolicySpec:
    return L7PolicySpec(id=pid, action="REJECT", position=1, admin_state_up=up, rules=rules)


def _rule(rid: str, *, up: bool = True) -> L7RuleSpec:
    return L7RuleSpec(id=rid, type="PATH", compare_type="STARTS_WITH", value="/", admin_state_up=up)


def test_l7_policies_and_rules_online_once_applied() -> None:
    pols = (_policy("pol1", rules=(_rule("r1"), _rule("r2", up=False))), _policy("pol2", up=False, rules=(_rule("r3"),)))
    st = compute_statuses(spec((m("m1"),), policies=pols), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert st.l7policies == {"pol1": S.ONLINE, "pol2": S.OFFLINE}
    assert st.l7rules == {"r1": S.ONLINE, "r2": S.OFFLINE, "r3": S.ONLINE}
    assert {k: st.by_id("lb")[k] for k in ("pol1", "pol2", "r1", "r2", "r3")} == {**st.l7policies, **st.l7rules}


def test_l7_offline_when_the_lb_is_down() -> None:
    pols = (_policy("pol1", rules=(_rule("r1"),)),)
    st = compute_statuses(spec((m("m1"),), policies=pols, lb_up=False), [])
    assert st.l7policies == {"pol1": S.OFFLINE} and st.l7rules == {"r1": S.OFFLINE}


# --- listeners --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "want"),
    [
        (None, S.ERROR),
        (fe(status="OPEN"), S.ONLINE),
        (fe(status="FULL"), S.DEGRADED),
        (fe(status="OPEN", scur=100, slim=100), S.DEGRADED),
        (fe(status="OPEN", scur=99, slim=100), S.ONLINE),
        (fe(status="STOP"), S.ERROR),
    ],
)
def test_frontend_mapping(row: Row | None, want: S) -> None:
    assert frontend_status(row) == want


def test_listener_online_whatever_its_pools() -> None:
    # Octavia: OPEN → ONLINE; a failing pool shows on the pool and the LB, not on the listener
    st = compute_statuses(
        spec((m("m1"), m("m2"))), [fe(), be("p1"), srv("p1", "m1", "UP"), srv("p1", "m2", "DOWN")]
    )
    assert (st.listeners["l1"], st.pools["p1"], st.loadbalancer) == (S.ONLINE, S.DEGRADED, S.DEGRADED)
    st = compute_statuses(spec((m("m1"),)), [fe(), be("p1", "DOWN"), srv("p1", "m1", "DOWN")])
    assert (st.listeners["l1"], st.pools["p1"], st.loadbalancer) == (S.ONLINE, S.ERROR, S.ERROR)


def test_l7_pool_error_shows_on_the_lb_not_the_listener() -> None:
    p2 = PoolSpec(id="p2", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=(m("m2"),))
    pol = L7PolicySpec(
        id="pol",
        action="REDIRECT_TO_POOL",
        position=1,
        redirect_pool_id="p2",
        rules=(L7RuleSpec(id="r", type="PATH", compare_type="STARTS_WITH", value="/"),),
    )
    rows = [fe(), be("p1"), srv("p1", "m1", "UP"), be("p2", "DOWN"), srv("p2", "m2", "DOWN")]
    st = compute_statuses(spec((m("m1"),), extra_pools=(p2,), policies=(pol,)), rows)
    assert st.pools == {"p1": S.ONLINE, "p2": S.ERROR}
    assert (st.listeners["l1"], st.loadbalancer) == (S.ONLINE, S.ERROR)


def test_listener_admin_down_is_offline() -> None:
    st = compute_statuses(spec((m("m1"),), listener_up=False), [])
    assert st.listeners["l1"] == S.OFFLINE
    assert st.pools["p1"] == S.OFFLINE  # nothing routes to it, so HAProxy does not report it


def test_missing_frontend_is_error() -> None:
    st = compute_statuses(spec((m("m1"),)), [be("p1"), srv("p1", "m1", "UP")])
    assert st.listeners["l1"] == S.ERROR and st.loadbalancer == S.ERROR


def test_udp_listeners_and_pools_are_left_out() -> None:
    udp_pool = PoolSpec(id="pu", protocol="UDP", lb_algorithm="ROUND_ROBIN", members=(m("mu"),))
    udp = ListenerSpec(id="lu", protocol="UDP", protocol_port=53, default_pool_id="pu")
    st = compute_statuses(
        spec((m("m1"),), extra_listeners=(udp,), extra_pools=(udp_pool,)),
        [fe(), be("p1"), srv("p1", "m1", "UP")],
    )
    assert "lu" not in st.listeners and "pu" not in st.pools and "mu" not in st.members
    assert st.loadbalancer == S.ONLINE


# --- load balancer ----------------------------------------------------------------------------------


def test_lb_online() -> None:
    st = compute_statuses(spec((m("m1"),)), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert st.loadbalancer == S.ONLINE
    assert st.by_id("lb") == {"lb": S.ONLINE, "l1": S.ONLINE, "p1": S.ONLINE, "m1": S.ONLINE}


def test_lb_degraded() -> None:
    st = compute_statuses(
        spec((m("m1"), m("m2"))), [fe(), be("p1"), srv("p1", "m1", "UP"), srv("p1", "m2", "DOWN")]
    )
    assert st.loadbalancer == S.DEGRADED


def test_lb_degraded_when_full() -> None:
    st = compute_statuses(spec((m("m1"),)), [fe(status="FULL"), be("p1"), srv("p1", "m1", "UP")])
    assert st.loadbalancer == S.DEGRADED


def test_lb_error_when_a_pool_is_error() -> None:
    st = compute_statuses(spec((m("m1"),)), [fe(), be("p1", "DOWN"), srv("p1", "m1", "DOWN")])
    assert st.loadbalancer == S.ERROR


def test_lb_admin_down_is_offline_everywhere() -> None:
    st = compute_statuses(spec((m("m1"),), hm=HM, lb_up=False), [fe(), be("p1"), srv("p1", "m1", "UP")])
    assert set(st.by_id("lb").values()) == {S.OFFLINE}
    assert set(st.by_id("lb")) == {"lb", "l1", "p1", "m1", "hm1"}


def test_lb_without_listeners_is_online() -> None:
    empty = LoadBalancerSpec(id="lb", project_id="pr", generation=1, vip=VIP)
    assert compute_statuses(empty, []).loadbalancer == S.ONLINE


# --- counters ---------------------------------------------------------------------------------------


def test_listener_counters_from_frontend_row_only() -> None:
    rows = [
        fe(scur=3, stot=10, bin=100, bout=200, ereq=1),
        Row(haproxy_backend_name("p1", "l1"), "BACKEND", StatType.BACKEND, "UP", scur=99, bin=9999),
    ]
    counters = listener_counters(spec((m("m1"),), listener_up=False), rows)
    assert counters == {"l1": ListenerCounters(100, 200, 3, 10, 1)}


def test_listener_counters_zero_when_not_reported() -> None:
    assert listener_counters(spec(), []) == {"l1": ListenerCounters()}


def test_loadbalancer_counters_sum() -> None:
    total = loadbalancer_counters(
        {"a": ListenerCounters(1, 2, 3, 4, 5), "b": ListenerCounters(10, 20, 30, 40, 50)}
    )
    assert total == ListenerCounters(11, 22, 33, 44, 55)


def test_member_counters_sum_the_rows_of_every_backend_of_the_pool() -> None:
    """A pool used by two listeners has a backend (and a server row per member) for each."""
    pool = PoolSpec(id="p1", protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                    members=(MemberSpec(id="m1", address="10.0.0.1", protocol_port=80),
                             MemberSpec(id="m2", address="10.0.0.2", protocol_port=80)))  # fmt: skip
    spec = LoadBalancerSpec(id="lb", project_id="p", generation=1, vip=VIP, pools=(pool,),
                            listeners=(ListenerSpec(id="l1", protocol="HTTP", protocol_port=80, default_pool_id="p1"),
                                       ListenerSpec(id="l2", protocol="HTTP", protocol_port=81, default_pool_id="p1")))  # fmt: skip
    rows = [
        Row(haproxy_backend_name("p1", "l1"), "m1", StatType.SERVER, "UP", scur=1, stot=10, bin=100, bout=1000, econ=1),
        Row(haproxy_backend_name("p1", "l2"), "m1", StatType.SERVER, "UP", scur=2, stot=5, bin=50, bout=500, eresp=2),
        Row(haproxy_backend_name("p1", "l1"), "BACKEND", StatType.BACKEND, "UP", stot=99),
        fe("l1", stot=77),
    ]
    out = member_counters(spec, rows)
    assert out == {
        "member:m1": ListenerCounters(bytes_in=150, bytes_out=1500, active_connections=3, total_connections=15,
                                      request_errors=3),
        "member:m2": ListenerCounters(),  # no row: zeros
    }  # fmt: skip
    assert not set(out) & set(listener_counters(spec, rows))  # one report carries both without collisions
