"""The golden-file cases: one small LoadBalancerSpec per renderer feature.

Each case changes one thing against a plain baseline, so a golden diff points at one feature.
Builders take keyword overrides; ids are short readable strings (valid ids for the renderer) except in
the cases that exercise UUIDs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lbaas.agent.haproxy.options import RenderOptions
from lbaas.domain.spec import (
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    ListenerTlsSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    PoolTlsSpec,
    SessionPersistenceSpec,
    TlsCertSpec,
    VipSpec,
    VrrpPeerSpec,
    VrrpSpec,
)

# The per-LB run directory used in goldens; the haproxy -c test swaps it for a temp dir.
RUN_DIR = "/var/lib/lbaas/lb/lb-0001"
OPTS = RenderOptions(
    stats_socket_path=f"{RUN_DIR}/haproxy.sock", server_state_file=f"{RUN_DIR}/servers-state"
)


def vip(address: str = "192.0.2.10", **kw: Any) -> VipSpec:
    return VipSpec(
        address=address,
        prefixlen=kw.pop("prefixlen", 24),
        ip_version=kw.pop("ip_version", 4),
        port_id="port-vip",
        mac_address="fa:16:3e:00:00:01",
        subnet_id="subnet-vip",
        network_id="net-vip",
        **kw,
    )


def member(mid: str, address: str, port: int = 80, **kw: Any) -> MemberSpec:
    return MemberSpec(id=mid, address=address, protocol_port=port, **kw)


def two_members() -> tuple[MemberSpec, ...]:
    return (member("member-a1", "198.51.100.11"), member("member-a2", "198.51.100.12"))


def pool(pid: str = "pool-a", protocol: str = "HTTP", **kw: Any) -> PoolSpec:
    kw.setdefault("lb_algorithm", "ROUND_ROBIN")
    kw.setdefault("members", two_members())
    return PoolSpec(id=pid, protocol=protocol, **kw)


def listener(lid: str = "listener-80", protocol: str = "HTTP", port: int = 80, **kw: Any) -> ListenerSpec:
    kw.setdefault("default_pool_id", "pool-a")
    return ListenerSpec(id=lid, protocol=protocol, protocol_port=port, **kw)


def lb(listeners: tuple[ListenerSpec, ...], pools: tuple[PoolSpec, ...], **kw: Any) -> LoadBalancerSpec:
    kw.setdefault("vip", vip())
    return LoadBalancerSpec(
        id="lb-0001", project_id="project-1", generation=7, listeners=listeners, pools=pools, **kw
    )


def http_lb(listener_kw: dict[str, Any] | None = None, **pool_kw: Any) -> LoadBalancerSpec:
    return lb((listener(**(listener_kw or {})),), (pool(**pool_kw),))


def tcp_lb(listener_kw: dict[str, Any] | None = None, **pool_kw: Any) -> LoadBalancerSpec:
    pool_kw.setdefault("protocol", "TCP")
    listener_kw = {"protocol": "TCP", **(listener_kw or {})}
    return lb((listener(**listener_kw),), (pool(**pool_kw),))


def hm(hm_type: str = "HTTP", **kw: Any) -> HealthMonitorSpec:
    kw.setdefault("delay", 5)
    kw.setdefault("timeout", 3)
    kw.setdefault("max_retries", 2)
    kw.setdefault("max_retries_down", 3)
    if hm_type in ("HTTP", "HTTPS"):
        kw.setdefault("http_method", "GET")
        kw.setdefault("url_path", "/")
        kw.setdefault("expected_codes", "200")
    return HealthMonitorSpec(id="hm-a", type=hm_type, **kw)


def rule(rid: str, rtype: str, compare: str, value: str, **kw: Any) -> L7RuleSpec:
    return L7RuleSpec(id=rid, type=rtype, compare_type=compare, value=value, **kw)


def policy(pid: str, action: str, position: int, rules: tuple[L7RuleSpec, ...], **kw: Any) -> L7PolicySpec:
    if action == "REDIRECT_TO_URL":
        kw.setdefault("redirect_url", "https://www.example.com/moved")
    elif action == "REDIRECT_PREFIX":
        kw.setdefault("redirect_prefix", "https://secure.example.com")
    elif action == "REDIRECT_TO_POOL":
        kw.setdefault("redirect_pool_id", "pool-b")
    return L7PolicySpec(id=pid, action=action, position=position, rules=rules, **kw)


def l7_lb(*policies: L7PolicySpec) -> LoadBalancerSpec:
    pool_b = pool("pool-b", members=(member("member-b1", "198.51.100.21"),))
    return lb((listener(l7policies=policies),), (pool(), pool_b))


# --- the case table -------------------------------------------------------------------------------

Case = Callable[[], tuple[LoadBalancerSpec, RenderOptions]]
CASES: dict[str, Case] = {}


def case(name: str, opts: RenderOptions = OPTS) -> Callable[[Callable[[], LoadBalancerSpec]], None]:
    def register(build: Callable[[], LoadBalancerSpec]) -> None:
        assert name not in CASES, name
        CASES[name] = lambda: (build(), opts)

    return register


case("tcp_basic")(lambda: tcp_lb())
case("http_default_xff")(lambda: http_lb())
case("http_xff_disabled")(lambda: http_lb({"insert_headers": {"X-Forwarded-For": "false"}}))
case("http_xff_port_proto")(
    lambda: http_lb({"insert_headers": {"X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}})
)
case("http_client_ip_headers")(
    lambda: http_lb(
        {"insert_headers": {"X-Real-IP": "true", "X-Client-IP": "true", "X-Forwarded-IP": "false"}}
    )
)
case("timeouts_connection_limit")(
    lambda: tcp_lb(
        {
            "connection_limit": 2500,
            "timeout_client_data": 120000,
            "timeout_member_connect": 3000,
            "timeout_member_data": 90000,
            "timeout_tcp_inspect": 2000,
        }
    )
)
case("maxconn_sum_of_listeners")(
    lambda: lb(
        (
            listener("listener-80", connection_limit=1000),
            listener("listener-8080", port=8080, connection_limit=2000),
        ),
        (pool(),),
    )
)
case("maxconn_default_capped")(
    lambda: lb(
        (listener("listener-80"), listener("listener-8080", port=8080, connection_limit=0)),
        (pool(),),
    )
)
case("allowed_cidrs")(
    lambda: http_lb({"allowed_cidrs": ("10.1.2.3/8", "192.0.2.0/24", "2001:DB8::/32", "192.0.2.0/24")})
)
case("algorithm_round_robin")(lambda: tcp_lb(lb_algorithm="ROUND_ROBIN"))
case("algorithm_least_connections")(lambda: tcp_lb(lb_algorithm="LEAST_CONNECTIONS"))
case("algorithm_source_ip")(lambda: tcp_lb(lb_algorithm="SOURCE_IP"))
case("persistence_source_ip")(lambda: tcp_lb(session_persistence=SessionPersistenceSpec(type="SOURCE_IP")))
case("persistence_http_cookie")(
    lambda: http_lb(session_persistence=SessionPersistenceSpec(type="HTTP_COOKIE"))
)
case("persistence_app_cookie")(
    lambda: http_lb(session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="JSESSIONID"))
)
case("persistence_cookie_on_tcp_listener")(
    lambda: tcp_lb(protocol="HTTP", session_persistence=SessionPersistenceSpec(type="HTTP_COOKIE"))
)
case("pool_proxy")(lambda: tcp_lb(protocol="PROXY"))
case("pool_proxyv2")(lambda: http_lb(protocol="PROXYV2"))
case("member_weight0_backup_disabled")(
    lambda: http_lb(
        members=(
            member("member-a1", "198.51.100.11", weight=10),
            member("member-a2", "198.51.100.12", weight=0),
            member("member-a3", "198.51.100.13", backup=True),
            member("member-a4", "198.51.100.14", admin_state_up=False),
        )
    )
)
case("member_monitor_address_port")(
    lambda: http_lb(
        healthmonitor=hm("HTTP"),
        members=(
            member("member-a1", "198.51.100.11", monitor_address="198.51.100.111", monitor_port=8081),
            member("member-a2", "198.51.100.12", monitor_port=8082),
            member("member-a3", "198.51.100.13", monitor_address="198.51.100.113"),
        ),
    )
)
case("hm_http_defaults")(
    lambda: http_lb(
        healthmonitor=HealthMonitorSpec(id="hm-a", type="HTTP", delay=10, timeout=5, max_retries=3)
    )
)
case("hm_http_codes_list")(lambda: http_lb(healthmonitor=hm("HTTP", expected_codes="200, 202,204")))
case("hm_http_codes_range")(lambda: http_lb(healthmonitor=hm("HTTP", expected_codes="200-204")))
case("hm_http_method_path")(
    lambda: http_lb(healthmonitor=hm("HTTP", http_method="HEAD", url_path="/healthz?full=1&x=%20"))
)
case("hm_http_version_10")(lambda: http_lb(healthmonitor=hm("HTTP", http_version=1.0)))
case("hm_http_version_11_domain")(
    lambda: http_lb(healthmonitor=hm("HTTP", http_version=1.1, domain_name="app.example.com"))
)
case("hm_https")(lambda: tcp_lb(protocol="HTTPS", healthmonitor=hm("HTTPS", url_path="/status")))
case("hm_tcp")(lambda: tcp_lb(healthmonitor=hm("TCP")))
case("hm_tls_hello")(lambda: tcp_lb(protocol="HTTPS", healthmonitor=hm("TLS-HELLO")))
case("hm_ping")(lambda: tcp_lb(healthmonitor=hm("PING")))
case("hm_ping_external", replace(OPTS, ping_check_command="/usr/lib/lbaas/ping-check"))(
    lambda: tcp_lb(healthmonitor=hm("PING"))
)
case("hm_disabled")(lambda: http_lb(healthmonitor=hm("HTTP", admin_state_up=False)))
case("hm_zero_delay_timeout_clamped")(lambda: tcp_lb(healthmonitor=hm("TCP", delay=0, timeout=0)))

# L7: every action × every HTTP rule type, compare types rotating so each appears for each type.
_RULE_VALUES = {
    "HOST_NAME": (None, "www.example.com"),
    "PATH": (None, "/api"),
    "FILE_TYPE": (None, "jpg"),
    "HEADER": ("X-Tenant", "blue"),
    "COOKIE": ("session", "abc"),
}
_COMPARES = ("EQUAL_TO", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "REGEX")
_ACTIONS = ("REJECT", "REDIRECT_TO_URL", "REDIRECT_PREFIX", "REDIRECT_TO_POOL")


def _l7_matrix_case(action_index: int, rtype: str) -> Callable[[], LoadBalancerSpec]:
    key, value = _RULE_VALUES[rtype]
    if rtype == "FILE_TYPE":
        compare = ("EQUAL_TO", "REGEX")[action_index % 2]
        value = value if compare == "EQUAL_TO" else r"\.(jpe?g|png)$"
    else:
        compare = _COMPARES[(action_index + list(_RULE_VALUES).index(rtype)) % len(_COMPARES)]
        if compare == "REGEX":
            value = "^" + value.replace(".", r"\.") + "$"
    r = rule("rule-1", rtype, compare, value, key=key)
    return lambda: l7_lb(policy("policy-1", _ACTIONS[action_index], 1, (r,)))


for _i, _action in enumerate(_ACTIONS):
    for _rtype in _RULE_VALUES:
        case(f"l7_{_action.lower()}_{_rtype.lower()}")(_l7_matrix_case(_i, _rtype))

case("l7_invert")(
    lambda: l7_lb(
        policy("policy-1", "REJECT", 1, (rule("rule-1", "PATH", "STARTS_WITH", "/public", invert=True),))
    )
)
case("l7_rules_anded")(
    lambda: l7_lb(
        policy(
            "policy-1",
            "REDIRECT_TO_POOL",
            1,
            (
                rule("rule-1", "HOST_NAME", "EQUAL_TO", "api.example.com"),
                rule("rule-2", "PATH", "STARTS_WITH", "/v2"),
                rule("rule-3", "HEADER", "CONTAINS", "beta", key="X-Channel", invert=True),
            ),
        )
    )
)
case("l7_position_order")(
    lambda: l7_lb(
        policy("policy-3", "REJECT", 3, (rule("rule-3", "PATH", "STARTS_WITH", "/admin"),)),
        policy("policy-1", "REDIRECT_TO_POOL", 1, (rule("rule-1", "PATH", "STARTS_WITH", "/api"),)),
        policy(
            "policy-2",
            "REDIRECT_TO_URL",
            2,
            (rule("rule-2", "HOST_NAME", "EQUAL_TO", "old.example.com"),),
            redirect_http_code=301,
        ),
    )
)
case("l7_redirect_codes_and_escaping")(
    lambda: l7_lb(
        policy(
            "policy-1",
            "REDIRECT_TO_URL",
            1,
            (rule("rule-1", "PATH", "EQUAL_TO", '/a b"c\\d$e#f'),),
            redirect_url="https://example.com/x%20y?a=$1",
            redirect_http_code=308,
        ),
        policy(
            "policy-2",
            "REDIRECT_PREFIX",
            2,
            (rule("rule-2", "PATH", "STARTS_WITH", "/old"),),
            redirect_prefix="https://new.example.com/%7Euser",
            redirect_http_code=307,
        ),
    )
)
case("l7_disabled_policy_rule_and_empty")(
    lambda: l7_lb(
        policy(
            "policy-off", "REJECT", 1, (rule("rule-1", "PATH", "STARTS_WITH", "/x"),), admin_state_up=False
        ),
        policy(
            "policy-partial",
            "REJECT",
            2,
            (
                rule("rule-2", "PATH", "STARTS_WITH", "/y"),
                rule("rule-3", "PATH", "STARTS_WITH", "/z", admin_state_up=False),
            ),
        ),
        policy("policy-empty", "REJECT", 3, ()),
        policy(
            "policy-all-rules-off",
            "REJECT",
            4,
            (rule("rule-4", "PATH", "STARTS_WITH", "/w", admin_state_up=False),),
        ),
    )
)
case("l7_redirect_to_missing_pool")(
    lambda: l7_lb(
        policy(
            "policy-1",
            "REDIRECT_TO_POOL",
            1,
            (rule("rule-1", "PATH", "STARTS_WITH", "/gone"),),
            redirect_pool_id="pool-deleted",
        ),
    )
)
case("l7_ssl_rule_types")(
    lambda: l7_lb(
        policy(
            "policy-1",
            "REJECT",
            1,
            (
                rule("rule-1", "SSL_CONN_HAS_CERT", "EQUAL_TO", "true"),
                rule("rule-2", "SSL_VERIFY_RESULT", "EQUAL_TO", "0", invert=True),
                rule("rule-3", "SSL_DN_FIELD", "STARTS_WITH", "admin", key="CN"),
            ),
        )
    )
)
case("disabled_listener")(
    lambda: lb(
        (
            listener("listener-80"),
            listener("listener-81", port=81, admin_state_up=False, default_pool_id="pool-b"),
        ),
        (pool(), pool("pool-b")),
    )
)
case("disabled_pool")(lambda: http_lb(admin_state_up=False, healthmonitor=hm("HTTP")))
case("listener_without_default_pool")(lambda: lb((listener(default_pool_id=None),), (pool(),)))
case("pool_shared_by_two_listeners")(
    lambda: lb(
        (
            listener("listener-80"),
            listener("listener-8080", port=8080, insert_headers={"X-Forwarded-For": "false"}),
        ),
        (pool(healthmonitor=hm("HTTP")),),
    )
)
case("https_passthrough_tls_pool")(lambda: tcp_lb({"protocol": "HTTPS", "port": 443}, protocol="HTTPS"))
case("pool_tls_enabled")(lambda: http_lb(tls_enabled=True, healthmonitor=hm("HTTP")))
case("tcp_listener_http_pool_httpchk")(
    lambda: tcp_lb(protocol="HTTP", healthmonitor=hm("HTTP", url_path="/ping"))
)
case("udp_listener_skipped")(
    lambda: lb(
        (
            listener("listener-80"),
            listener("listener-53", protocol="UDP", port=53, default_pool_id="pool-udp"),
        ),
        (pool(), pool("pool-udp", protocol="UDP")),
    )
)
case("ipv6_vip_and_members")(
    lambda: lb(
        (
            listener(
                "5c1f7a5e-8a47-4a55-9a8c-0f6c2f0e7b11", default_pool_id="3d0b6d84-2c1e-4f0b-8f38-6d9f5b0f2a01"
            ),
        ),
        (
            pool(
                "3d0b6d84-2c1e-4f0b-8f38-6d9f5b0f2a01",
                members=(
                    member("0a6a3c1e-7d4b-4f6b-9e0a-5b1f6c2d3e41", "2001:db8:0:0::11"),
                    member(
                        "0a6a3c1e-7d4b-4f6b-9e0a-5b1f6c2d3e42",
                        "198.51.100.12",
                        monitor_address="2001:db8::112",
                        monitor_port=8080,
                    ),
                ),
                healthmonitor=hm("HTTP"),
            ),
        ),
        vip=vip("2001:DB8::10", prefixlen=64, ip_version=6),
    )
)
case("lb_admin_down")(lambda: lb((listener(),), (pool(),), admin_state_up=False))
case("prometheus_listener")(
    lambda: lb(
        (listener(), listener("listener-9100", protocol="PROMETHEUS", port=9100, default_pool_id=None)),
        (pool(),),
    )
)
case("many_members")(
    lambda: http_lb(
        healthmonitor=hm("HTTP"),
        members=tuple(
            member(f"member-{i:03d}", f"198.51.100.{i}", 8000 + i, weight=i % 5) for i in range(1, 61)
        ),
    )
)
case(
    "logging_and_threads",
    replace(OPTS, log_target="/dev/log", log_facility="local1", log_level="info", nbthread=2),
)(
    lambda: lb(
        (listener(), listener("listener-25", protocol="TCP", port=25, default_pool_id="pool-t")),
        (pool(), pool("pool-t", protocol="TCP")),
    )
)
case(
    "octavia_flow_log_format",
    replace(
        OPTS,
        log_target="/run/lbaas/log/lb-1.sock",
        log_format="@@lbaas-project@@ lb-1 %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc",
    ),
)(
    lambda: lb(
        (listener(), listener("listener-25", protocol="TCP", port=25, default_pool_id="pool-t")),
        (pool(), pool("pool-t", protocol="TCP")),
    )
)

# TLS: TERMINATED_HTTPS listeners and re-encrypting pools. The PEMs are fixed test files (data/tls), so
# their digests (the file names) are stable; the haproxy -c test writes them into its cert dir.
_TLS_DATA = Path(__file__).parent / "data" / "tls"
TLS_OPTS = replace(OPTS, cert_dir=f"{RUN_DIR}/certs")


def _tls_cert(name: str) -> TlsCertSpec:
    pem = (_TLS_DATA / f"{name}.pem").read_text()
    return TlsCertSpec(pem=pem, names=(f"{name}.example.com",))


def _listener_tls(**kw: Any) -> ListenerTlsSpec:
    kw.setdefault("default_cert", _tls_cert("www"))
    kw.setdefault("tls_versions", ("TLSv1.2", "TLSv1.3"))
    kw.setdefault("alpn_protocols", ("h2", "http/1.1", "http/1.0"))
    return ListenerTlsSpec(**kw)


def https_lb(tls: ListenerTlsSpec, **listener_kw: Any) -> LoadBalancerSpec:
    return lb((listener("listener-443", protocol="TERMINATED_HTTPS", port=443, tls=tls, **listener_kw),), (pool(),))


case("terminated_https_basic", TLS_OPTS)(lambda: https_lb(_listener_tls()))
case("terminated_https_sni_hsts_headers", TLS_OPTS)(
    lambda: https_lb(
        _listener_tls(
            sni_certs=(_tls_cert("api"), _tls_cert("www")),
            tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
            hsts_max_age=31536000,
            hsts_include_subdomains=True,
            hsts_preload=True,
        ),
        insert_headers={"X-Forwarded-Proto": "true", "X-Forwarded-For": "true"},
    )
)
case("terminated_https_client_auth", TLS_OPTS)(
    lambda: https_lb(
        _listener_tls(
            client_authentication="MANDATORY",
            client_ca_pem=(_TLS_DATA / "client-ca.pem").read_text(),
            client_crl_pem=(_TLS_DATA / "client-crl.pem").read_text(),
            tls_versions=("TLSv1.3",),
            alpn_protocols=("http/1.1",),
        ),
        insert_headers={h: "true" for h in (
            "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN", "X-SSL-Issuer",
            "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After",
        )},  # fmt: skip
    )
)
case("pool_tls_reencrypt", TLS_OPTS)(
    lambda: http_lb(
        tls_enabled=True,
        tls=PoolTlsSpec(
            client_cert=_tls_cert("api"),
            ca_pem=(_TLS_DATA / "client-ca.pem").read_text(),
            crl_pem=(_TLS_DATA / "client-crl.pem").read_text(),
            tls_versions=("TLSv1.2", "TLSv1.3"),
            alpn_protocols=("http/1.1",),
        ),
        healthmonitor=hm("HTTPS", url_path="/health"),
    )
)


# --- ACTIVE_STANDBY: one instance of a pair; its stick tables sync with the other's through "peers" ---
def _vrrp(address: str, peer: str, **kw: Any) -> VrrpSpec:
    return VrrpSpec(amphora_id="amp-a", role="MASTER", priority=200, virtual_router_id=9, address=address,
                    port_id="port-vrrp-a", mac_address="fa:16:3e:00:00:0a",
                    peers=(VrrpPeerSpec(amphora_id="amp-b", address=peer),), **kw)  # fmt: skip


case("active_standby_peers")(lambda: lb(
    (listener(), listener("listener-81", port=81, default_pool_id="pool-b")),
    (pool(session_persistence=SessionPersistenceSpec(type="SOURCE_IP")),
     pool("pool-b", session_persistence=SessionPersistenceSpec(type="APP_COOKIE", cookie_name="JSESSIONID"))),
    topology="ACTIVE_STANDBY", vrrp=_vrrp("192.0.2.11", "192.0.2.12")))  # fmt: skip
case("active_standby_peers_ipv6")(lambda: tcp_lb(
    session_persistence=SessionPersistenceSpec(type="SOURCE_IP"),
    members=(member("member-a1", "2001:db8::21"),),
).model_copy(update={"topology": "ACTIVE_STANDBY", "vip": vip("2001:db8::10", prefixlen=64, ip_version=6),
                     "vrrp": _vrrp("2001:db8::11", "2001:db8::12", peer_port=7001)}))  # fmt: skip
