"""Spec → view model: every value haproxy.cfg needs, derived and escaped in Python.

Why a separate step: the templates should only lay out text. Anything that needs a decision (maxconn
sums and caps, expected_codes expansion, ACL criteria, header policy, which sections exist at all) or
an escape lives here, where it is typed, unit-testable and checked by mypy. Every user string is
re-validated on its way in (``quoting``), so a view model that was built is safe to print.

Decisions worth knowing (also in the package README-level docstring of ``render``):

* Only listeners HAProxy serves are rendered: UDP/SCTP belong to the nftables data plane and are
  skipped. TERMINATED_HTTPS binds with ``ssl crt <file>…``: every PEM the spec carries (certificates,
  CA bundles, CRLs) is a file in ``RenderOptions.cert_dir`` named by the SHA-256 of its content
  (``tls_files`` lists them for the agent to write, 0600), so a changed certificate changes the text.
  The default certificate comes first (HAProxy's fallback when no SNI name matches), then the SNI
  ones; tls_versions become ``no-<version>`` for each version not listed (as Octavia renders them).
* Disabled LB → no frontends/backends at all (the admin socket still runs). Disabled listener → not
  rendered, nor are backends only it used. Disabled pool → its backends are rendered with every
  server ``disabled`` so listeners and L7 policies pointing at it still parse (clients get 503).
  Disabled health monitor → servers without ``check`` (members report NO_MONITOR).
* L7 policies are evaluated first-match-wins in position order. HAProxy runs all ``http-request`` rules
  before ``use_backend``, so a naive rendering would let a later REJECT beat an earlier
  REDIRECT_TO_POOL. Each frontend therefore records the index of the first matching policy in
  ``txn.l7policy`` and every action is conditioned on that index.
* Header insertion (X-Forwarded-*) is done in the backend, which is per (pool, listener), so the
  listener's choice applies exactly to its own traffic.
* PING monitors are layer-4 connect checks unless the operator opts into an external ping command
  (``RenderOptions.ping_check_command``); TLS-HELLO is a real TLS handshake (``check-ssl``, L6 check).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lbaas.agent.haproxy import quoting as q
from lbaas.agent.haproxy.options import RenderOptions
from lbaas.agent.haproxy.quoting import RenderError
from lbaas.domain.enums import REDIRECT_HTTP_CODES, HttpMethod
from lbaas.domain.spec import (
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    PoolTlsSpec,
    VrrpSpec,
)
from lbaas.domain.status import haproxy_backend_name

_MODES = {"TCP": "tcp", "HTTPS": "tcp", "HTTP": "http", "PROMETHEUS": "http", "TERMINATED_HTTPS": "http"}
# (API name, HAProxy's "no-" keyword) in order; a version the listener does not list is switched off.
_TLS_VERSIONS = (("SSLv3", "no-sslv3"), ("TLSv1", "no-tlsv10"), ("TLSv1.1", "no-tlsv11"), ("TLSv1.2", "no-tlsv12"),
                 ("TLSv1.3", "no-tlsv13"))  # fmt: skip
_ALPN = frozenset({"h2", "http/1.1", "http/1.0"})
_CIPHERS = re.compile(r"^[A-Za-z0-9\-+!:@=_.]{1,2048}$")
_VERIFY = {"NONE": None, "OPTIONAL": "optional", "MANDATORY": "required"}
# X-SSL-* headers (Octavia's names) and the HAProxy sample each one carries.
_SSL_HEADERS = (
    ("X-SSL-Client-Verify", "%[ssl_c_verify]"),
    ("X-SSL-Client-Has-Cert", "%[ssl_c_used]"),
    ("X-SSL-Client-DN", "%{+Q}[ssl_c_s_dn]"),
    ("X-SSL-Client-CN", "%{+Q}[ssl_c_s_dn(cn)]"),
    ("X-SSL-Issuer", "%{+Q}[ssl_c_i_dn]"),
    ("X-SSL-Client-SHA1", "%{+Q}[ssl_c_sha1,hex]"),
    ("X-SSL-Client-Not-Before", "%{+Q}[ssl_c_notbefore]"),
    ("X-SSL-Client-Not-After", "%{+Q}[ssl_c_notafter]"),
)
_NOT_HAPROXY = frozenset({"UDP", "SCTP"})
_BALANCE = {"ROUND_ROBIN": "roundrobin", "LEAST_CONNECTIONS": "leastconn", "SOURCE_IP": "source"}
_MATCH = {"REGEX": "reg", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub", "EQUAL_TO": "str"}
_CODES_LIST = re.compile(r"^\d{3}(\s*,\s*\d{3})*$")
_CODES_RANGE = re.compile(r"^(\d{3})-(\d{3})$")
_DN_KEY = re.compile(r"^[a-zA-Z][A-Za-z0-9-]{0,254}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9._:\[\]-]{1,255}$")
_UNIX_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_WS = re.compile(r"\s")
# Headers whose value is the client address, set (not appended) when asked for.
_CLIENT_IP_HEADERS = ("X-Forwarded-IP", "X-Client-IP", "X-Real-IP")


@dataclass(frozen=True)
class GlobalView:
    user: str
    group: str
    maxconn: int
    hard_stop_after_s: int
    stats_socket: str
    stats_socket_mode: str
    server_state_file: str
    log: str | None
    nbthread: int | None
    external_check: bool


@dataclass(frozen=True)
class AclView:
    name: str
    criterion: str
    value: str | None


@dataclass(frozen=True)
class PolicyView:
    index: int
    policy_id: str
    position: int
    condition: str
    kind: str  # "deny" | "redirect" | "backend"
    code: int | None = None
    redirect_kind: str | None = None  # "location" | "prefix"
    target: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class FrontendView:
    id: str
    protocol: str
    mode: str
    bind: str
    maxconn: int
    timeout_client: int
    inspect_delay: int | None
    allowed_cidrs: tuple[str, ...]
    log_option: str | None
    prometheus: bool
    response_headers: tuple[tuple[str, str], ...]
    acls: tuple[AclView, ...]
    policies: tuple[PolicyView, ...]
    default_backend: str | None
    log_format: str | None = None


@dataclass(frozen=True)
class CheckView:
    kind: str  # "http" | "l4" | "external"
    timeout_s: int
    method: str | None = None
    uri: str | None = None
    version: str | None = None
    host: str | None = None
    expect: str | None = None
    command: str | None = None


@dataclass(frozen=True)
class PersistenceView:
    kind: str  # "source" | "http_cookie" | "app_cookie"
    table_size: str
    cookie_name: str | None = None
    peers: str | None = None  # the ``peers`` section its stick table syncs through (ACTIVE_STANDBY)


@dataclass(frozen=True)
class PeersView:
    """An ACTIVE_STANDBY instance's stick-table sync: this instance (``local``) and the other(s), each by
    amphora id at ``<own address>:<peer_port>``; the local one is where this HAProxy listens for them."""

    name: str
    local: str
    peers: tuple[tuple[str, str], ...]  # (name, host:port), the local one included


@dataclass(frozen=True)
class ServerView:
    name: str
    address: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class BackendView:
    name: str
    pool_id: str
    listener_id: str
    mode: str
    balance: str
    fullconn: int
    timeout_connect: int
    timeout_server: int
    forwardfor: bool
    set_headers: tuple[tuple[str, str], ...]
    persistence: PersistenceView | None
    check: CheckView | None
    servers: tuple[ServerView, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ConfigView:
    lb_id: str
    global_: GlobalView
    log: bool
    frontends: tuple[FrontendView, ...]
    backends: tuple[BackendView, ...]
    peers: PeersView | None = None


PEERS_SECTION = "lbaas_peers"


def backend_name(pool_id: str, listener_id: str) -> str:
    """The naming contract the status logic relies on (see lbaas.domain.status)."""
    return haproxy_backend_name(pool_id, listener_id)


# --- derived values -------------------------------------------------------------------------------


def listener_maxconn(listener: ListenerSpec, opts: RenderOptions) -> int:
    """connection_limit -1 (or 0, as Octavia treats it) means the default; always capped."""
    limit = listener.connection_limit if listener.connection_limit > 0 else opts.default_listener_maxconn
    return min(limit, opts.maxconn_cap)


def global_maxconn(listeners: tuple[ListenerSpec, ...], opts: RenderOptions) -> int:
    total = sum(listener_maxconn(li, opts) for li in listeners)
    return min(opts.maxconn_cap, max(total, opts.min_global_maxconn))


def expected_codes_regex(expected: str | None, what: str = "expected_codes") -> str:
    """"200" → ^(200)$, "200,202" → ^(200|202)$, "200-204" → ^(200|201|202|203|204)$."""
    text = "200" if expected is None else expected.strip()
    if _CODES_LIST.match(text):
        codes = [int(c) for c in re.split(r"\s*,\s*", text)]
    else:
        m = _CODES_RANGE.match(text)
        if not m:
            raise RenderError(f"{what} {expected!r} is neither a code list nor a range")
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise RenderError(f"{what} {expected!r} is an empty range")
        codes = list(range(lo, hi + 1))
    if any(not 100 <= c <= 599 for c in codes):
        raise RenderError(f"{what} {expected!r} contains a code outside 100-599")
    return "^(" + "|".join(str(c) for c in dict.fromkeys(codes)) + ")$"


def _flag(headers: dict[str, str], name: str) -> bool | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value.strip().lower() == "true"
    return None


def header_policy(listener: ListenerSpec) -> tuple[bool, tuple[tuple[str, str], ...]]:
    """(option forwardfor?, [(header, value expression)]) for an HTTP listener's backends."""
    if _MODES.get(listener.protocol) != "http":
        return False, ()
    headers = listener.insert_headers
    xff = _flag(headers, "X-Forwarded-For")
    sets: list[tuple[str, str]] = []
    if _flag(headers, "X-Forwarded-Port"):
        sets.append(("X-Forwarded-Port", "%[dst_port]"))
    if _flag(headers, "X-Forwarded-Proto"):
        sets.append(("X-Forwarded-Proto", "https" if listener.protocol == "TERMINATED_HTTPS" else "http"))
    for name in _CLIENT_IP_HEADERS:
        if _flag(headers, name):
            sets.append((name, "%[src]"))
    if listener.protocol == "TERMINATED_HTTPS":
        sets.extend((name, value) for name, value in _SSL_HEADERS if _flag(headers, name))
    return xff is not False, tuple(sets)


