"""plan_runtime: which config differences become runtime commands, and which need a reload (None).

Texts come from the real renderer, so the parser is tested against what the agent really writes."""

from __future__ import annotations

from typing import Any

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.agent.haproxy.runtime_plan import parse_layout, plan_runtime
from lbaas.domain.spec import LoadBalancerSpec, SessionPersistenceSpec
from tests.unit.agent.haproxy.cases import hm, http_lb, member

OPTS = RenderOptions(stats_socket_path="/run/lb/stats.sock", server_state_file="/run/lb/state")
BE = "pool-a:listener-80"


def cfg(*members: Any, **pool_kw: Any) -> str:
    return render_haproxy(http_lb(members=tuple(members), **pool_kw), OPTS)


def texts(plan: Any) -> list[str]:
    assert plan is not None
    return [c.text for c in plan]


M1 = member("member-1", "198.51.100.11")
M2 = member("member-2", "198.51.100.12")
M3 = member("member-3", "198.51.100.13", 8080)


def test_parse_layout_finds_every_server_with_its_keywords() -> None:
    layout = parse_layout(cfg(M1, M2, healthmonitor=hm()))
    servers = layout.servers[BE]
    assert list(servers) == ["member-1", "member-2"]
    s = servers["member-1"]
    assert s.address == "198.51.100.11:80"
    assert s.value("weight") == "1" and s.has("check") and s.value("inter") == "5s"
    assert layout.balance[BE] == "roundrobin"


def test_identical_texts_need_nothing() -> None:
    assert plan_runtime(cfg(M1), cfg(M1)) == []


def test_member_added_is_added_enabled_and_checked() -> None:
    plan = plan_runtime(cfg(M1, M2, healthmonitor=hm()), cfg(M1, M2, M3, healthmonitor=hm()))
    assert texts(plan) == [
        f"add server {BE}/member-3 198.51.100.13:8080 weight 1 check inter 5s fall 3 rise 2",
        f"enable health {BE}/member-3",
        f"enable server {BE}/member-3",
    ]
    assert plan is not None and plan[0].expect == "New server registered." and not plan[0].best_effort


def test_member_added_without_monitor_has_no_health_step() -> None:
    assert texts(plan_runtime(cfg(M1), cfg(M1, M2))) == [
        f"add server {BE}/member-2 198.51.100.12:80 weight 1",
        f"enable server {BE}/member-2",
    ]


def test_disabled_member_added_stays_in_maintenance() -> None:
    down = member("member-2", "198.51.100.12", admin_state_up=False)
    assert texts(plan_runtime(cfg(M1), cfg(M1, down))) == [f"add server {BE}/member-2 198.51.100.12:80 weight 1"]


def test_member_removed_goes_to_maintenance_then_is_deleted_best_effort() -> None:
    plan = plan_runtime(cfg(M1, M2), cfg(M1))
    assert texts(plan) == [f"set server {BE}/member-2 state maint", f"del server {BE}/member-2"]
    assert plan is not None and [c.best_effort for c in plan] == [False, True]
    assert plan[1].expect == "Server deleted."


def test_replacing_a_member_adds_before_it_removes() -> None:
    assert texts(plan_runtime(cfg(M1), cfg(M2))) == [
        f"add server {BE}/member-2 198.51.100.12:80 weight 1",
        f"enable server {BE}/member-2",
        f"set server {BE}/member-1 state maint",
        f"del server {BE}/member-1",
    ]


def test_weight_and_admin_state_are_set_in_place() -> None:
    heavy = member("member-2", "198.51.100.12", weight=7)
    assert texts(plan_runtime(cfg(M1, M2), cfg(M1, heavy))) == [f"set server {BE}/member-2 weight 7"]
    off = member("member-2", "198.51.100.12", admin_state_up=False)
    assert texts(plan_runtime(cfg(M1, M2), cfg(M1, off))) == [f"set server {BE}/member-2 state maint"]
    assert texts(plan_runtime(cfg(M1, off), cfg(M1, M2))) == [f"set server {BE}/member-2 state ready"]


def test_address_or_check_parameter_changes_need_a_reload() -> None:
    moved = member("member-2", "198.51.100.99")
    assert plan_runtime(cfg(M1, M2), cfg(M1, moved)) is None
    monitored = member("member-2", "198.51.100.12", monitor_port=9000)
    assert plan_runtime(cfg(M1, M2, healthmonitor=hm()), cfg(M1, monitored, healthmonitor=hm())) is None
    backup = member("member-2", "198.51.100.12", backup=True)
    assert plan_runtime(cfg(M1, M2), cfg(M1, backup)) is None


def test_anything_outside_server_lines_needs_a_reload() -> None:
    assert plan_runtime(cfg(M1), cfg(M1, healthmonitor=hm())) is None  # a monitor added
    assert plan_runtime(cfg(M1, M2), cfg(M1, M3, lb_algorithm="LEAST_CONNECTIONS")) is None
    a = http_lb(members=(M1,))
    b = http_lb({"timeout_client_data": 1234}, members=(M1, M2))
    assert plan_runtime(render_haproxy(a, OPTS), render_haproxy(b, OPTS)) is None


def test_static_algorithms_and_cookie_servers_cannot_get_dynamic_servers() -> None:
    assert plan_runtime(cfg(M1, lb_algorithm="SOURCE_IP"), cfg(M1, M2, lb_algorithm="SOURCE_IP")) is None
    cookie = SessionPersistenceSpec(type="HTTP_COOKIE")
    assert plan_runtime(cfg(M1, session_persistence=cookie), cfg(M1, M2, session_persistence=cookie)) is None
    # removals and weights stay possible there: no dynamic server is created
    assert plan_runtime(cfg(M1, M2, lb_algorithm="SOURCE_IP"), cfg(M1, lb_algorithm="SOURCE_IP")) is not None


def test_first_and_last_member_of_a_pool() -> None:
    assert texts(plan_runtime(cfg(), cfg(M1))) == [
        f"add server {BE}/member-1 198.51.100.11:80 weight 1", f"enable server {BE}/member-1",
    ]
    assert texts(plan_runtime(cfg(M1), cfg())) == [f"set server {BE}/member-1 state maint", f"del server {BE}/member-1"]


def test_unparsable_or_foreign_text_is_refused() -> None:
    good = cfg(M1)
    assert plan_runtime(good, good.replace("server member-1 198.51.100.11:80 weight 1", "server member-1")) is None
    assert plan_runtime("", good) is None


def test_disabled_load_balancer_has_no_backends() -> None:
    lb: LoadBalancerSpec = http_lb(members=(M1,)).model_copy(update={"admin_state_up": False})
    assert plan_runtime(render_haproxy(lb, OPTS), cfg(M1)) is None
