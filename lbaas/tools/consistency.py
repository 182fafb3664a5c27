"""Do the database, the rendered configs and the running HAProxy processes agree? One reusable check.

``check_consistency`` compares, for a quiet system (no client changing anything):

* the database: nothing in PENDING_* (load balancers and everything under them), every LB ACTIVE and
  bound to one of the given agents, no row whose parent is gone (member without pool, pool or listener
  without LB, a listener's default pool elsewhere, amphora or VIP port of a deleted LB);
* each agent's state directory (``<state_dir>/lb/<id>/``): exactly the LBs bound to that agent, each
  with a ``haproxy.cfg`` that holds exactly the DB's frontends (listener id, VIP:port), backends
  (``<pool>:<listener>``) and servers (member id, address:port), and a ``loaded`` digest that
  matches it (the running HAProxy confirmed this very text, and the PEM files it names);
* the kernel: namespace ``qlbaas-<id>`` exists for each LB, its VIP interface holds the VIP address,
  and the host end of its veth is up and enslaved to its network's bridge; the HAProxy master from the pid file is
  alive, is ours (``-f`` this cfg) and lives in that namespace; its runtime view (``show servers
  state`` on the stats socket) lists exactly the DB's servers; no other HAProxy master runs from our
  state directories, and none runs for an LB the DB no longer has;
* for every other id the caller knows of (LBs its clients created and deleted): no namespace, no
  state directory, no process.

An instance of an ACTIVE_STANDBY pair is recognised from what is on disk: a ``keepalived.conf`` in the LB's
state directory. For it, the VIP is not expected on its interface (VRRP moves it); instead (``judge_instance``):
its interface (the conf's ``interface``; the host end of the veth is named after it) holds the instance's own
address (``unicast_src_ip``), the conf names the VIP (``virtual_ipaddress``) and this LB's track file, keepalived
runs from that conf inside the namespace, and the track file says 0 (HAProxy vouched for: a quiet system has no
FAULT). Across the instances of one LB that are visible (``judge_pair``): exactly one holds the VIP, each names
the other's address as its unicast peer, and both use one virtual router id. The HAProxy checks (cfg, loaded
digest, master, runtime servers) are the same as for a SINGLE LB, per instance. A SINGLE LB with a
keepalived.conf is a problem. ``check_pair`` runs the keepalived side for one LB from state directories alone
(no DB), and ``check_lb_on`` everything for one LB on one agent, for data-plane tests.

The DB half of pairs (which agents the two instances are bound to, their vrrp addresses, ports and virtual
router id) is the ``instances`` hook of ``check_consistency`` (see ``DbInstance``). The default,
``amphora_instances``, reads an ACTIVE_STANDBY LB's live MASTER/BACKUP amphora rows (``lbaas.services.instances``):
each instance is checked on the agent it is bound to, its keepalived.conf against its row, and no other agent
may hold state for the LB. ``lb_binding_only`` knows no instances: every LB is checked on the agent of its own
binding (``agent_id``), and an ACTIVE_STANDBY LB is reported as not checked against the DB.

It returns a list of human-readable problems (empty: consistent). It reads the kernel directly, so it
runs where the agents' namespaces are visible; ``agents`` maps an agent host name to its state dir, or
to an ``AgentView`` when that agent's bridges and veths live in a namespace of their own (a simulated
host) or under other name prefixes.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lbaas.agent import daemon
from lbaas.agent.haproxy.process import unix_command
from lbaas.agent.haproxy.stats import parse_server_state
from lbaas.agent.haproxy.unit import config_digest
from lbaas.agent.netns import nsexec
from lbaas.agent.netns.base import DEFAULT_NAMING, Naming
from lbaas.agent.paths import LbPaths, read_file
from lbaas.db import models as m
from lbaas.domain.status import haproxy_backend_name
from lbaas.services import instances as instances_service

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


# ---------------------------------------------------------------------------------------------- ACTIVE_STANDBY


def _canon(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address or ""))
    except ValueError:
        return address


@dataclass(frozen=True)
class KeepalivedConf:
    """What one rendered keepalived.conf says (``lbaas.agent.keepalived.render``); None/empty: not found."""

    interface: str | None = None
    src: str | None = None  # unicast_src_ip: the instance's own address
    peers: tuple[str, ...] = ()
    vips: tuple[str, ...] = ()  # virtual_ipaddress, without prefix length
    track_file: str | None = None
    virtual_router_id: int | None = None


def parse_keepalived(text: str) -> KeepalivedConf:
    """The values the consistency check compares, from a keepalived.conf as lbaas renders it."""
    interface = src = track = None
    vrid: int | None = None
    peers: list[str] = []
    vips: list[str] = []
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[-1] == "{":
            stack.append(words[0])
            continue
        if words[0] == "}":
            if stack:
                stack.pop()
            continue
        block = stack[-1] if stack else ""
        if block == "unicast_peer":
            peers.append(_canon(words[0]) or words[0])
        elif block == "virtual_ipaddress":
            vips.append(_canon(words[0].split("/")[0]) or words[0])
        elif block == "track_file" and words[0] == "file" and len(words) > 1:
            track = words[1].strip('"')
        elif block == "vrrp_instance" and len(words) > 1:
            if words[0] == "interface":
                interface = words[1]
            elif words[0] == "unicast_src_ip":
                src = _canon(words[1])
            elif words[0] == "virtual_router_id" and words[1].isdigit():
                vrid = int(words[1])
    return KeepalivedConf(interface, src, tuple(peers), tuple(vips), track, vrid)


@dataclass(frozen=True)
class InstanceFacts:
    """What the host shows of one instance of a pair (``instance_facts``; judged by the pure functions)."""

    host: str
    conf: KeepalivedConf
    track_path: str  # where this LB's track file is (LbPaths.track)
    addresses: frozenset[str] | None  # on the conf's interface in the namespace (None: no such interface)
    keepalived: str | None  # None: keepalived runs from this conf in the namespace; else why not
    track: str | None  # the track file's value (None: no file)

    def holds(self, vip: str) -> bool:
        return self.addresses is not None and _canon(vip) in self.addresses


def judge_instance(lb_id: str, vip: str | None, f: InstanceFacts) -> list[str]:
    """One instance of a pair, on its own (see the module doc)."""
    what = f"LB {lb_id} instance on {f.host}"
    c = f.conf
    out = []
    if _canon(vip) not in c.vips:
        out.append(f"{what}: keepalived.conf does not name the VIP {vip} (virtual_ipaddress {list(c.vips)})")
    if c.track_file != f.track_path:
        out.append(f"{what}: keepalived.conf tracks {c.track_file!r}, not {f.track_path}")
    if c.interface is None or c.src is None:
        out.append(f"{what}: keepalived.conf has no interface or unicast_src_ip")
    elif f.addresses is None:
        out.append(f"{what}: interface {c.interface} missing in its namespace")
    elif c.src not in f.addresses:
        out.append(f"{what}: {c.interface} lacks the instance's own address {c.src} (has {sorted(f.addresses)})")
    if f.keepalived is not None:
        out.append(f"{what}: {f.keepalived}")
    if f.track is None:
        out.append(f"{what}: no track file {f.track_path}")
    elif f.track != "0":
        out.append(f"{what}: track file says {f.track!r} (HAProxy not vouched for: VRRP in FAULT)")
    return out


def judge_pair(lb_id: str, vip: str | None, instances: Sequence[InstanceFacts]) -> list[str]:
    """The instances of one LB that are visible, together: with two or more, exactly one holds the VIP,
    each lists the others' addresses as its unicast peers, one virtual router id. One alone: nothing
    (its peer may run where this check cannot see)."""
    if len(instances) < 2:
        return []
    out = []
    holders = [f.host for f in instances if f.holds(vip or "")]
    if len(holders) != 1:
        out.append(f"LB {lb_id}: the VIP {vip} is held by {len(holders)} instances {holders}, not exactly one")
    for f in instances:
        others = sorted(o.conf.src or "?" for o in instances if o is not f)
        if sorted(f.conf.peers) != others:
            out.append(f"LB {lb_id} instance on {f.host}: unicast peers {sorted(f.conf.peers)}, not {others}")
    vrids = {f.conf.virtual_router_id for f in instances}
    if len(vrids) != 1:
        out.append(f"LB {lb_id}: the instances use virtual router ids {sorted(map(str, vrids))}")
    return out


def _keepalived_state(paths: LbPaths, ns: str) -> str | None:
    pid = daemon.read_pid(paths.keepalived_pid)
    if pid is None:
        return "no keepalived pid file"
    if not daemon.alive(pid) or not daemon.runs_config(pid, "keepalived", paths.keepalived_cfg):
        return f"keepalived {pid} from the pid file is not running this keepalived.conf"
    if nsexec.pid_netns_identity(pid) != nsexec.netns_identity(ns):
        return f"keepalived {pid} is not in namespace {ns}"
    return None


def _addresses(ns: str, ifname: str) -> frozenset[str] | None:
    info = _ip_json(["addr", "show", "dev", ifname], ns)
    if not info:
        return None
    return frozenset(_canon(str(a.get("local"))) or "" for i in info for a in i.get("addr_info", []))  # type: ignore[attr-defined]


def instance_facts(host: str, lb_id: str, agent: AgentView) -> InstanceFacts | None:
    """The instance of ``lb_id`` on this agent, if it is one of a pair (its keepalived.conf exists)."""
    paths = LbPaths(agent.state_dir, lb_id)
    text = read_file(paths.keepalived_cfg)
    if text is None:
        return None
    conf = parse_keepalived(text)
    ns = agent.naming.ns_name(lb_id)
    addresses = _addresses(ns, conf.interface) if conf.interface and nsexec.netns_exists(ns) else None
    track = read_file(paths.track)
    return InstanceFacts(host, conf, str(paths.track), addresses, _keepalived_state(paths, ns),
                         track.strip() if track is not None else None)  # fmt: skip


def check_pair(lb_id: str, vip: str, agents: Mapping[str, Path | AgentView]) -> list[str]:
    """The keepalived side of an ACTIVE_STANDBY LB from the agents' state directories and the kernel alone
    (no DB): each agent must hold an instance of it; each instance judged, then the pair."""
    found = []
    problems = []
    for host, a in agents.items():
        view = a if isinstance(a, AgentView) else AgentView(Path(a))
        facts = instance_facts(host, lb_id, view)
        if facts is None:
            problems.append(f"LB {lb_id}: no keepalived.conf on {host}")
            continue
        found.append(facts)
        problems += judge_instance(lb_id, vip, facts)
    return problems + judge_pair(lb_id, vip, found)


@dataclass(frozen=True)
class DbInstance:
    """One instance of an ACTIVE_STANDBY LB as the DB has it (an amphora row with its own binding)."""

    amphora_id: str
    agent_id: str | None
    vrrp_ip: str | None
    vrrp_port_id: str | None
    vrrp_id: int | None = None  # the pair's virtual router id


# The DB half of pairs: lb → its instances (None: the DB has no instances for it; the LB's own binding is
# checked, as for SINGLE).
Instances = Callable[[Session, m.LoadBalancer], Sequence[DbInstance] | None]


def lb_binding_only(s: Session, lb: m.LoadBalancer) -> Sequence[DbInstance] | None:
    """No instances: every LB is checked on the agent of its own binding (an ACTIVE_STANDBY one is reported
    as not checked against the DB)."""
    return None


def amphora_instances(s: Session, lb: m.LoadBalancer) -> Sequence[DbInstance] | None:
    """An ACTIVE_STANDBY LB's live instances: its MASTER/BACKUP amphora rows not DELETED; None for SINGLE."""
    if not instances_service.is_pair(lb):
        return None
    return [DbInstance(a.id, a.agent_id, a.vrrp_ip, a.vrrp_port_id, a.vrrp_id)
            for a in instances_service.rows(s, lb.id) if a.status not in instances_service.GONE]  # fmt: skip


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