# --- L7 -------------------------------------------------------------------------------------------


def acl_for_rule(rule: L7RuleSpec) -> AclView:
    what = f"l7rule {rule.id}"
    name = q.ident(rule.id, "l7rule id")
    ct = rule.compare_type
    if ct not in _MATCH:
        raise RenderError(f"{what}: unknown compare_type {ct!r}")
    match = f"-m {_MATCH[ct]}"
    value = q.quote(rule.value, f"{what} value")
    if rule.type == "HOST_NAME":
        return AclView(name, f"req.hdr(host) -i {match}", value)
    if rule.type == "PATH":
        return AclView(name, f"path {match}", value)
    if rule.type == "FILE_TYPE":
        if ct == "EQUAL_TO":
            ext = rule.value if rule.value.startswith(".") else "." + rule.value
            return AclView(name, "path_end", q.quote(ext, f"{what} value"))
        if ct == "REGEX":
            return AclView(name, "path -m reg", value)
        raise RenderError(f"{what}: FILE_TYPE supports only EQUAL_TO and REGEX")
    if rule.type in ("HEADER", "COOKIE"):
        if not rule.key:
            raise RenderError(f"{what}: {rule.type} rule needs a key")
        fetch = "req.hdr" if rule.type == "HEADER" else "req.cook"
        return AclView(name, f"{fetch}({q.token(rule.key, f'{what} key')}) {match}", value)
    if rule.type == "SSL_CONN_HAS_CERT":
        if rule.value.strip().lower() != "true":
            raise RenderError(f"{what}: SSL_CONN_HAS_CERT value must be 'true'")
        return AclView(name, "ssl_c_used", None)
    if rule.type == "SSL_VERIFY_RESULT":
        if not rule.value.isdigit():
            raise RenderError(f"{what}: SSL_VERIFY_RESULT value must be a non-negative integer")
        return AclView(name, "ssl_c_verify -m int", rule.value)
    if rule.type == "SSL_DN_FIELD":
        if not rule.key or not _DN_KEY.match(rule.key):
            raise RenderError(f"{what}: SSL_DN_FIELD needs a key like 'CN'")
        return AclView(name, f"ssl_c_s_dn({rule.key}) {match}", value)
    raise RenderError(f"{what}: unknown rule type {rule.type!r}")


