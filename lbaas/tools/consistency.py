"""Do the database, the rendered configs and the running HAProxy processes agree? One reusable check.

``check_consistency`` compares, for a quiet system (no client changing anything):

* the database: nothing in PENDING_* (load balancers and everything under them), every LB ACTIVE and
  bound to one of the given agents, no row whose parent is gone (member without pool, pool or listener
  without LB, a listener's default pool elsewhere, amphora or VIP port of a deleted LB);
* each agent's state directory (``<state_dir>/lb/<id>/``): exactly the LBs bound to that agent, each
  with a ``haproxy.cfg`` that holds exactly the DB's frontends (listener id, VIP:port), backends
  (``<pool>:<listener>``) and servers (member id, address:port), and a ``loaded`` digest that
  matches it (the running HAProxy confirmed this very text);
* the kernel: namespace ``qlbaas-<id>`` exists for each LB, its VIP interface holds the VIP address,
  and the host end of its veth is up and enslaved to its network's bridge; the HAProxy master from the pid file is
  alive, is ours (``-f`` this cfg) and lives in that namespace; its runtime view (``show servers
  state`` on the stats socket) lists exactly the DB's servers; no other HAProxy master runs from our
  state directories, and none runs for an LB the DB no longer has;
* for every other id the caller knows of (LBs its clients created and deleted): no namespace, no
  state directory, no process.

It returns a list of human-readable problems (empty: consistent). It reads the kernel directly, so it
runs where the agents' namespaces are visible; ``agents`` maps an agent host name to its state dir, or
to an ``AgentView`` when that agent's bridges and veths live in a namespace of their own (a simulated
host) or under other name prefixes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lbaas.agent.haproxy.process import unix_command
from lbaas.agent.haproxy.stats import parse_server_state
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import DEFAULT_NAMING, Naming
from lbaas.agent.paths import LbPaths
from lbaas.db import models as m
from lbaas.domain.status import haproxy_backend_name

PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
STATUS_MODELS = (m.LoadBalancer, m.Listener, m.Pool, m.Member, m.HealthMonitor, m.L7Policy, m.L7Rule)
HAPROXY_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "PROMETHEUS")


@dataclass(frozen=True)
class AgentView:
    """Where one agent keeps its files, and where (which namespace; None: the root) and under which
    names it plugs bridges and veths."""

    state_dir: Path
    host_ns: str | None = None
    naming: Naming = DEFAULT_NAMING


def _ip_json(args: list[str], ns: str | None = None) -> list[dict[str, object]]:
    argv = ["ip", *(["-n", ns] if ns else []), "-j", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return []
    return list(json.loads(r.stdout or "[]"))


@dataclass
class Rendered:
    """What one haproxy.cfg (or the runtime) holds: frontends id → bind, backends name → servers."""

    frontends: dict[str, str] = field(default_factory=dict)
    backends: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # name → {(server, addr:port)}


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_config(text: str) -> Rendered:
    """Frontends (with their bind), backends and server lines of a rendered haproxy.cfg."""
    out = Rendered()
    section: tuple[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if not raw[0].isspace():
            section = (words[0], words[1]) if len(words) > 1 else (words[0], "")
            if words[0] == "frontend":
                out.frontends[words[1]] = ""
            elif words[0] == "backend":
                out.backends[words[1]] = set()
            continue
        if section is None:
            continue
        kind, name = section
        if kind == "frontend" and words[0] == "bind":
            out.frontends[name] = words[1]
        elif kind == "backend" and words[0] == "server":
            out.backends[name].add((words[1], words[2]))
    return out


def runtime_view(stats_sock: Path) -> dict[str, set[tuple[str, str]]]:
    """backend → {(server, addr:port)} from ``show servers state`` on the stats socket."""
    out: dict[str, set[tuple[str, str]]] = {}
    for row in parse_server_state(unix_command(stats_sock, "show servers state")):
        out.setdefault(row.be_name, set()).add((row.srv_name, _host_port(row.srv_addr, row.srv_port or 0)))
    return out


def expected_view(lb: m.LoadBalancer) -> Rendered:
    """What the renderer must produce for ``lb`` (enabled listeners, the pools they route to)."""
    out = Rendered()
    if not lb.admin_state_up:
        return out
    for li in lb.listeners:
        if not li.admin_state_up or li.protocol not in HAPROXY_PROTOCOLS:
            continue
        out.frontends[li.id] = _host_port(lb.vip_address or "", li.protocol_port)
        if li.protocol == "PROMETHEUS":
            continue
        routed = [li.default_pool] if li.default_pool is not None else []
        routed += [
            p.redirect_pool
            for p in li.l7policies
            if p.admin_state_up and p.action == "REDIRECT_TO_POOL" and p.redirect_pool is not None
        ]
        for pool in routed:
            out.backends[haproxy_backend_name(pool.id, li.id)] = {
                (mb.id, _host_port(mb.address, mb.protocol_port)) for mb in pool.members
            }
    return out


def pending_rows(engine: Engine) -> list[str]:
    """``<table> <id> <status>`` for every row still in PENDING_*."""
    out = []
    with Session(engine) as s:
        for model in STATUS_MODELS:
            for oid, status in s.execute(
                select(model.id, model.provisioning_status).where(model.provisioning_status.in_(PENDING))
            ):
                out.append(f"{model.__tablename__} {oid} {status}")
    return out


def _orphan_rows(s: Session) -> list[str]:
    lbs = set(s.scalars(select(m.LoadBalancer.id)))
    pools = set(s.scalars(select(m.Pool.id)))
    listeners = set(s.scalars(select(m.Listener.id)))
    policies = set(s.scalars(select(m.L7Policy.id)))
    out = []
    for kind, rows, parents in (
        ("listener", s.execute(select(m.Listener.id, m.Listener.loadbalancer_id)), lbs),
        ("pool", s.execute(select(m.Pool.id, m.Pool.loadbalancer_id)), lbs),
        ("member", s.execute(select(m.Member.id, m.Member.pool_id)), pools),
        ("health_monitor", s.execute(select(m.HealthMonitor.id, m.HealthMonitor.pool_id)), pools),
        ("l7policy", s.execute(select(m.L7Policy.id, m.L7Policy.listener_id)), listeners),
        ("l7rule", s.execute(select(m.L7Rule.id, m.L7Rule.l7policy_id)), policies),
        ("amphora", s.execute(select(m.Amphora.id, m.Amphora.loadbalancer_id)), lbs | {None}),
        ("listener_stats", s.execute(select(m.ListenerStats.listener_id, m.ListenerStats.loadbalancer_id)), lbs),
        ("member_stats", s.execute(select(m.MemberStats.member_id, m.MemberStats.member_id)),
         set(s.scalars(select(m.Member.id)))),
    ):
        out += [f"orphan {kind} {oid} (parent {parent} is gone)" for oid, parent in rows if parent not in parents]
    for lid, pid, lb_id in s.execute(select(m.Listener.id, m.Listener.default_pool_id, m.Listener.loadbalancer_id)):
        pool = s.get(m.Pool, pid) if pid else None
        if pid and (pool is None or pool.loadbalancer_id != lb_id):
            out.append(f"listener {lid} routes to pool {pid}, which is not its load balancer's")
    for pid, name in s.execute(select(m.Port.id, m.Port.name).where(m.Port.name.like("octavia-lb-%"))):
        if name.removeprefix("octavia-lb-") not in lbs:
            out.append(f"orphan VIP port {pid} ({name})")
    ports = set(s.scalars(select(m.Port.id)))
    out += [
        f"orphan ip_allocation {addr} (port {port} is gone)"
        for addr, port in s.execute(select(m.IpAllocation.ip_address, m.IpAllocation.port_id))
        if port not in ports
    ]
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def haproxy_masters(state_dirs: Iterable[Path]) -> dict[str, list[int]]:
    """lb id → pids of live HAProxy masters started with ``-f <state_dir>/lb/<id>/haproxy.cfg``
    (a master's parent is not an HAProxy with the same config; workers are left out)."""
    roots = [str(Path(d) / "lb") + "/" for d in state_dirs]
    by_pid: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if not argv or not os.path.basename(argv[0]).startswith("haproxy"):
            continue
        cfg = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-f"), "")
        root = next((r for r in roots if cfg.startswith(r)), None)
        if root is not None and cfg.endswith("/haproxy.cfg"):
            by_pid[int(entry)] = cfg[len(root) :].split("/")[0]
    out: dict[str, list[int]] = {}
    for pid, lb_id in by_pid.items():
        info = _ppid_and_state(pid)
        if info is None or info[1] in ("Z", "X"):
            continue
        if by_pid.get(info[0]) == lb_id:  # a worker of this LB's master
            continue
        out.setdefault(lb_id, []).append(pid)
    return out


def _check_plumbing(lb: m.LoadBalancer, agent: AgentView, host_links: dict[str, dict[str, object]]) -> list[str]:
    what = f"LB {lb.id}"
    if not lb.vip_port_id or not lb.vip_network_id:
        return [f"{what}: no VIP port in the DB"]
    naming = agent.naming
    tap, vif, br = (
        naming.tap_ifname(lb.vip_port_id),
        naming.vip_ifname(lb.vip_port_id),
        naming.bridge_name(lb.vip_network_id),
    )
    problems = []
    link, bridge = host_links.get(tap), host_links.get(br)
    if bridge is None:
        problems.append(f"{what}: bridge {br} missing")
    if link is None:
        problems.append(f"{what}: veth host end {tap} missing")
    elif link.get("master") != br:
        problems.append(f"{what}: {tap} is enslaved to {link.get('master')!r}, not to {br}")
    elif "UP" not in (link.get("flags") or []):  # type: ignore[operator]
        problems.append(f"{what}: {tap} is down")
    addrs = _ip_json(["addr", "show", "dev", vif], naming.ns_name(lb.id))
    have = {a.get("local") for i in addrs for a in i.get("addr_info", [])}  # type: ignore[attr-defined]
    if lb.vip_address not in have:
        problems.append(f"{what}: {vif} in {naming.ns_name(lb.id)} lacks the VIP {lb.vip_address} (has {have})")
    return problems


def _check_lb(lb: m.LoadBalancer, agent: AgentView, host_links: dict[str, dict[str, object]]) -> list[str]:
    what = f"LB {lb.id}"
    paths = LbPaths(agent.state_dir, lb.id)
    ns = agent.naming.ns_name(lb.id)
    if not nsexec.netns_exists(ns):
        return [f"{what}: namespace {ns} missing"]
    problems = _check_plumbing(lb, agent, host_links)
    try:
        text = paths.cfg.read_text()
    except OSError as exc:
        return [f"{what}: no haproxy.cfg ({exc})"]
    want = expected_view(lb)
    have = parse_config(text)
    if have.frontends != want.frontends:
        problems.append(f"{what}: cfg frontends {have.frontends} != DB {want.frontends}")
    if have.backends != want.backends:
        problems.append(f"{what}: cfg backends {have.backends} != DB {want.backends}")
    try:
        loaded = paths.loaded.read_text().strip()
    except OSError:
        loaded = None
    if loaded != hashlib.sha256(text.encode()).hexdigest():
        problems.append(f"{what}: the running HAProxy did not confirm this haproxy.cfg (loaded digest differs)")
    try:
        pid = int(paths.pid.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return [*problems, f"{what}: no HAProxy pid file"]
    info = _ppid_and_state(pid)
    argv = _cmdline(pid)
    if info is None or info[1] in ("Z", "X") or "-f" not in argv or argv[argv.index("-f") + 1] != str(paths.cfg):
        return [*problems, f"{what}: HAProxy master {pid} from the pid file is not running our config"]
    if nsexec.pid_netns_identity(pid) != nsexec.netns_identity(ns):
        problems.append(f"{what}: HAProxy master {pid} is not in namespace {ns}")
    try:
        runtime = runtime_view(paths.stats_sock)
    except Exception as exc:
        return [*problems, f"{what}: stats socket unreadable: {exc}"]
    # A backend without servers has no line in ``show servers state``.
    want_rt = {name: servers for name, servers in want.backends.items() if servers}
    if runtime != want_rt:
        problems.append(f"{what}: runtime servers {runtime} != DB {want_rt}")
    return problems


def check_consistency(
    engine: Engine, agents: Mapping[str, Path | AgentView], *, known_ids: Iterable[str] = ()
) -> list[str]:
    """Every disagreement between the DB, the agents' state directories and the kernel (see the module doc).

    ``agents``: agent host → its state directory (or ``AgentView``). ``known_ids``: further LB ids (created,
    perhaps deleted, by the caller) that must leave nothing behind unless the DB still has them."""
    problems = pending_rows(engine)
    views = {host: a if isinstance(a, AgentView) else AgentView(Path(a)) for host, a in agents.items()}
    state_dirs = {host: v.state_dir for host, v in views.items()}
    masters = haproxy_masters(state_dirs.values())
    links = {
        ns: {str(link.get("ifname")): link for link in _ip_json(["link", "show"], ns)}
        for ns in {v.host_ns for v in views.values()}
    }
    with Session(engine) as s:
        problems += _orphan_rows(s)
        hosts = dict(s.execute(select(m.Agent.id, m.Agent.host)).all())
        lbs = {lb.id: lb for lb in s.scalars(select(m.LoadBalancer))}
        for lb in lbs.values():
            host = hosts.get(lb.agent_id) if lb.agent_id else None
            if lb.provisioning_status != "ACTIVE":
                problems.append(f"LB {lb.id} is {lb.provisioning_status}: {lb.status_message}")
            if host not in state_dirs:
                problems.append(f"LB {lb.id} is bound to {host!r}, not to one of the agents checked")
                continue
            problems += _check_lb(lb, views[host], links[views[host].host_ns])
            for other, d in state_dirs.items():
                if other != host and LbPaths(d, lb.id).directory.exists():
                    problems.append(f"LB {lb.id} (bound to {host}) also has state on {other}")
        for host, d in state_dirs.items():
            root = d / "lb"
            on_disk = {p.name for p in root.iterdir()} if root.is_dir() else set()
            for lb_id in sorted(on_disk - set(lbs)):
                problems.append(f"agent {host}: state directory for LB {lb_id}, which the DB does not have")
        for lb_id, pids in sorted(masters.items()):
            if lb_id not in lbs:
                problems.append(f"HAProxy master(s) {pids} still run for LB {lb_id}, which the DB does not have")
            elif len(pids) != 1:
                problems.append(f"LB {lb_id}: {len(pids)} HAProxy masters {pids}")
        namings = {v.naming for v in views.values()}
        for lb_id in sorted(set(known_ids) - set(lbs)):
            for naming in namings:
                if nsexec.netns_exists(naming.ns_name(lb_id)):
                    problems.append(f"orphan namespace {naming.ns_name(lb_id)} (LB {lb_id} is deleted)")
    return problems
