"""Parsing real HAProxy 2.6 admin-socket output, and feeding it to the status logic.

``data/show_stat.csv`` and ``data/show_servers_state.txt`` were captured from haproxy 2.6.12 running
``data/capture-haproxy.cfg`` (rendered by our renderer) on 127.0.0.1:19001-19003, with a Python HTTP
server on 19010/19011, nothing on 19018/19019, seven requests to 19001, one to 19003, and two TCP
connections held open on 19002 (connection_limit 2). ``capture_spec()`` is the spec it was rendered from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbaas.agent.haproxy.stats import StatRow, StatsParseError, parse_server_state, parse_show_stat
from lbaas.domain.enums import OperatingStatus as S
from lbaas.domain.spec import HealthMonitorSpec, ListenerSpec, LoadBalancerSpec, MemberSpec, PoolSpec, VipSpec
from lbaas.domain.status import StatType, compute_statuses, listener_counters, loadbalancer_counters

DATA = Path(__file__).parent / "data"


def capture_spec() -> LoadBalancerSpec:
    hm = HealthMonitorSpec(id="hm-a", type="HTTP", delay=1, timeout=1, max_retries=1, max_retries_down=1)
    members = (
        MemberSpec(id="member-up", address="127.0.0.1", protocol_port=19010),
        MemberSpec(id="member-down", address="127.0.0.1", protocol_port=19019),
        MemberSpec(id="member-maint", address="127.0.0.1", protocol_port=19011, admin_state_up=False),
        MemberSpec(id="member-drain", address="127.0.0.1", protocol_port=19011, weight=0),
        MemberSpec(id="member-backup", address="127.0.0.1", protocol_port=19011, backup=True),
    )
    pools = (
        PoolSpec(id="pool-a", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members, healthmonitor=hm),
        PoolSpec(
            id="pool-b",
            protocol="TCP",
            lb_algorithm="ROUND_ROBIN",
            members=(MemberSpec(id="member-nocheck", address="127.0.0.1", protocol_port=19011),),
        ),
        PoolSpec(
            id="pool-c",
            protocol="HTTP",
            lb_algorithm="ROUND_ROBIN",
            members=(MemberSpec(id="member-dead", address="127.0.0.1", protocol_port=19018),),
            healthmonitor=hm.model_copy(update={"id": "hm-c"}),
        ),
    )
    listeners = (
        ListenerSpec(id="listener-http", protocol="HTTP", protocol_port=19001, default_pool_id="pool-a"),
        ListenerSpec(
            id="listener-tcp",
            protocol="TCP",
            protocol_port=19002,
            default_pool_id="pool-b",
            connection_limit=2,
        ),
        ListenerSpec(id="listener-dead", protocol="HTTP", protocol_port=19003, default_pool_id="pool-c"),
    )
    vip = VipSpec(
        address="127.0.0.1", prefixlen=8, port_id="p", mac_address="m", subnet_id="s", network_id="n"
    )
    return LoadBalancerSpec(
        id="lb-capture", project_id="p", generation=1, vip=vip, listeners=listeners, pools=pools
    )


@pytest.fixture(scope="module")
def rows() -> list[StatRow]:
    return parse_show_stat((DATA / "show_stat.csv").read_text())


def _row(rows: list[StatRow], px: str, sv: str) -> StatRow:
    return next(r for r in rows if r.pxname == px and r.svname == sv)


def test_parse_types_and_counts(rows: list[StatRow]) -> None:
    assert len(rows) == 13
    kinds = [r.type for r in rows]
    assert kinds.count(StatType.FRONTEND) == 3
    assert kinds.count(StatType.BACKEND) == 3
    assert kinds.count(StatType.SERVER) == 7


def test_frontend_row(rows: list[StatRow]) -> None:
    fe = _row(rows, "listener-http", "FRONTEND")
    assert fe.is_frontend and fe.status == "OPEN"
    assert (fe.scur, fe.stot, fe.bin, fe.bout, fe.ereq) == (0, 7, 721, 812, 0)
    assert fe.slim == 9000 and fe.mode == "http" and fe.weight is None
    tcp = _row(rows, "listener-tcp", "FRONTEND")
    assert (tcp.scur, tcp.slim, tcp.stot) == (2, 2, 2)


def test_server_rows(rows: list[StatRow]) -> None:
    up = _row(rows, "pool-a:listener-http", "member-up")
    assert up.is_server and up.status == "UP" and up.weight == 1
    assert up.check_status == "L7OK" and up.check_code == 200 and up.addr == "127.0.0.1:19010"
    assert up.raw["check_desc"] == "Layer7 check passed"
    down = _row(rows, "pool-a:listener-http", "member-down")
    assert down.status == "DOWN" and down.check_status == "L4CON" and down.check_code is None
    assert _row(rows, "pool-a:listener-http", "member-maint").status == "MAINT"
    drain = _row(rows, "pool-a:listener-http", "member-drain")
    assert drain.status == "UP" and drain.weight == 0
    assert _row(rows, "pool-a:listener-http", "member-backup").bck == 1
    assert _row(rows, "pool-b:listener-tcp", "member-nocheck").status == "no check"


def test_backend_rows(rows: list[StatRow]) -> None:
    assert _row(rows, "pool-a:listener-http", "BACKEND").status == "UP"
    dead = _row(rows, "pool-c:listener-dead", "BACKEND")
    assert dead.is_backend and dead.status == "DOWN" and dead.hrsp_5xx == 1


def test_parse_tolerates_extra_and_missing_columns() -> None:
    text = "# pxname,svname,scur,type,status,brand_new\nfe,FRONTEND,3,0,OPEN,x\nbe,s1,,2,UP\n"
    fe, srv = parse_show_stat(text)
    assert fe.scur == 3 and fe.raw["brand_new"] == "x" and fe.stot == 0
    assert srv.type == StatType.SERVER and srv.scur == 0 and srv.weight is None


@pytest.mark.parametrize(
    "text",
    ["", "pxname,svname\nfe,FRONTEND", "# foo,bar\n", "# pxname,svname,type\nfe,FRONTEND,9\n"],
)
def test_parse_refuses_garbage(text: str) -> None:
    with pytest.raises(StatsParseError):
        parse_show_stat(text)


def test_parse_server_state() -> None:
    states = parse_server_state((DATA / "show_servers_state.txt").read_text())
    assert len(states) == 7
    by_name = {s.srv_name: s for s in states}
    assert by_name["member-up"].be_name == "pool-a:listener-http"
    assert by_name["member-up"].srv_op_state == 2 and not by_name["member-up"].in_maintenance
    assert by_name["member-down"].srv_op_state == 0
    assert by_name["member-maint"].in_maintenance and by_name["member-maint"].srv_admin_state == 5
    assert by_name["member-drain"].srv_uweight == 0 and not by_name["member-drain"].draining
    assert by_name["member-up"].srv_port == 19010


@pytest.mark.parametrize(("text", "n"), [("", 0), ("1\n", 0)])
def test_parse_server_state_empty(text: str, n: int) -> None:
    assert len(parse_server_state(text)) == n


@pytest.mark.parametrize("text", ["2\n# be_id\n", "1\nno header\n", "1\n# be_id be_name\nx y\n"])
def test_parse_server_state_refuses_garbage(text: str) -> None:
    with pytest.raises(StatsParseError):
        parse_server_state(text)


def test_captured_statuses(rows: list[StatRow]) -> None:
    """The whole chain on real output: every rule of lbaas.domain.status that the capture exercises."""
    st = compute_statuses(capture_spec(), rows)
    assert st.members == {
        "member-up": S.ONLINE,
        "member-down": S.ERROR,
        "member-maint": S.OFFLINE,
        "member-drain": S.DRAINING,
        "member-backup": S.ONLINE,
        "member-nocheck": S.NO_MONITOR,
        "member-dead": S.ERROR,
    }
    assert st.pools == {"pool-a": S.DEGRADED, "pool-b": S.ONLINE, "pool-c": S.ERROR}
    assert st.listeners == {
        "listener-http": S.ONLINE,  # OPEN (its DEGRADED pool shows on the pool and the LB, as in Octavia)
        "listener-tcp": S.DEGRADED,  # scur reached slim
        "listener-dead": S.ONLINE,  # OPEN, though its only pool is ERROR (so is the LB)
    }
    assert st.healthmonitors == {"hm-a": S.ONLINE, "hm-c": S.ONLINE}
    assert st.loadbalancer == S.ERROR


def test_captured_counters(rows: list[StatRow]) -> None:
    counters = listener_counters(capture_spec(), rows)
    http = counters["listener-http"]
    assert (http.bytes_in, http.bytes_out, http.active_connections, http.total_connections) == (
        721,
        812,
        0,
        7,
    )
    assert http.request_errors == 0
    assert counters["listener-tcp"].active_connections == 2
    total = loadbalancer_counters(counters)
    assert total.bytes_in == 721 + 103 and total.total_connections == 7 + 2 + 1