def _redirect_target(value: str | None, what: str) -> str:
    if not value:
        raise RenderError(f"{what} has no target")
    q.checked(value, what)
    if _WS.search(value):
        raise RenderError(f"{what} {value!r} contains whitespace")
    return q.quote_logformat(value, what)


def _policy_view(
    policy: L7PolicySpec, index: int, listener: ListenerSpec, pools: dict[str, PoolSpec]
) -> PolicyView | None:
    rules = [r for r in policy.rules if r.admin_state_up]
    condition = " ".join(("!" if r.invert else "") + q.ident(r.id, "l7rule id") for r in rules)
    pid = q.ident(policy.id, "l7policy id")
    what = f"l7policy {policy.id}"
    if policy.action == "REJECT":
        return PolicyView(index, pid, policy.position, condition, kind="deny")
    if policy.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        code = policy.redirect_http_code or 302
        if code not in REDIRECT_HTTP_CODES:
            raise RenderError(f"{what}: redirect_http_code {code} not allowed")
        if policy.action == "REDIRECT_TO_URL":
            target = _redirect_target(policy.redirect_url, f"{what} redirect_url")
            kind = "location"
        else:
            target = _redirect_target(policy.redirect_prefix, f"{what} redirect_prefix")
            kind = "prefix"
        return PolicyView(
            index, pid, policy.position, condition, kind="redirect", code=code, redirect_kind=kind,
            target=target,
        )
    if policy.action == "REDIRECT_TO_POOL":
        if not policy.redirect_pool_id or policy.redirect_pool_id not in pools:
            return None  # the pool is going away; the policy cannot apply
        backend = backend_name(q.ident(policy.redirect_pool_id, "pool id"), listener.id)
        return PolicyView(index, pid, policy.position, condition, kind="backend", backend=backend)
    raise RenderError(f"{what}: unknown action {policy.action!r}")


