"""Golden-file tests for the haproxy.cfg renderer, plus render-time safety checks.

Each case in ``cases.CASES`` (one feature each) renders to ``golden/<case>.cfg``. A mismatch fails with
a unified diff. To regenerate after an intended change, run::

    UPDATE_GOLDEN=1 /tmp/venv-probe/bin/python -m pytest tests/unit/agent/haproxy/test_render.py

and review the diff in git before committing. ``UPDATE_GOLDEN`` only rewrites files; it never makes a
comparison pass that would otherwise fail on a second run.

When ``/usr/sbin/haproxy`` (or ``$HAPROXY_BIN``) exists, every golden is also fed to ``haproxy -c``, with
the run directory swapped for a temp dir, and must be valid with no warnings at all.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from lbaas.agent.haproxy import viewmodel
from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.quoting import RenderError, quote, quote_logformat
from lbaas.agent.haproxy.render import render_haproxy
from lbaas.domain.spec import LoadBalancerSpec, SessionPersistenceSpec
from tests.unit.agent.haproxy import cases as c

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
HAPROXY = os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy")
needs_haproxy = pytest.mark.skipif(
    not (os.path.exists(HAPROXY) or shutil.which(HAPROXY)), reason="haproxy binary not installed"
)


def _render_case(name: str) -> str:
    spec, opts = c.CASES[name]()
    return render_haproxy(spec, opts)


@pytest.mark.parametrize("name", sorted(c.CASES))
def test_golden(name: str) -> None:
    path = GOLDEN / f"{name}.cfg"
    got = _render_case(name)
    if UPDATE:
        path.write_text(got)
    assert path.exists(), f"no golden for {name}; run with UPDATE_GOLDEN=1"
    want = path.read_text()
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), f"golden/{name}.cfg", "rendered"
            )
        )
        pytest.fail(f"rendered config differs from golden/{name}.cfg:\n{diff}")


def test_no_stale_goldens() -> None:
    on_disk = {p.stem for p in GOLDEN.glob("*.cfg")}
    assert on_disk == set(c.CASES), f"goldens without a case: {sorted(on_disk - set(c.CASES))}"


def test_rendering_is_deterministic() -> None:
    spec, opts = c.CASES["l7_position_order"]()
    reordered = spec.model_copy(update={"pools": tuple(reversed(spec.pools))})
    assert render_haproxy(spec, opts) == render_haproxy(reordered, opts)


@needs_haproxy
@pytest.mark.parametrize("name", sorted(c.CASES))
def test_haproxy_accepts_golden(name: str, tmp_path: Path) -> None:
    text = (GOLDEN / f"{name}.cfg").read_text().replace(c.RUN_DIR, str(tmp_path))
    (tmp_path / "servers-state").write_text("1\n")
    (tmp_path / "certs").mkdir()
    for file_name, pem in viewmodel.tls_files(c.CASES[name]()[0]).items():
        (tmp_path / "certs" / file_name).write_text(pem)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    proc = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Configuration file is valid" in out
    noise = [line for line in out.splitlines() if "[WARNING]" in line or "[ALERT]" in line]
    assert not noise, out


# --- derived values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "regex"),
    [
        (None, "^(200)$"),
        ("200", "^(200)$"),
        ("200,202", "^(200|202)$"),
        ("200 , 202,204", "^(200|202|204)$"),
        ("200-204", "^(200|201|202|203|204)$"),
        ("302-302", "^(302)$"),
        ("200,200", "^(200)$"),
    ],
)
def test_expected_codes(codes: str | None, regex: str) -> None:
    assert viewmodel.expected_codes_regex(codes) == regex


@pytest.mark.parametrize("codes", ["", "20", "200-", "204-200", "2000", "200;201", "abc", "099", "600-601"])
def test_expected_codes_refused(codes: str) -> None:
    with pytest.raises(RenderError):
        viewmodel.expected_codes_regex(codes)


def test_maxconn_cap_and_default() -> None:
    spec, opts = c.CASES["maxconn_sum_of_listeners"]()
    assert viewmodel.global_maxconn(viewmodel.rendered_listeners(spec), opts) == 3000
    small = replace(opts, maxconn_cap=2500)
    assert viewmodel.global_maxconn(viewmodel.rendered_listeners(spec), small) == 2500
    listener = c.listener(connection_limit=-1)
    assert viewmodel.listener_maxconn(listener, opts) == 9000
    assert viewmodel.listener_maxconn(listener, replace(opts, maxconn_cap=60000)) == 50000
    assert viewmodel.global_maxconn((), opts) == opts.min_global_maxconn


def test_quote_escapes_what_haproxy_interprets() -> None:
    assert quote("a b\"c\\d$e#f'g", "v") == '"a b\\"c\\\\d\\$e#f\'g"'
    assert quote_logformat("/x%20y", "v") == '"/x%%20y"'


# --- refusals ---------------------------------------------------------------------------------------

BAD_TEXT = ["a\rb", "a\nb", "a\x00b", "a\x1bb", "a\tb", "a\x7fb", "\r\nbackend evil"]


def _l7(
    value: str = "/x", key: str | None = None, rtype: str = "PATH", **policy_kw: object
) -> LoadBalancerSpec:
    r = c.rule("rule-1", rtype, "STARTS_WITH", value, key=key)
    return c.l7_lb(c.policy("policy-1", str(policy_kw.pop("action", "REJECT")), 1, (r,), **policy_kw))


@pytest.mark.parametrize("bad", BAD_TEXT)
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda bad: _l7(value=bad), id="rule-value"),
        pytest.param(lambda bad: _l7(value="x", key=bad, rtype="HEADER"), id="rule-key"),
        pytest.param(
            lambda bad: _l7(action="REDIRECT_TO_URL", redirect_url="https://a/" + bad), id="redirect-url"
        ),
        pytest.param(
            lambda bad: _l7(action="REDIRECT_PREFIX", redirect_prefix="https://a/" + bad),
            id="redirect-prefix",
        ),
        pytest.param(lambda bad: c.http_lb(healthmonitor=c.hm("HTTP", url_path="/" + bad)), id="url-path"),
        pytest.param(
            lambda bad: c.http_lb(healthmonitor=c.hm("HTTP", http_version=1.1, domain_name="a" + bad)),
            id="domain-name",
        ),
        pytest.param(
            lambda bad: c.http_lb(
                session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="c" + bad)
            ),
            id="cookie-name",
        ),
        pytest.param(lambda bad: c.http_lb(members=(c.member("m" + bad, "198.51.100.1"),)), id="member-id"),
        pytest.param(lambda bad: c.http_lb({"allowed_cidrs": ("10.0.0.0/8" + bad,)}), id="cidr"),
    ],
)
def test_control_characters_refused(make: object, bad: str) -> None:
    spec = make(bad)  # type: ignore[operator]
    with pytest.raises(RenderError):
        render_haproxy(spec, c.OPTS)


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_control_characters_in_options_refused(bad: str) -> None:
    with pytest.raises(RenderError):
        render_haproxy(c.http_lb(), replace(c.OPTS, stats_socket_path="/run/x" + bad))


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(c.tcp_lb(lb_algorithm="SOURCE_IP_PORT"), id="source-ip-port"),
        pytest.param(
            c.lb((c.listener(protocol="TERMINATED_HTTPS", port=443),), (c.pool(),)), id="terminated-https"
        ),
        pytest.param(c.tcp_lb(healthmonitor=c.hm("UDP-CONNECT")), id="udp-connect-hm"),
        pytest.param(c.http_lb(healthmonitor=c.hm("HTTP", expected_codes="2xx")), id="bad-codes"),
        pytest.param(c.http_lb(healthmonitor=c.hm("HTTP", http_method="BREW")), id="bad-method"),
        pytest.param(c.http_lb(healthmonitor=c.hm("HTTP", url_path="/a b")), id="space-in-url-path"),
        pytest.param(c.http_lb(healthmonitor=c.hm("HTTP", url_path="health")), id="relative-url-path"),
        pytest.param(c.http_lb(healthmonitor=c.hm("HTTP", http_version=2.0)), id="http-version-2"),
        pytest.param(_l7(action="REDIRECT_TO_URL", redirect_url="https://a/ b"), id="space-in-redirect"),
        pytest.param(
            _l7(action="REDIRECT_TO_URL", redirect_url="https://a/", redirect_http_code=305), id="code"
        ),
        pytest.param(_l7(value="x", key="X Bad", rtype="HEADER"), id="header-key-not-token"),
        pytest.param(_l7(value="x", key="a)b", rtype="COOKIE"), id="cookie-key-paren"),
        pytest.param(
            c.http_lb(session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="a,b")),
            id="app-cookie-comma",
        ),
        pytest.param(
            c.http_lb(session_persistence=SessionPersistenceSpec(type="APP_COOKIE")), id="app-cookie-missing"
        ),
        pytest.param(c.http_lb(members=(c.member("member-1", "not-an-ip"),)), id="member-address"),
        pytest.param(c.http_lb(members=(c.member("member-1", "198.51.100.1", weight=300),)), id="weight"),
        pytest.param(c.http_lb(members=(c.member("member 1", "198.51.100.1"),)), id="member-id-space"),
        pytest.param(c.lb((c.listener(),), (c.pool(),), vip=c.vip("10.0.0.300")), id="vip-address"),
        pytest.param(
            c.lb(
                (c.listener(protocol="TCP", l7policies=_l7().listeners[0].l7policies),),
                (c.pool("pool-a", "TCP"),),
            ),
            id="l7-on-tcp-listener",
        ),
    ],
)
def test_unsupported_or_invalid_refused(spec: LoadBalancerSpec) -> None:
    with pytest.raises(RenderError):
        render_haproxy(spec, c.OPTS)


def test_prometheus_refused_without_exporter() -> None:
    spec, opts = c.CASES["prometheus_listener"]()
    with pytest.raises(RenderError, match="prometheus-exporter"):
        render_haproxy(spec, replace(opts, prometheus_exporter=False))


@pytest.mark.parametrize(
    "kw",
    [
        {"stats_socket_mode": "666"},
        {"stats_socket_mode": "0777"},
        {"stats_socket_mode": "abc"},
        {"maxconn_cap": 0},
        {"log_facility": "local9"},
        {"log_level": "loud"},
        {"nbthread": 0},
        {"hard_stop_after_s": 0},
    ],
)
def test_bad_options_refused(kw: dict[str, object]) -> None:
    with pytest.raises(RenderError):
        RenderOptions(stats_socket_path="/run/s", server_state_file="/run/st", **kw)  # type: ignore[arg-type]


def test_bad_user_refused() -> None:
    with pytest.raises(RenderError):
        render_haproxy(c.http_lb(), replace(c.OPTS, user="root\nlog"))
