"""Property: no input gives a 5xx, and every load balancer the API accepts renders into a config that
``haproxy -c`` accepts.

Hypothesis draws whole load-balancer graphs (listeners, pools, members, health monitors, L7 policies
and rules) with hostile leaves: strings from every Unicode category (lone surrogates included), numbers
up to and past the bounds (2^63 too), addresses in every spelling (exploded, upper case, IPv4-mapped,
with a zone index), and sends them through the real app (the contract ``client`` fixture, noop
provider). Each accepted LB is built into a spec by lbaas/db/to_spec.py, rendered by the real renderer
and checked by ``haproxy -c``.

Bounded in the suite (``HYPOTHESIS_MAX_EXAMPLES``, default 25; SQLite only, as rendering does
not depend on the database and the contract tests cover both); the long run is
``HYPOTHESIS_MAX_EXAMPLES=5000 pytest --timeout 0 tests/contract/test_hostile_property.py -k sqlite`` (docs/hostile-input.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lbaas.agent.haproxy.render import render_haproxy
from lbaas.db import models as m
from lbaas.db.to_spec import to_spec
from tests.contract.helpers import LB, Cloud
from tests.unit.agent.haproxy import cases as c

HAPROXY = os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy")
MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "25"))
pytestmark = pytest.mark.skipif(not (os.path.exists(HAPROXY) or shutil.which(HAPROXY)), reason="no haproxy")

# ------------------------------------------------------------------------------------------ leaves
# Two kinds of example: ``valid=True`` draws only values that should be accepted, at their edges (every
# printable Unicode category, every spelling of an address, numbers at their bounds), so that many LBs
# are accepted and rendered; ``valid=False`` mixes in hostile values (surrogates, controls, zone indexes,
# numbers past the bounds, quote/comment characters in bare names).

ANY_CHAR = st.characters(codec=None, categories=None)  # every category, surrogates (Cs) included
PRINTABLE = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])  # letters, marks, symbols, RTL, emoji...
hostile_text = st.text(ANY_CHAR, max_size=40)
weird_text = st.text(PRINTABLE, max_size=40)
NASTY = ["", "a'b", "a#b", "$HOME", "%[src]", "a b", '"q"', "\\", "a,b", "x(y)"]
token = st.from_regex(r"\A[A-Za-z0-9!&*+.^_`|~-]{1,20}\Z")
BIG = [-1, 2**31, 2**63 - 1, 2**63, 2**64, 2_147_484, 2_073_600_001, 65536, 10**30]


def mix(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], valid: bool) -> st.SearchStrategy[Any]:
    """``good``; in a hostile example, ``bad`` one time in eight, so that most hostile examples carry a
    few hostile leaves in an otherwise valid graph (and an accepted one gets rendered)."""
    return good if valid else st.one_of(*([good] * 7), bad)


def text(valid: bool) -> st.SearchStrategy[str]:
    return mix(weird_text, st.one_of(hostile_text, st.sampled_from(NASTY)), valid)


def name_token(valid: bool) -> st.SearchStrategy[str]:
    return token if valid else st.one_of(token, st.sampled_from(NASTY), hostile_text)  # bare names: often nasty


def ints(lo: int, hi: int, valid: bool) -> st.SearchStrategy[int]:
    edges = st.sampled_from([lo, hi])
    return mix(st.one_of(st.integers(lo, hi), edges), st.one_of(st.sampled_from(BIG), st.integers(-(2**70), 2**70)), valid)


def _spellings(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, valid: bool) -> st.SearchStrategy[str]:
    forms = [addr.compressed]
    if addr.version == 6:
        forms += [addr.exploded, addr.compressed.upper()]
        if not valid:
            forms += [addr.compressed + "%lo", addr.compressed + "%eth0]:1 #"]
    elif not valid:
        forms += [f"::ffff:{addr}", str(addr) + "%1"]
    return st.sampled_from(forms)


def address(valid: bool) -> st.SearchStrategy[str]:
    out = st.one_of(
        st.ip_addresses(v=4, network="10.0.0.0/24").flatmap(lambda a: _spellings(a, valid)),
        st.ip_addresses(v=6, network="2001:db8::/64").flatmap(lambda a: _spellings(a, valid)),
    )
    bad = st.sampled_from(["169.254.169.254", "::ffff:169.254.169.254", "fe80::1%lo", "::1%lo]:8080 #"])
    return mix(out, st.one_of(st.ip_addresses().flatmap(lambda a: _spellings(a, False)), bad, hostile_text), valid)


def expected_codes(valid: bool) -> st.SearchStrategy[str]:
    good = st.one_of(
        st.integers(200, 599).map(str),
        st.tuples(st.integers(200, 599), st.integers(200, 599)).map(lambda t: f"{min(t)}-{max(t)}"),
        st.lists(st.integers(200, 599), min_size=1, max_size=4).map(lambda c: ",".join(map(str, c))),
    )
    bad = st.one_of(st.sampled_from(["000", "099", "599-100", "200-600"]), st.from_regex(r"\A[0-9]{3}(-[0-9]{3})?\Z"), hostile_text)
    return mix(good, bad, valid)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# ------------------------------------------------------------------------------------------ objects


def graph(valid: bool) -> st.SearchStrategy[dict[str, Any]]:
    t = text(valid)
    healthmonitor = st.builds(
        lambda ty, delay, timeout, retries, codes, path: drop_none(
            {"type": ty, "delay": delay, "timeout": timeout, "max_retries": retries,
             "expected_codes": codes if ty == "HTTP" else None, "url_path": path if ty == "HTTP" else None}  # fmt: skip
        ),
        st.sampled_from(["HTTP", "TCP", "PING", "TLS-HELLO"]),
        ints(0, 2_147_483, valid),
        ints(0, 2_147_483, valid),
        ints(1, 10, valid),
        maybe(expected_codes(valid)),
        maybe(mix(st.from_regex(r"\A/[A-Za-z0-9/._~%!$&'()*+,;=:@-]{0,30}\Z"), t.map(lambda x: "/" + x), valid)),
    )
    member = st.builds(
        lambda addr, port, weight, mon: drop_none(
            {"address": addr, "protocol_port": port, "weight": weight, "monitor_address": mon}
        ),
        address(valid),
        ints(1, 65535, valid),
        maybe(ints(0, 256, valid)),
        maybe(address(valid)),
    )
    session_persistence = st.one_of(
        st.builds(lambda n: {"type": "APP_COOKIE", "cookie_name": n}, name_token(valid)),
        st.just({"type": "HTTP_COOKIE"}),
        st.just({"type": "SOURCE_IP"}),
    )
    pool = st.builds(
        lambda name, members, hm, sp: drop_none(
            {"name": name, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "members": members,
             "healthmonitor": hm, "session_persistence": sp}  # fmt: skip
        ),
        st.just("p1"),
        st.lists(member, max_size=3, unique_by=lambda mb: (str(mb["address"]).lower(), mb["protocol_port"])),
        maybe(healthmonitor),
        maybe(session_persistence),
    )
    rule = st.builds(
        lambda ty, cmp, key, value: drop_none(
            {"type": ty, "compare_type": cmp, "key": key if ty in ("HEADER", "COOKIE") else None, "value": value}
        ),
        st.sampled_from(["HEADER", "COOKIE", "PATH", "HOST_NAME"] + ([] if valid else ["FILE_TYPE"])),
        st.sampled_from(["EQUAL_TO", "STARTS_WITH", "ENDS_WITH", "CONTAINS"]),
        name_token(valid),
        mix(st.from_regex(r"\A[A-Za-z0-9._/-]{1,20}\Z"), st.one_of(t, hostile_text), valid),
    )
    policy = st.builds(
        lambda action, rules, url: drop_none(
            {"action": action, "rules": rules, "redirect_url": url if action == "REDIRECT_TO_URL" else None}
        ),
        st.sampled_from(["REJECT", "REDIRECT_TO_URL"]),
        st.lists(rule, min_size=1, max_size=2),
        mix(st.just("https://example.com/x"), t.map(lambda x: "http://" + x), valid),
    )
    cidr = st.one_of(
        st.builds(lambda a, n: str(ipaddress.ip_network(f"{a}/{n}", strict=False)), st.ip_addresses(v=4), st.integers(0, 32)),
        st.sampled_from(["10.0.0.0/8", "0.0.0.0/0"]),
    )
    cidr = mix(cidr, st.one_of(st.sampled_from(["fe80::%lo/64", "10.0.0.1%x/32", "2001:db8::/64"]), hostile_text), valid)
    headers = st.dictionaries(
        mix(st.sampled_from(["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"]), name_token(False), valid),
        mix(st.sampled_from(["true", "false"]), t, valid),
        max_size=2,
    )
    listener = st.builds(
        lambda port, limit, tcd, hdrs, cidrs, policies: drop_none(
            {"name": "l1", "protocol": "HTTP", "protocol_port": port, "connection_limit": limit,
             "timeout_client_data": tcd, "insert_headers": hdrs, "allowed_cidrs": cidrs,
             "default_pool": {"name": "p1"}, "l7policies": policies}  # fmt: skip
        ),
        ints(1, 65535, valid),
        maybe(ints(-1, 1_000_000, valid)),
        maybe(ints(0, 2_073_600_000, valid)),
        maybe(headers),
        maybe(st.lists(cidr, min_size=1, max_size=130)),
        maybe(st.lists(policy, max_size=2)),
    )
    return st.builds(
        lambda name, vip, listeners, pools: drop_none(
            {"name": name, "vip_address": vip, "listeners": listeners, "pools": pools}
        ),
        maybe(t),
        maybe(mix(st.integers(2, 126).map(lambda n: f"10.0.0.{n}"), address(False), valid)),
        st.lists(listener, max_size=1),
        st.lists(pool, min_size=1, max_size=1),
    )


# ------------------------------------------------------------------------------------------ property


def _haproxy_check(text_cfg: str, workdir: Path) -> None:
    text_cfg = text_cfg.replace(c.RUN_DIR, str(workdir))
    (workdir / "servers-state").write_text("1\n")
    cfg = workdir / "haproxy.cfg"
    cfg.write_text(text_cfg)
    proc = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + text_cfg


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=st.one_of(graph(valid=True), graph(valid=False)))
def test_no_5xx_and_every_accepted_lb_renders(cloud: Cloud, db_url: str, tmp_path: Path, body: dict[str, Any]) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only (budget)")
    body = {**body, "vip_subnet_id": cloud.subnet_id}
    payload = json.dumps({"loadbalancer": body}, ensure_ascii=True)  # lone surrogates travel as \udXXX
    r = cloud.client.post(LB, content=payload, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    event(f"status {r.status_code}")
    if r.status_code == 400 and os.environ.get("HX_SHOW"):  # HX_SHOW=1: why requests were refused
        event(r.json()["faultstring"][:60])
    if r.status_code != 201:
        assert r.status_code in (400, 404, 409), r.text
        return
    lb_id = r.json()["loadbalancer"]["id"]
    cloud.settle()
    with cloud.db.read() as s:
        row = s.get(m.LoadBalancer, lb_id)
        assert row is not None
        spec = to_spec(s, row)
    _haproxy_check(render_haproxy(spec, c.OPTS), tmp_path)
    assert cloud.client.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
    cloud.settle()


def _render_check(cloud: Cloud, lb_id: str, workdir: Path) -> None:
    cloud.settle()
    with cloud.db.read() as s:
        row = s.get(m.LoadBalancer, lb_id)
        assert row is not None
        spec = to_spec(s, row)
    _haproxy_check(render_haproxy(spec, c.OPTS), workdir)
    assert cloud.client.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
    cloud.settle()


SPECIAL = list("'#$%\"\\ (),;{}[]<>=?@:/")
BARE = st.one_of(
    token,
    st.builds(lambda a, ch, b: a + ch + b, token, st.sampled_from(SPECIAL), token),  # one special character
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12),
    text(False),
)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(name=BARE, where=st.sampled_from(["cookie", "header", "header_key"]))
def test_every_accepted_bare_name_renders(cloud: Cloud, db_url: str, tmp_path: Path, name: str, where: str) -> None:
    """A name HAProxy reads bare (APP_COOKIE name, L7 HEADER/COOKIE key): accepted only if it renders."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only (budget)")
    pool: dict[str, Any] = {"name": "p1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    listener: dict[str, Any] = {"name": "l1", "protocol": "HTTP", "protocol_port": 80, "default_pool": {"name": "p1"}}
    if where == "cookie":
        pool["session_persistence"] = {"type": "APP_COOKIE", "cookie_name": name}
    else:
        rtype = "HEADER" if where == "header" else "COOKIE"
        rule = {"type": rtype, "compare_type": "EQUAL_TO", "key": name, "value": "v"}
        listener["l7policies"] = [{"action": "REJECT", "rules": [rule]}]
    body = {"vip_subnet_id": cloud.subnet_id, "listeners": [listener], "pools": [pool]}
    payload = json.dumps({"loadbalancer": body}, ensure_ascii=True)
    r = cloud.client.post(LB, content=payload, headers={"content-type": "application/json"})
    assert r.status_code in (201, 400), r.text
    event(f"status {r.status_code}")
    if r.status_code == 201:
        _render_check(cloud, r.json()["loadbalancer"]["id"], tmp_path)