def _renderable_policies(listener: ListenerSpec) -> list[L7PolicySpec]:
    """Enabled policies with at least one enabled rule, in position order (id breaks ties)."""
    live = [p for p in listener.l7policies if p.admin_state_up and any(r.admin_state_up for r in p.rules)]
    return sorted(live, key=lambda p: (p.position, p.id))


# --- health checks and servers --------------------------------------------------------------------


def check_view(hm: HealthMonitorSpec | None, opts: RenderOptions) -> tuple[CheckView | None, tuple[str, ...]]:
    if hm is None or not hm.admin_state_up:
        return None, ()
    what = f"healthmonitor {hm.id}"
    q.ident(hm.id, "healthmonitor id")
    timeout = max(hm.timeout, 1)
    if hm.type in ("HTTP", "HTTPS"):
        method = hm.http_method or "GET"
        if method not in HttpMethod.__members__:
            raise RenderError(f"{what}: unknown http_method {method!r}")
        path = hm.url_path or "/"
        q.checked(path, f"{what} url_path")
        if not path.startswith("/") or _WS.search(path):
            raise RenderError(f"{what}: url_path {path!r} must start with '/' and contain no whitespace")
        version: str | None = None
        if hm.http_version is not None:
            if hm.http_version not in (1.0, 1.1):
                raise RenderError(f"{what}: http_version {hm.http_version} not supported")
            version = f"HTTP/{hm.http_version:.1f}"
        host: str | None = None
        if hm.domain_name:
            q.checked(hm.domain_name, f"{what} domain_name")
            if not _HOSTNAME.match(hm.domain_name):
                raise RenderError(f"{what}: domain_name {hm.domain_name!r} is not a host name")
            host = q.quote_logformat(hm.domain_name, f"{what} domain_name")
            version = "HTTP/1.1"
        return CheckView(
            kind="http",
            timeout_s=timeout,
            method=method,
            uri=q.quote(path, f"{what} url_path"),
            version=version,
            host=host,
            expect=expected_codes_regex(hm.expected_codes, f"{what} expected_codes"),
        ), ()
    if hm.type in ("TCP", "TLS-HELLO"):
        return CheckView(kind="l4", timeout_s=timeout), ()
    if hm.type == "PING":
        if opts.ping_check_command:
            return CheckView(
                kind="external",
                timeout_s=timeout,
                command=q.quote(opts.ping_check_command, "ping_check_command"),
            ), ()
        return CheckView(kind="l4", timeout_s=timeout), (
            f"healthmonitor {hm.id}: PING is checked as a layer-4 connect to the member port",
        )
    raise RenderError(f"{what}: type {hm.type!r} cannot be checked by HAProxy")