def haproxy_masters_by_dir(state_dirs: Iterable[Path]) -> dict[tuple[Path, str], list[int]]:
    """(state dir, lb id) → pids of live HAProxy masters started with ``-f <state_dir>/lb/<id>/haproxy.cfg``
    (a master's parent is not an HAProxy with the same config; workers are left out)."""
    roots = {str(Path(d) / "lb") + "/": Path(d) for d in state_dirs}
    by_pid: dict[int, tuple[Path, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if not argv or not os.path.basename(argv[0]).startswith("haproxy"):
            continue
        cfg = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-f"), "")
        root = next((r for r in roots if cfg.startswith(r)), None)
        if root is not None and cfg.endswith("/haproxy.cfg"):
            by_pid[int(entry)] = (roots[root], cfg[len(root) :].split("/")[0])
    out: dict[tuple[Path, str], list[int]] = {}
    for pid, key in by_pid.items():
        info = _ppid_and_state(pid)
        if info is None or info[1] in ("Z", "X"):
            continue
        if by_pid.get(info[0]) == key:  # a worker of this LB's master
            continue
        out.setdefault(key, []).append(pid)
    return out


def haproxy_masters(state_dirs: Iterable[Path]) -> dict[str, list[int]]:
    """lb id → pids of live HAProxy masters started from any of ``state_dirs`` (see ``haproxy_masters_by_dir``)."""
    out: dict[str, list[int]] = {}
    for (_, lb_id), pids in haproxy_masters_by_dir(state_dirs).items():
        out.setdefault(lb_id, []).extend(pids)
    return out


def _check_plumbing(lb: m.LoadBalancer, agent: AgentView, host_links: dict[str, dict[str, object]],
                    pair: InstanceFacts | None = None) -> list[str]:  # fmt: skip
    """The veth, the bridge and (SINGLE) the VIP on the LB's interface. An instance of a pair plugs its own
    vrrp port: its interface is the one its keepalived.conf names, and the host end is named after the same
    port; its addresses are ``judge_instance``'s."""
    what = f"LB {lb.id}"
    if not lb.vip_port_id or not lb.vip_network_id:
        return [f"{what}: no VIP port in the DB"]
    naming = agent.naming
    br = naming.bridge_name(lb.vip_network_id)
    if pair is None:
        tap, vif = naming.tap_ifname(lb.vip_port_id), naming.vip_ifname(lb.vip_port_id)
    else:
        what = f"LB {lb.id} instance on {pair.host}"
        vif = pair.conf.interface or ""
        if not vif.startswith(naming.vip_prefix):
            return [f"{what}: keepalived.conf's interface {vif!r} is not an instance interface ({naming.vip_prefix}*)"]
        tap = naming.tap_prefix + vif[len(naming.vip_prefix) :]
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
    if pair is not None:
        return problems
    addrs = _ip_json(["addr", "show", "dev", vif], naming.ns_name(lb.id))
    have = {a.get("local") for i in addrs for a in i.get("addr_info", [])}  # type: ignore[attr-defined]
    if lb.vip_address not in have:
        problems.append(f"{what}: {vif} in {naming.ns_name(lb.id)} lacks the VIP {lb.vip_address} (has {have})")
    return problems


def _check_lb(
    lb: m.LoadBalancer, agent: AgentView, host_links: dict[str, dict[str, object]], host: str = ""
) -> tuple[list[str], InstanceFacts | None]:
    """Problems of ``lb`` on this agent, and its instance facts when it is one of a pair (keepalived.conf)."""
    ns = agent.naming.ns_name(lb.id)
    if not nsexec.netns_exists(ns):
        return [f"LB {lb.id}: namespace {ns} missing"], None
    pair = instance_facts(host, lb.id, agent)
    problems = _check_plumbing(lb, agent, host_links, pair)
    if pair is not None:
        problems += judge_instance(lb.id, lb.vip_address, pair)
    what = f"LB {lb.id}" if pair is None else f"LB {lb.id} instance on {host}"
    return _check_haproxy(lb, LbPaths(agent.state_dir, lb.id), ns, what, problems), pair


def check_lb_on(lb: m.LoadBalancer, agent: AgentView, host: str = "") -> tuple[list[str], InstanceFacts | None]:
    """One LB (its rows, loaded or built in memory) on one agent: everything ``check_consistency`` checks there,
    and its instance facts when it is one of a pair (for ``judge_pair``)."""
    links = {str(link.get("ifname")): link for link in _ip_json(["link", "show"], agent.host_ns)}
    return _check_lb(lb, agent, links, host)


def _check_haproxy(lb: m.LoadBalancer, paths: LbPaths, ns: str, what: str, problems: list[str]) -> list[str]:
    """``problems`` (the plumbing's) and HAProxy's; no haproxy.cfg: that alone, as it always was."""
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
    try:  # the digest covers the PEM files the config names (TLS), as the agent writes it
        pems = [name for name in os.listdir(paths.certs) if name in text]
    except OSError:
        pems = []
    if loaded != config_digest(text, pems):
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
    engine: Engine, agents: Mapping[str, Path | AgentView], *, known_ids: Iterable[str] = (),
    instances: Instances = amphora_instances,
) -> list[str]:  # fmt: skip
    """Every disagreement between the DB, the agents' state directories and the kernel (see the module doc).

    ``agents``: agent host → its state directory (or ``AgentView``). ``known_ids``: further LB ids (created,
    perhaps deleted, by the caller) that must leave nothing behind unless the DB still has them.
    ``instances``: the DB half of ACTIVE_STANDBY (an LB's instances and their bindings; see ``DbInstance``)."""
    problems = pending_rows(engine)
    views = {host: a if isinstance(a, AgentView) else AgentView(Path(a)) for host, a in agents.items()}
    state_dirs = {host: v.state_dir for host, v in views.items()}
    by_dir = haproxy_masters_by_dir(state_dirs.values())
    masters: dict[str, list[int]] = {}
    for (_, lb_id), pids in by_dir.items():
        masters.setdefault(lb_id, []).extend(pids)
    links = {
        ns: {str(link.get("ifname")): link for link in _ip_json(["link", "show"], ns)}
        for ns in {v.host_ns for v in views.values()}
    }
    pairs: dict[str, set[Path]] = {}  # pair LB → the state dirs of its instances (one master in each)
    with Session(engine) as s:
        problems += _orphan_rows(s)
        hosts = dict(s.execute(select(m.Agent.id, m.Agent.host)).all())
        lbs = {lb.id: lb for lb in s.scalars(select(m.LoadBalancer))}
        for lb in lbs.values():
            if lb.provisioning_status != "ACTIVE":
                problems.append(f"LB {lb.id} is {lb.provisioning_status}: {lb.status_message}")
            rows = instances(s, lb)
            if rows is not None:
                bound, found = [], []
                for row in rows:
                    host = hosts.get(row.agent_id) if row.agent_id else None
                    if host not in state_dirs:
                        problems.append(f"LB {lb.id} instance {row.amphora_id} is bound to {host!r}, "
                                        "not to one of the agents checked")  # fmt: skip
                        continue
                    bound.append(host)
                    found_here, facts = _check_lb(lb, views[host], links[views[host].host_ns], host)
                    problems += found_here
                    if facts is None:
                        problems.append(f"LB {lb.id} instance {row.amphora_id} on {host}: no keepalived.conf")
                        continue
                    found.append(facts)
                    problems += _db_instance(lb.id, row, facts, views[host])
                if len(set(bound)) != len(bound):
                    problems.append(f"LB {lb.id}: two instances bound to one agent {bound}")
                problems += judge_pair(lb.id, lb.vip_address, found)
                pairs[lb.id] = {state_dirs[h] for h in bound}
            else:
                host = hosts.get(lb.agent_id) if lb.agent_id else None
                if lb.topology == "ACTIVE_STANDBY":
                    problems.append(f"LB {lb.id} is ACTIVE_STANDBY: its instances are not checked against the DB "
                                    "(no instances hook)")  # fmt: skip
                if host not in state_dirs:
                    problems.append(f"LB {lb.id} is bound to {host!r}, not to one of the agents checked")
                    continue
                bound = [host]
                found_here, facts = _check_lb(lb, views[host], links[views[host].host_ns], host)
                problems += found_here
                if facts is not None and lb.topology != "ACTIVE_STANDBY":
                    problems.append(f"LB {lb.id} is {lb.topology} in the DB but runs keepalived on {host}")
            for other, d in state_dirs.items():
                if other not in bound and LbPaths(d, lb.id).directory.exists():
                    problems.append(f"LB {lb.id} (bound to {', '.join(bound)}) also has state on {other}")
        for host, d in state_dirs.items():
            root = d / "lb"
            on_disk = {p.name for p in root.iterdir()} if root.is_dir() else set()
            for lb_id in sorted(on_disk - set(lbs)):
                problems.append(f"agent {host}: state directory for LB {lb_id}, which the DB does not have")
        for lb_id, pids in sorted(masters.items()):
            if lb_id not in lbs:
                problems.append(f"HAProxy master(s) {pids} still run for LB {lb_id}, which the DB does not have")
            elif lb_id in pairs:
                for (d, key), here in sorted(by_dir.items()):
                    if key == lb_id and (d not in pairs[lb_id] or len(here) != 1):
                        problems.append(f"LB {lb_id}: {len(here)} HAProxy masters {here} from {d}")
            elif len(pids) != 1:
                problems.append(f"LB {lb_id}: {len(pids)} HAProxy masters {pids}")
        namings = {v.naming for v in views.values()}
        for lb_id in sorted(set(known_ids) - set(lbs)):
            for naming in namings:
                if nsexec.netns_exists(naming.ns_name(lb_id)):
                    problems.append(f"orphan namespace {naming.ns_name(lb_id)} (LB {lb_id} is deleted)")
    return problems


def _db_instance(lb_id: str, row: DbInstance, facts: InstanceFacts, agent: AgentView) -> list[str]:
    """The DB's instance row against what its agent's keepalived.conf says."""
    what = f"LB {lb_id} instance {row.amphora_id} on {facts.host}"
    out = []
    if row.vrrp_ip is not None and _canon(row.vrrp_ip) != facts.conf.src:
        out.append(f"{what}: keepalived.conf's address {facts.conf.src} is not the DB's vrrp_ip {row.vrrp_ip}")
    if row.vrrp_port_id is not None and agent.naming.vip_ifname(row.vrrp_port_id) != facts.conf.interface:
        out.append(f"{what}: keepalived.conf's interface {facts.conf.interface} is not the vrrp port's "
                   f"{agent.naming.vip_ifname(row.vrrp_port_id)}")  # fmt: skip
    if row.vrrp_id is not None and row.vrrp_id != facts.conf.virtual_router_id:
        out.append(f"{what}: keepalived.conf's virtual router id {facts.conf.virtual_router_id} is not the DB's "
                   f"vrrp_id {row.vrrp_id}")  # fmt: skip
    return out
