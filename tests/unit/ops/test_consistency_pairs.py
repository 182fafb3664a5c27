"""The pure parts of ``lbaas.tools.consistency`` for ACTIVE_STANDBY instances: reading a rendered
keepalived.conf back, judging one instance, and judging the instances of one LB together."""

from __future__ import annotations

import dataclasses

import pytest

from lbaas.agent.keepalived.render import KeepalivedSpec, render_keepalived
from lbaas.tools.consistency import InstanceFacts, KeepalivedConf, judge_instance, judge_pair, parse_keepalived

LB = "lb-1"
TRACK = "/var/lib/lbaas/lb/lb-1/haproxy.track"


def conf_text(src: str, peer: str, vip: str = "10.0.0.10", *, prefixlen: int = 24, vrid: int = 7,
              interface: str = "lbv-aaaaaaaaaaa") -> str:  # fmt: skip
    return render_keepalived(KeepalivedSpec(name=LB, interface=interface, vips=((vip, prefixlen),),
                                            virtual_router_id=vrid, priority=100, unicast_src_ip=src,
                                            unicast_peers=(peer,), track_file=TRACK))  # fmt: skip


def facts(host: str, src: str, peer: str, *, holds: bool, **kw: object) -> InstanceFacts:
    conf = parse_keepalived(conf_text(src, peer))
    addresses = frozenset({src, "10.0.0.10"} if holds else {src})
    base = InstanceFacts(host, conf, TRACK, addresses, None, "0")
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_a_rendered_keepalived_conf_reads_back() -> None:
    assert parse_keepalived(conf_text("10.0.0.11", "10.0.0.12")) == KeepalivedConf(
        interface="lbv-aaaaaaaaaaa", src="10.0.0.11", peers=("10.0.0.12",), vips=("10.0.0.10",), track_file=TRACK,
        virtual_router_id=7)  # fmt: skip


def test_ipv6_addresses_read_back_canonical() -> None:
    text = conf_text("fd00:0:0::11", "fd00::12", "FD00::10", prefixlen=64)
    c = parse_keepalived(text)
    assert (c.src, c.peers, c.vips) == ("fd00::11", ("fd00::12",), ("fd00::10",))


def test_a_healthy_instance_has_no_problems_master_or_backup() -> None:
    assert judge_instance(LB, "10.0.0.10", facts("a", "10.0.0.11", "10.0.0.12", holds=True)) == []
    assert judge_instance(LB, "10.0.0.10", facts("b", "10.0.0.12", "10.0.0.11", holds=False)) == []


BROKEN = {
    "another VIP in the conf": ({"conf": parse_keepalived(conf_text("10.0.0.11", "10.0.0.12", "10.0.0.99"))},
                                "does not name the VIP"),
    "another track file": ({"track_path": "/elsewhere/haproxy.track"}, "tracks"),
    "interface missing": ({"addresses": None}, "missing in its namespace"),
    "own address missing": ({"addresses": frozenset({"10.0.0.10"})}, "lacks the instance's own address 10.0.0.11"),
    "keepalived not running": ({"keepalived": "no keepalived pid file"}, "no keepalived pid file"),
    "no track file": ({"track": None}, "no track file"),
    "track file in FAULT": ({"track": "1"}, "track file says '1'"),
}  # fmt: skip


@pytest.mark.parametrize("change,expected", BROKEN.values(), ids=BROKEN.keys())
def test_what_is_wrong_with_one_instance_is_said(change: dict[str, object], expected: str) -> None:
    problems = judge_instance(LB, "10.0.0.10", facts("a", "10.0.0.11", "10.0.0.12", holds=True, **change))
    assert len(problems) == 1 and expected in problems[0] and "instance on a" in problems[0], problems


def test_exactly_one_instance_holds_the_vip() -> None:
    a = facts("a", "10.0.0.11", "10.0.0.12", holds=True)
    b = facts("b", "10.0.0.12", "10.0.0.11", holds=False)
    assert judge_pair(LB, "10.0.0.10", [a, b]) == []
    both = judge_pair(LB, "10.0.0.10", [a, dataclasses.replace(b, addresses=frozenset({"10.0.0.12", "10.0.0.10"}))])
    assert len(both) == 1 and "held by 2 instances ['a', 'b']" in both[0]
    none = judge_pair(LB, "10.0.0.10", [dataclasses.replace(a, addresses=frozenset({"10.0.0.11"})), b])
    assert len(none) == 1 and "held by 0 instances" in none[0]
    assert judge_pair(LB, "10.0.0.10", [b]) == []  # one visible: its peer may hold the VIP elsewhere


def test_the_instances_name_each_other_and_share_a_virtual_router_id() -> None:
    a = facts("a", "10.0.0.11", "10.0.0.12", holds=True)
    stranger = facts("b", "10.0.0.12", "10.0.0.13", holds=False)
    problems = judge_pair(LB, "10.0.0.10", [a, stranger])
    assert problems == [f"LB {LB} instance on b: unicast peers ['10.0.0.13'], not ['10.0.0.11']"]
    other_vrid = dataclasses.replace(facts("b", "10.0.0.12", "10.0.0.11", holds=False),
                                     conf=parse_keepalived(conf_text("10.0.0.12", "10.0.0.11", vrid=8)))  # fmt: skip
    problems = judge_pair(LB, "10.0.0.10", [a, other_vrid])
    assert len(problems) == 1 and "virtual router ids ['7', '8']" in problems[0]