def server_view(
    member: MemberSpec,
    pool: PoolSpec,
    hm: HealthMonitorSpec | None,
    check: CheckView | None,
    cookie: bool,
    opts: RenderOptions | None = None,
) -> ServerView:
    what = f"member {member.id}"
    name = q.ident(member.id, "member id")
    if not 0 <= member.weight <= 256:
        raise RenderError(f"{what}: weight {member.weight} outside 0-256")
    params = [f"weight {member.weight}"]
    ssl_check = False
    if check is not None and hm is not None:
        params += ["check", f"inter {max(hm.delay, 1)}s", f"fall {hm.max_retries_down}"]
        params.append(f"rise {hm.max_retries}")
        if member.monitor_address:
            params.append(f"addr {q.host(member.monitor_address, f'{what} monitor_address')}")
        if member.monitor_port is not None:
            if not 1 <= member.monitor_port <= 65535:
                raise RenderError(f"{what}: monitor_port {member.monitor_port} out of range")
            params.append(f"port {member.monitor_port}")
        ssl_check = hm.type in ("HTTPS", "TLS-HELLO")
        if ssl_check:
            params.append("check-ssl")
    if pool.tls_enabled and pool.tls is not None and opts is not None:
        params += server_tls_options(pool, opts)
    else:
        if pool.tls_enabled:
            params.append("ssl")
        if ssl_check or pool.tls_enabled:
            params.append("verify none")
    if cookie:
        params.append(f"cookie {name}")
    if pool.protocol == "PROXY":
        params.append("send-proxy")
    elif pool.protocol == "PROXYV2":
        params.append("send-proxy-v2")
    if member.backup:
        params.append("backup")
    if not member.admin_state_up or not pool.admin_state_up:
        params.append("disabled")
    address = q.host_port(member.address, member.protocol_port, f"{what} address")
    return ServerView(name=name, address=address, params=tuple(params))


def _persistence(
    pool: PoolSpec, mode: str, opts: RenderOptions, peers: str | None = None
) -> tuple[PersistenceView | None, tuple[str, ...]]:
    sp = pool.session_persistence
    if sp is None:
        return None, ()
    if sp.type == "SOURCE_IP":
        return PersistenceView(kind="source", table_size=opts.stick_table_size, peers=peers), ()
    if sp.type in ("HTTP_COOKIE", "APP_COOKIE"):
        if mode != "http":
            return None, (f"session persistence {sp.type} needs an HTTP listener; not applied",)
        if sp.type == "HTTP_COOKIE":
            return PersistenceView(kind="http_cookie", table_size=opts.stick_table_size), ()
        if not sp.cookie_name:
            raise RenderError(f"pool {pool.id}: APP_COOKIE persistence needs cookie_name")
        cookie = q.token(sp.cookie_name, f"pool {pool.id} cookie_name")
        return PersistenceView(kind="app_cookie", table_size=opts.stick_table_size, cookie_name=cookie, peers=peers), ()
    raise RenderError(f"pool {pool.id}: unknown session persistence type {sp.type!r}")


def backend_view(pool: PoolSpec, listener: ListenerSpec, opts: RenderOptions, peers: str | None = None) -> BackendView:
    pid = q.ident(pool.id, "pool id")
    mode = _MODES[listener.protocol]
    if pool.protocol in _NOT_HAPROXY:
        raise RenderError(f"pool {pool.id}: protocol {pool.protocol} cannot serve listener {listener.id}")
    if pool.lb_algorithm not in _BALANCE:
        raise RenderError(f"pool {pool.id}: lb_algorithm {pool.lb_algorithm} is not supported by HAProxy")
    check, check_notes = check_view(pool.healthmonitor, opts)
    persistence, sp_notes = _persistence(pool, mode, opts, peers)
    forwardfor, set_headers = header_policy(listener)
    cookie = persistence is not None and persistence.kind == "http_cookie"
    servers = tuple(server_view(m, pool, pool.healthmonitor, check, cookie, opts) for m in pool.members)
    notes = check_notes + sp_notes
    if not pool.admin_state_up:
        notes += (f"pool {pool.id} is administratively down: every server is disabled",)
    return BackendView(
        name=backend_name(pid, listener.id),
        pool_id=pid,
        listener_id=listener.id,
        mode=mode,
        balance=_BALANCE[pool.lb_algorithm],
        fullconn=listener_maxconn(listener, opts),
        timeout_connect=listener.timeout_member_connect,
        timeout_server=listener.timeout_member_data,
        forwardfor=forwardfor,
        set_headers=set_headers,
        persistence=persistence,
        check=check,
        servers=servers,
        notes=notes,
    )


# --- TLS material -------------------------------------------------------------------------------


def pem_file_name(content: str) -> str:
    """A PEM's file name: the SHA-256 of its content (a changed certificate is a new name)."""
    return hashlib.sha256(content.encode()).hexdigest() + ".pem"


def _pem_path(content: str, opts: RenderOptions, what: str) -> str:
    if not opts.cert_dir:
        raise RenderError(f"{what}: TLS needs RenderOptions.cert_dir")
    if "-----BEGIN" not in content:
        raise RenderError(f"{what}: not PEM text")
    return q.quote(f"{opts.cert_dir}/{pem_file_name(content)}", f"{what} path")


def tls_files(spec: LoadBalancerSpec) -> dict[str, str]:
    """file name → PEM content for every certificate, CA bundle and CRL the config refers to."""
    out: dict[str, str] = {}
    for li in spec.listeners:
        t = li.tls
        if t is not None:
            for cert in ((t.default_cert,) if t.default_cert else ()) + t.sni_certs:
                out[pem_file_name(cert.pem)] = cert.pem
            for pem in (t.client_ca_pem, t.client_crl_pem):
                if pem:
                    out[pem_file_name(pem)] = pem
    for pool in spec.pools:
        pt = pool.tls
        if pool.tls_enabled and pt is not None:
            for pem in (pt.client_cert.pem if pt.client_cert else None, pt.ca_pem, pt.crl_pem):
                if pem:
                    out[pem_file_name(pem)] = pem
    return out


def _version_options(versions: tuple[str, ...], what: str) -> list[str]:
    known = {v for v, _ in _TLS_VERSIONS}
    bad = [v for v in versions if v not in known]
    if bad:
        raise RenderError(f"{what}: unknown tls_versions {bad}")
    if versions and not set(versions) - {"SSLv3"}:
        raise RenderError(f"{what}: tls_versions must include a TLS version")
    return [keyword for version, keyword in _TLS_VERSIONS if versions and version not in versions]


def _ciphers(ciphers: str | None, what: str) -> list[str]:
    if not ciphers:
        return []
    if not _CIPHERS.match(ciphers):
        raise RenderError(f"{what}: tls_ciphers {ciphers!r} has characters outside [A-Za-z0-9-+!:@=_.]")
    return [f"ciphers {ciphers}"]


def _alpn(protocols: tuple[str, ...], what: str) -> list[str]:
    bad = [p for p in protocols if p not in _ALPN]
    if bad:
        raise RenderError(f"{what}: unknown alpn_protocols {bad}")
    return [f"alpn {','.join(dict.fromkeys(protocols))}"] if protocols else []


def tls_bind_options(listener: ListenerSpec, opts: RenderOptions) -> tuple[str, ...]:
    """The ``ssl crt …`` part of a TERMINATED_HTTPS bind line."""
    what = f"listener {listener.id}"
    t = listener.tls
    if t is None or t.error:
        raise RenderError(f"{what}: TLS material unavailable: {t.error if t else 'none in the spec'}")
    certs = ((t.default_cert,) if t.default_cert else ()) + t.sni_certs
    if not certs:
        raise RenderError(f"{what}: TERMINATED_HTTPS needs a default or SNI certificate")
    out = ["ssl"]
    for path in dict.fromkeys(_pem_path(cert.pem, opts, what) for cert in certs):
        out.append(f"crt {path}")
    verify = _VERIFY.get(t.client_authentication, "unknown")
    if verify == "unknown":
        raise RenderError(f"{what}: unknown client_authentication {t.client_authentication!r}")
    if verify is not None:
        if not t.client_ca_pem:
            raise RenderError(f"{what}: client authentication needs a client CA")
        out += [f"ca-file {_pem_path(t.client_ca_pem, opts, what)}", f"verify {verify}"]
        if t.client_crl_pem:
            out.append(f"crl-file {_pem_path(t.client_crl_pem, opts, what)}")
    out += _ciphers(t.tls_ciphers, what)
    out += _version_options(t.tls_versions, what)
    out += _alpn(t.alpn_protocols, what)
    return tuple(out)


def hsts_header(listener: ListenerSpec) -> tuple[tuple[str, str], ...]:
    t = listener.tls
    if t is None or t.hsts_max_age is None:
        return ()
    if t.hsts_max_age < 0:
        raise RenderError(f"listener {listener.id}: hsts_max_age must be >= 0")
    value = f"max-age={int(t.hsts_max_age)}"
    if t.hsts_include_subdomains:
        value += "; includeSubDomains"
    if t.hsts_preload:
        value += "; preload"
    return (("Strict-Transport-Security", f'"{value}"'),)


def server_tls_options(pool: PoolSpec, opts: RenderOptions) -> list[str]:
    """``ssl …`` on a re-encrypting pool's servers: the client certificate, the CA that verifies members."""
    what = f"pool {pool.id}"
    pt: PoolTlsSpec | None = pool.tls
    out = ["ssl"]
    if pt is None:
        return out + ["verify none"]
    if pt.error:
        raise RenderError(f"{what}: TLS material unavailable: {pt.error}")
    if pt.client_cert:
        out.append(f"crt {_pem_path(pt.client_cert.pem, opts, what)}")
    if pt.ca_pem:
        out += [f"ca-file {_pem_path(pt.ca_pem, opts, what)}", "verify required"]
        if pt.crl_pem:
            out.append(f"crl-file {_pem_path(pt.crl_pem, opts, what)}")
    else:
        out.append("verify none")
    out += _ciphers(pt.tls_ciphers, what)
    out += _version_options(pt.tls_versions, what)
    out += _alpn(pt.alpn_protocols, what)
    return out


# --- frontends ------------------------------------------------------------------------------------


def frontend_view(
    listener: ListenerSpec, vip: str, pools: dict[str, PoolSpec], opts: RenderOptions
) -> tuple[FrontendView, list[str]]:
    """The frontend, plus the pool ids it routes to (default first, then policies in order)."""
    lid = q.ident(listener.id, "listener id")
    mode = _MODES[listener.protocol]
    if not 1 <= listener.protocol_port <= 65535:
        raise RenderError(f"listener {lid}: protocol_port {listener.protocol_port} out of range")
    prometheus = listener.protocol == "PROMETHEUS"
    if prometheus and not opts.prometheus_exporter:
        raise RenderError(
            f"listener {lid}: PROMETHEUS needs HAProxy built with the prometheus-exporter service "
            "(haproxy -vv shows none)"
        )
    routed: list[str] = []
    default_backend = None
    if not prometheus and listener.default_pool_id and listener.default_pool_id in pools:
        default_backend = backend_name(q.ident(listener.default_pool_id, "pool id"), lid)
        routed.append(listener.default_pool_id)
    acls: list[AclView] = []
    policies: list[PolicyView] = []
    live = _renderable_policies(listener) if not prometheus else []
    if live and mode != "http":
        raise RenderError(f"listener {lid}: L7 policies need an HTTP listener, not {listener.protocol}")
    for policy in live:
        view = _policy_view(policy, len(policies) + 1, listener, pools)
        if view is None:
            continue
        policies.append(view)
        acls.extend(acl_for_rule(r) for r in policy.rules if r.admin_state_up)
        if policy.redirect_pool_id and view.kind == "backend" and policy.redirect_pool_id not in routed:
            routed.append(policy.redirect_pool_id)
    log_option = log_format = None
    if opts.log_target and opts.log_requests:
        if opts.log_format:
            log_format = q.quote(opts.log_format if mode == "http" else tcp_log_format(opts.log_format), "log_format")
        else:
            log_option = "httplog" if mode == "http" else "tcplog"
    bind = f"{vip}:{listener.protocol_port}"
    if listener.protocol == "TERMINATED_HTTPS":
        bind = " ".join((bind, *tls_bind_options(listener, opts)))
    return FrontendView(
        id=lid,
        protocol=listener.protocol,
        mode=mode,
        bind=bind,
        maxconn=listener_maxconn(listener, opts),
        timeout_client=listener.timeout_client_data,
        inspect_delay=listener.timeout_tcp_inspect if listener.timeout_tcp_inspect > 0 else None,
        allowed_cidrs=tuple(
            dict.fromkeys(q.cidr(c, f"listener {lid} allowed_cidrs") for c in listener.allowed_cidrs)
        ),
        log_option=log_option,
        log_format=log_format,
        prometheus=prometheus,
        response_headers=hsts_header(listener),
        acls=tuple(acls),
        policies=tuple(policies),
        default_backend=default_backend,
    ), routed


# log-format variables HAProxy accepts in HTTP mode only ("format variable 'r' is reserved for HTTP mode")
_HTTP_ONLY_LOG_VARS = re.compile(r"%(\{[^}]*\})?(HPO|HM|HU|HP|HQ|HV|CC|CS|hrl|hsl|hr|hs|ST|Tq|TR|Ta|Th|Ti|Tr|trg|trl|tr|r)(?![A-Za-z])")


def tcp_log_format(fmt: str) -> str:
    """The same log-format for a TCP frontend: every HTTP-only variable becomes ``-``."""
    return _HTTP_ONLY_LOG_VARS.sub("-", fmt)


def rendered_listeners(spec: LoadBalancerSpec) -> tuple[ListenerSpec, ...]:
    """The listeners HAProxy serves, in a stable order (port, then id) so equal specs render equal text."""
    if not spec.admin_state_up:
        return ()
    out = []
    for li in spec.listeners:
        if not li.admin_state_up or li.protocol in _NOT_HAPROXY:
            continue
        if li.protocol not in _MODES:
            raise RenderError(f"listener {li.id}: unknown protocol {li.protocol!r}")
        out.append(li)
    return tuple(sorted(out, key=lambda li: (li.protocol_port, li.id)))


def _global_view(listeners: tuple[ListenerSpec, ...], opts: RenderOptions, external: bool) -> GlobalView:
    for value, what in ((opts.user, "user"), (opts.group, "group")):
        if not _UNIX_NAME.match(value):
            raise RenderError(f"{what} {value!r} is not a valid account name")
    log = None
    if opts.log_target:
        target = q.quote(opts.log_target, "log_target")
        log = f"{target} {opts.log_facility}" + (f" {opts.log_level}" if opts.log_level else "")
    return GlobalView(
        user=opts.user,
        group=opts.group,
        maxconn=global_maxconn(listeners, opts),
        hard_stop_after_s=opts.hard_stop_after_s,
        stats_socket=q.quote(opts.stats_socket_path, "stats_socket_path"),
        stats_socket_mode=opts.stats_socket_mode,
        server_state_file=q.quote(opts.server_state_file, "server_state_file"),
        log=log,
        nbthread=opts.nbthread,
        external_check=external,
    )


def peers_view(vrrp: VrrpSpec | None) -> PeersView | None:
    """The ``peers`` section of an instance of an ACTIVE_STANDBY pair (None: SINGLE), every value checked."""
    if vrrp is None:
        return None
    if isinstance(vrrp.peer_port, bool) or not 1 <= vrrp.peer_port <= 65535:
        raise RenderError(f"peer_port {vrrp.peer_port!r} out of range")
    local = q.ident(vrrp.amphora_id, "amphora id")
    family = q.ip(vrrp.address, "vrrp address").version
    members = [(local, q.host_port(vrrp.address, vrrp.peer_port, "vrrp address"))]
    for peer in vrrp.peers:
        name = q.ident(peer.amphora_id, "peer amphora id")
        if q.ip(peer.address, "peer address").version != family:
            raise RenderError(f"peer {name}: address {peer.address!r} is not of the instance's address family")
        members.append((name, q.host_port(peer.address, vrrp.peer_port, "peer address")))
    names = [n for n, _ in members]
    addresses = [a for _, a in members]
    if len(set(names)) != len(names) or len(set(addresses)) != len(addresses):
        raise RenderError("the instances of a pair need distinct amphora ids and addresses")
    return PeersView(name=PEERS_SECTION, local=local, peers=tuple(members))


def build(spec: LoadBalancerSpec, opts: RenderOptions) -> ConfigView:
    lb_id = q.ident(spec.id, "load balancer id")
    pools = {p.id: p for p in spec.pools}
    listeners = rendered_listeners(spec)
    vip = q.host(spec.vip.address, "vip address") if listeners else ""
    peers = peers_view(spec.vrrp)
    frontends: list[FrontendView] = []
    backends: list[BackendView] = []
    for listener in listeners:
        fe, routed = frontend_view(listener, vip, pools, opts)
        frontends.append(fe)
        backends.extend(backend_view(pools[pid], listener, opts, peers.name if peers else None) for pid in routed)
    external = any(b.check is not None and b.check.kind == "external" for b in backends)
    return ConfigView(
        lb_id=lb_id,
        global_=_global_view(listeners, opts, external),
        log=opts.log_target is not None,
        frontends=tuple(frontends),
        backends=tuple(backends),
        peers=peers,
    )
